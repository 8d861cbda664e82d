#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The steps of `opbench ablation --op int4` (see `Ablation`).
extension Int4 {
    /// The ablation chain: the optimizations of `int4.simd` one at a time, first step first.
    public static let ablation: [Ablation.Step] = [
        Ablation.Step(variant: "naive", change: "plain loops, each weight dequantized inside the dot product", threads: 1),
        Ablation.Step(variant: "ablate-deqdot", change: "dequantize a row into an fp32 buffer, then a SIMD16 dot product", threads: 1),
        Ablation.Step(
            variant: "ablate-generic",
            change: "fused unpack + FMA, nibbles widened with the stdlib's generic SIMD "
                + "conversions", threads: 1),
        Ablation.Step(
            variant: "ablate-gguf", change: "one zero-extending load per 16 bytes, q to float by the 2^23 bit trick, two blocks per step",
            threads: 1),
        Ablation.Step(
            variant: "ablate-planes",
            change:
                "planes with 16 rows in the lanes: 8 nibble fields per 32-bit lane by OR + subtract (no shuffles), x broadcast, one "
                + "FMA for 16 rows' scales, no horizontal sums",
            threads: 1),
        Ablation.Step(
            variant: "simd",
            change:
                "integer dot products (vpdpbusd): x's blocks as 3- or 4-digit base-256 integers, nibbles as bytes, 64 multiply-adds "
                + "per instruction = int4.simd",
            threads: 1),
        Ablation.Step(variant: "simd", change: "2 threads (N split)", threads: 2),
        Ablation.Step(
            variant: "act8",
            change: "x rounded once to 8-bit blocks, one vpdpbusd per 4 weights and row of x, 4 rows x 32 W rows per tile "
                + "= int4.act8 (other numerics: its own bound)", threads: 2),
    ]

    /// The chain of the GEMV from the GGUF blocks (Q8_0, Q4_K, Q6_K; `int4.simd`'s
    /// `gemvBlocks`), chosen by `opbench ablation` for shapes in those formats; it ends with
    /// int4.act8, which runs them from their 16-row planes.
    public static let blockAblation: [Ablation.Step] = [
        Ablation.Step(variant: "naive", change: "plain loops, each weight dequantized inside the dot product", threads: 1),
        Ablation.Step(variant: "ablate-deqdot", change: "dequantize a row into an fp32 buffer, then a SIMD16 dot product", threads: 1),
        Ablation.Step(
            variant: "simd",
            change: "64 weights per step from the blocks into four SIMD16 registers (the unit that shares scales and bytes), "
                + "FMA with x, blocks prefetched 1 KiB ahead = int4.simd",
            threads: 1),
        Ablation.Step(variant: "simd", change: "2 threads (256-row chunks of N)", threads: 2),
        Ablation.Step(
            variant: "act8",
            change: "16-row planes, x rounded once to 8-bit blocks, one vpdpbusd per 4 weights and row of x = int4.act8 "
                + "(other numerics: its own bound)", threads: 2),
    ]

    /// Each weight row dequantized into an fp32 buffer, then a SIMD16 dot product with each x row.
    struct AblateDequantDot: Int4Kernel {
        var name: String { "ablate-deqdot" }
        var summary: String { "ablation: dequantize row, then dot" }
        func run(
            _ x: MatrixView, _ w: QuantizedMatrix, bias: UnsafeBufferPointer<Float>?,
            _ y: MutableMatrixView, threads: Int
        ) throws {
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
    struct AblateGeneric: Int4Kernel {
        var name: String { "ablate-generic" }
        var summary: String { "ablation: fused unpack with generic conversions" }
        func run(
            _ x: MatrixView, _ w: QuantizedMatrix, bias: UnsafeBufferPointer<Float>?,
            _ y: MutableMatrixView, threads: Int
        ) throws {
            let (_, _, n) = try Int4.validate(x, w, bias: bias, y, threads: threads)
            try Int4.requireQ4(w, variant: name)
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
                                let lo = SIMD16<Int32>(truncatingIfNeeded: bytes & 0x0F),
                                    hi = SIMD16<Int32>(truncatingIfNeeded: bytes &>> 4)
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
    struct AblateGGUF: Int4Kernel {
        var name: String { "ablate-gguf" }
        var summary: String { "ablation: fused unpack from GGUF blocks, bit-trick conversion" }
        func run(
            _ x: MatrixView, _ w: QuantizedMatrix, bias: UnsafeBufferPointer<Float>?,
            _ y: MutableMatrixView, threads: Int
        ) throws {
            let (_, _, n) = try Int4.validate(x, w, bias: bias, y, threads: threads)
            try Int4.requireQ4(w, variant: name)
            let bp = SendablePointer(bias?.baseAddress.map { UnsafePointer($0) })
            w.withUnsafeBytes { buf in
                let base = SendablePointer(buf.baseAddress!)
                Parallel.forEach(n, threads: threads, granule: 8) { cols in
                    AblateGGUF.gemv(x, base.pointer!, w, bias: bp.pointer, y, cols: cols)
                }
            }
        }

        /// y[i, j] = bias[j] + Σ_b d_b·Σ_t (q_t − 8)·x[i, 32b + t] (Q4_0), or
        /// Σ_b (d_b·Σ q_t x_t + m_b·Σ x_t) (Q4_1), for j in `cols`.
        static func gemv(
            _ x: MatrixView, _ bytes: UnsafePointer<UInt8>, _ w: QuantizedMatrix, bias: UnsafePointer<Float>?,
            _ y: MutableMatrixView, cols: Range<Int>
        ) {
            // One loop per format, so the format is a constant inside it.
            if w.format == .q4_0 {
                gemvRows(x, bytes, w, bias: bias, y, cols: cols, q40: true)
            } else {
                gemvRows(x, bytes, w, bias: bias, y, cols: cols, q40: false)
            }
        }

        @inline(__always)
        static func gemvRows(
            _ x: MatrixView, _ bytes: UnsafePointer<UInt8>, _ w: QuantizedMatrix, bias: UnsafePointer<Float>?,
            _ y: MutableMatrixView, cols: Range<Int>, q40: Bool
        ) {
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

    public static let ablationKernels: [any Int4Kernel] = [AblateDequantDot(), AblateGeneric(), AblateGGUF(), Int4.SIMD(integerDot: false)]
}
