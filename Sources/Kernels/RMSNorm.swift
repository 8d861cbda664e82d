import COpenBLAS

/// An RMSNorm variant (row-wise).
public protocol RMSNormKernel: Kernel {
    /// `y = x / √(mean(x²) + eps) · gamma`, row by row. `y` may be the same memory as `x`
    /// but must not partly overlap it.
    func run(_ x: MatrixView, gamma: UnsafeBufferPointer<Float>, eps: Float, _ y: MutableMatrixView, threads: Int) throws
}

/// Root-mean-square normalization over the C columns of each row (Zhang & Sennrich 2019; the
/// norm of the Llama family): r = 1/√(Σx²/C + eps), y_j = x_j·r·γ_j.
///
/// Accuracy: every term of Σx² is positive, so the sum of C rounded squares in any order has
/// relative error ≤ γ_C, and with /C, + eps, √ and the reciprocal r has relative error
/// ≤ ½γ_{C+3} + 2u; the two products of y add 2u. A row whose Σx² overflows fp32 (|x| near
/// 1.8·10¹⁹, where √C·max|x| passes 2¹²⁸) is summed again scaled by 2⁻⁶⁴ (exact), so such
/// rows give the right y instead of 0; non-finite x gives NaN (`Tolerance.rmsnormRow`).
public enum RMSNorm: OperatorFamily {
    /// The operator name in ids, results and plans.
    public static let op = Op.rmsnorm

    /// Registered variants, in the order tools list them: the built-in ones, then those of
    /// loaded plugins (`Plugins`).
    public static var variants: [any RMSNormKernel] { builtIn + Plugins.rmsNorm }
    static let builtIn: [any RMSNormKernel] = [Naive(), SIMD(), BLAS(), Auto()]

    /// Checks every argument.
    public static func validate(
        _ x: MatrixView, gamma: UnsafeBufferPointer<Float>, eps: Float, _ y: MutableMatrixView, threads: Int
    ) throws {
        try Check.rowNorm(x, gamma: gamma, eps: eps, y, threads: threads, op: Self.op.rawValue)
    }

    /// 2⁻⁶⁴: the exact rescaling of a row whose Σx² overflows.
    static let down: Float = 0x1p-64

    /// r = 1/√(s/n + eps) from the row's Σx² `s`; when s overflowed (`sumScaled` then gives
    /// Σ(x·2⁻⁶⁴)², called only in that case), r from the scaled sum, times 2⁻⁶⁴.
    @inline(__always)
    static func rstd(n: Int, sum s: Float, eps: Float, sumScaled: () -> Float) -> Float {
        if s.isFinite { return 1 / (s / Float(n) + eps).squareRoot() }
        let scaled = sumScaled()
        // NaN or ±inf in x: scaled is not finite either, and NaN propagates to y.
        guard scaled.isFinite else { return .nan }
        return 1 / (scaled / Float(n) + eps * down * down).squareRoot() * down
    }

    // MARK: - naive

    /// Plain loops. Threads split rows.
    public struct Naive: RMSNormKernel {
        public init() {}
        public var name: String { "naive" }
        public var summary: String { "plain loops: sum of squares, 1/sqrt, two products per element; threads split rows" }

        public func run(_ x: MatrixView, gamma: UnsafeBufferPointer<Float>, eps: Float, _ y: MutableMatrixView, threads: Int) throws {
            try validate(x, gamma: gamma, eps: eps, y, threads: threads)
            let g = SendablePointer(gamma.baseAddress!)
            let n = x.cols
            Parallel.forEach(x.rows, threads: threads) { rows in
                let gamma = g.pointer!
                for i in rows {
                    let xi = x.row(i), yi = y.row(i)
                    var s: Float = 0
                    for j in 0..<n { s += xi[j] * xi[j] }
                    let r = rstd(n: n, sum: s, eps: eps) {
                        var t: Float = 0
                        for j in 0..<n { let v = xi[j] * down; t += v * v }
                        return t
                    }
                    for j in 0..<n { yi[j] = xi[j] * r * gamma[j] }
                }
            }
        }
    }

    // MARK: - simd

    /// SIMD16: Σx² in four accumulators over the row, then y = x·r·γ sixteen at a time; the
    /// row stays in L1 between the passes for C ≤ 8192. Threads split rows.
    public struct SIMD: RMSNormKernel {
        public init() {}
        public var name: String { "simd" }
        public var summary: String { "SIMD16 sum of squares (4 accumulators), then x*r*gamma in one pass; threads split rows" }

