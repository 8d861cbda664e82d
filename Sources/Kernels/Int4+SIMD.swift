extension Int4 {
    /// Pure-Swift SIMD quantized linear.
    ///
    /// - M ≤ 4 (decode): fused unpack + FMA from the matrix's planes (`Int4.Planes`) — each
    ///   64-byte group of 4 blocks → eight SIMD16 of weights in registers by OR and subtract,
    ///   FMA with x, one FMA by the block scale; no fp32 copy of W. Threads take 256-row
    ///   chunks of N from a shared counter.
    /// - M > 4 (prefill): the packed GEMM of `GEMM.swift`, its B panels filled by
    ///   dequantizing blocks straight into the packing buffer (`Blocking.int4`: a KC×256
    ///   panel, 1 MiB) — the weights exist in fp32 only as that cache-sized panel.
    public struct SIMD: Int4Kernel {
        public init() {}
        public var name: String { "simd" }
        public var summary: String { "GEMV from 4-block nibble planes, fields to floats by OR + subtract, no shuffles (M<=4), threads take 256-row chunks; dequantize-into-packed-panel GEMM (M>4); threads split N or rows" }

        public func run(_ x: MatrixView, _ w: QuantizedMatrix, bias: UnsafeBufferPointer<Float>?,
                        _ y: MutableMatrixView, threads: Int) throws {
            let (m, k, n) = try validate(x, w, bias: bias, y, threads: threads)
            let bp = SendablePointer(bias?.baseAddress.map { UnsafePointer($0) })
            if m <= Matmul.SIMD.directMaxRows {
                Workspace.with(m * 5 * Planes.paddedBlocks(w.blocksPerRow) * 32) { xs in
                    Planes.scaledCopies(x, into: xs)
                    let xsp = SendablePointer(UnsafePointer(xs))
                    // Chunks of 256 rows (590 KB of Q4_0 at K = 4096) from a shared counter.
                    Parallel.forEachChunk(n, threads: threads, chunk: 256, granule: 8) { cols in
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
        /// Σ_b (d_b·Σ q_t x_t + m_b·Σ x_t) (Q4_1), for j in `cols`, from the matrix's planes
        /// and x's five scaled copies (`Planes.scaledCopies`).
        static func gemv(_ w: QuantizedMatrix, xs: UnsafePointer<Float>, rows m: Int, bias: UnsafePointer<Float>?,
                         _ y: MutableMatrixView, cols: Range<Int>) {
            let nbp = Planes.paddedBlocks(w.blocksPerRow)
            // Scales, then minimums from the next multiple of 16 (each is converted 16 at a
            // time, so the last conversion writes up to 15 entries past nbp).
            let minsAt = (nbp + 15) & ~15
            w.withPlanes { scales, mins, nibbles in
                Workspace.with(2 * minsAt) { dm in
                    // One loop per format, so the format is a constant inside it.
                    if w.format == .q4_0 {
                        gemvRows(xs, rows: m, scales, mins, nibbles, nbp: nbp, dm, minsAt: minsAt, bias: bias, y, cols: cols, q40: true)
                    } else {
                        gemvRows(xs, rows: m, scales, mins, nibbles, nbp: nbp, dm, minsAt: minsAt, bias: bias, y, cols: cols, q40: false)
                    }
                }
            }
        }

        @inline(__always)
        static func gemvRows(_ xs: UnsafePointer<Float>, rows m: Int, _ scales: UnsafePointer<UInt16>, _ mins: UnsafePointer<UInt16>,
                             _ nibbles: UnsafePointer<UInt8>, nbp: Int, _ dm: UnsafeMutablePointer<Float>, minsAt: Int,
                             bias: UnsafePointer<Float>?, _ y: MutableMatrixView, cols: Range<Int>, q40: Bool) {
            let len = nbp * 32
            // c_k = 2²³ + o·16^k for the nibble at bit 4k, o = 8 (Q4_0) or 0 (Q4_1).
            let o: Float = q40 ? 8 : 0
            let c0 = Vec(repeating: 8_388_608 + o), c1 = Vec(repeating: 8_388_608 + o * 16), c2 = Vec(repeating: 8_388_608 + o * 256)
            let c3 = Vec(repeating: 8_388_608 + o * 4096), c4 = Vec(repeating: 8_388_608 + o * 65536)
            for j in cols {
                // The row's scales (and minimums) as fp32, 16 per instruction; the GEMV then
                // broadcasts each straight from memory into its FMA.
                var b = 0
                while b < nbp {
                    UnsafeMutableRawPointer(dm + b).storeBytes(of: VectorMath.halves(scales + j * nbp + b), as: Vec.self)
                    if !q40 { UnsafeMutableRawPointer(dm + minsAt + b).storeBytes(of: VectorMath.halves(mins + j * nbp + b), as: Vec.self) }
                    b += 16
                }
                let group0 = UnsafeRawPointer(nibbles + j * nbp * 16)
                for i in 0..<m {
                    let x0 = xs + i * 5 * len, x1 = x0 + len, x2 = x1 + len, x3 = x2 + len, x4 = x3 + len
                    var a0 = Vec(), a1 = Vec(), a2 = Vec(), a3 = Vec()
                    var g = 0
                    while g < nbp / 4 {
                        let v = group0.load(fromByteOffset: 64 * g, as: SIMD16<UInt32>.self)
                        let u = v &>> 12
                        let e = 128 * g
                        // Block 4g + s: weights 0…15 then 16…31, each nibble field with the
                        // x copy scaled by its 16^−k.
                        a0 = step(a0, weight(v, 0xF, c0), x0 + e, weight(v, 0xF0, c1), x1 + e + 16, d: dm[4 * g], mn: dm[minsAt + 4 * g], x0 + e, q40: q40)
                        a1 = step(a1, weight(v, 0xF00, c2), x2 + e + 32, weight(v, 0xF000, c3), x3 + e + 48,
                                  d: dm[4 * g + 1], mn: dm[minsAt + 4 * g + 1], x0 + e + 32, q40: q40)
                        a2 = step(a2, weight(v, 0xF_0000, c4), x4 + e + 64, weight(u, 0xF00, c2), x2 + e + 80,
                                  d: dm[4 * g + 2], mn: dm[minsAt + 4 * g + 2], x0 + e + 64, q40: q40)
                        a3 = step(a3, weight(u, 0xF000, c3), x3 + e + 96, weight(u, 0xF_0000, c4), x4 + e + 112,
                                  d: dm[4 * g + 3], mn: dm[minsAt + 4 * g + 3], x0 + e + 96, q40: q40)
                        g += 1
                    }
                    y[i, j] = VectorMath.sum((a0 + a1) + (a2 + a3)) + (bias?[j] ?? 0)
                }
            }
        }

        /// (q − o)·16^k for the nibble q in `mask` (bits 4k…4k+3, k ≤ 4, so inside the
        /// mantissa): the bits 0x4B000000 | q·16^k are the float 2²³ + q·16^k, and
        /// subtracting c = 2²³ + o·16^k is exact. One `vpternlogd` and one subtract.
        @inline(__always)
        static func weight(_ v: SIMD16<UInt32>, _ mask: UInt32, _ c: Vec) -> Vec {
            unsafeBitCast((v & SIMD16(repeating: mask)) | 0x4B00_0000, to: Vec.self) - c
        }

        /// acc + d·(wLo·xLo + wHi·xHi) (+ mn·Σ x over the block for Q4_1, from the unscaled x).
        /// The products are exactly those of the unscaled weights and x: (q − o)·16^k times
        /// x·16^−k rounds as (q − o)·x does.
        @inline(__always)
        static func step(_ acc: Vec, _ wLo: Vec, _ xLo: UnsafePointer<Float>, _ wHi: Vec, _ xHi: UnsafePointer<Float>,
                         d: Float, mn: Float, _ x: UnsafePointer<Float>, q40: Bool) -> Vec {
            let t = (wLo * UnsafeRawPointer(xLo).load(as: Vec.self)).addingProduct(wHi, UnsafeRawPointer(xHi).load(as: Vec.self))
            let r = acc.addingProduct(t, Vec(repeating: d))
            if q40 { return r }
            let raw = UnsafeRawPointer(x)
            return r.addingProduct(raw.load(as: Vec.self) + raw.load(fromByteOffset: 64, as: Vec.self), Vec(repeating: mn))
        }
    }

    /// The layout of `int4.simd`'s GEMV (built by `QuantizedMatrix` from the GGUF blocks).
    ///
    /// Per row, blocks are padded to a multiple of 4 (scale 0, nibbles 0). Scales d (and for
    /// Q4_1 minimums m) are fp16 planes, row after row. Nibbles come in groups of 4 blocks,
    /// 64 bytes: byte i of block 4g + s is byte s of the group's 32-bit lane i, so one lane
    /// holds eight nibbles, q at bits 4p…4p+3 for p = 2s (weight i) and 2s + 1 (weight
    /// i + 16). Fields p ≤ 4 lie inside an fp32 mantissa and become floats by OR with an
    /// exponent and one exact subtract, with no shuffle; fields 5…7 follow one 12-bit shift.
    /// The field at bit 4k comes out as (q − o)·16^k, so x is read from a copy scaled by
    /// 16^−k (five copies, made once per call; scaling by a power of 2 is exact).
    ///
    /// Why: on Zen 4 a 512-bit instruction holds a 256-bit pipe for two cycles, and byte
    /// widening (`vpmovzxbd`), shifts and permutes share two of the four pipes with half of
    /// the FMAs. From GGUF blocks every 16 bytes need a widening and a shift (`ablate-gguf`;
    /// a 16-entry permute table instead measured no faster); here 4 blocks need one shift,
    /// and the ORs and subtracts go to the other pipes: 1.23× `ablate-gguf` in
    /// `opbench ablation --op int4`, and the planes hold exactly the GGUF bytes.
    public enum Planes {
        /// Blocks per row padded to whole groups of 4.
        @inlinable
        public static func paddedBlocks(_ nb: Int) -> Int { (nb + 3) & ~3 }

        /// Writes x·16^−k for k = 0…4 (each copy `paddedBlocks(K/32)·32` floats, zero past K)
        /// for each row of x, into `out` (5·M copies, row by row).
        static func scaledCopies(_ x: MatrixView, into out: UnsafeMutablePointer<Float>) {
            let len = paddedBlocks(x.cols / 32) * 32
            for i in 0..<x.rows {
                var s: Float = 1
                for k in 0..<5 {
                    let dst = out + (i * 5 + k) * len, src = x.row(i)
                    for t in 0..<x.cols { dst[t] = src[t] * s }
                    for t in x.cols..<len { dst[t] = 0 }
                    s /= 16
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
