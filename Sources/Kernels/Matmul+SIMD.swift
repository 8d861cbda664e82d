extension Matmul {
    /// Pure-Swift SIMD matmul.
    ///
    /// - M ≤ 4 (decode, GEMV-like), or with `W[N×K]` M ≤ 64 (M ≤ 128 when K ≤ 1024): no packing — each output is a
    ///   SIMD16 dot product (`W[N×K]`, 4 W rows × 3 A rows per register block) or a SIMD16
    ///   axpy stream over B's rows (`B[K×N]`); threads split N.
    /// - `B[K×N]` with N a multiple of 64 and fewer than 2²¹ multiply-adds: the 6×64 register
    ///   tile reading A and B in place (`GEMM.inPlace`), one thread.
    /// - otherwise: the packed GEMM of `GEMM.swift` (6×64 register tile, A and B packed,
    ///   `Matmul.tuning` cache blocks); threads split C by rows, or by columns when M
    ///   is small, each thread packing its own panels.
    /// - Weights packed at load (`PackedWeights`: a model's fp32 linears, `,packed` shapes):
    ///   the packed GEMM for every M > `directMaxRows`, packing only A, since W's panels exist.
    public struct SIMD: MatmulKernel {
        public init() {}
        public var name: String { "simd" }
        public var tunables: [String] { Matmul.tuning.parameters.map(\.name) }
        public var summary: String {
            "SIMD16 6x64 register tile, packed A/B panels, MC/KC/NC blocking; direct dot path for W[NxK] and M<=64 (128 if "
                + "K<=1024), axpy path for M<=4, small B[KxN] in place; weights packed at load (model linears, ,packed): "
                + "the tile for M>4, only A packed per call; threads split C"
        }

        public func run(
            _ a: MatrixView, _ b: MatrixView, layout: BLayout, bias: UnsafeBufferPointer<Float>?,
            _ c: MutableMatrixView, threads: Int
        ) throws {
            let (m, k, n) = try validate(a, b, layout: layout, bias: bias, c, threads: threads)
            let bias = SendablePointer(bias?.baseAddress.map { UnsafePointer($0) })
            let tuning = Matmul.current
            let direct =
                m <= tuning.directMaxRows
                || (layout == .nk && (m <= tuning.directMaxRowsNK || (m <= tuning.directMaxRowsNKShortK && k <= tuning.directMaxKNK)))
            if direct {
                Parallel.forEach(n, threads: threads, granule: 16) { cols in
                    switch layout {
                    case .nk: Matmul.SIMD.dotRows(a, b, bias: bias.pointer, c, cols: cols)
                    case .kn: Matmul.SIMD.axpyRows(a, b, bias: bias.pointer, c, cols: cols)
                    }
                }
                return
            }
            if layout == .kn && n % Blocking.nr == 0 && m * n * k < tuning.minParallelWork {
                GEMM.inPlace(a, b, bias: bias.pointer, c)
                return
            }
            switch layout {
            case .kn:
                GEMM.packedSplit(a, bias: bias, c, k: k, threads: threads, blocking: tuning.blocking) { cols in
                    KNPanels(b: MatrixView(base: b.base + cols.lowerBound, rows: b.rows, cols: cols.count, stride: b.stride))
                }
            case .nk:
                GEMM.packedSplit(a, bias: bias, c, k: k, threads: threads, blocking: tuning.blocking) { cols in
                    NKPanels(w: b.rows(cols.lowerBound, cols.count))
                }
            }
        }

        public var usesPackedWeights: Bool { true }

        /// With weights packed at load: M ≤ `directMaxRows` (decode) takes the dot path over
        /// W's rows as `run` does; every larger M the packed GEMM, which then packs only A
        /// (its sums are `run`'s packed path's, bit for bit).
        public func run(
            _ a: MatrixView, packed w: PackedWeights, bias: UnsafeBufferPointer<Float>?,
            _ c: MutableMatrixView, threads: Int
        ) throws {
            try withExtendedLifetime(w) {
                let wv = w.weight.unsafeView
                let (m, k, n) = try validate(a, wv, layout: .nk, bias: bias, c, threads: threads)
                let tuning = Matmul.current
                if m <= tuning.directMaxRows || k == 0 {
                    try run(a, wv, layout: .nk, bias: bias, c, threads: threads)
                    return
                }
                let bias = SendablePointer(bias?.baseAddress.map { UnsafePointer($0) })
                GEMM.packedSplit(
                    a, bias: bias, c, k: k, threads: threads, minWork: tuning.minParallelWorkPacked, blocking: tuning.blocking
                ) { cols in PrepackedPanels(weights: w, j0: cols.lowerBound) }
            }
        }

        /// C[i, j] = bias[j] + A[i,:]·W[j,:] for j in `cols`, four W rows at a time; a single
        /// A row (decode) takes eight per pass, so eight W streams are in flight. Each dot
        /// product is the same single-accumulator sum with the same reduction tree either way.
        static func dotRows(_ a: MatrixView, _ w: MatrixView, bias: UnsafePointer<Float>?, _ c: MutableMatrixView, cols: Range<Int>) {
            let k = a.cols
            let kv = k & ~15
            var j = cols.lowerBound
            // One x row: 8 W rows per pass (8 streams in flight).
            if a.rows == 1 && k >= 16 {
                let x = a.row(0)
                while j + 8 <= cols.upperBound {
                    var s = (Vec(), Vec(), Vec(), Vec(), Vec(), Vec(), Vec(), Vec())
                    let w0 = w.row(j), w1 = w.row(j + 1), w2 = w.row(j + 2), w3 = w.row(j + 3)
                    let w4 = w.row(j + 4), w5 = w.row(j + 5), w6 = w.row(j + 6), w7 = w.row(j + 7)
                    @inline(__always) func ld(_ p: UnsafePointer<Float>) -> Vec { UnsafeRawPointer(p).loadUnaligned(as: Vec.self) }
                    var p = 0
                    while p < kv {
                        let xv = ld(x + p)
                        s.0 = s.0.addingProduct(xv, ld(w0 + p)); s.1 = s.1.addingProduct(xv, ld(w1 + p))
                        s.2 = s.2.addingProduct(xv, ld(w2 + p)); s.3 = s.3.addingProduct(xv, ld(w3 + p))
                        s.4 = s.4.addingProduct(xv, ld(w4 + p)); s.5 = s.5.addingProduct(xv, ld(w5 + p))
                        s.6 = s.6.addingProduct(xv, ld(w6 + p)); s.7 = s.7.addingProduct(xv, ld(w7 + p))
                        p += 16
                    }
                    if p < k {
                        let r = k - p
                        let xv = VectorMath.loadPartial(x + p, r, fill: 0)
                        s.0 = s.0.addingProduct(xv, VectorMath.loadPartial(w0 + p, r, fill: 0));
                        s.1 = s.1.addingProduct(xv, VectorMath.loadPartial(w1 + p, r, fill: 0))
                        s.2 = s.2.addingProduct(xv, VectorMath.loadPartial(w2 + p, r, fill: 0));
                        s.3 = s.3.addingProduct(xv, VectorMath.loadPartial(w3 + p, r, fill: 0))
                        s.4 = s.4.addingProduct(xv, VectorMath.loadPartial(w4 + p, r, fill: 0));
                        s.5 = s.5.addingProduct(xv, VectorMath.loadPartial(w5 + p, r, fill: 0))
                        s.6 = s.6.addingProduct(xv, VectorMath.loadPartial(w6 + p, r, fill: 0));
                        s.7 = s.7.addingProduct(xv, VectorMath.loadPartial(w7 + p, r, fill: 0))
                    }
                    let lo = VectorMath.sums(s.0, s.1, s.2, s.3), hi = VectorMath.sums(s.4, s.5, s.6, s.7)
                    let c0 = c.row(0) + j
                    for t in 0..<4 { c0[t] = lo[t] + (bias?[j + t] ?? 0); c0[4 + t] = hi[t] + (bias?[j + 4 + t] ?? 0) }
                    j += 8
                }
            }
            while j < cols.upperBound {
                let g = min(4, cols.upperBound - j)
                let w0 = w.row(j), w1 = w.row(j + min(1, g - 1)), w2 = w.row(j + min(2, g - 1)), w3 = w.row(j + min(3, g - 1))
                var i0 = 0
                while i0 + 3 <= a.rows {
                    dot4x3(a, i0, w0, w1, w2, w3, k: k, bias: bias, j: j, g: g, c)
                    i0 += 3
                }
                for i in i0..<a.rows {
                    let sums = VectorMath.dots(a.row(i), w0, w1, w2, w3, count: k)
                    let ci = c.row(i) + j
                    ci[0] = sums[0] + (bias?[j] ?? 0)
                    if g > 1 { ci[1] = sums[1] + (bias?[j + 1] ?? 0) }
                    if g > 2 { ci[2] = sums[2] + (bias?[j + 2] ?? 0) }
                    if g > 3 { ci[3] = sums[3] + (bias?[j + 3] ?? 0) }
                }
                j += 4
            }
        }

        /// Rows i0 … i0+2 of C at columns j … j+g−1 (g ≤ 4): 12 dot products sharing each load
        /// (3 A vectors and 4 W vectors feed 12 FMAs), then one horizontal sum each.
        @inline(__always)
        static func dot4x3(
            _ a: MatrixView, _ i0: Int, _ w0: UnsafePointer<Float>, _ w1: UnsafePointer<Float>,
            _ w2: UnsafePointer<Float>, _ w3: UnsafePointer<Float>, k: Int, bias: UnsafePointer<Float>?,
            j: Int, g: Int, _ c: MutableMatrixView
        ) {
            let x0 = a.row(i0), x1 = a.row(i0 + 1), x2 = a.row(i0 + 2)
            var s00 = Vec(), s01 = Vec(), s02 = Vec(), s03 = Vec()
            var s10 = Vec(), s11 = Vec(), s12 = Vec(), s13 = Vec()
            var s20 = Vec(), s21 = Vec(), s22 = Vec(), s23 = Vec()
            @inline(__always) func step(_ a0: Vec, _ a1: Vec, _ a2: Vec, _ b0: Vec, _ b1: Vec, _ b2: Vec, _ b3: Vec) {
                s00 = s00.addingProduct(a0, b0); s01 = s01.addingProduct(a0, b1); s02 = s02.addingProduct(a0, b2);
                s03 = s03.addingProduct(a0, b3)
                s10 = s10.addingProduct(a1, b0); s11 = s11.addingProduct(a1, b1); s12 = s12.addingProduct(a1, b2);
                s13 = s13.addingProduct(a1, b3)
                s20 = s20.addingProduct(a2, b0); s21 = s21.addingProduct(a2, b1); s22 = s22.addingProduct(a2, b2);
                s23 = s23.addingProduct(a2, b3)
            }
            @inline(__always) func ld(_ p: UnsafePointer<Float>) -> Vec { UnsafeRawPointer(p).loadUnaligned(as: Vec.self) }
            let kv = k & ~15
            var p = 0
            while p < kv {
                step(ld(x0 + p), ld(x1 + p), ld(x2 + p), ld(w0 + p), ld(w1 + p), ld(w2 + p), ld(w3 + p))
                p += 16
            }
            if p < k {
                let r = k - p
                @inline(__always) func lp(_ q: UnsafePointer<Float>) -> Vec { VectorMath.loadPartial(q + p, r, fill: 0) }
                step(lp(x0), lp(x1), lp(x2), lp(w0), lp(w1), lp(w2), lp(w3))
            }
            @inline(__always) func store(_ i: Int, _ t0: Vec, _ t1: Vec, _ t2: Vec, _ t3: Vec) {
                let ci = c.row(i) + j
                let sums = VectorMath.sums(t0, t1, t2, t3)
                ci[0] = sums[0] + (bias?[j] ?? 0)
                if g > 1 { ci[1] = sums[1] + (bias?[j + 1] ?? 0) }
                if g > 2 { ci[2] = sums[2] + (bias?[j + 2] ?? 0) }
                if g > 3 { ci[3] = sums[3] + (bias?[j + 3] ?? 0) }
            }
            store(i0, s00, s01, s02, s03)
            store(i0 + 1, s10, s11, s12, s13)
            store(i0 + 2, s20, s21, s22, s23)
        }

        /// C[i, cols] = bias[cols] + Σ_p A[i,p]·B[p, cols], streaming B's rows once, four
        /// rows of B per pass over C so C is read and written K/4 times instead of K times.
        static func axpyRows(_ a: MatrixView, _ b: MatrixView, bias: UnsafePointer<Float>?, _ c: MutableMatrixView, cols: Range<Int>) {
            let j0 = cols.lowerBound, width = cols.count
            let wv = width & ~15
            for i in 0..<a.rows {
                let ci = c.row(i) + j0
                for j in 0..<width { ci[j] = bias?[j0 + j] ?? 0 }
            }
            @inline(__always) func load(_ p: UnsafePointer<Float>) -> Vec { UnsafeRawPointer(p).loadUnaligned(as: Vec.self) }
            var p = 0
            while p + 4 <= a.cols {
                let b0 = b.row(p) + j0, b1 = b.row(p + 1) + j0, b2 = b.row(p + 2) + j0, b3 = b.row(p + 3) + j0
                for i in 0..<a.rows {
                    let s0 = a[i, p], s1 = a[i, p + 1], s2 = a[i, p + 2], s3 = a[i, p + 3]
                    let v0 = Vec(repeating: s0), v1 = Vec(repeating: s1), v2 = Vec(repeating: s2), v3 = Vec(repeating: s3)
                    let ci = c.row(i) + j0
                    var j = 0
                    while j < wv {
                        let raw = UnsafeMutableRawPointer(ci + j)
                        var acc = raw.loadUnaligned(as: Vec.self)
                        acc = acc.addingProduct(v0, load(b0 + j)).addingProduct(v1, load(b1 + j))
                        acc = acc.addingProduct(v2, load(b2 + j)).addingProduct(v3, load(b3 + j))
                        raw.storeBytes(of: acc, as: Vec.self)
                        j += 16
                    }
                    while j < width {
                        ci[j] = ci[j].addingProduct(s0, b0[j]).addingProduct(s1, b1[j]).addingProduct(s2, b2[j]).addingProduct(s3, b3[j])
                        j += 1
                    }
                }
                p += 4
            }
            while p < a.cols {
                let bp = b.row(p) + j0
                for i in 0..<a.rows {
                    let s = a[i, p], v = Vec(repeating: s)
                    let ci = c.row(i) + j0
                    var j = 0
                    while j < wv {
                        let raw = UnsafeMutableRawPointer(ci + j)
                        raw.storeBytes(of: raw.loadUnaligned(as: Vec.self).addingProduct(v, load(bp + j)), as: Vec.self)
                        j += 16
                    }
                    while j < width { ci[j] = ci[j].addingProduct(s, bp[j]); j += 1 }
                }
                p += 1
            }
        }
    }
}
