#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The optimized variants rebuilt one optimization at a time, so `opbench ablation` can
/// measure what each step buys, side by side in one run. Every step is a complete, correct
/// kernel (checked against fp64 like the variants); the last step of each chain is the
/// registered `simd` variant itself. Steps are not registered variants: `opbench list`,
/// `verify` and `bench` do not show them; `Matmul.variant(_:)` and its siblings find them by
/// name so the benchmark harness can run them.
public enum Ablation {
    /// One step: the variant name it runs under, what it adds to the previous step, threads.
    public struct Step: Sendable, Equatable {
        public let variant: String
        public let change: String
        public let threads: Int
    }

    /// The operators with an ablation chain.
    public static let ops: [Op] = [.matmul, .softmax, .layernorm, .attention, .int4]

    /// The chain of `op`, first step first.
    public static func steps(_ op: Op) -> [Step] {
        switch op {
        case .matmul:
            return [
                Step(variant: "ablate-ijk", change: "plain i-j-k loops: each dot product walks B down a column (stride N)", threads: 1),
                Step(variant: "naive", change: "loop order i-k-j: unit-stride inner loop over rows of B and C (LLVM vectorizes it)", threads: 1),
                Step(variant: "ablate-simd16", change: "explicit SIMD16 FMA over B rows, 4 k-steps per pass over the C row", threads: 1),
                Step(variant: "ablate-regtile", change: "6x64 register tile (24 zmm accumulators), A and B read in place", threads: 1),
                Step(variant: "ablate-packed", change: "A and B packed into contiguous panels, one cache block for the whole problem", threads: 1),
                Step(variant: "simd", change: "MC/KC/NC cache blocking (panels sized for L2/L3) = matmul.simd", threads: 1),
                Step(variant: "simd", change: "2 threads (C split between them)", threads: 2),
            ]
        case .softmax:
            return [
                Step(variant: "naive", change: "plain loops, libm expf, three passes", threads: 1),
                Step(variant: "ablate-libm", change: "SIMD16 passes; max with the stdlib's pointwiseMax, exp by libm per lane", threads: 1),
                Step(variant: "ablate-polyexp", change: "polynomial exp on 16 lanes (range-checked form)", threads: 1),
                Step(variant: "ablate-blend", change: "running max by compare/blend instead of pointwiseMax", threads: 1),
                Step(variant: "ablate-fused", change: "exp, sum and store fused in one pass; x <= 0 exp path", threads: 1),
                Step(variant: "ablate-prefetch", change: "next row prefetched into L2 during the exp pass, so its memory reads overlap compute", threads: 1),
                Step(variant: "simd", change: "streaming stores from an L1 scratch row: no write-allocate reads of y = softmax.simd", threads: 1),
                Step(variant: "simd", change: "2 threads (rows split)", threads: 2),
            ]
        case .layernorm:
            return [
                Step(variant: "naive", change: "plain loops, corrected two-pass statistics", threads: 1),
                Step(variant: "ablate-ln-passes", change: "SIMD16 passes, two accumulators per sum, ordinary stores", threads: 1),
                Step(variant: "ablate-ln-prefetch", change: "next row prefetched during the statistics pass", threads: 1),
                Step(variant: "simd", change: "streaming stores: no write-allocate reads of y = layernorm.simd", threads: 1),
                Step(variant: "simd", change: "2 threads (rows split)", threads: 2),
            ]
        case .attention:
            return [
                Step(variant: "naive", change: "scalar loops over the allowed keys only, libm expf", threads: 1),
                Step(variant: "blas", change: "sgemm QK^T per non-empty 64x64 block, masked softmax, sgemm PV", threads: 1),
                Step(variant: "ablate-attn-tiles", change: "flash-style tiles (6 queries x 256 keys, 64-key K panels) on the GEMM micro-kernel, online softmax, partial panels masked entry by entry", threads: 1),
                Step(variant: "ablate-attn-vmask", change: "partial panels masked 16 keys at a time against the row's allowed interval", threads: 1),
                Step(variant: "simd", change: "a window's units visit only the span their rows reach, the global keys as one extra group = attention.simd", threads: 1),
                Step(variant: "simd", change: "2 threads ((head, query tile) units split)", threads: 2),
            ]
        case .int4:
            return [
                Step(variant: "naive", change: "plain loops, each weight dequantized inside the dot product", threads: 1),
                Step(variant: "ablate-deqdot", change: "dequantize a row into an fp32 buffer, then a SIMD16 dot product", threads: 1),
                Step(variant: "ablate-generic", change: "fused unpack + FMA, nibbles widened with the stdlib's generic SIMD conversions", threads: 1),
                Step(variant: "ablate-gguf", change: "one zero-extending load per 16 bytes, q to float by the 2^23 bit trick, two blocks per step", threads: 1),
                Step(variant: "ablate-planes", change: "planes with 16 rows in the lanes: 8 nibble fields per 32-bit lane by OR + subtract (no shuffles), x broadcast, one FMA for 16 rows' scales, no horizontal sums", threads: 1),
                Step(variant: "simd", change: "integer dot products (vpdpbusd): x's blocks as 3- or 4-digit base-256 integers, nibbles as bytes, 64 multiply-adds per instruction = int4.simd", threads: 1),
                Step(variant: "simd", change: "2 threads (N split)", threads: 2),
            ]
        }
    }

