import COpenBLAS
#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A softmax variant (row-wise).
public protocol SoftmaxKernel: Kernel {
    /// `y = softmax(scale·x)` row by row, with the causal mask if `options.causal`.
    /// `y` may be the same memory as `x` (same base and stride) but must not partly overlap it.
    func run(_ x: MatrixView, _ y: MutableMatrixView, options: Softmax.Options, threads: Int) throws
}

/// Row-wise numerically stable softmax.
///
/// For row i with allowed columns A_i: m = max_{j∈A_i} s·x_ij,
/// y_ij = exp(s·x_ij − m) / Σ_{k∈A_i} exp(s·x_ik − m) for j ∈ A_i, and 0 elsewhere.
/// With `causal`, A_i = { j : j ≤ i + (cols − rows) } (the last row sees every column, as
/// when the rows are the newest queries of a longer sequence); otherwise every column.
/// Entries may be −inf (masked); a row with no finite allowed entry is all zeros (not NaN).
/// Inputs must be below +inf.
///
/// Accuracy: with exp relative error e_exp (libm: ≤ 1 ulp; the SIMD polynomial: < 1.2e-7)
/// and an n-term sum, |ŷ − y| ≤ y·(2·e_exp + (n + 3)·u) for u = 2⁻²⁴ (the rounding of
/// s·x and of x − m included); tests use this bound.
public enum Softmax: OperatorFamily {
    /// The operator name in ids, results and plans.
    public static let op = Op.softmax

    /// Scale and mask applied before normalization.
    public struct Options: Sendable, Equatable, Codable {
        /// Multiplies every input before the softmax (e.g. 1/√D); finite and > 0, so −inf
        /// masks stay −inf.
        public var scale: Float
        /// Applies the causal mask described on `Softmax`.
        public var causal: Bool

        public init(scale: Float = 1, causal: Bool = false) { self.scale = scale; self.causal = causal }
    }

    /// Registered variants, in the order tools list them: the built-in ones, then those of
    /// loaded plugins (`Plugins`).
    public static var variants: [any SoftmaxKernel] { builtIn + Plugins.softmax }
    static let builtIn: [any SoftmaxKernel] = [Naive(), SIMD(), BLAS(), Auto()]

    /// Checks every argument.
    public static func validate(_ x: MatrixView, _ y: MutableMatrixView, options: Options, threads: Int) throws {
        let op = Self.op.rawValue
        try Check.rowwise(x, y, threads: threads, op: op)
        guard options.scale.isFinite, options.scale > 0 else {
            throw KernelError.invalidArgument(op: op, argument: "scale", value: "\(options.scale)", reason: "must be finite and > 0")
        }
    }

    /// Number of allowed (leading) columns of row `i`.
    @inlinable
    public static func allowedCount(row i: Int, rows: Int, cols: Int, causal: Bool) -> Int {
        causal ? min(cols, max(0, i + cols - rows + 1)) : cols
    }

    // MARK: - naive

    /// Plain loops with libm `expf`: max, exponentials and sum, normalize. Threads split rows.
    public struct Naive: SoftmaxKernel {
        public init() {}
        public var name: String { "naive" }
        public var summary: String { "plain loops, libm expf; threads split rows" }

        public func run(_ x: MatrixView, _ y: MutableMatrixView, options: Options, threads: Int) throws {
            try validate(x, y, options: options, threads: threads)
            Parallel.forEach(x.rows, threads: threads) { rows in
                for i in rows {
                    let n = allowedCount(row: i, rows: x.rows, cols: x.cols, causal: options.causal)
                    let xi = x.row(i), yi = y.row(i)
                    var m = -Float.infinity
                    for j in 0..<n { m = Swift.max(m, options.scale * xi[j]) }
                    if m == -.infinity {
                        for j in 0..<x.cols { yi[j] = 0 }
                        continue
                    }
                    var sum: Float = 0
                    for j in 0..<n {
                        let e = expf(options.scale * xi[j] - m)
                        yi[j] = e
                        sum += e
                    }
                    let inv = 1 / sum
                    for j in 0..<n { yi[j] *= inv }
                    for j in n..<x.cols { yi[j] = 0 }
                }
            }
        }
    }

    // MARK: - blas

    /// BLAS level 1 where it applies: `scopy` + `sscal` for the scaled copy, `sasum` for the
    /// sum (every term is ≥ 0, so Σ|e| = Σe), `sscal` to normalize. What BLAS cannot do:
    /// the signed maximum (`isamax` finds the largest |x|, which is not a safe shift when the
    /// row is all negative) and exp — both are scalar loops (libm `expf`). Level-1 calls
    /// on one row are too small for OpenBLAS threading, so threads split rows here and
    /// OpenBLAS runs single-threaded.
    public struct BLAS: SoftmaxKernel {
        public init() {}
        public var name: String { "blas" }
        public var summary: String { "BLAS scopy/sscal/sasum + scalar max and expf (BLAS has neither); threads split rows" }

        public func run(_ x: MatrixView, _ y: MutableMatrixView, options: Options, threads: Int) throws {
            try validate(x, y, options: options, threads: threads)
            openblas_set_num_threads(1)
            Parallel.forEach(x.rows, threads: threads) { rows in
                for i in rows {
                    let n = allowedCount(row: i, rows: x.rows, cols: x.cols, causal: options.causal)
                    let xi = x.row(i), yi = y.row(i)
                    for j in n..<x.cols { yi[j] = 0 }
                    guard n > 0 else { continue }
                    cblas_scopy(Int32(n), xi, 1, yi, 1)
                    cblas_sscal(Int32(n), options.scale, yi, 1)
                    var m = -Float.infinity
                    for j in 0..<n { m = Swift.max(m, yi[j]) }
                    if m == -.infinity {
                        for j in 0..<n { yi[j] = 0 }
                        continue
                    }
                    for j in 0..<n { yi[j] = expf(yi[j] - m) }
                    let sum = cblas_sasum(Int32(n), yi, 1)
                    cblas_sscal(Int32(n), 1 / sum, yi, 1)
                }
            }
        }
    }
}

extension Op {
    /// Row-wise softmax.
    public static let softmax = Op(rawValue: "softmax")
}
