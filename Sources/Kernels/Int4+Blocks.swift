import CIntrinsics

/// A block format read 64 weights at a time into four SIMD16 registers, bit-identical to
/// `Int4.dequantizeBlock` (the same operations in the same order, lane by lane). A quad is
/// what shares its scales and bytes: two Q8_0 blocks, one 32-byte nibble chunk of a Q4_K
/// super-block (two sub-blocks), the 64 weights of a Q6_K super-block that share 32 qh bytes.
protocol BlockQuads {
    static var format: QuantFormat { get }
    /// Weights 64q … 64q + 63 of the row whose blocks start at `row`.
    static func quad(_ row: UnsafePointer<UInt8>, _ q: Int) -> (Vec, Vec, Vec, Vec)
}

/// Q8_0: 16 signed bytes widened and converted, times d.
enum Q8_0Quads: BlockQuads {
    static var format: QuantFormat { .q8_0 }
    @inline(__always)
    static func pair(_ blk: UnsafePointer<UInt8>) -> (Vec, Vec) {
        let d = Vec(repeating: Int4.loadHalf(blk))
        return (opbench_s8_to_f32(blk + 2) * d, opbench_s8_to_f32(blk + 18) * d)
    }
    @inline(__always)
    static func quad(_ row: UnsafePointer<UInt8>, _ q: Int) -> (Vec, Vec, Vec, Vec) {
        let (w0, w1) = pair(row + 68 * q), (w2, w3) = pair(row + 68 * q + 34)
        return (w0, w1, w2, w3)
    }
}

/// Q4_K: quad q is chunk c = q mod 4 of super-block q/4: its 32 bytes' low nibbles are
/// sub-block 2c, the high ones 2c + 1; (d·sc_s)·q − dmin·m_s.
enum Q4_KQuads: BlockQuads {
    static var format: QuantFormat { .q4_k }
    @inline(__always)
    static func quad(_ row: UnsafePointer<UInt8>, _ q: Int) -> (Vec, Vec, Vec, Vec) {
        let blk = row + 144 * (q / 4), c = q % 4
        let (sc0, m0) = QuantBlocks.scaleMinK4(2 * c, blk + 4), (sc1, m1) = QuantBlocks.scaleMinK4(2 * c + 1, blk + 4)
        let d = Int4.loadHalf(blk), dmin = Int4.loadHalf(blk + 2)
        let ds0 = Vec(repeating: d * Float(sc0)), dm0 = Vec(repeating: dmin * Float(m0))
        let ds1 = Vec(repeating: d * Float(sc1)), dm1 = Vec(repeating: dmin * Float(m1))
        let p = UnsafeRawPointer(blk + 16 + 32 * c)
        let b0 = p.loadUnaligned(as: SIMD16<UInt8>.self), b1 = p.loadUnaligned(fromByteOffset: 16, as: SIMD16<UInt8>.self)
        return (
            ds0 * opbench_u8_to_f32(b0 & 0x0F) - dm0, ds0 * opbench_u8_to_f32(b1 & 0x0F) - dm0,
            ds1 * opbench_u8_to_f32(b0 &>> 4) - dm1, ds1 * opbench_u8_to_f32(b1 &>> 4) - dm1
        )
    }
}

/// Q6_K: quad q is k = q mod 4 of super-block q/4: half h = k/2, groups g = 2·(k mod 2) and
/// g + 1, which share qh[32h …] (bits 2g…2g+3) and take ql[64h …] and ql[64h + 32 …] (low
/// nibbles for g < 2, high ones after); the 6-bit q = nibble | 2 bits << 4; (d·sc)·(q − 32).
enum Q6_KQuads: BlockQuads {
    static var format: QuantFormat { .q6_k }
    @inline(__always)
    static func quad(_ row: UnsafePointer<UInt8>, _ q: Int) -> (Vec, Vec, Vec, Vec) {
        let blk = row + 210 * (q / 4), k = q % 4, h = k / 2, g = 2 * (k % 2)
        let ql = UnsafeRawPointer(blk + 64 * h), qh = UnsafeRawPointer(blk + 128 + 32 * h)
        let shift = UInt8(4 * (g / 2))
        let l0 = (ql.loadUnaligned(as: SIMD16<UInt8>.self) &>> shift) & 0x0F
        let l1 = (ql.loadUnaligned(fromByteOffset: 16, as: SIMD16<UInt8>.self) &>> shift) & 0x0F
        let l2 = (ql.loadUnaligned(fromByteOffset: 32, as: SIMD16<UInt8>.self) &>> shift) & 0x0F
        let l3 = (ql.loadUnaligned(fromByteOffset: 48, as: SIMD16<UInt8>.self) &>> shift) & 0x0F
        let h0 = qh.loadUnaligned(as: SIMD16<UInt8>.self) &>> UInt8(2 * g)
        let h1 = qh.loadUnaligned(fromByteOffset: 16, as: SIMD16<UInt8>.self) &>> UInt8(2 * g)
        let d = Int4.loadHalf(blk + 208), sc = blk + 192 + 4 * k
        @inline(__always) func w(_ low: SIMD16<UInt8>, _ high: SIMD16<UInt8>, _ s: Int) -> Vec {
            let ds = Vec(repeating: d * Float(Int8(bitPattern: sc[s])))
            return ds * (opbench_u8_to_f32(low | ((high & 3) &<< 4)) - Vec(repeating: 32))
        }
        return (w(l0, h0, 0), w(l1, h1, 1), w(l2, h0 &>> 2, 2), w(l3, h1 &>> 2, 3))
    }
}