    // MARK: - matmul steps (B[K×N] only)

    static func knOnly(_ layout: Matmul.BLayout, _ name: String) throws {
        guard layout == .kn else { throw KernelError.unsupported(op: "matmul", variant: name, reason: "ablation steps take B[K×N] only") }
    }

    /// i-j-k: C[i, j] = Σ_p A[i, p]·B[p, j] with the dot product innermost.
    struct MatmulIJK: MatmulKernel {
        var name: String { "ablate-ijk" }
        var summary: String { "ablation: i-j-k loops" }
        func run(_ a: MatrixView, _ b: MatrixView, layout: Matmul.BLayout, bias: UnsafeBufferPointer<Float>?,
                 _ c: MutableMatrixView, threads: Int) throws {
            try Ablation.knOnly(layout, name)
            let (m, k, n) = try Matmul.validate(a, b, layout: layout, bias: bias, c, threads: threads)
            let bp = SendablePointer(bias?.baseAddress.map { UnsafePointer($0) })
            Parallel.forEach(m, threads: threads) { rows in
                for i in rows {
                    for j in 0..<n {
                        var s = bp.pointer?[j] ?? 0
                        for p in 0..<k { s = s.addingProduct(a[i, p], b[p, j]) }
                        c[i, j] = s
                    }
                }
            }
        }
    }

    /// Explicit SIMD16 axpy: C[i, :] += A[i, p]·B[p, :], four p per pass over the C row.
    struct MatmulSIMD16: MatmulKernel {
        var name: String { "ablate-simd16" }
        var summary: String { "ablation: SIMD16 axpy rows" }
        func run(_ a: MatrixView, _ b: MatrixView, layout: Matmul.BLayout, bias: UnsafeBufferPointer<Float>?,
                 _ c: MutableMatrixView, threads: Int) throws {
            try Ablation.knOnly(layout, name)
            let (m, _, n) = try Matmul.validate(a, b, layout: layout, bias: bias, c, threads: threads)
            let bp = SendablePointer(bias?.baseAddress.map { UnsafePointer($0) })
            Parallel.forEach(m, threads: threads) { rows in
                Matmul.SIMD.axpyRows(a.rows(rows.lowerBound, rows.count), b, bias: bp.pointer,
                                     c.rows(rows.lowerBound, rows.count), cols: 0..<n)
            }
        }
    }

