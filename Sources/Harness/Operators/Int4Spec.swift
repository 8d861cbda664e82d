import Kernels

/// int4: `MxKxN`, y[M×N] = x[M×K]·dequant(W)ᵀ with W[N×K] (`[out, in]`) in GGUF Q4_0 blocks,
/// or another GGUF block format with `,q4_1`, `,q8_0`, `,q4_k` or `,q6_k` (the operator is the
/// weight-quantized linear; its name is that of its first formats); `1x4096x14336` is a
/// decode GEMV against a 14336×4096 weight.
public struct Int4Spec: OperatorSpec {
    public typealias Family = Int4

    /// M, K (a multiple of the format's block: 32 weights, 256 for the K-quants), N and the format.
    public struct Dims: Sendable, Equatable {
        public let m: Int, k: Int, n: Int
        public let format: QuantFormat
    }

    public init() {}

    public var grammar: String {
        "MxKxN (x[M×K]·Wᵀ, W[N×K] in Q4_0 blocks); MxKxN,FORMAT for FORMAT in q4_1, q8_0, q4_k, q6_k "
            + "(K a multiple of 256 for q4_k, q6_k)"
    }

    public var shapes: ShapeSets {
        ShapeSets(
            verify: [
                "1x1056x129", "17x1024x65", "70x160x200,q4_1", "1x1056x129,q8_0", "17x1024x65,q8_0", "1x1024x129,q4_k",
                "9x768x65,q4_k", "1x1024x129,q6_k", "9x768x65,q6_k",
            ],
            quick: ["1x4096x4096", "64x1024x1024", "1x4096x4096,q8_0", "1x4096x4096,q4_k", "1x4096x4096,q6_k"],
            full: [
                "1x4096x14336", "1x768x3072", "512x4096x4096", "512x768x3072", "1x4096x14336,q8_0", "1x4096x14336,q4_k",
                "1x4096x14336,q6_k", "512x4096x4096,q8_0", "512x4096x4096,q4_k",
            ],
            representative: "1x4096x4096", ablation: "1x4096x4096")
    }

    public func parse(_ text: String) throws -> Dims {
        var parts = text.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        var format = QuantFormat.q4_0
        if parts.count == 2, let f = QuantFormat(rawValue: parts[1]) { format = f; parts.removeLast() }
        guard parts.count == 1 else {
            throw ShapeError("int4 shape '\(text)' must be MxKxN or MxKxN,FORMAT with FORMAT one of \(QuantFormat.names)")
        }
        let d = try Shapes.dims(parts[0], count: 3, what: "int4 shape")
        guard d[1] % format.blockSize == 0 else {
            throw ShapeError("int4 shape '\(text)': K=\(d[1]) must be a multiple of \(format.blockSize) for \(format.rawValue)")
        }
        return Dims(m: d[0], k: d[1], n: d[2], format: format)
    }

    public func canonical(_ d: Dims) -> String { "\(d.m)x\(d.k)x\(d.n)" + (d.format == .q4_0 ? "" : ",\(d.format.rawValue)") }

    /// 2·M·N·K, as for the fp32 product it replaces (dequantization not counted).
    public func flops(_ d: Dims) -> Double { 2 * Double(d.m) * Double(d.n) * Double(d.k) }

    /// The weight blocks, x and y once each.
    public func bytes(_ d: Dims) -> Double {
        weightBytes(d) + 4 * (Double(d.m) * Double(d.k) + Double(d.m) * Double(d.n))
    }

    /// y.
    public func writtenBytes(_ d: Dims) -> Double { 4 * Double(d.m) * Double(d.n) }

    /// The fp32 weights the blocks are quantized from, the blocks and the GEMV's planes
    /// (as large again), x and y.
    public func memoryBytes(_ d: Dims) -> Double {
        Double(d.n) * Double(d.k) * 4 + 2 * weightBytes(d) + 4 * (Double(d.m) * Double(d.k) + Double(d.m) * Double(d.n))
    }

    func weightBytes(_ d: Dims) -> Double {
        Double(d.n) * Double(d.k / d.format.blockSize) * Double(d.format.blockBytes)
    }

    /// Q4_0 and Q4_1 rebuild the nibble-plane GEMV (`Int4.ablation`); the other formats
    /// their own GEMV from the blocks (`Int4.blockAblation`), then int4.act8.
    public func ablationSteps(_ d: Dims) -> [Ablation.Step] {
        d.format.isQ4 ? Int4.ablation : Int4.blockAblation
    }

    /// A variant that does not take the shape's format (a plugin's `Int4Kernel.supports`).
    public func tuningKey(_ d: Dims, threads: Int) -> TuningKey {
        Int4.tuningKey(m: d.m, k: d.k, n: d.n, format: d.format, threads: threads)
    }

