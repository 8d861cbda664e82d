#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

extension LayerNorm {

    /// SIMD16 with two accumulators per sum (hides FMA latency); the same three passes,
    /// the last two over an L1-resident row. On arrays larger than the cache
    /// (`CacheControl`) the next row is prefetched and `y` written with streaming stores.
    /// Threads split rows.
    public struct SIMD: LayerNormKernel {
        public init() {}
        public var name: String { "simd" }
        public var summary: String {
            "SIMD16 corrected two-pass over an L1-resident row, prefetch + streaming stores on large arrays; threads split rows"
        }

        public func run(
            _ x: MatrixView, gamma: UnsafeBufferPointer<Float>, beta: UnsafeBufferPointer<Float>,
            eps: Float, _ y: MutableMatrixView, threads: Int
        ) throws {
            try validate(x, gamma: gamma, beta: beta, eps: eps, y, threads: threads)
            LayerNorm.SIMD.rows(
                x, gamma: gamma, beta: beta, eps: eps, y, threads: threads,
                prefetch: CacheControl.exceedsCache(x), stream: CacheControl.streams(y))
        }

        /// The row loop, with the two memory-side optimizations switchable (the ablation
        /// measures each): `prefetch` asks for row i + 1 during row i's second pass, `stream`
        /// writes `y` with streaming stores (only valid where `CacheControl.streams(y)`).
        static func rows(
            _ x: MatrixView, gamma: UnsafeBufferPointer<Float>, beta: UnsafeBufferPointer<Float>,
            eps: Float, _ y: MutableMatrixView, threads: Int, prefetch: Bool, stream: Bool
        ) {
            let g = SendablePointer(gamma.baseAddress!), b = SendablePointer(beta.baseAddress!)
            Parallel.forEach(x.rows, threads: threads) { rows in
                for i in rows {
                    let next = prefetch && i + 1 < rows.upperBound ? x.row(i + 1) : nil
                    LayerNorm.SIMD.row(x.row(i), g.pointer!, b.pointer!, eps: eps, y.row(i), n: x.cols, stream: stream, prefetch: next)
                }
                if stream { CacheControl.streamFence() }
            }
        }

        @inline(__always)
        static func load(_ p: UnsafePointer<Float>) -> Vec { UnsafeRawPointer(p).loadUnaligned(as: Vec.self) }

        /// Normalizes one row of `n` floats; `stream` writes it with streaming stores (`y`
        /// 64-byte aligned, `n` a multiple of 16: see `CacheControl.streams`); `prefetch`
        /// (the next row) is requested two lines per step of the statistics pass, which then
        /// covers the whole next row (a tail of fewer than 32 floats is left to the hardware).
        @inline(__always)
        public static func row(
            _ x: UnsafePointer<Float>, _ gamma: UnsafePointer<Float>, _ beta: UnsafePointer<Float>,
            eps: Float, _ y: UnsafeMutablePointer<Float>, n: Int, stream: Bool = false,
            prefetch next: UnsafePointer<Float>? = nil
        ) {
            let nv = n & ~15
            var a0 = Vec(), a1 = Vec()
            var j = 0
            while j + 32 <= nv { a0 += load(x + j); a1 += load(x + j + 16); j += 32 }
            if j < nv { a0 += load(x + j); j += 16 }
            var tail: Float = 0
            while j < n { tail += x[j]; j += 1 }
            let mean0 = (VectorMath.sum(a0 + a1) + tail) / Float(n)
            let mv0 = Vec(repeating: mean0)
            var s1a = Vec(), s1b = Vec(), s2a = Vec(), s2b = Vec()
            j = 0
            while j + 32 <= nv {
                if let next { CacheControl.prefetch(next + j); CacheControl.prefetch(next + j + 16) }
                let d0 = load(x + j) - mv0, d1 = load(x + j + 16) - mv0
                s1a += d0; s1b += d1
                s2a = s2a.addingProduct(d0, d0); s2b = s2b.addingProduct(d1, d1)
                j += 32
            }
            if j < nv {
                let d0 = load(x + j) - mv0
                s1a += d0; s2a = s2a.addingProduct(d0, d0)
                j += 16
            }
            var t1: Float = 0, t2: Float = 0
            while j < n { let d = x[j] - mean0; t1 += d; t2 += d * d; j += 1 }
            let (mean, rstd) = finishStats(
                n: n, mean: mean0, s1: VectorMath.sum(s1a + s1b) + t1,
                s2: VectorMath.sum(s2a + s2b) + t2, eps: eps)
            let mv = Vec(repeating: mean), rv = Vec(repeating: rstd)
            j = 0
            if stream {
                // `y` is 64-byte aligned and n a multiple of 16 (CacheControl.streams).
                while j < nv {
                    CacheControl.streamStore(load(beta + j).addingProduct((load(x + j) - mv) * rv, load(gamma + j)), y + j)
                    j += 16
                }
                return
            }
            while j < nv {
                let r = (load(x + j) - mv) * rv
                UnsafeMutableRawPointer(y + j).storeBytes(of: load(beta + j).addingProduct(r, load(gamma + j)), as: Vec.self)
                j += 16
            }
            while j < n { y[j] = beta[j].addingProduct((x[j] - mean) * rstd, gamma[j]); j += 1 }
        }
    }

}