    /// The 6×64 register tile on unpacked operands: per k, six broadcasts of A (from six rows)
    /// and four vector loads of B's row, 24 FMAs into 24 accumulators.
    struct MatmulRegTile: MatmulKernel {
        var name: String { "ablate-regtile" }
        var summary: String { "ablation: 6x64 register tile, unpacked" }
        func run(_ a: MatrixView, _ b: MatrixView, layout: Matmul.BLayout, bias: UnsafeBufferPointer<Float>?,
                 _ c: MutableMatrixView, threads: Int) throws {
            try Ablation.knOnly(layout, name)
            let (m, k, n) = try Matmul.validate(a, b, layout: layout, bias: bias, c, threads: threads)
            let bp = SendablePointer(bias?.baseAddress.map { UnsafePointer($0) })
            let mr = Blocking.mr, nr = Blocking.nr
            Parallel.forEach((m + mr - 1) / mr, threads: threads) { blocks in
                Workspace.with(mr * nr) { tile in
                    for blk in blocks {
                        let i0 = blk * mr, rows = min(mr, m - i0)
                        var j0 = 0
                        while j0 < n {
                            let cols = min(nr, n - j0)
                            Ablation.regTile(a, b, i0: i0, rows: rows, j0: j0, cols: cols, k: k, bias: bp.pointer, c, tile: tile)
                            j0 += nr
                        }
                    }
                }
            }
        }
    }

    @inline(__always)
    static func regTile(_ a: MatrixView, _ b: MatrixView, i0: Int, rows: Int, j0: Int, cols: Int, k: Int,
                        bias: UnsafePointer<Float>?, _ c: MutableMatrixView, tile: UnsafeMutablePointer<Float>) {
        var acc = (Vec(), Vec(), Vec(), Vec(), Vec(), Vec(), Vec(), Vec(), Vec(), Vec(), Vec(), Vec(),
                   Vec(), Vec(), Vec(), Vec(), Vec(), Vec(), Vec(), Vec(), Vec(), Vec(), Vec(), Vec())
        let full = cols == Blocking.nr
        let r = (0..<6).map { a.row(i0 + Swift.min($0, rows - 1)) }
        let (r0, r1, r2, r3, r4, r5) = (r[0], r[1], r[2], r[3], r[4], r[5])
        for p in 0..<k {
            let bRow = b.row(p) + j0
            let b0: Vec, b1: Vec, b2: Vec, b3: Vec
            if full {
                let raw = UnsafeRawPointer(bRow)
                b0 = raw.loadUnaligned(as: Vec.self); b1 = raw.loadUnaligned(fromByteOffset: 64, as: Vec.self)
                b2 = raw.loadUnaligned(fromByteOffset: 128, as: Vec.self); b3 = raw.loadUnaligned(fromByteOffset: 192, as: Vec.self)
            } else {
                b0 = VectorMath.loadPartial(bRow, Swift.min(16, cols), fill: 0)
                b1 = cols > 16 ? VectorMath.loadPartial(bRow + 16, Swift.min(16, cols - 16), fill: 0) : Vec()
                b2 = cols > 32 ? VectorMath.loadPartial(bRow + 32, Swift.min(16, cols - 32), fill: 0) : Vec()
                b3 = cols > 48 ? VectorMath.loadPartial(bRow + 48, cols - 48, fill: 0) : Vec()
            }
            var v = Vec(repeating: r0[p])
            acc.0 = acc.0.addingProduct(v, b0); acc.1 = acc.1.addingProduct(v, b1); acc.2 = acc.2.addingProduct(v, b2); acc.3 = acc.3.addingProduct(v, b3)
            v = Vec(repeating: r1[p])
            acc.4 = acc.4.addingProduct(v, b0); acc.5 = acc.5.addingProduct(v, b1); acc.6 = acc.6.addingProduct(v, b2); acc.7 = acc.7.addingProduct(v, b3)
            v = Vec(repeating: r2[p])
            acc.8 = acc.8.addingProduct(v, b0); acc.9 = acc.9.addingProduct(v, b1); acc.10 = acc.10.addingProduct(v, b2); acc.11 = acc.11.addingProduct(v, b3)
            v = Vec(repeating: r3[p])
            acc.12 = acc.12.addingProduct(v, b0); acc.13 = acc.13.addingProduct(v, b1); acc.14 = acc.14.addingProduct(v, b2); acc.15 = acc.15.addingProduct(v, b3)
            v = Vec(repeating: r4[p])
            acc.16 = acc.16.addingProduct(v, b0); acc.17 = acc.17.addingProduct(v, b1); acc.18 = acc.18.addingProduct(v, b2); acc.19 = acc.19.addingProduct(v, b3)
            v = Vec(repeating: r5[p])
            acc.20 = acc.20.addingProduct(v, b0); acc.21 = acc.21.addingProduct(v, b1); acc.22 = acc.22.addingProduct(v, b2); acc.23 = acc.23.addingProduct(v, b3)
        }
        withUnsafeBytes(of: acc) { UnsafeMutableRawPointer(tile).copyMemory(from: $0.baseAddress!, byteCount: 24 * 64) }
        for rr in 0..<rows {
            let ci = c.row(i0 + rr) + j0
            for j in 0..<cols { ci[j] = tile[rr * 64 + j] + (bias?[j0 + j] ?? 0) }
        }
    }

