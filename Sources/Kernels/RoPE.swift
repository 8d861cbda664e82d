import CIntrinsics
import COpenBLAS

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Which elements of a head form a rotated pair.
public enum RoPEPairing: String, Sendable, CaseIterable {
    /// (x[2i], x[2i+1]): GGUF's `llama` convention (its Q/K weights are stored permuted for it).
    case adjacent
    /// (x[i], x[i + R/2]): GPT-NeoX's and Qwen2's.
    case neox
}

/// The cosines and sines of a rotary embedding for positions p0 ..< p0 + count and the R/2
/// frequencies θ^(−2i/R), computed once, as an engine's rope cache is.
///
/// Angles are formed in fp64 — p·θ^(−2i/R), each factor within 2⁻⁵² relative — and only their
/// cosines and sines rounded to fp32 (u each). An fp32 angle would be off by p·2⁻²⁴: 0.008 rad
/// at p = 131071. So every table entry is within u + a of the exact value, a = (p0 + count)·2⁻⁵⁰
/// rad (`angleError`), at any position that fits in 2⁵³.
public struct RoPETable: Sendable {
    public let p0: Int
    public let count: Int
    /// R: the leading dimensions of each head that rotate (even); the rest pass through.
    public let rotaryDims: Int
    public let theta: Double
    /// [count × R/2]: cos and sin of pair i at position p0 + t, at t·R/2 + i.
    public let cos: [Float], sin: [Float]
    /// [count × R]: the same per element of interleaved pairs — cos duplicated (c_i, c_i) and
    /// sin signed (−s_i, s_i) — for the adjacent pairing's vector path.
    public let cos2: [Float], sin2: [Float]

    /// Largest error of a table angle (rad), from the fp64 arithmetic that forms it.
    public var angleError: Double { Double(p0 + count) * 0x1p-50 }

    public init(p0: Int, count: Int, rotaryDims: Int, theta: Double) throws {
        let op = Op.rope.rawValue
        guard p0 >= 0, p0 <= 1 << 40 else {
            throw KernelError.invalidArgument(op: op, argument: "p0", value: "\(p0)", reason: "must be from 0 to 2^40")
        }
        try Check.positive(count, "positions", op: op)
        guard rotaryDims >= 2, rotaryDims % 2 == 0 else {
            throw KernelError.invalidArgument(op: op, argument: "R", value: "\(rotaryDims)", reason: "must be even and at least 2")
        }
        guard theta.isFinite, theta > 1 else {
            throw KernelError.invalidArgument(op: op, argument: "theta", value: "\(theta)", reason: "must be finite and > 1")
        }
        let (entries, overflow) = count.multipliedReportingOverflow(by: rotaryDims)
        guard !overflow, entries <= 1 << 30 else {
            throw KernelError.invalidArgument(
                op: op, argument: "table", value: "\(count) positions × \(rotaryDims)", reason: "more than 2^30 entries")
        }
        self.p0 = p0; self.count = count; self.rotaryDims = rotaryDims; self.theta = theta
        let half = rotaryDims / 2
        var c = [Float](repeating: 0, count: count * half), s = c
        var c2 = [Float](repeating: 0, count: count * rotaryDims), s2 = c2
        for t in 0..<count {
            for i in 0..<half {
                let a = RoPE.angle(position: p0 + t, pair: i, rotaryDims: rotaryDims, theta: theta)
                let (cv, sv) = (Float(Glibc.cos(a)), Float(Glibc.sin(a)))
                c[t * half + i] = cv; s[t * half + i] = sv
                c2[t * rotaryDims + 2 * i] = cv; c2[t * rotaryDims + 2 * i + 1] = cv
                s2[t * rotaryDims + 2 * i] = -sv; s2[t * rotaryDims + 2 * i + 1] = sv
            }
        }
        cos = c; sin = s; cos2 = c2; sin2 = s2
    }
}

