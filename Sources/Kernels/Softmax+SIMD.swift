#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

extension Softmax {

    /// SIMD16: compare/blend running max, polynomial exp (`VectorMath.exp`) fused with the
    /// sum and the store, then one scaling pass while the row is still in L1. On inputs and
    /// outputs larger than the cache (`CacheControl`), the next row is prefetched during the
    /// exp pass and the result is written with streaming stores. Threads split rows.
    public struct SIMD: SoftmaxKernel {
        public init() {}
        public var name: String { "simd" }
        public var summary: String {
            "SIMD16 blend max, polynomial exp fused with sum, L1-resident rescale, prefetch + streaming stores on large arrays; "
                + "threads split rows"
        }

        public func run(_ x: MatrixView, _ y: MutableMatrixView, options: Options, threads: Int) throws {
            try validate(x, y, options: options, threads: threads)
            Softmax.SIMD.rows(
                x, y, options: options, threads: threads,
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
                        Softmax.SIMD.row(
                            x.row(i), y.row(i), n: n, cols: x.cols, scale: options.scale, prefetch: next,
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
        public static func row(
            _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, n: Int, cols: Int, scale: Float,
            prefetch next: UnsafePointer<Float>? = nil, streamVia scratch: UnsafeMutablePointer<Float>? = nil
        ) {
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

}
