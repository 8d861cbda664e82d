extension Int4 {
    /// Pure-Swift SIMD quantized linear.
    ///
    /// - M ≤ 4 (decode): fused unpack + FMA straight from the blocks — 16 nibble bytes →
    ///   two SIMD16 of weights in registers, FMA with x, one FMA by the block scale; no fp32
    ///   copy of W. Threads split N.
    /// - M > 4 (prefill): the packed GEMM of `GEMM.swift`, its B panels filled by
    ///   dequantizing blocks straight into the packing buffer (`Blocking.int4`: a KC×256
    ///   panel, 1 MiB) — the weights exist in fp32 only as that cache-sized panel.
    public struct SIMD: Int4Kernel {
        public init() {}
        public var name: String { "simd" }
        public var summary: String { "fused nibble unpack + SIMD16 FMA (M<=4); dequantize-into-packed-panel GEMM (M>4); threads split N or rows" }

        public func run(_ x: MatrixView, _ w: QuantizedMatrix, bias: UnsafeBufferPointer<Float>?,
                        _ y: MutableMatrixView, threads: Int) throws {
            let (m, k, n) = try validate(x, w, bias: bias, y, threads: threads)
            let bp = SendablePointer(bias?.baseAddress.map { UnsafePointer($0) })
            w.withUnsafeBytes { buf in
                let base = SendablePointer(buf.baseAddress!)
                if m <= Matmul.SIMD.directMaxRows {
                    Parallel.forEach(n, threads: threads, granule: 8) { cols in
                        Int4.SIMD.gemv(x, base.pointer!, w, bias: bp.pointer, y, cols: cols)
                    }
                    return
                }
                GEMM.splitC(m: m, n: n, k: k, threads: threads) { rows, cols in
                    let src = Q4Panels(bytes: base.pointer!, w: w, row0: cols.lowerBound)
                    let yPart = MutableMatrixView(base: y.row(rows.lowerBound) + cols.lowerBound, rows: rows.count,
                                                  cols: cols.count, stride: y.stride)
                    GEMM.packed(x.rows(rows.lowerBound, rows.count), src, n: cols.count,
                                bias: bp.pointer.map { $0 + cols.lowerBound }, yPart, blocking: .int4)
                }
            }
        }

        /// y[i, j] = bias[j] + Σ_b d_b·Σ_t (q_t − 8)·x[i, 32b + t] (Q4_0), or
        /// Σ_b (d_b·Σ q_t x_t + m_b·Σ x_t) (Q4_1), for j in `cols`.
        static func gemv(_ x: MatrixView, _ bytes: UnsafePointer<UInt8>, _ w: QuantizedMatrix, bias: UnsafePointer<Float>?,
                         _ y: MutableMatrixView, cols: Range<Int>) {
            let nb = w.blocksPerRow, bb = w.format.blockBytes, off = w.format.nibbleOffset
            let isQ40 = w.format == .q4_0
            // q as a float without an int→float conversion: the bits 0x4B000000 | q are the
            // float 2²³ + q, so subtracting 2²³ (+ 8 for Q4_0's offset) leaves q (or q − 8) exactly.
            let bias23 = Vec(repeating: isQ40 ? 8_388_616 : 8_388_608)
            for j in cols {
                let row = bytes + j * w.rowBytes
                for i in 0..<x.rows {
                    let xi = UnsafeRawPointer(x.row(i))
                    var acc0 = Vec(), acc1 = Vec()
                    var b = 0
                    while b < nb {
                        let blk = row + b * bb
                        let (lo, hi) = VectorMath.nibbles(blk + off)
                        let q0 = unsafeBitCast(lo | 0x4B00_0000, to: Vec.self) - bias23
                        let q1 = unsafeBitCast(hi | 0x4B00_0000, to: Vec.self) - bias23
                        let x0 = xi.loadUnaligned(fromByteOffset: b * 128, as: Vec.self)
                        let x1 = xi.loadUnaligned(fromByteOffset: b * 128 + 64, as: Vec.self)
                        let t = (q0 * x0).addingProduct(q1, x1)
                        let d = Vec(repeating: loadHalf(blk))
                        if isQ40 {
                            if b & 1 == 0 { acc0 = acc0.addingProduct(t, d) } else { acc1 = acc1.addingProduct(t, d) }
                        } else {
                            let m = Vec(repeating: loadHalf(blk + 2))
                            if b & 1 == 0 {
                                acc0 = acc0.addingProduct(t, d).addingProduct(x0 + x1, m)
                            } else {
                                acc1 = acc1.addingProduct(t, d).addingProduct(x0 + x1, m)
                            }
                        }
                        b += 1
                    }
                    y[i, j] = VectorMath.sum(acc0 + acc1) + (bias?[j] ?? 0)
                }
            }
        }
    }
}

/// Packed-B source that dequantizes Q4 blocks of W[N×K] (rows row0 …) into panels.
struct Q4Panels: PanelSource, @unchecked Sendable {
    let bytes: UnsafePointer<UInt8>
    let w: QuantizedMatrix
    let row0: Int

    func pack(k0: Int, kc: Int, j0: Int, nc: Int, into dst: UnsafeMutablePointer<Float>) {
        // k0 and kc are multiples of 32: KC is, and K is checked to be. Each row of a panel
        // is dequantized once into its slot of an NR-row buffer, then transposed from there.
        Workspace.with(Blocking.nr * kc) { tmp in
            packTransposed(kc: kc, nc: nc, into: dst) { jj in
                let slot = tmp + (jj % Blocking.nr) * kc
                Int4.dequantizeRow(bytes, w, row: row0 + j0 + jj, k0: k0, count: kc, into: slot)
                return UnsafePointer(slot)
            }
        }
    }
}
