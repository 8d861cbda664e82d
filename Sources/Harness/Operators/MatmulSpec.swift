import Kernels

/// matmul: `MxKxN` (A is M×K, B is K×N), or `MxKxN,nk` (B stored as a weight W[N×K],
/// `[out, in]`, as a model's linear layers hold it: C = A·Wᵀ), or `MxKxN,packed` (the same W
/// packed once before timing, as a model pass packs its fp32 linears at load, for the
/// variants that read packed weights; the others multiply by W as with `,nk`).
public struct MatmulSpec: OperatorSpec {
    public typealias Family = Matmul

    /// M, K, N and how B is stored.
    public struct Dims: Sendable, Equatable {
        public let m: Int, k: Int, n: Int
        public let layout: Matmul.BLayout
        /// `,packed`: W[N×K] packed before timing (`PackedWeights`); layout `.nk`.
        public var packed = false
    }

    public init() {}

    public var grammar: String { "MxKxN (A[M×K]·B[K×N]); MxKxN,nk for A·Wᵀ with W[N×K]; MxKxN,packed with W packed before timing" }

    public var shapes: ShapeSets {
        ShapeSets(
            verify: ["1x1000x17", "17x33x129", "129x257x65", "7x1030x300", "17x33x129,packed", "7x1030x300,packed"],
            quick: ["1x4096x4096", "64x64x64", "256x256x256"],
            full: [
                "64x64x64", "128x128x128", "256x256x256", "512x512x512", "1024x1024x1024", "2048x2048x2048",
                "4096x4096x4096", "1x768x3072", "1x3072x768", "512x768x768", "512x768x3072", "512x3072x768",
            ],
            representative: "256x256x256",
            ablation: "512x512x512")
    }

    public func parse(_ text: String) throws -> Dims {
        var parts = text.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        var layout = Matmul.BLayout.kn, packed = false
        if parts.count == 2, parts[1] == "packed" {
            layout = .nk; packed = true; parts.removeLast()
        } else if parts.count == 2, let l = Matmul.BLayout(rawValue: parts[1]) {
            layout = l; parts.removeLast()
        }
        guard parts.count == 1 else { throw ShapeError("matmul shape '\(text)' must be MxKxN, MxKxN,nk or MxKxN,packed") }
        let d = try Shapes.dims(parts[0], count: 3, what: "matmul shape")
        var dims = Dims(m: d[0], k: d[1], n: d[2], layout: layout)
        dims.packed = packed
        return dims
    }

    public func canonical(_ d: Dims) -> String { "\(d.m)x\(d.k)x\(d.n)" + (d.packed ? ",packed" : d.layout == .nk ? ",nk" : "") }

    /// 2·M·N·K: one multiply and one add per term of every output.
    public func flops(_ d: Dims) -> Double { 2 * Double(d.m) * Double(d.n) * Double(d.k) }

    /// A, B and C once each, fp32.
    public func bytes(_ d: Dims) -> Double { 4 * (Double(d.m) * Double(d.k) + Double(d.k) * Double(d.n) + Double(d.m) * Double(d.n)) }

    public func writtenBytes(_ d: Dims) -> Double { 4 * Double(d.m) * Double(d.n) }

    /// The operands, and the packed panels for `,packed`.
    public func memoryBytes(_ d: Dims) -> Double {
        bytes(d) + (d.packed ? 4 * Double(d.k) * Double(Blocking.nr) * (Double(d.n) / Double(Blocking.nr)).rounded(.up) : 0)
    }

    public func tuningKey(_ d: Dims, threads: Int) -> TuningKey {
        Matmul.tuningKey(m: d.m, k: d.k, n: d.n, layout: d.layout, threads: threads)
    }

    public func workload(_ shape: CaseShape, _ dims: Dims, seed: UInt64) throws -> any Workload {
        MatmulWorkload(shape, dims, seed: seed)
    }

    /// A plugin variant that declares neither this layout nor the other.
    public func unsupported(variant: String, _ d: Dims) -> String? {
        guard let caps = Plugins.info(op: op, variant: variant)?.caps else { return nil }
        let ok = d.layout == .kn ? caps.matmulKN : caps.matmulNK
        return ok ? nil : "matmul.\(variant) declares no \(d.layout.rawValue) layout"
    }

    public func ablationRefusal(_ d: Dims) -> String? {
        d.layout == .kn ? nil : "the matmul chain takes B[K×N] shapes (no ,nk)"
    }
}

/// C[M×N] = A[M×K]·B[K×N], or A·Wᵀ with W[N×K] for `,nk` shapes; no bias.
final class MatmulWorkload: Workload {
    let shape: CaseShape
    let a: Matrix, b: Matrix  // A [M×K]; B [K×N], or W [N×K] for `,nk`
    var c: Matrix  // C [M×N]
    let m: Int, k: Int, n: Int
    let layout: Matmul.BLayout
    /// `,packed`: W packed on first use by a variant that reads packed weights.
    let packs: Bool
    lazy var packed = PackedWeights(b)

    init(_ shape: CaseShape, _ dims: MatmulSpec.Dims, seed: UInt64) {
        self.shape = shape; m = dims.m; k = dims.k; n = dims.n; layout = dims.layout; packs = dims.packed
        a = Workloads.random(m, k, seed: seed)
        b = layout == .kn ? Workloads.random(k, n, seed: seed + 1) : Workloads.random(n, k, seed: seed + 1)
        c = Matrix(rows: m, cols: n)
    }

    func runner(variant: String, threads: Int) throws -> () throws -> Void {
        let kernel = try Matmul.variant(variant)
        if packs && kernel.usesPackedWeights {
            let w = packed
            return { [self] in
                try self.a.withView { av in
                    try self.c.withMutableView { cv in try kernel.run(av, packed: w, bias: nil, cv, threads: threads) }
                }
            }
        }
        return { [self] in
            try self.a.withView { av in
                try self.b.withView { bv in
                    try self.c.withMutableView { cv in
                        try kernel.run(av, bv, layout: self.layout, bias: nil, cv, threads: threads)
                    }
                }
            }
        }
    }

    /// The sampled rows' fp64 products and bounds, computed once: the inputs never change,
    /// and `opbench tune` checks every candidate against them.
    lazy var reference: (rows: [Int], ref: [Double], tol: [Double]) = {
        let rows = Workloads.sampleRows(m, limit: 8)
        var ref: [Double] = [], tol: [Double] = []
        a.withView { av in
            b.withView { bv in
                for i in rows {
                    let ai = av.rows(i, 1)
                    ref += Reference.matmul(ai, bv, layout: layout)
                    tol += Reference.matmulAbs(ai, bv, layout: layout).map { Tolerance.matmul(k: k, absScale: $0) }
                }
            }
        }
        return (rows, ref, tol)
    }()

    func verify() -> Verification {
        let (rows, ref, tol) = reference
        var got: [Float] = []
        for i in rows { for j in 0..<n { got.append(c[i, j]) } }
        return Workloads.verification(got: got, ref: ref, tol: tol, rows: rows.count, total: m)
    }
}
