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
public enum Softmax {
    /// Scale and mask applied before normalization.
    public struct Options: Sendable, Equatable, Codable {
        /// Multiplies every input before the softmax (e.g. 1/√D); finite and > 0, so −inf
        /// masks stay −inf.
        public var scale: Float
        /// Applies the causal mask described on `Softmax`.
        public var causal: Bool

        public init(scale: Float = 1, causal: Bool = false) { self.scale = scale; self.causal = causal }
    }

    /// Registered variants, in the order tools list them.
    public static let variants: [any SoftmaxKernel] = [Naive(), SIMD(), BLAS()]

    /// The variant registered as `name`.
    public static func variant(_ name: String) throws -> any SoftmaxKernel {
        try Registry.lookup(variants, hidden: Ablation.softmaxSteps, op: .softmax, name: name, nameOf: { $0.name })
    }

    /// Checks every argument.
    public static func validate(_ x: MatrixView, _ y: MutableMatrixView, options: Options, threads: Int) throws {
        let op = "softmax"
        try Check.threads(threads, op: op)
        try x.validate(op: op, argument: "x")
        try y.validate(op: op, argument: "y")
        guard y.rows == x.rows, y.cols == x.cols else {
            throw KernelError.shapeMismatch(op: op, argument: "y", expected: "\(x.rows)x\(x.cols)", got: "\(y.rows)x\(y.cols)")
        }
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

    // MARK: - simd

    /// SIMD16: compare/blend running max, polynomial exp (`VectorMath.exp`) fused with the
    /// sum and the store, then one scaling pass while the row is still in L1. On inputs and
    /// outputs larger than the cache (`CacheControl`), the next row is prefetched during the
    /// exp pass and the result is written with streaming stores. Threads split rows.
    public struct SIMD: SoftmaxKernel {
        public init() {}
        public var name: String { "simd" }
        public var summary: String { "SIMD16 blend max, polynomial exp fused with sum, L1-resident rescale, prefetch + streaming stores on large arrays; threads split rows" }

        public func run(_ x: MatrixView, _ y: MutableMatrixView, options: Options, threads: Int) throws {
            try validate(x, y, options: options, threads: threads)
            Softmax.SIMD.rows(x, y, options: options, threads: threads,
                              prefetch: CacheControl.exceedsCache(x), stream: CacheControl.streams(y))
        }

        /// The row loop, with the two memory-side optimizations switchable (the ablation
        /// measures each): `prefetch` asks for row i + 1 during row i's exp pass, `stream`
        /// writes `y` with streaming stores (only valid where `CacheControl.streams(y)`).
        static func rows(_ x: MatrixView, _ y: MutableMatrixView, options: Options, threads: Int, prefetch: Bool, stream: Bool) {
            Parallel.forEach(x.rows, threads: threads) { rows in
                // When streaming: an L1-resident row of exponentials.
                Workspace.with(stream ? x.cols : 16) { scratch in
                    for i in rows {
                        let n = allowedCount(row: i, rows: x.rows, cols: x.cols, causal: options.causal)
                        let next = prefetch && i + 1 < rows.upperBound ? x.row(i + 1) : nil
                        Softmax.SIMD.row(x.row(i), y.row(i), n: n, cols: x.cols, scale: options.scale, prefetch: next,
                                         streamVia: stream ? scratch : nil)
                    }
                }
                if stream { CacheControl.streamFence() }
            }
        }

        /// Softmax of the first `n` of `cols` entries of one row; the rest become 0.
        ///
        /// `prefetch` (the following row, `cols` floats) is requested into L2 one cache line
        /// per vector of the exp pass, so its reads from memory overlap this row's compute
        /// instead of stalling the next row's first pass (a row is 16 KiB at 4096 columns: the
        /// hardware prefetchers do not run that far ahead). Prefetch instructions, unlike
        /// touching loads, retire at once: a touching load that missed held up the reorder
        /// buffer, and with streaming stores it made the kernel slower, not faster. Into L2,
        /// not L1: the row and the scratch row already fill L1 (`CacheControl.prefetchL2`).
        ///
        /// With `streamVia` (a `cols`-float scratch row; `y` 64-byte aligned, `cols` a multiple
        /// of 16) the exponentials go to the scratch row, which stays in L1, and the rescale
        /// pass writes `y` with streaming stores, so `y`'s lines are never read from memory.
        @inline(__always)
        public static func row(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, n: Int, cols: Int, scale: Float,
                               prefetch next: UnsafePointer<Float>? = nil, streamVia scratch: UnsafeMutablePointer<Float>? = nil) {
            let e = scratch ?? y
            let nv = n & ~15
            let s = Vec(repeating: scale)
            var m0 = Vec(repeating: -.infinity), m1 = Vec(repeating: -.infinity)
            var l0 = Vec(repeating: .infinity), l1 = Vec(repeating: .infinity)
            var j = 0
            while j + 32 <= nv {
                let a = UnsafeRawPointer(x + j).loadUnaligned(as: Vec.self)
                let b = UnsafeRawPointer(x + j + 16).loadUnaligned(as: Vec.self)
                m0 = m0.replacing(with: a, where: a .> m0)
                m1 = m1.replacing(with: b, where: b .> m1)
                l0 = l0.replacing(with: a, where: a .< l0)
                l1 = l1.replacing(with: b, where: b .< l1)
                j += 32
            }
            if j < nv {
                let a = UnsafeRawPointer(x + j).loadUnaligned(as: Vec.self)
                m0 = m0.replacing(with: a, where: a .> m0)
                l0 = l0.replacing(with: a, where: a .< l0)
                j += 16
            }
            if j < n {
                let a = VectorMath.loadPartial(x + j, n - j, fill: -.infinity)
                m1 = m1.replacing(with: a, where: a .> m1)
            }
            m0 = m0.replacing(with: m1, where: m1 .> m0)
            // scale > 0 and rounding is monotone, so max_j fl(s·x_j) = fl(s·max_j x_j): the
            // max pass needs no multiply.
            let m = VectorMath.max(m0) * scale
            if m == -.infinity {
                for k in 0..<cols { y[k] = 0 }
                return
            }
            let negM = Vec(repeating: -m)
            // When every whole-vector argument s·x − m (monotone in x: s > 0) is at least
            // −87.33, none of them can underflow, and the whole-vector loop skips exp's
            // underflow select (the partial tail keeps it). A −inf mask fails the test.
            l0 = l0.replacing(with: l1, where: l1 .< l0)
            let noUnderflow = negM.addingProduct(Vec(repeating: -VectorMath.max(-l0)), s)[0] >= VectorMath.expLo
            var sum0 = Vec(), sum1 = Vec()
            // The next row is requested one line per 16 floats, spread over the exp pass.
            let lines = next == nil ? 0 : (cols + 15) / 16
            let steps = max(nv / 32, 1), perStep = max(1, (lines + steps - 1) / steps)
            var line = 0
            j = 0
            while j + 32 <= nv {
                if let next {
                    for _ in 0..<perStep where line < lines { CacheControl.prefetchL2(next + line * 16); line += 1 }
                }
                let a0 = negM.addingProduct(UnsafeRawPointer(x + j).loadUnaligned(as: Vec.self), s)
                let a1 = negM.addingProduct(UnsafeRawPointer(x + j + 16).loadUnaligned(as: Vec.self), s)
                let e0 = noUnderflow ? VectorMath.expCore(a0) : VectorMath.expNonPositive(a0)
                let e1 = noUnderflow ? VectorMath.expCore(a1) : VectorMath.expNonPositive(a1)
                UnsafeMutableRawPointer(e + j).storeBytes(of: e0, as: Vec.self)
                UnsafeMutableRawPointer(e + j + 16).storeBytes(of: e1, as: Vec.self)
                sum0 += e0; sum1 += e1
                j += 32
            }
            if let next { while line < lines { CacheControl.prefetchL2(next + line * 16); line += 1 } }
            if j < nv {
                let e0 = VectorMath.expNonPositive(negM.addingProduct(UnsafeRawPointer(x + j).loadUnaligned(as: Vec.self), s))
                UnsafeMutableRawPointer(e + j).storeBytes(of: e0, as: Vec.self)
                sum0 += e0
                j += 16
            }
            if j < n {
                let xv = negM.addingProduct(VectorMath.loadPartial(x + j, n - j, fill: -.infinity), s)
                var ev = VectorMath.expNonPositive(xv)
                for k in (n - j)..<16 { ev[k] = 0 }
                VectorMath.storePartial(ev, e + j, n - j)
                sum1 += ev
            }
            let inv = Vec(repeating: 1 / VectorMath.sum(sum0 + sum1))
            j = 0
            if scratch != nil {
                while j < nv { CacheControl.streamStore(UnsafeRawPointer(e + j).load(as: Vec.self) * inv, y + j); j += 16 }
                while j < cols {
                    // The vector holding the last n − j entries, then whole vectors of zeros.
                    CacheControl.streamStore(j < n ? VectorMath.loadPartial(e + j, n - j, fill: 0) * inv : Vec(), y + j)
                    j += 16
                }
                return
            }
            while j < nv {
                let raw = UnsafeMutableRawPointer(y + j)
                raw.storeBytes(of: raw.loadUnaligned(as: Vec.self) * inv, as: Vec.self)
                j += 16
            }
            while j < n { y[j] *= inv[0]; j += 1 }
            while j < cols { y[j] = 0; j += 1 }
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
