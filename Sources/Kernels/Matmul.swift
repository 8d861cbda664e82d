import COpenBLAS

/// A matmul variant: C[M×N] = A[M×K]·B (+ bias[N] added to every row).
public protocol MatmulKernel: Kernel {
    /// Computes `c = a·b (+ bias)` with `b` laid out as `layout` says. `c` must not
    /// overlap `a` or `b`. Throws `KernelError` for mismatched shapes or thread counts.
    func run(
        _ a: MatrixView, _ b: MatrixView, layout: Matmul.BLayout, bias: UnsafeBufferPointer<Float>?,
        _ c: MutableMatrixView, threads: Int) throws
    /// Whether `run(_:packed:…)` reads the packed panels: a model pass packs its fp32
    /// linears at load only for a variant that does. Default false.
    var usesPackedWeights: Bool { get }
    /// `c = a·Wᵀ (+ bias)` for weights packed once (`PackedWeights`). The default runs
    /// `run(_:_:layout:…)` on `w.weight` with `.nk`.
    func run(
        _ a: MatrixView, packed w: PackedWeights, bias: UnsafeBufferPointer<Float>?,
        _ c: MutableMatrixView, threads: Int) throws
}

extension MatmulKernel {
    public var usesPackedWeights: Bool { false }
    public func run(
        _ a: MatrixView, packed w: PackedWeights, bias: UnsafeBufferPointer<Float>?,
        _ c: MutableMatrixView, threads: Int
    ) throws {
        try withExtendedLifetime(w) { try run(a, w.weight.unsafeView, layout: .nk, bias: bias, c, threads: threads) }
    }
}

/// Dense fp32 matrix multiplication.
///
/// `C[M×N] = A[M×K]·B[K×N] (+ bias)`; with `layout: .nk` the second operand is a weight
/// matrix `W[N×K]` stored `[out, in]` as model weights are, and `C = A·Wᵀ` (a linear layer).
/// All views are row-major with any row stride ≥ row length.
///
/// Accuracy: each output is a K-term fp32 dot product; whatever the summation order,
/// |ĉ − c| ≤ γ_K · Σ_k |a_ik||b_kj| with γ_K = K·u/(1 − K·u), u = 2⁻²⁴ (Higham, Thm 3.5),
/// plus one rounding of the bias add. Tests use this bound.
public enum Matmul: OperatorFamily {
    /// The operator name in ids, results and plans.
    public static let op = Op.matmul

    /// How the second operand is stored.
    public enum BLayout: String, Sendable, Codable {
        /// `B[K×N]`: C = A·B.
        case kn
        /// `W[N×K]` (`[out, in]`): C = A·Wᵀ.
        case nk
    }

    /// Registered variants, in the order tools list them: the built-in ones, then those of
    /// loaded plugins (`Plugins`).
    public static var variants: [any MatmulKernel] { builtIn + Plugins.matmul }
    static let builtIn: [any MatmulKernel] = [Naive(), SIMD(), BLAS(), Auto()]

    /// Checks every argument; returns (M, K, N).
    @discardableResult
    public static func validate(
        _ a: MatrixView, _ b: MatrixView, layout: BLayout,
        bias: UnsafeBufferPointer<Float>?, _ c: MutableMatrixView,
        threads: Int
    ) throws -> (m: Int, k: Int, n: Int) {
        let op = Self.op.rawValue
        try Check.threads(threads, op: op)
        try a.validate(op: op, argument: "A")
        try b.validate(op: op, argument: layout == .kn ? "B" : "W")
        try c.validate(op: op, argument: "C")
        let m = a.rows, k = a.cols
        let n = layout == .kn ? b.cols : b.rows
        let bk = layout == .kn ? b.rows : b.cols
        guard bk == k else {
            throw KernelError.shapeMismatch(
                op: op, argument: layout == .kn ? "B" : "W",
                expected: layout == .kn ? "\(k)x\(n) (K=\(k) rows)" : "\(n)x\(k) (K=\(k) columns)",
                got: "\(b.rows)x\(b.cols)")
        }
        guard c.rows == m, c.cols == n else {
            throw KernelError.shapeMismatch(op: op, argument: "C", expected: "\(m)x\(n)", got: "\(c.rows)x\(c.cols)")
        }
        if let bias { try Check.equal(bias.count, n, "bias", op: op, what: "N") }
        return (m, k, n)
    }

    // MARK: - naive

    /// Plain loops: i-k-j order for `B[K×N]` (unit-stride inner loop), dot products for
    /// `W[N×K]`. Threads take contiguous row ranges of C.
    public struct Naive: MatmulKernel {
        public init() {}
        public var name: String { "naive" }
        public var summary: String { "plain loops (i-k-j, or row dot products for W[N×K]); threads split rows of C" }

        public func run(
            _ a: MatrixView, _ b: MatrixView, layout: BLayout, bias: UnsafeBufferPointer<Float>?,
            _ c: MutableMatrixView, threads: Int
        ) throws {
            let (m, k, n) = try validate(a, b, layout: layout, bias: bias, c, threads: threads)
            let biasBase = bias?.baseAddress.map { UnsafePointer($0) }
            let bp = SendablePointer(biasBase)
            Parallel.forEach(m, threads: threads) { rows in
                for i in rows {
                    let ci = c.row(i), ai = a.row(i)
                    for j in 0..<n { ci[j] = bp.pointer?[j] ?? 0 }
                    switch layout {
                    case .kn:
                        for p in 0..<k {
                            let aip = ai[p], bp = b.row(p)
                            for j in 0..<n { ci[j] += aip * bp[j] }
                        }
                    case .nk:
                        for j in 0..<n {
                            let wj = b.row(j)
                            var s: Float = 0
                            for p in 0..<k { s += ai[p] * wj[p] }
                            ci[j] += s
                        }
                    }
                }
            }
        }
    }

    // MARK: - blas

    /// OpenBLAS `cblas_sgemm` (`cblas_sgemv` when M = 1), with OpenBLAS's own threading
    /// set to `threads`. The bias is copied into C first and added with beta = 1.
    public struct BLAS: MatmulKernel {
        public init() {}
        public var name: String { "blas" }
        public var summary: String { "OpenBLAS cblas_sgemm (sgemv for M=1); OpenBLAS threads" }

        public func run(
            _ a: MatrixView, _ b: MatrixView, layout: BLayout, bias: UnsafeBufferPointer<Float>?,
            _ c: MutableMatrixView, threads: Int
        ) throws {
            let (m, k, n) = try validate(a, b, layout: layout, bias: bias, c, threads: threads)
            var beta: Float = 0
            if let bias, let bb = bias.baseAddress {
                for i in 0..<m { c.row(i).update(from: bb, count: n) }
                beta = 1
            }
            openblas_set_num_threads(Int32(threads))
            if m == 1 {
                // y[N] = W[N×K]·x  or  y[N] = B[K×N]ᵀ·x
                cblas_sgemv(
                    CblasRowMajor, layout == .nk ? CblasNoTrans : CblasTrans,
                    Int32(b.rows), Int32(b.cols), 1, b.base, Int32(b.stride),
                    a.base, 1, beta, c.base, 1)
            } else {
                cblas_sgemm(
                    CblasRowMajor, CblasNoTrans, layout == .nk ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), 1, a.base, Int32(a.stride),
                    b.base, Int32(b.stride), beta, c.base, Int32(c.stride))
            }
        }
    }
}

extension Op {
    /// Dense fp32 matrix multiplication.
    public static let matmul = Op(rawValue: "matmul")
}
