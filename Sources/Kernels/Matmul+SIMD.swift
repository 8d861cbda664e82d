extension Matmul {
    /// Pure-Swift SIMD matmul.
    ///
    /// - M ≤ 4 (decode, GEMV-like): no packing — each output is a SIMD16 dot product
    ///   (`W[N×K]`) or a SIMD16 axpy stream over B's rows (`B[K×N]`); threads split N.
    /// - otherwise: the packed GEMM of `GEMM.swift` (6×64 register tile, A and B packed,
    ///   `Blocking.matmul` cache blocks); threads split C by rows, or by columns when M
    ///   is small, each thread packing its own panels.
    public struct SIMD: MatmulKernel {
        public init() {}
        public var name: String { "simd" }
        public var summary: String { "SIMD16 6x64 register tile, packed A/B panels, MC/KC/NC blocking; direct dot/axpy path for M<=4; threads split C" }

        /// Largest M served by the unpacked path.
        public static let directMaxRows = 4

        public func run(_ a: MatrixView, _ b: MatrixView, layout: BLayout, bias: UnsafeBufferPointer<Float>?,
                        _ c: MutableMatrixView, threads: Int) throws {
            let (m, k, n) = try validate(a, b, layout: layout, bias: bias, c, threads: threads)
            let bias = SendablePointer(bias?.baseAddress.map { UnsafePointer($0) })
            if m <= Self.directMaxRows {
                Parallel.forEach(n, threads: threads, granule: 16) { cols in
                    switch layout {
                    case .nk: Matmul.SIMD.dotRows(a, b, bias: bias.pointer, c, cols: cols)
                    case .kn: Matmul.SIMD.axpyRows(a, b, bias: bias.pointer, c, cols: cols)
                    }
                }
                return
            }
            GEMM.splitC(m: m, n: n, k: k, threads: threads) { rows, cols in
                let aPart = a.rows(rows.lowerBound, rows.count)
                let cPart = MutableMatrixView(base: c.row(rows.lowerBound) + cols.lowerBound, rows: rows.count,
                                              cols: cols.count, stride: c.stride)
                let biasPart = bias.pointer.map { $0 + cols.lowerBound }
                switch layout {
                case .kn:
                    let bPart = MatrixView(base: b.base + cols.lowerBound, rows: b.rows, cols: cols.count, stride: b.stride)
                    GEMM.packed(aPart, KNPanels(b: bPart), n: cols.count, bias: biasPart, cPart, blocking: .matmul)
                case .nk:
                    GEMM.packed(aPart, NKPanels(w: b.rows(cols.lowerBound, cols.count)), n: cols.count,
                                bias: biasPart, cPart, blocking: .matmul)
                }
            }
        }

        /// C[i, j] = bias[j] + A[i,:]·W[j,:] for j in `cols`, four W rows at a time.
        static func dotRows(_ a: MatrixView, _ w: MatrixView, bias: UnsafePointer<Float>?, _ c: MutableMatrixView, cols: Range<Int>) {
            let k = a.cols
            let kv = k & ~15
            var j = cols.lowerBound
            while j < cols.upperBound {
                let g = min(4, cols.upperBound - j)
                let w0 = w.row(j), w1 = w.row(j + min(1, g - 1)), w2 = w.row(j + min(2, g - 1)), w3 = w.row(j + min(3, g - 1))
                for i in 0..<a.rows {
                    let x = a.row(i)
                    var s0 = Vec(), s1 = Vec(), s2 = Vec(), s3 = Vec()
                    var p = 0
                    while p < kv {
                        let xv = UnsafeRawPointer(x + p).loadUnaligned(as: Vec.self)
                        s0 = s0.addingProduct(xv, UnsafeRawPointer(w0 + p).loadUnaligned(as: Vec.self))
                        s1 = s1.addingProduct(xv, UnsafeRawPointer(w1 + p).loadUnaligned(as: Vec.self))
                        s2 = s2.addingProduct(xv, UnsafeRawPointer(w2 + p).loadUnaligned(as: Vec.self))
                        s3 = s3.addingProduct(xv, UnsafeRawPointer(w3 + p).loadUnaligned(as: Vec.self))
                        p += 16
                    }
                    if p < k {
                        let r = k - p
                        let xv = VectorMath.loadPartial(x + p, r, fill: 0)
                        s0 = s0.addingProduct(xv, VectorMath.loadPartial(w0 + p, r, fill: 0))
                        s1 = s1.addingProduct(xv, VectorMath.loadPartial(w1 + p, r, fill: 0))
                        s2 = s2.addingProduct(xv, VectorMath.loadPartial(w2 + p, r, fill: 0))
                        s3 = s3.addingProduct(xv, VectorMath.loadPartial(w3 + p, r, fill: 0))
                    }
                    let sums = (VectorMath.sum(s0), VectorMath.sum(s1), VectorMath.sum(s2), VectorMath.sum(s3))
                    let ci = c.row(i) + j
                    let b0 = bias?[j] ?? 0
                    ci[0] = sums.0 + b0
                    if g > 1 { ci[1] = sums.1 + (bias?[j + 1] ?? 0) }
                    if g > 2 { ci[2] = sums.2 + (bias?[j + 2] ?? 0) }
                    if g > 3 { ci[3] = sums.3 + (bias?[j + 3] ?? 0) }
                }
                j += 4
            }
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
