import COpenBLAS
#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A layernorm variant (row-wise).
public protocol LayerNormKernel: Kernel {
    /// `y = (x − mean)/√(var + eps)·gamma + beta`, row by row. `y` may be the same memory
    /// as `x` but must not partly overlap it.
    func run(
        _ x: MatrixView, gamma: UnsafeBufferPointer<Float>, beta: UnsafeBufferPointer<Float>,
        eps: Float, _ y: MutableMatrixView, threads: Int) throws
}

/// Row-wise layer normalization over the C columns of each row (biased variance, as
/// PyTorch and every transformer use).
///
/// All variants use the corrected two-pass algorithm (Chan, Golub & LeVeque; Higham §1.9):
/// pass 1 μ = Σx/n; pass 2 over d = x − μ: s1 = Σd, s2 = Σd²; then μ' = μ + s1/n and
/// var = s2/n − (s1/n)². The row (≤ 16 KiB for C ≤ 4096) is L1-resident after pass 1, so the
/// extra pass costs no memory traffic. Unlike the one-pass E[x²] − E[x]² (whose error grows
/// with μ²/var and can be catastrophic), its variance error is ≤ γ_{n+3}·var + O(n²u²)
/// regardless of the mean, and a constant row gives var = 0 and y = beta exactly.
/// Welford's update would give the same guarantee at one division per element.
public enum LayerNorm: OperatorFamily {
    /// The operator name in ids, results and plans.
    public static let op = Op.layernorm

    /// Registered variants, in the order tools list them: the built-in ones, then those of
    /// loaded plugins (`Plugins`).
    public static var variants: [any LayerNormKernel] { builtIn + Plugins.layerNorm }
    static let builtIn: [any LayerNormKernel] = [Naive(), SIMD(), BLAS(), Auto()]

    /// Checks every argument.
    public static func validate(
        _ x: MatrixView, gamma: UnsafeBufferPointer<Float>, beta: UnsafeBufferPointer<Float>,
        eps: Float, _ y: MutableMatrixView, threads: Int
    ) throws {
        let op = Self.op.rawValue
        try Check.rowNorm(x, gamma: gamma, eps: eps, y, threads: threads, op: op)
        try Check.equal(beta.count, x.cols, "beta", op: op, what: "C")
    }

    /// The corrected mean and 1/√(var + eps) from pass-1 mean and the pass-2 sums.
    @inline(__always)
    static func finishStats(n: Int, mean: Float, s1: Float, s2: Float, eps: Float) -> (mean: Float, rstd: Float) {
        let fn = Float(n)
        let c = s1 / fn
        let variance = Swift.max(0, s2 / fn - c * c)
        return (mean + c, 1 / sqrtf(variance + eps))
    }

    // MARK: - naive

    /// Plain loops, the three passes written out. Threads split rows.
    public struct Naive: LayerNormKernel {
        public init() {}
        public var name: String { "naive" }
        public var summary: String { "plain loops, corrected two-pass statistics; threads split rows" }

        public func run(
            _ x: MatrixView, gamma: UnsafeBufferPointer<Float>, beta: UnsafeBufferPointer<Float>,
            eps: Float, _ y: MutableMatrixView, threads: Int
        ) throws {
            try validate(x, gamma: gamma, beta: beta, eps: eps, y, threads: threads)
            let g = SendablePointer(gamma.baseAddress!), b = SendablePointer(beta.baseAddress!)
            let n = x.cols
            Parallel.forEach(x.rows, threads: threads) { rows in
                let gamma = g.pointer!, beta = b.pointer!
                for i in rows {
                    let xi = x.row(i), yi = y.row(i)
                    var sum: Float = 0
                    for j in 0..<n { sum += xi[j] }
                    let mean0 = sum / Float(n)
                    var s1: Float = 0, s2: Float = 0
                    for j in 0..<n {
                        let d = xi[j] - mean0
                        s1 += d
                        s2 += d * d
                    }
                    let (mean, rstd) = finishStats(n: n, mean: mean0, s1: s1, s2: s2, eps: eps)
                    for j in 0..<n { yi[j] = (xi[j] - mean) * rstd * gamma[j] + beta[j] }
                }
            }
        }
    }

    // MARK: - blas

    /// BLAS level 1/2 where they apply: `sdot` with a ones vector for Σx and Σd, `scopy` +
    /// `saxpy` to centre the row, `sdot(d, d)` for Σd², and `ssbmv` with bandwidth 0 (a
    /// diagonal matrix–vector product) for y = r·diag(γ)·d + β. BLAS has no rsqrt or
    /// element-wise product, hence the scalar statistics and the banded-matrix trick.
    /// Threads split rows; OpenBLAS runs single-threaded on these row-sized calls.
    public struct BLAS: LayerNormKernel {
        public init() {}
        public var name: String { "blas" }
        public var summary: String { "BLAS sdot/scopy/saxpy + ssbmv(k=0) as diagonal scale; threads split rows" }

        public func run(
            _ x: MatrixView, gamma: UnsafeBufferPointer<Float>, beta: UnsafeBufferPointer<Float>,
            eps: Float, _ y: MutableMatrixView, threads: Int
        ) throws {
            try validate(x, gamma: gamma, beta: beta, eps: eps, y, threads: threads)
            openblas_set_num_threads(1)
            let g = SendablePointer(gamma.baseAddress!), b = SendablePointer(beta.baseAddress!)
            let n = x.cols
            let nn = Int32(n)
            Parallel.forEach(x.rows, threads: threads) { rows in
                Workspace.with(2 * n) { ws in
                    let ones = ws, d = ws + n
                    for j in 0..<n { ones[j] = 1 }
                    for i in rows {
                        let xi = x.row(i), yi = y.row(i)
                        let mean0 = cblas_sdot(nn, xi, 1, ones, 1) / Float(n)
                        cblas_scopy(nn, xi, 1, d, 1)
                        cblas_saxpy(nn, -mean0, ones, 1, d, 1)
                        let s1 = cblas_sdot(nn, d, 1, ones, 1)
                        let s2 = cblas_sdot(nn, d, 1, d, 1)
                        let (mean, rstd) = finishStats(n: n, mean: mean0, s1: s1, s2: s2, eps: eps)
                        // Centre on the corrected mean: d = x − μ'.
                        cblas_scopy(nn, xi, 1, d, 1)
                        cblas_saxpy(nn, -mean, ones, 1, d, 1)
                        cblas_scopy(nn, b.pointer!, 1, yi, 1)
                        cblas_ssbmv(CblasRowMajor, CblasUpper, nn, 0, rstd, g.pointer!, 1, d, 1, 1, yi, 1)
                    }
                }
            }
        }
    }
}

extension Op {
    /// Row-wise layer normalization.
    public static let layernorm = Op(rawValue: "layernorm")
}