        public func run(_ x: MatrixView, gamma: UnsafeBufferPointer<Float>, eps: Float, _ y: MutableMatrixView, threads: Int) throws {
            try validate(x, gamma: gamma, eps: eps, y, threads: threads)
            let g = SendablePointer(gamma.baseAddress!)
            let n = x.cols
            Parallel.forEach(x.rows, threads: threads) { rows in
                let gamma = g.pointer!
                for i in rows {
                    let xi = x.row(i), yi = y.row(i)
                    let s = Self.sumOfSquares(xi, n, scale: 1)
                    let r = rstd(n: n, sum: s, eps: eps) { Self.sumOfSquares(xi, n, scale: down) }
                    let rv = Vec(repeating: r)
                    var j = 0
                    while j + 16 <= n {
                        let v = UnsafeRawPointer(xi + j).loadUnaligned(as: Vec.self) * rv
                        let w = v * UnsafeRawPointer(gamma + j).loadUnaligned(as: Vec.self)
                        UnsafeMutableRawPointer(yi + j).storeBytes(of: w, as: Vec.self)
                        j += 16
                    }
                    while j < n { yi[j] = xi[j] * r * gamma[j]; j += 1 }
                }
            }
        }

        /// Σ(x·scale)² over n floats (scale 1 or 2⁻⁶⁴, exact), four SIMD16 chains.
        @inline(__always)
        static func sumOfSquares(_ x: UnsafePointer<Float>, _ n: Int, scale: Float) -> Float {
            @inline(__always) func ld(_ j: Int) -> Vec { UnsafeRawPointer(x + j).loadUnaligned(as: Vec.self) * scale }
            var a0 = Vec(), a1 = Vec(), a2 = Vec(), a3 = Vec()
            var j = 0
            while j + 64 <= n {
                let v0 = ld(j), v1 = ld(j + 16), v2 = ld(j + 32), v3 = ld(j + 48)
                a0 = a0.addingProduct(v0, v0); a1 = a1.addingProduct(v1, v1)
                a2 = a2.addingProduct(v2, v2); a3 = a3.addingProduct(v3, v3)
                j += 64
            }
            while j + 16 <= n { let v = ld(j); a0 = a0.addingProduct(v, v); j += 16 }
            var s = VectorMath.sum((a0 + a1) + (a2 + a3))
            while j < n { let v = x[j] * scale; s += v * v; j += 1 }
            return s
        }
    }

    // MARK: - blas

    /// `sdot(x, x)` for Σx², then `ssbmv` with bandwidth 0 (a diagonal matrix–vector
    /// product) for y = r·diag(γ)·x. BLAS has no reciprocal square root, so r is scalar;
    /// nothing else is missing. An overflowing Σx² is summed again from a copy scaled by
    /// `sscal` (2⁻⁶⁴). Threads split rows; OpenBLAS runs single-threaded on these row-sized calls.
    public struct BLAS: RMSNormKernel {
        public init() {}
        public var name: String { "blas" }
        public var summary: String { "BLAS sdot for the sum of squares + ssbmv(k=0) as diagonal scale; threads split rows" }

        public func run(_ x: MatrixView, gamma: UnsafeBufferPointer<Float>, eps: Float, _ y: MutableMatrixView, threads: Int) throws {
            try validate(x, gamma: gamma, eps: eps, y, threads: threads)
            openblas_set_num_threads(1)
            let g = SendablePointer(gamma.baseAddress!)
            let n = x.cols, nn = Int32(n)
            Parallel.forEach(x.rows, threads: threads) { rows in
                Workspace.with(n) { tmp in
                    for i in rows {
                        let xi = x.row(i), yi = y.row(i)
                        let s = cblas_sdot(nn, xi, 1, xi, 1)
                        let r = rstd(n: n, sum: s, eps: eps) {
                            cblas_scopy(nn, xi, 1, tmp, 1)
                            cblas_sscal(nn, down, tmp, 1)
                            return cblas_sdot(nn, tmp, 1, tmp, 1)
                        }
                        // y may be x: ssbmv with beta = 0 reads x before writing y element-wise,
                        // but the BLAS contract forbids aliasing, so x goes through tmp then.
                        var src = xi
                        if UnsafePointer(yi) == xi {
                            cblas_scopy(nn, xi, 1, tmp, 1)
                            src = UnsafePointer(tmp)
                        }
                        cblas_ssbmv(CblasRowMajor, CblasUpper, nn, 0, r, g.pointer!, 1, src, 1, 0, yi, 1)
                    }
                }
            }
        }
    }
}

extension Op {
    /// Row-wise root-mean-square normalization.
    public static let rmsnorm = Op(rawValue: "rmsnorm")
}