extension Int4.SIMD {
    /// The GEMV (M ≤ 4) of the formats without nibble planes (Q8_0, Q4_K, Q6_K), for W rows
    /// `cols`: each row's blocks are turned into SIMD16 weights in registers, 64 at a time (`BlockQuads`,
    /// bit-identical to the dequantized values), FMA with x, four accumulators per row, one
    /// horizontal sum per row; the blocks are prefetched 1 KiB ahead into L1. Rows go 16 at a time, each x row over those 16 before the
    /// next, so for M > 1 the 16 rows' blocks come from L1/L2 after the first x row.
    ///
    /// Accuracy: y is an fp32 dot product of x with the dequantized weights, computed in 64
    /// interleaved partial sums: the matmul bound γ_K·Σ|x||w| holds (`Tolerance.int4Linear`).
    static func gemvBlocks(
        _ x: MatrixView, _ w: QuantizedMatrix, bias: UnsafePointer<Float>?, _ y: MutableMatrixView, cols: Range<Int>
    ) {
        w.withUnsafeBytes { buf in
            let base = buf.baseAddress!
            switch w.format {
            case .q8_0: gemvRows(Q8_0Quads.self, x, w, base, bias: bias, y, cols: cols)
            case .q4_k: gemvRows(Q4_KQuads.self, x, w, base, bias: bias, y, cols: cols)
            case .q6_k: gemvRows(Q6_KQuads.self, x, w, base, bias: bias, y, cols: cols)
            case .q4_0, .q4_1: preconditionFailure("Q4 formats take the planes GEMV")
            }
        }
    }

    @inline(__always)
    static func gemvRows<F: BlockQuads>(
        _: F.Type, _ x: MatrixView, _ w: QuantizedMatrix, _ base: UnsafePointer<UInt8>, bias: UnsafePointer<Float>?,
        _ y: MutableMatrixView, cols: Range<Int>
    ) {
        let nb = w.blocksPerRow, bb = F.format.blockBytes, rowBytes = w.rowBytes
        var j0 = cols.lowerBound
        while j0 < cols.upperBound {
            let j1 = Swift.min(cols.upperBound, j0 + 16)
            for i in 0..<x.rows {
                let xi = x.row(i)
                for j in j0..<j1 {
                    let row = base + j * rowBytes
                    var a0 = Vec(), a1 = Vec(), a2 = Vec(), a3 = Vec()
                    @inline(__always) func ld(_ p: UnsafePointer<Float>) -> Vec { UnsafeRawPointer(p).loadUnaligned(as: Vec.self) }
                    let quads = w.cols / 64
                    for q in 0..<quads {
                        // The stream 1 KiB ahead into L1 (the first x row brings the blocks in).
                        if i == 0 { CacheControl.prefetch(UnsafeRawPointer(row + q * bb * 64 / F.format.blockSize + 1024)) }
                        let (w0, w1, w2, w3) = F.quad(row, q), xq = xi + 64 * q
                        a0 = a0.addingProduct(w0, ld(xq)); a1 = a1.addingProduct(w1, ld(xq + 16))
                        a2 = a2.addingProduct(w2, ld(xq + 32)); a3 = a3.addingProduct(w3, ld(xq + 48))
                    }
                    if w.cols % 64 != 0 {  // Q8_0 rows of an odd number of blocks: the last one
                        let (w0, w1) = Q8_0Quads.pair(row + (nb - 1) * bb)
                        a0 = a0.addingProduct(w0, ld(xi + 64 * quads)); a1 = a1.addingProduct(w1, ld(xi + 64 * quads + 16))
                    }
                    y[i, j] = VectorMath.sum((a0 + a1) + (a2 + a3)) + (bias?[j] ?? 0)
                }
            }
            j0 = j1
        }
    }
}