/// A rotary-embedding variant.
public protocol RoPEKernel: Kernel {
    /// y = x with each head's pairs rotated by the table's angles: x is [T × H·D] (T ≤ the
    /// table's positions, row t at position p0 + t), heads of D values side by side; the first
    /// R of each head rotate, the rest are copied. y may be the same memory as x.
    func run(
        _ x: MatrixView, _ y: MutableMatrixView, heads: Int, headDim: Int, table: RoPETable, pairing: RoPEPairing,
        threads: Int) throws
}

/// Rotary position embeddings (Su et al. 2021) of queries or keys: for pair i of a head at
/// position p, with angle a = p·θ^(−2i/R), (x0, x1) → (x0·cos a − x1·sin a, x0·sin a + x1·cos a).
///
/// Accuracy: each output is two products and a sum or difference of fp32 values and table
/// entries within u + a (`RoPETable`) of cos and sin, so |ŷ − y| ≤ γ_4·(|x0 c| + |x1 s|) +
/// (|x0| + |x1|)·a (`Tolerance.ropePair`), at every position the table holds.
public enum RoPE: OperatorFamily {
    /// The operator name in ids, results and plans.
    public static let op = Op.rope

    /// Registered variants, in the order tools list them.
    public static let variants: [any RoPEKernel] = [Naive(), SIMD(), BLAS(), Auto()]

    /// The fp64 angle of pair i at `position`.
    @inline(__always)
    public static func angle(position: Int, pair i: Int, rotaryDims: Int, theta: Double) -> Double {
        Double(position) * pow(theta, -2 * Double(i) / Double(rotaryDims))
    }

    /// Checks every argument.
    public static func validate(
        _ x: MatrixView, _ y: MutableMatrixView, heads: Int, headDim: Int, table: RoPETable, threads: Int
    ) throws {
        let op = Self.op.rawValue
        try Check.threads(threads, op: op)
        try x.validate(op: op, argument: "x")
        try y.validate(op: op, argument: "y")
        try Check.positive(heads, "H", op: op)
        try Check.positive(headDim, "D", op: op)
        guard x.cols == heads * headDim else {
            throw KernelError.shapeMismatch(
                op: op, argument: "x", expected: "T×\(heads * headDim) (H=\(heads) × D=\(headDim))", got: "\(x.rows)x\(x.cols)")
        }
        guard y.rows == x.rows, y.cols == x.cols else {
            throw KernelError.shapeMismatch(op: op, argument: "y", expected: "\(x.rows)x\(x.cols)", got: "\(y.rows)x\(y.cols)")
        }
        guard table.rotaryDims <= headDim else {
            throw KernelError.invalidArgument(
                op: op, argument: "R", value: "\(table.rotaryDims)", reason: "exceeds the head dimension \(headDim)")
        }
        guard x.rows <= table.count else {
            throw KernelError.invalidArgument(op: op, argument: "T", value: "\(x.rows)", reason: "the table holds \(table.count) positions")
        }
    }

    /// The elements of pair i of a head: (i0, i1) offsets inside the head.
    @inline(__always)
    static func pair(_ i: Int, _ pairing: RoPEPairing, half: Int) -> (Int, Int) {
        pairing == .adjacent ? (2 * i, 2 * i + 1) : (i, i + half)
    }

    /// Copies the dimensions past R of each head (none when R = D) unless y is x.
    @inline(__always)
    static func copyTail(_ xi: UnsafePointer<Float>, _ yi: UnsafeMutablePointer<Float>, heads: Int, headDim: Int, rotary: Int) {
        guard rotary < headDim, UnsafePointer(yi) != xi else { return }
        for h in 0..<heads {
            (yi + h * headDim + rotary).update(from: xi + h * headDim + rotary, count: headDim - rotary)
        }
    }

    // MARK: - naive

