extension Int4 {
    /// Pure-Swift SIMD quantized linear.
    ///
    /// - M ≤ 4 (decode): fused unpack + FMA from the matrix's planes (`Int4.Planes`), 16 rows
    ///   at a time, one per lane — each block's 256 bytes → 32 SIMD16 of weights in registers
    ///   by OR and subtract, FMA with x broadcast, one FMA by 16 rows' block scales; no fp32
    ///   copy of W and no horizontal sums. Threads take 256-row chunks of N from a shared
    ///   counter.
    /// - M > 4 (prefill): the packed GEMM of `GEMM.swift`, its B panels filled by
    ///   dequantizing blocks straight into the packing buffer (`Blocking.int4`: a KC×256
    ///   panel, 1 MiB) — the weights exist in fp32 only as that cache-sized panel.
    public struct SIMD: Int4Kernel {
        public init() {}
        public var name: String { "simd" }
        public var summary: String { "GEMV with 16 rows in the lanes of nibble planes, fields to floats by OR + subtract, no shuffles (M<=4), threads take 256-row chunks; dequantize-into-packed-panel GEMM (M>4); threads split N or rows" }

        public func run(_ x: MatrixView, _ w: QuantizedMatrix, bias: UnsafeBufferPointer<Float>?,
                        _ y: MutableMatrixView, threads: Int) throws {
            let (m, k, n) = try validate(x, w, bias: bias, y, threads: threads)
            let bp = SendablePointer(bias?.baseAddress.map { UnsafePointer($0) })
            if m <= Matmul.SIMD.directMaxRows {
                let nb = w.blocksPerRow
                Workspace.with(m * 5 * nb * 32 + m * nb) { xs in
                    Planes.scaledCopies(x, into: xs)
                    // Block sums of x: only Q4_1's minimum term uses them.
                    if w.format == .q4_1 { Planes.blockSums(x, into: xs + m * 5 * nb * 32) }
                    let xsp = SendablePointer(UnsafePointer(xs))
                    // Chunks of 256 rows (590 KB of Q4_0 at K = 4096) from a shared counter.
                    Parallel.forEachChunk(n, threads: threads, chunk: 256, granule: 16) { cols in
                        Int4.SIMD.gemv(w, xs: xsp.pointer!, rows: m, bias: bp.pointer, y, cols: cols)
                    }
                }
                return
            }
            w.withUnsafeBytes { buf in
                let base = SendablePointer(buf.baseAddress!)
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
        /// Σ_b (d_b·Σ q_t x_t + m_b·Σ x_t) (Q4_1), for j in `cols` (16 rows at a time, one per
        /// lane), from the matrix's planes, x's five scaled copies and its block sums.
        static func gemv(_ w: QuantizedMatrix, xs: UnsafePointer<Float>, rows m: Int, bias: UnsafePointer<Float>?,
                         _ y: MutableMatrixView, cols: Range<Int>) {
            w.withPlanes { scales, mins, nibbles in
                // One loop per format, so the format is a constant inside it.
                if w.format == .q4_0 {
                    gemvRows(xs, rows: m, scales, mins, nibbles, nb: w.blocksPerRow, bias: bias, y, cols: cols, q40: true)
                } else {
                    gemvRows(xs, rows: m, scales, mins, nibbles, nb: w.blocksPerRow, bias: bias, y, cols: cols, q40: false)
                }
            }
        }

        @inline(__always)
        static func gemvRows(_ xs: UnsafePointer<Float>, rows m: Int, _ scales: UnsafePointer<UInt16>, _ mins: UnsafePointer<UInt16>,
                             _ nibbles: UnsafePointer<UInt8>, nb: Int, bias: UnsafePointer<Float>?,
                             _ y: MutableMatrixView, cols: Range<Int>, q40: Bool) {
            let len = nb * 32
            // c_k = 2²³ + o·16^k for the nibble at bit 4k, o = 8 (Q4_0) or 0 (Q4_1).
            let o: Float = q40 ? 8 : 0
            let c0 = Vec(repeating: 8_388_608 + o), c1 = Vec(repeating: 8_388_608 + o * 16), c2 = Vec(repeating: 8_388_608 + o * 256)
            let c3 = Vec(repeating: 8_388_608 + o * 4096), c4 = Vec(repeating: 8_388_608 + o * 65536)
            var g = cols.lowerBound / 16
            while g * 16 < cols.upperBound {
                let lanes = Swift.min(16, cols.upperBound - g * 16)
                for i in 0..<m {
                    let x0 = xs + i * 5 * len
                    let sums = xs + m * 5 * len + i * nb
                    var acc = Vec()
                    for b in 0..<nb {
                        // The nibbles 16 blocks ahead: the hardware prefetchers alone left this
                        // stream at 8.8 GB/s from DRAM (3.7 ms at 1×4096×14336; 2.35 ms with it).
                        let ahead = UnsafeRawPointer(nibbles + (g * nb + b) * 256 + 4096)
                        CacheControl.prefetch(ahead); CacheControl.prefetch(ahead + 64)
                        CacheControl.prefetch(ahead + 128); CacheControl.prefetch(ahead + 192)
                        let blockDot = blockDot16(UnsafeRawPointer(nibbles + (g * nb + b) * 256), x0 + 32 * b, len, c0, c1, c2, c3, c4)
                        acc = acc.addingProduct(blockDot, VectorMath.halves(scales + (g * nb + b) * 16))
                        if !q40 { acc = acc.addingProduct(Vec(repeating: sums[b]), VectorMath.halves(mins + (g * nb + b) * 16)) }
                    }
                    let dst = y.row(i) + g * 16
                    if let bias { acc += VectorMath.loadPartial(bias + g * 16, lanes, fill: 0) }
                    if lanes == 16 { UnsafeMutableRawPointer(dst).storeBytes(of: acc, as: Vec.self) } else { VectorMath.storePartial(acc, dst, lanes) }
                }
                g += 1
            }
        }

        /// Σ_t (q_t − o)·x_t of one block for 16 rows at once (lane = row): vector v's lane
        /// holds bytes 4v…4v+3 of its row's block, weights 4v + s (field 2s) and 16 + 4v + s
        /// (field 2s + 1), s = 0…3; fields 5…7 after a 12-bit shift. Each field's product with
        /// x scaled by its 16^−k (copy k at x + k·len, broadcast) is (q − o)·x rounded once.
        /// Not inlined: inside the block loop LLVM vectorized that loop with gathers of x
        /// across blocks (3× slower).
        @inline(never)
        static func blockDot16(_ unit: UnsafeRawPointer, _ x: UnsafePointer<Float>, _ len: Int,
                               _ c0: Vec, _ c1: Vec, _ c2: Vec, _ c3: Vec, _ c4: Vec) -> Vec {
            let x0 = x, x1 = x + len, x2 = x1 + len, x3 = x2 + len, x4 = x3 + len
            @inline(__always) func part(_ v: Int) -> Vec {
                let w = unit.load(fromByteOffset: 64 * v, as: SIMD16<UInt32>.self), u = w &>> 12
                let t = 4 * v
                var p = weight(w, 0xF, c0) * Vec(repeating: x0[t])
                p = p.addingProduct(weight(w, 0xF0, c1), Vec(repeating: x1[t + 16]))
                p = p.addingProduct(weight(w, 0xF00, c2), Vec(repeating: x2[t + 1]))
                p = p.addingProduct(weight(w, 0xF000, c3), Vec(repeating: x3[t + 17]))
                p = p.addingProduct(weight(w, 0xF_0000, c4), Vec(repeating: x4[t + 2]))
                p = p.addingProduct(weight(u, 0xF00, c2), Vec(repeating: x2[t + 18]))
                p = p.addingProduct(weight(u, 0xF000, c3), Vec(repeating: x3[t + 3]))
                return p.addingProduct(weight(u, 0xF_0000, c4), Vec(repeating: x4[t + 19]))
            }
            return (part(0) + part(1)) + (part(2) + part(3))
        }

        /// (q − o)·16^k for the nibble q in `mask` (bits 4k…4k+3, k ≤ 4, so inside the
        /// mantissa): the bits 0x4B000000 | q·16^k are the float 2²³ + q·16^k, and
        /// subtracting c = 2²³ + o·16^k is exact. One `vpternlogd` and one subtract.
        @inline(__always)
        static func weight(_ v: SIMD16<UInt32>, _ mask: UInt32, _ c: Vec) -> Vec {
            unsafeBitCast((v & SIMD16(repeating: mask)) | 0x4B00_0000, to: Vec.self) - c
        }
    }

    /// The layout of `int4.simd`'s GEMV (built by `QuantizedMatrix` from the GGUF blocks).
    ///
    /// Rows go in groups of 16, one row per 32-bit lane (rows past N are zero). For each group
    /// and block b: the 16 rows' scales d (and for Q4_1 minimums m) as 16 consecutive fp16,
    /// and the 16 rows' nibble bytes as four 64-byte vectors, vector v holding bytes 4v…4v+3 of
    /// each row's block in that row's lane. A lane then holds eight nibbles, q at bits
    /// 4p…4p+3: fields p ≤ 4 lie inside an fp32 mantissa and become floats by OR with an
    /// exponent and one exact subtract, with no shuffle; fields 5…7 follow one 12-bit shift.
    /// The field at bit 4k comes out as (q − o)·16^k, so x is read from a copy scaled by
    /// 16^−k (five copies, made once per call; scaling by a power of 2 is exact), broadcast:
    /// every lane (row) multiplies the same x. Each lane accumulates its own row, so one
    /// conversion gives 16 rows' scales, one FMA applies them, and no horizontal sum is left.
    ///
    /// Why: on Zen 4 a 512-bit instruction holds a 256-bit pipe for two cycles, and byte
    /// widening (`vpmovzxbd`), shifts and permutes share two of the four pipes with half of
    /// the FMAs. From GGUF blocks every 16 bytes need a widening and a shift (`ablate-gguf`;
    /// a 16-entry permute table instead measured no faster); here a 64-byte vector needs one
    /// shift, and the ORs and subtracts go to the other pipes. Per 32 weights: 2 extractions,
    /// 2 subtracts, 2 FMAs, and 1/16 of the scale's FMA and conversion.
    public enum Planes {
        /// Groups of 16 rows.
        @inlinable
        public static func rowGroups(_ rows: Int) -> Int { (rows + 15) / 16 }

        /// Writes x·16^−k for k = 0…4 (each copy K floats) for each row of x, into `out`
        /// (5·M copies, row by row).
        static func scaledCopies(_ x: MatrixView, into out: UnsafeMutablePointer<Float>) {
            for i in 0..<x.rows {
                var s: Float = 1
                for k in 0..<5 {
                    let dst = out + (i * 5 + k) * x.cols, src = x.row(i)
                    for t in 0..<x.cols { dst[t] = src[t] * s }
                    s /= 16
                }
            }
        }

        /// Σ_t x[i, 32b + t] per row i and block b (Q4_1's minimum term), M·K/32 floats.
        static func blockSums(_ x: MatrixView, into out: UnsafeMutablePointer<Float>) {
            let nb = x.cols / 32
            for i in 0..<x.rows {
                for b in 0..<nb {
                    let p = UnsafeRawPointer(x.row(i) + 32 * b)
                    out[i * nb + b] = VectorMath.sum(p.loadUnaligned(as: Vec.self) + p.loadUnaligned(fromByteOffset: 64, as: Vec.self))
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