    /// Packed panels with one cache block spanning the whole problem (no MC/KC/NC blocking).
    struct MatmulPacked: MatmulKernel {
        var name: String { "ablate-packed" }
        var summary: String { "ablation: packed panels, one block" }
        func run(_ a: MatrixView, _ b: MatrixView, layout: Matmul.BLayout, bias: UnsafeBufferPointer<Float>?,
                 _ c: MutableMatrixView, threads: Int) throws {
            try Ablation.knOnly(layout, name)
            let (m, k, n) = try Matmul.validate(a, b, layout: layout, bias: bias, c, threads: threads)
            let one = Blocking(mc: m, kc: k, nc: n)
            GEMM.packed(a, KNPanels(b: b), n: n, bias: bias?.baseAddress.map { UnsafePointer($0) }, c, blocking: one)
        }
    }

    static let matmulSteps: [any MatmulKernel] = [MatmulIJK(), MatmulSIMD16(), MatmulRegTile(), MatmulPacked()]

    // MARK: - softmax steps

    /// Three SIMD16 passes (max, exp + sum, scale) with the chosen max and exp.
    struct SoftmaxSteps: SoftmaxKernel {
        enum Exp { case libm, poly }
        let name: String
        let exp: Exp
        let blendMax: Bool
        var summary: String { "ablation: SIMD16 softmax steps" }

        func run(_ x: MatrixView, _ y: MutableMatrixView, options: Softmax.Options, threads: Int) throws {
            try Softmax.validate(x, y, options: options, threads: threads)
            let exp = self.exp, blendMax = self.blendMax
            Parallel.forEach(x.rows, threads: threads) { rows in
                for i in rows {
                    let n = Softmax.allowedCount(row: i, rows: x.rows, cols: x.cols, causal: options.causal)
                    let xr = x.row(i), yr = y.row(i), s = Vec(repeating: options.scale)
                    @inline(__always) func load(_ j: Int, fill: Float) -> Vec {
                        j + 16 <= n ? UnsafeRawPointer(xr + j).loadUnaligned(as: Vec.self) * s
                            : VectorMath.loadPartial(xr + j, n - j, fill: fill) * s
                    }
                    var mv = Vec(repeating: -.infinity)
                    for j in Swift.stride(from: 0, to: n, by: 16) {
                        let v = load(j, fill: -.infinity)
                        mv = blendMax ? mv.replacing(with: v, where: v .> mv) : pointwiseMax(mv, v)
                    }
                    let m = VectorMath.max(mv)
                    if m == -.infinity { for j in 0..<x.cols { yr[j] = 0 }; continue }
                    var sum = Vec()
                    for j in Swift.stride(from: 0, to: n, by: 16) {
                        let d = load(j, fill: -.infinity) - Vec(repeating: m)
                        var e: Vec
                        switch exp {
                        case .libm:
                            e = Vec()
                            for l in 0..<16 { e[l] = expf(d[l]) }
                        case .poly:
                            e = VectorMath.exp(d)
                        }
                        VectorMath.storePartial(e, yr + j, Swift.min(16, n - j))
                        if j + 16 > n { for l in (n - j)..<16 { e[l] = 0 } }
                        sum += e
                    }
                    let inv = 1 / VectorMath.sum(sum)
                    for j in 0..<n { yr[j] *= inv }
                    for j in n..<x.cols { yr[j] = 0 }
                }
            }
        }
    }