    /// Element by element, each angle's cosine and sine computed in fp64 on the spot (no
    /// table), the rotation in fp64, one rounding. Threads split rows.
    public struct Naive: RoPEKernel {
        public init() {}
        public var name: String { "naive" }
        public var summary: String { "element by element, cos/sin of each fp64 angle on the spot (no table); threads split rows" }

        public func run(
            _ x: MatrixView, _ y: MutableMatrixView, heads: Int, headDim: Int, table: RoPETable, pairing: RoPEPairing,
            threads: Int
        ) throws {
            try validate(x, y, heads: heads, headDim: headDim, table: table, threads: threads)
            let r = table.rotaryDims, half = r / 2, (p0, theta) = (table.p0, table.theta)
            Parallel.forEach(x.rows, threads: threads) { rows in
                for t in rows {
                    let xi = x.row(t), yi = y.row(t)
                    copyTail(xi, yi, heads: heads, headDim: headDim, rotary: r)
                    for i in 0..<half {
                        let a = angle(position: p0 + t, pair: i, rotaryDims: r, theta: theta)
                        let (c, s) = (Glibc.cos(a), Glibc.sin(a))
                        let (i0, i1) = pair(i, pairing, half: half)
                        for h in 0..<heads {
                            let (x0, x1) = (Double(xi[h * headDim + i0]), Double(xi[h * headDim + i1]))
                            yi[h * headDim + i0] = Float(x0 * c - x1 * s)
                            yi[h * headDim + i1] = Float(x0 * s + x1 * c)
                        }
                    }
                }
            }
        }
    }

    // MARK: - simd

    /// From the table, 16 lanes at a time: neox pairs are two contiguous half-rows, rotated
    /// as x0·c − x1·s and x0·s + x1·c; adjacent pairs interleave, so a vector of 8 pairs is
    /// x·(c, c, …) + swap(x)·(−s, s, …) with the partner lanes swapped by one permute
    /// (`opbench_swap_pairs`) and the table's duplicated entries. Threads split rows.
    public struct SIMD: RoPEKernel {
        public init() {}
        public var name: String { "simd" }
        public var summary: String {
            "cos/sin table, SIMD16: neox halves rotated directly, adjacent pairs by one lane-swap permute; threads split rows"
        }

        public func run(
            _ x: MatrixView, _ y: MutableMatrixView, heads: Int, headDim: Int, table: RoPETable, pairing: RoPEPairing,
            threads: Int
        ) throws {
            try validate(x, y, heads: heads, headDim: headDim, table: table, threads: threads)
            let r = table.rotaryDims, half = r / 2
            try table.cos.withUnsafeBufferPointer { cb in
                try table.sin.withUnsafeBufferPointer { sb in
                    try table.cos2.withUnsafeBufferPointer { c2b in
                        try table.sin2.withUnsafeBufferPointer { s2b in
                            let ptrs = SendablePointer(cb.baseAddress!), sp = SendablePointer(sb.baseAddress!)
                            let c2p = SendablePointer(c2b.baseAddress!), s2p = SendablePointer(s2b.baseAddress!)
                            try Self.rows(
                                x, y, heads: heads, headDim: headDim, r: r, half: half, pairing: pairing, threads: threads,
                                cos: ptrs, sin: sp, cos2: c2p, sin2: s2p)
                        }
                    }
                }
            }
        }