    public func unsupported(variant: String, _ d: Dims) -> String? {
        guard let k = Int4.variants.first(where: { $0.name == variant }), !k.supports(d.format) else { return nil }
        return "int4.\(variant) does not run \(d.format.rawValue) weights"
    }

    public func workload(_ shape: CaseShape, _ dims: Dims, seed: UInt64) throws -> any Workload {
        try Int4Workload(shape, dims, seed: seed)
    }
}

/// y[M×N] = x[M×K]·dequant(W[N×K])ᵀ with W quantized from uniform [−1, 1).
final class Int4Workload: Workload {
    let shape: CaseShape
    let x: Matrix  // [M×K]
    let w: QuantizedMatrix  // W [N×K] in GGUF blocks
    var y: Matrix  // [M×N]
    let m: Int, k: Int, n: Int
    /// The variant of the last runner made: int4.act8 is checked against its own bound.
    var variant = ""

    init(_ shape: CaseShape, _ dims: Int4Spec.Dims, seed: UInt64) throws {
        let (m, k, n, format) = (dims.m, dims.k, dims.n, dims.format)
        self.shape = shape; self.m = m; self.k = k; self.n = n
        x = Workloads.random(m, k, seed: seed)
        // Quantize W in slabs of rows so the fp32 copy never exists whole.
        var bytes: [UInt8] = []
        bytes.reserveCapacity(n * (k / format.blockSize) * format.blockBytes)
        var row = 0
        while row < n {
            let count = min(1024, n - row)
            let slab = Workloads.random(count, k, seed: seed &+ 1 &+ UInt64(row))
            bytes += try slab.withView { try Int4.quantize($0, format: format) }.bytes
            row += count
        }
        w = try QuantizedMatrix(format: format, rows: n, cols: k, bytes: bytes)
        y = Matrix(rows: m, cols: n)
    }

    /// The same x and W at other addresses. Quantizing again would take seconds for the
    /// thousands of copies of a small cold-cache case, and its transient fp32 slabs between
    /// the copies' blocks fragmented the heap (8 GB resident for 1738 copies of 64x768x768).
    init(copying o: Int4Workload) throws {
        shape = o.shape; m = o.m; k = o.k; n = o.n
        x = o.x.copy()
        w = try o.w.withUnsafeBytes {
            try QuantizedMatrix(format: o.w.format, rows: o.n, cols: o.k, bytes: UnsafeRawPointer($0.baseAddress!))
        }
        y = Matrix(rows: m, cols: n)
    }

    func copy(seed: UInt64) throws -> any Workload { try Int4Workload(copying: self) }

    func runner(variant: String, threads: Int) throws -> () throws -> Void {
        let kernel = try Int4.variant(variant)
        self.variant = variant
        return { [self] in
            try self.x.withView { xv in try self.y.withMutableView { yv in try kernel.run(xv, self.w, bias: nil, yv, threads: threads) } }
        }
    }

    /// The sampled rows' fp64 products against the dequantized weights, with the exact
    /// variants' bound and (computed on first use) int4.act8's own, each computed once: the
    /// inputs never change, and `opbench tune` checks every candidate against them.
    lazy var reference: (rows: [Int], ref: [Double], tol: [Double]) = {
        let rows = Workloads.sampleRows(m, limit: 4)
        var ref = [Double](repeating: 0, count: rows.count * n), tol = ref
        for j in 0..<n {
            let wj = Int4.dequantize(w, row: j)
            for (ri, i) in rows.enumerated() {
                var s = 0.0, a = 0.0
                for p in 0..<k { let t = Double(x[i, p]) * Double(wj[p]); s += t; a += abs(t) }
                ref[ri * n + j] = s
                tol[ri * n + j] = Tolerance.int4Linear(k: k, absScale: a)
            }
        }
        return (rows, ref, tol)
    }()
    lazy var act8Tolerance: [Double] = {
        let rows = reference.rows
        var tol = [Double](repeating: 0, count: rows.count * n)
        for j in 0..<n {
            let wj = Int4.dequantize(w, row: j)
            for (ri, i) in rows.enumerated() {
                tol[ri * n + j] = x.withView { xv in Tolerance.int4Act8(x: xv.row(i), w: w, row: j, weights: wj) }
            }
        }
        return tol
    }()

    func verify() -> Verification {
        let (rows, ref, exact) = reference
        let tol = variant == Int4.Act8().name ? act8Tolerance : exact
        var got: [Float] = []
        for i in rows { for j in 0..<n { got.append(y[i, j]) } }
        return Workloads.verification(got: got, ref: ref, tol: tol, rows: rows.count, total: m)
    }
}