    /// softmax.simd's row loop with its memory-side steps switched off or on (ordinary
    /// stores throughout: streaming is the registered variant's own step).
    struct SoftmaxRows: SoftmaxKernel {
        let name: String
        let prefetch: Bool
        var summary: String { "ablation: fused passes" + (prefetch ? ", next row prefetched" : "") }
        func run(_ x: MatrixView, _ y: MutableMatrixView, options: Softmax.Options, threads: Int) throws {
            try Softmax.validate(x, y, options: options, threads: threads)
            Softmax.SIMD.rows(x, y, options: options, threads: threads, prefetch: prefetch, stream: false)
        }
    }

    static let softmaxSteps: [any SoftmaxKernel] = [
        SoftmaxRows(name: "ablate-fused", prefetch: false),
        SoftmaxRows(name: "ablate-prefetch", prefetch: true),
        SoftmaxSteps(name: "ablate-libm", exp: .libm, blendMax: false),
        SoftmaxSteps(name: "ablate-polyexp", exp: .poly, blendMax: false),
        SoftmaxSteps(name: "ablate-blend", exp: .poly, blendMax: true),
    ]

    // MARK: - layernorm steps

    /// layernorm.simd's row loop with ordinary stores, with and without the prefetch.
    struct LayerNormRows: LayerNormKernel {
        let name: String
        let prefetch: Bool
        var summary: String { "ablation: SIMD16 passes" + (prefetch ? ", next row prefetched" : "") }
        func run(_ x: MatrixView, gamma: UnsafeBufferPointer<Float>, beta: UnsafeBufferPointer<Float>,
                 eps: Float, _ y: MutableMatrixView, threads: Int) throws {
            try LayerNorm.validate(x, gamma: gamma, beta: beta, eps: eps, y, threads: threads)
            LayerNorm.SIMD.rows(x, gamma: gamma, beta: beta, eps: eps, y, threads: threads, prefetch: prefetch, stream: false)
        }
    }

    static let layernormSteps: [any LayerNormKernel] = [
        LayerNormRows(name: "ablate-ln-passes", prefetch: false),
        LayerNormRows(name: "ablate-ln-prefetch", prefetch: true),
    ]

    // MARK: - attention steps

    /// attention.simd's tile path with its masking and window-span optimizations switchable.
    struct AttentionTiles: AttentionKernel {
        let name: String
        let vectorMask: Bool
        var summary: String { "ablation: flash tiles" + (vectorMask ? ", vector masking" : ", scalar masking") }
        func run(q: MatrixView, k: MatrixView, v: MatrixView, heads: Int, pattern: AttentionPattern,
                 _ out: MutableMatrixView, threads: Int) throws {
            let d = try SparseAttention.validate(q: q, k: k, v: v, heads: heads, pattern: pattern, out, threads: threads)
            SparseAttention.SIMD.tiles(q: q, k: k, v: v, heads: heads, d: d, pattern: pattern, out, threads: threads,
                                       vectorMask: vectorMask, skipUnreachable: false)
        }
    }

    static let attentionSteps: [any AttentionKernel] = [
        AttentionTiles(name: "ablate-attn-tiles", vectorMask: false),
        AttentionTiles(name: "ablate-attn-vmask", vectorMask: true),
    ]

    // MARK: - int4 steps