        static func rows(
            _ x: MatrixView, _ y: MutableMatrixView, heads: Int, headDim: Int, r: Int, half: Int, pairing: RoPEPairing, threads: Int,
            cos: SendablePointer<UnsafePointer<Float>>, sin: SendablePointer<UnsafePointer<Float>>,
            cos2: SendablePointer<UnsafePointer<Float>>, sin2: SendablePointer<UnsafePointer<Float>>
        ) throws {
            Parallel.forEach(x.rows, threads: threads) { rows in
                @inline(__always) func ld(_ p: UnsafePointer<Float>) -> Vec { UnsafeRawPointer(p).loadUnaligned(as: Vec.self) }
                @inline(__always) func st(_ v: Vec, _ p: UnsafeMutablePointer<Float>) {
                    UnsafeMutableRawPointer(p).storeBytes(of: v, as: Vec.self)
                }
                for t in rows {
                    let xi = x.row(t), yi = y.row(t)
                    copyTail(xi, yi, heads: heads, headDim: headDim, rotary: r)
                    for h in 0..<heads {
                        let xh = xi + h * headDim, yh = yi + h * headDim
                        if pairing == .neox {
                            let c = cos.pointer! + t * half, s = sin.pointer! + t * half
                            var i = 0
                            while i + 16 <= half {
                                let x0 = ld(xh + i), x1 = ld(xh + half + i), cv = ld(c + i), sv = ld(s + i)
                                st(x0 * cv - x1 * sv, yh + i)
                                st(x0 * sv + x1 * cv, yh + half + i)
                                i += 16
                            }
                            while i < half {
                                let (x0, x1) = (xh[i], xh[half + i])
                                yh[i] = x0 * c[i] - x1 * s[i]; yh[half + i] = x0 * s[i] + x1 * c[i]
                                i += 1
                            }
                        } else {
                            let c = cos2.pointer! + t * r, s = sin2.pointer! + t * r
                            var e = 0
                            while e + 16 <= r {
                                let v = ld(xh + e)
                                st(v * ld(c + e) + opbench_swap_pairs(v) * ld(s + e), yh + e)
                                e += 16
                            }
                            while e < r {
                                let (x0, x1) = (xh[e], xh[e + 1])
                                yh[e] = x0 * c[e] + x1 * s[e]; yh[e + 1] = x1 * c[e + 1] + x0 * s[e + 1]
                                e += 2
                            }
                        }
                    }
                }
            }
        }
    }

    // MARK: - blas

    /// BLAS level 1's plane rotation, `srot`, which applies one (c, s) to two strided vectors:
    /// per row and pair i, one call over the H heads (stride D) with c = cos a, s = −sin a
    /// (srot computes (c·x0 + s·x1, c·x1 − s·x0)). BLAS has no per-element angles, so it takes
    /// T·R/2 calls of H elements each — the call overhead, not the arithmetic, sets its speed.
    /// Threads split rows; OpenBLAS runs single-threaded on these calls.
    public struct BLAS: RoPEKernel {
        public init() {}
        public var name: String { "blas" }
        public var summary: String { "cblas_srot per (token, pair) over the heads at stride D, table angles; threads split rows" }

        public func run(
            _ x: MatrixView, _ y: MutableMatrixView, heads: Int, headDim: Int, table: RoPETable, pairing: RoPEPairing,
            threads: Int
        ) throws {
            try validate(x, y, heads: heads, headDim: headDim, table: table, threads: threads)
            openblas_set_num_threads(1)
            let r = table.rotaryDims, half = r / 2
            table.cos.withUnsafeBufferPointer { cb in
                table.sin.withUnsafeBufferPointer { sb in
                    let cp = SendablePointer(cb.baseAddress!), sp = SendablePointer(sb.baseAddress!)
                    Parallel.forEach(x.rows, threads: threads) { rows in
                        for t in rows {
                            let xi = x.row(t), yi = y.row(t)
                            if UnsafePointer(yi) != xi { yi.update(from: xi, count: x.cols) }
                            for i in 0..<half {
                                let (i0, i1) = pair(i, pairing, half: half)
                                cblas_srot(
                                    Int32(heads), yi + i0, Int32(headDim), yi + i1, Int32(headDim), cp.pointer![t * half + i],
                                    -sp.pointer![t * half + i])
                            }
                        }
                    }
                }
            }
        }
    }
}

extension Op {
    /// Rotary position embeddings of queries and keys.
    public static let rope = Op(rawValue: "rope")
}