    /// Each weight row dequantized into an fp32 buffer, then a SIMD16 dot product with each x row.
    struct Int4DequantDot: Int4Kernel {
        var name: String { "ablate-deqdot" }
        var summary: String { "ablation: dequantize row, then dot" }
        func run(_ x: MatrixView, _ w: QuantizedMatrix, bias: UnsafeBufferPointer<Float>?,
                 _ y: MutableMatrixView, threads: Int) throws {
            let (_, k, n) = try Int4.validate(x, w, bias: bias, y, threads: threads)
            let bp = SendablePointer(bias?.baseAddress.map { UnsafePointer($0) })
            w.withUnsafeBytes { buf in
                let base = SendablePointer(buf.baseAddress!)
                Parallel.forEach(n, threads: threads) { cols in
                    Workspace.with(k) { row in
                        for j in cols {
                            Int4.dequantizeRow(base.pointer!, w, row: j, k0: 0, count: k, into: row)
                            for i in 0..<x.rows {
                                y[i, j] = VectorMath.dot(x.row(i), row, count: k) + (bp.pointer?[j] ?? 0)
                            }
                        }
                    }
                }
            }
        }
    }

    /// Fused unpack + FMA from the blocks, with the nibbles widened and converted by the
    /// stdlib's generic SIMD initializers (which compile to calls, not instructions).
    struct Int4Generic: Int4Kernel {
        var name: String { "ablate-generic" }
        var summary: String { "ablation: fused unpack with generic conversions" }
        func run(_ x: MatrixView, _ w: QuantizedMatrix, bias: UnsafeBufferPointer<Float>?,
                 _ y: MutableMatrixView, threads: Int) throws {
            let (_, _, n) = try Int4.validate(x, w, bias: bias, y, threads: threads)
            let bp = SendablePointer(bias?.baseAddress.map { UnsafePointer($0) })
            let nb = w.blocksPerRow, bb = w.format.blockBytes, off = w.format.nibbleOffset, q40 = w.format == .q4_0
            w.withUnsafeBytes { buf in
                let base = SendablePointer(buf.baseAddress!)
                Parallel.forEach(n, threads: threads) { cols in
                    for j in cols {
                        let row = base.pointer! + j * w.rowBytes
                        for i in 0..<x.rows {
                            let xi = UnsafeRawPointer(x.row(i))
                            var acc = Vec()
                            for b in 0..<nb {
                                let blk = row + b * bb
                                let bytes = UnsafeRawPointer(blk + off).loadUnaligned(as: SIMD16<UInt8>.self)
                                let lo = SIMD16<Int32>(truncatingIfNeeded: bytes & 0x0F), hi = SIMD16<Int32>(truncatingIfNeeded: bytes &>> 4)
                                var q0 = Vec(lo), q1 = Vec(hi)
                                if q40 { q0 -= 8; q1 -= 8 }
                                let x0 = xi.loadUnaligned(fromByteOffset: b * 128, as: Vec.self)
                                let x1 = xi.loadUnaligned(fromByteOffset: b * 128 + 64, as: Vec.self)
                                let d = Vec(repeating: Int4.loadHalf(blk))
                                acc = acc.addingProduct((q0 * x0).addingProduct(q1, x1), d)
                                if !q40 { acc = acc.addingProduct(x0 + x1, Vec(repeating: Int4.loadHalf(blk + 2))) }
                            }
                            y[i, j] = VectorMath.sum(acc) + (bp.pointer?[j] ?? 0)
                        }
                    }
                }
            }
        }
    }

    /// int4.simd's GEMV before the planes: straight from the GGUF blocks, one zero-extending
    /// load per 16 bytes, q to float by the 2²³ bit trick, two blocks per step.
    struct Int4GGUF: Int4Kernel {
        var name: String { "ablate-gguf" }
        var summary: String { "ablation: fused unpack from GGUF blocks, bit-trick conversion" }
        func run(_ x: MatrixView, _ w: QuantizedMatrix, bias: UnsafeBufferPointer<Float>?,
                 _ y: MutableMatrixView, threads: Int) throws {
            let (_, _, n) = try Int4.validate(x, w, bias: bias, y, threads: threads)
            let bp = SendablePointer(bias?.baseAddress.map { UnsafePointer($0) })
            w.withUnsafeBytes { buf in
                let base = SendablePointer(buf.baseAddress!)
                Parallel.forEach(n, threads: threads, granule: 8) { cols in
                    Int4GGUF.gemv(x, base.pointer!, w, bias: bp.pointer, y, cols: cols)
                }
            }
        }

        /// y[i, j] = bias[j] + Σ_b d_b·Σ_t (q_t − 8)·x[i, 32b + t] (Q4_0), or
        /// Σ_b (d_b·Σ q_t x_t + m_b·Σ x_t) (Q4_1), for j in `cols`.
        static func gemv(_ x: MatrixView, _ bytes: UnsafePointer<UInt8>, _ w: QuantizedMatrix, bias: UnsafePointer<Float>?,
                         _ y: MutableMatrixView, cols: Range<Int>) {
            // One loop per format, so the format is a constant inside it.
            if w.format == .q4_0 {
                gemvRows(x, bytes, w, bias: bias, y, cols: cols, q40: true)
            } else {
                gemvRows(x, bytes, w, bias: bias, y, cols: cols, q40: false)
            }
        }

        @inline(__always)
        static func gemvRows(_ x: MatrixView, _ bytes: UnsafePointer<UInt8>, _ w: QuantizedMatrix, bias: UnsafePointer<Float>?,
                             _ y: MutableMatrixView, cols: Range<Int>, q40: Bool) {
            let nb = w.blocksPerRow, bb = w.format.blockBytes
            for j in cols {
                let row = bytes + j * w.rowBytes
                for i in 0..<x.rows {
                    let xi = UnsafeRawPointer(x.row(i))
                    // Two blocks per step into two accumulators: no branch in the loop and
                    // two independent FMA chains.
                    var acc0 = Vec(), acc1 = Vec()
                    var b = 0
                    while b + 2 <= nb {
                        acc0 = block(row + b * bb, xi + b * 128, acc0, q40: q40)
                        acc1 = block(row + (b + 1) * bb, xi + (b + 1) * 128, acc1, q40: q40)
                        b += 2
                    }
                    if b < nb { acc0 = block(row + b * bb, xi + b * 128, acc0, q40: q40) }
                    y[i, j] = VectorMath.sum(acc0 + acc1) + (bias?[j] ?? 0)
                }
            }
        }

        /// acc + d·Σ_t (q_t − 8)·x_t over one Q4_0 block (or d·Σ q_t x_t + m·Σ x_t for Q4_1),
        /// lane-wise: 32 weights and the 32 floats of x at `x`.
        @inline(__always)
        static func block(_ blk: UnsafePointer<UInt8>, _ x: UnsafeRawPointer, _ acc: Vec, q40: Bool) -> Vec {
            // q as a float without an int→float conversion: the bits 0x4B000000 | q are the
            // float 2²³ + q, so subtracting 2²³ (+ 8 for Q4_0's offset) leaves q (or q − 8) exactly.
            let bias23 = Vec(repeating: q40 ? 8_388_616 : 8_388_608)
            let (lo, hi) = VectorMath.nibbles(blk + (q40 ? 2 : 4))
            let q0 = unsafeBitCast(lo | 0x4B00_0000, to: Vec.self) - bias23
            let q1 = unsafeBitCast(hi | 0x4B00_0000, to: Vec.self) - bias23
            let x0 = x.loadUnaligned(as: Vec.self), x1 = x.loadUnaligned(fromByteOffset: 64, as: Vec.self)
            let t = (q0 * x0).addingProduct(q1, x1)
            let d = Vec(repeating: Int4.loadHalf(blk))
            if q40 { return acc.addingProduct(t, d) }
            return acc.addingProduct(t, d).addingProduct(x0 + x1, Vec(repeating: Int4.loadHalf(blk + 2)))
        }
    }

    static let int4Steps: [any Int4Kernel] = [Int4DequantDot(), Int4Generic(), Int4GGUF(), Int4.SIMD(integerDot: false)]
}
