import CIntrinsics

extension Int4 {
    /// Pure-Swift SIMD quantized linear.
    ///
    /// - M ≤ 4 (decode), from the matrix's planes (`Int4.Planes`), 16 rows at a time, one per
    ///   lane, with no fp32 copy of W and no horizontal sums. Threads take 256-row chunks of N
    ///   from a shared counter.
    ///   - Q4_0 with AVX-512 VNNI: integer dot products. x's blocks become integers of three
    ///     signed base-256 digits, or four when three would move an element by more than
    ///     K·u/4 (`Planes.digits`, once per call); each block's nibbles become bytes by one
    ///     AND (low) or a shift and an AND (high), and `vpdpbusd` adds four byte products per
    ///     lane, 64 per instruction, exactly in int32. Per block: 8 of them per digit, one
    ///     conversion per digit and FMAs to join the digits' sums, one FMA by the 16 rows'
    ///     scales. Within the matmul bound by the derivation on `Planes.tolerance`.
    ///   - Q4_1, blocks of x the integers cannot hold within that bound, and CPUs without
    ///     VNNI: fp32, each block's 256 bytes → 32 SIMD16 of weights in registers by OR and
    ///     subtract, FMA with x broadcast, one FMA by 16 rows' block scales.
    /// - M ≤ 4 on Q8_0, Q4_K and Q6_K: from the GGUF blocks, a row at a time
    ///   (`gemvBlocks`): 16 weights per register by widening, conversion and the format's
    ///   scale (and min), FMA with x; threads take 256-row chunks.
    /// - M > 4 (prefill), every format: the packed GEMM of `GEMM.swift`, its B panels filled by
    ///   dequantizing blocks straight into the packing buffer (`Int4.tuning.blocking`: a KC×256
    ///   panel, 1 MiB) — the weights exist in fp32 only as that cache-sized panel.
    public struct SIMD: Int4Kernel {
        /// false: every block takes the fp32 path (the ablation step before the integer dot).
        let integerDot: Bool
        public init() { integerDot = true }
        init(integerDot: Bool) { self.integerDot = integerDot }
        public var name: String { integerDot ? "simd" : "ablate-planes" }
        public var tunables: [String] { ["MC", "KC", "NC", "gemvMaxRows", "gemvChunkRows"] }
        public var summary: String {
            integerDot
                ? "GEMV with 16 rows in the lanes of nibble planes: Q4_0 by byte dot products (vpdpbusd, exact in int32) against x "
                    + "as 3- or 4-digit base-256 integers per block (each element within K*u/4), Q4_1 by fp32 FMA (M<=4); "
                    + "Q8_0/Q4_K/Q6_K 64 weights per step from the GGUF blocks (M<=4); threads take chunks of up to 256 rows (balanced); "
                    + "dequantize-into-packed-panel GEMM (M>4); threads split N or rows"
                : "ablation: int4.simd with every GEMV block on the fp32 path"
        }

        public func run(
            _ x: MatrixView, _ w: QuantizedMatrix, bias: UnsafeBufferPointer<Float>?,
            _ y: MutableMatrixView, threads: Int
        ) throws {
            let (m, k, n) = try validate(x, w, bias: bias, y, threads: threads)
            let bp = SendablePointer(bias?.baseAddress.map { UnsafePointer($0) })
            let tuning = Int4.current
            if m <= tuning.gemvMaxRows && !w.format.isQ4 {
                Parallel.forEachChunk(n, threads: threads, chunk: tuning.gemvChunkRows, granule: 16) { cols in
                    Int4.SIMD.gemvBlocks(x, w, bias: bp.pointer, y, cols: cols)
                }
                return
            }
            if m <= tuning.gemvMaxRows {
                let nb = w.blocksPerRow, copies = m * 5 * nb * 32 + m * nb
                Workspace.with(copies + Planes.Digits.floats(rows: m, blocks: nb)) { xs in
                    let digits = Planes.Digits(xs + copies, rows: m, blocks: nb)
                    // The integer path needs the byte dot product in hardware (else the fp32 path is faster).
                    var floatBlocks = nb * m
                    if w.format == .q4_0 && integerDot && opbench_has_dot_u8s8() != 0 {
                        floatBlocks = Planes.digits(x, into: digits)
                    } else {
                        digits.useFloatPath()
                    }
                    // The fp32 path's inputs, when some block takes it: x's scaled copies and,
                    // for Q4_1's minimum term, its block sums.
                    if floatBlocks > 0 { Planes.scaledCopies(x, into: xs) }
                    if w.format == .q4_1 { Planes.blockSums(x, into: xs + m * 5 * nb * 32) }
                    let xsp = SendablePointer(UnsafePointer(xs))
                    // Chunks of W rows from a shared counter.
                    Parallel.forEachChunk(n, threads: threads, chunk: tuning.gemvChunkRows, granule: 16) { cols in
                        Int4.SIMD.gemv(w, xs: xsp.pointer!, digits: digits, rows: m, bias: bp.pointer, y, cols: cols)
                    }
                }
                return
            }
            // Panels hold whole blocks: KC rounded up to the block size (256 for the K-quants).
            let tuned = tuning.blocking, bs = w.format.blockSize
            let blocking = Blocking(mc: tuned.mc, kc: (tuned.kc + bs - 1) / bs * bs, nc: tuned.nc)
            w.withUnsafeBytes { buf in
                let base = SendablePointer(buf.baseAddress!)
                GEMM.packedSplit(x, bias: bp, y, k: k, threads: threads, blocking: blocking) { cols in
                    BlockPanels(bytes: base.pointer!, w: w, row0: cols.lowerBound)
                }
            }
        }

        /// y[i, j] = bias[j] + Σ_b d_b·Σ_t (q_t − 8)·x[i, 32b + t] (Q4_0), or
        /// Σ_b (d_b·Σ q_t x_t + m_b·Σ x_t) (Q4_1), for j in `cols` (16 rows at a time, one per
        /// lane), from the matrix's planes, x's five scaled copies and its block sums.
        static func gemv(
            _ w: QuantizedMatrix, xs: UnsafePointer<Float>, digits: Planes.Digits, rows m: Int, bias: UnsafePointer<Float>?,
            _ y: MutableMatrixView, cols: Range<Int>
        ) {
            w.withPlanes { scales, mins, nibbles in
                // One loop per format, so the format is a constant inside it.
                if w.format == .q4_0 {
                    gemvRows(xs, digits, rows: m, scales, mins, nibbles, nb: w.blocksPerRow, bias: bias, y, cols: cols, q40: true)
                } else {
                    gemvRows(xs, digits, rows: m, scales, mins, nibbles, nb: w.blocksPerRow, bias: bias, y, cols: cols, q40: false)
                }
            }
        }

        @inline(__always)
        static func gemvRows(
            _ xs: UnsafePointer<Float>, _ digits: Planes.Digits, rows m: Int, _ scales: UnsafePointer<UInt16>,
            _ mins: UnsafePointer<UInt16>,
            _ nibbles: UnsafePointer<UInt8>, nb: Int, bias: UnsafePointer<Float>?,
            _ y: MutableMatrixView, cols: Range<Int>, q40: Bool
        ) {
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
                        // The nibbles 16 blocks ahead into L1 and 64 ahead into L2: neither the
                        // hardware prefetchers nor the L1 prefetch alone keep this stream at the
                        // memory's bandwidth once the integer dot makes the loop fast.
                        let unit = UnsafeRawPointer(nibbles + (g * nb + b) * 256)
                        let ahead = unit + 4096, far = unit + 16384
                        CacheControl.prefetch(ahead); CacheControl.prefetch(ahead + 64)
                        CacheControl.prefetch(ahead + 128); CacheControl.prefetch(ahead + 192)
                        CacheControl.prefetchL2(far); CacheControl.prefetchL2(far + 64)
                        CacheControl.prefetchL2(far + 128); CacheControl.prefetchL2(far + 192)
                        let d = VectorMath.halves(scales + (g * nb + b) * 16), slot = i * nb + b
                        // 2^e_b of x's block as integers, or 0: this block takes the fp32 path.
                        let e = digits.scale[slot]
                        if e != 0 {
                            let (dg, cr) = (digits.digits + 32 * slot, digits.corrections + 4 * slot)
                            let t =
                                digits.limbs[slot] == 3 ? blockDotDigits(unit, dg, cr, limbs: 3) : blockDotDigits(unit, dg, cr, limbs: 4)
                            acc = acc.addingProduct(t, d * Vec(repeating: e))
                        } else {
                            acc = acc.addingProduct(blockDot16(unit, x0 + 32 * b, len, c0, c1, c2, c3, c4), d)
                            if !q40 { acc = acc.addingProduct(Vec(repeating: sums[b]), VectorMath.halves(mins + (g * nb + b) * 16)) }
                        }
                    }
                    let dst = y.row(i) + g * 16
                    if let bias { acc += VectorMath.loadPartial(bias + g * 16, lanes, fill: 0) }
                    if lanes == 16 {
                        UnsafeMutableRawPointer(dst).storeBytes(of: acc, as: Vec.self)
                    } else {
                        VectorMath.storePartial(acc, dst, lanes)
                    }
                }
                g += 1
            }
        }

        /// Σ_t (q_t − o)·x_t of one block for 16 rows at once (lane = row): vector v's lane
        /// holds bytes 4v…4v+3 of its row's block, weights 4v + s (field 2s) and 16 + 4v + s
        /// (field 2s + 1), s = 0…3; fields 5…7 after a 12-bit shift. Each field's product with
        /// x scaled by its 16^−k (copy k at x + k·len, broadcast) is (q − o)·x rounded once.
        /// Not inlined: inside the block loop LLVM vectorized that loop with gathers of x
        /// across blocks, which is slower.
        @inline(never)
        static func blockDot16(
            _ unit: UnsafeRawPointer, _ x: UnsafePointer<Float>, _ len: Int,
            _ c0: Vec, _ c1: Vec, _ c2: Vec, _ c3: Vec, _ c4: Vec
        ) -> Vec {
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
        /// Σ_t q_t·X_t − 8·Σ_t X_t of one block for 16 rows at once (lane = row), exact in int32:
        /// X_t = Σ_l 256^l·D_{t,l} are x's block as integers in `limbs` (3 or 4) signed base-256 digits
        /// (`Planes.digits`), q_t the nibbles as unsigned bytes. One `vpdpbusd` multiplies, in each
        /// 32-bit lane (row), four weights' bytes by the same limb's digits of those four x
        /// (broadcast) and adds the four products to the lane: 8 per limb cover the block.
        /// The −8·Σ X_t of Q4_0 starts each limb's sum (`corrections`). Each limb's sum is below
        /// 32·15·128 + 8·32·128 < 2¹⁷ in magnitude, so its conversion to fp32 is exact; the
        /// limbs are combined by limbs − 1 FMAs (Horner in 256), the only roundings.
        @inline(__always)
        static func blockDotDigits(
            _ unit: UnsafeRawPointer, _ digits: UnsafePointer<Int32>, _ corrections: UnsafePointer<Int32>,
            limbs: Int
        ) -> Vec {
            typealias I = SIMD16<Int32>
            // Two sums per limb (low and high nibbles): independent chains of 4.
            var a0 = I(repeating: corrections[0]), a1 = I(repeating: corrections[1])
            var a2 = I(repeating: corrections[2]), a3 = I(repeating: corrections[3])
            var b0 = I(), b1 = I(), b2 = I(), b3 = I()
            let low = SIMD16<UInt32>(repeating: 0x0F0F_0F0F)
            for v in 0..<4 {
                // Lane r: bytes 4v…4v+3 of row r's block; low nibbles are weights 4v…4v+3, high
                // nibbles 16+4v…16+4v+3 — digits dwords v and 4+v of each limb.
                let w = unit.load(fromByteOffset: 64 * v, as: SIMD16<UInt32>.self)
                let lo = unsafeBitCast(w & low, to: I.self), hi = unsafeBitCast((w &>> 4) & low, to: I.self)
                a0 = opbench_dot_u8s8(a0, lo, digits[v]); b0 = opbench_dot_u8s8(b0, hi, digits[4 + v])
                a1 = opbench_dot_u8s8(a1, lo, digits[8 + v]); b1 = opbench_dot_u8s8(b1, hi, digits[12 + v])
                a2 = opbench_dot_u8s8(a2, lo, digits[16 + v]); b2 = opbench_dot_u8s8(b2, hi, digits[20 + v])
                if limbs == 4 { a3 = opbench_dot_u8s8(a3, lo, digits[24 + v]); b3 = opbench_dot_u8s8(b3, hi, digits[28 + v]) }
            }
            let radix = Vec(repeating: 256)
            var t = opbench_i32_to_f32(a2 &+ b2)
            if limbs == 4 { t = t.addingProduct(opbench_i32_to_f32(a3 &+ b3), radix) }
            t = opbench_i32_to_f32(a1 &+ b1).addingProduct(t, radix)
            return opbench_i32_to_f32(a0 &+ b0).addingProduct(t, radix)
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
    /// The integer path reads the same vectors: AND with 0x0F0F0F0F leaves a lane's four
    /// low nibbles (weights 4v…4v+3) as bytes, a 4-bit shift first its four high ones
    /// (weights 16+4v…16+4v+3), ready for `vpdpbusd` against four digits of x.
    ///
    /// Why: on Zen 4 a 512-bit FP add or subtract, shift or conversion takes the same issue
    /// slots as the FMA (8 FMAs with 8 subtracts run in 16 cycles, against 8 with 8 ANDs; a
    /// 16-entry permute costs half a slot), so the fp32 path's 2 extractions, 2 subtracts and
    /// 2 FMAs per 32 weights run at about 2 cycles per 16 weights (`ablate-planes`). The
    /// integer path's `vpdpbusd` runs beside the FMAs (8 with 8 FMAs: 9.5 cycles), so its
    /// 32 per block of 512 weights, with the block's ANDs, shifts and conversions alongside,
    /// take about 1.2 cycles per 16 weights. From GGUF blocks every 16 bytes would need a
    /// widening and a shift (`ablate-gguf`); the planes need one shift per 64 bytes.
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

        /// x as integers for the Q4_0 GEMV's integer dot products, per row i and block b
        /// (slot i·K/32 + b): three or four base-256 digits of each X_t as signed bytes (32
        /// Int32 per slot: limb l's 32 digits at 8l…8l+7, element t in byte t; unused limbs 0),
        /// −8·Σ_t D_{t,l} per limb (4 Int32), the block's power of two 2^e (x̂_t = X_t·2^e), or
        /// 0 when the block takes the fp32 path instead, and the number of digits.
        struct Digits: @unchecked Sendable {
            let digits: UnsafeMutablePointer<Int32>
            let corrections: UnsafeMutablePointer<Int32>
            let scale: UnsafeMutablePointer<Float>
            /// 3 or 4 digits.
            let limbs: UnsafeMutablePointer<Int32>
            let slots: Int

            /// Floats of workspace for M rows of K/32 blocks.
            static func floats(rows: Int, blocks: Int) -> Int { rows * blocks * (32 + 4 + 1 + 1) }

            init(_ base: UnsafeMutablePointer<Float>, rows: Int, blocks: Int) {
                slots = rows * blocks
                let raw = UnsafeMutableRawPointer(base)
                digits = raw.bindMemory(to: Int32.self, capacity: 36 * slots)
                corrections = digits + 32 * slots
                scale = (raw + 4 * 36 * slots).bindMemory(to: Float.self, capacity: slots)
                limbs = (raw + 4 * 37 * slots).bindMemory(to: Int32.self, capacity: slots)
            }

            /// Every block to the fp32 path.
            func useFloatPath() { scale.update(repeating: 0, count: slots) }
        }

        /// The largest relative change `digits` may make to an element of x: K·u/4, u = 2⁻²⁴.
        ///
        /// Error bound of the integer path, per output y = Σ_b d_b·Σ_t (q_t − 8)·x_t + bias,
        /// w_t = d_b(q_t − 8). x̂_t = X_t·2^{e_b} with |x̂_t − x_t| ≤ ε|x_t|, ε = K·u/4. The
        /// block sum S_b = Σ_t (q_t − 8)X_t is exact in L = 3 or 4 int32 limb sums S_{b,l},
        /// each exact in fp32 (< 2²⁴). Horner in 256 rounds L − 1 ≤ 3 times; the partial value
        /// before step j is Σ_t (q_t − 8)·H_j(X_t), where H_j(X) = X minus its j low signed
        /// digits is 0 or at most 2.01|X| in magnitude (balanced digits: the low part is below
        /// 0.502·256^j, and it is all of X when |X| < 0.498·256^j), so the fp32 block sum T_b
        /// is S_b within 3·2.01·u·Σ_t |q_t − 8||X_t|. d_b·2^{e_b} is exact (e_b stays in
        /// [−102, 106], so it is a normal float for every fp16 d), and the nb block terms and
        /// the bias are added by nb + 1 roundings (γ_{nb+1}). So
        /// |ŷ − y| ≤ ε·Σ|w||x| + (6.03u + γ_{nb+1})(1 + ε)(1 + 6.03u)·(Σ|w||x| + |bias|),
        /// and with nb = K/32, K ≥ 32 and K·u < 1/16 the factor is below
        /// K/4 + K/32 + 8 < K + 2 units of u: inside the matmul bound γ_{K+2}·(Σ|w||x| + |bias|)
        /// that every int4 variant is checked against. Blocks that cannot meet ε with four
        /// digits (an element more than 30 − log2(1/ε) binades below the block's largest), or
        /// that hold a non-finite or tiny (< 2⁻⁷³) value, take the fp32 path.
        public static func tolerance(k: Int) -> Float { Float(Double(k) * 0x1p-26) }

        /// Fills `out` from x's rows (see `Digits`); returns how many blocks take the fp32 path.
        /// Per block, with L = 3 digits if that passes, else 4: e_b = ⌊log2 max|x_t|⌋ − (8L − 3),
        /// X_t = round(x_t·2^{−e_b}) (|X_t| < 2^{8L−2}, the scaling exact), the check
        /// |X_t − x_t·2^{−e_b}| ≤ ε·|x_t·2^{−e_b}|, then balanced digits
        /// D_l = ((X + 128) mod 256) − 128, X ← (X − D_l)/256 (the last, |D_{L−1}| ≤ 65).
        @discardableResult
        static func digits(_ x: MatrixView, into out: Digits) -> Int {
            let nb = x.cols / 32
            // The check runs in fp32: ε·|v| rounds by at most half an ulp, so shave 2⁻²⁰ off ε.
            let eps = Vec(repeating: tolerance(k: x.cols) * (1 - 0x1p-20))
            var fallbacks = 0
            for i in 0..<x.rows {
                for b in 0..<nb {
                    let slot = i * nb + b
                    let p = UnsafeRawPointer(x.row(i) + 32 * b)
                    let lo = p.loadUnaligned(as: Vec.self), hi = p.loadUnaligned(fromByteOffset: 64, as: Vec.self)
                    // The largest |x_t| as bits: ordered like the values for non-negative floats.
                    let top = VectorMath.magnitudeBits(lo).replacing(
                        with: VectorMath.magnitudeBits(hi),
                        where: VectorMath.magnitudeBits(hi) .> VectorMath.magnitudeBits(lo)
                    ).max()
                    if top == 0 {
                        // All zero: zero digits give the exact 0.
                        (out.digits + 32 * slot).update(repeating: 0, count: 32)
                        (out.corrections + 4 * slot).update(repeating: 0, count: 4)
                        out.limbs[slot] = 3
                        out.scale[slot] = 1
                        continue
                    }
                    let exponent = Int(top >> 23) - 127
                    guard top < 0x7F80_0000, exponent >= -73 else { out.scale[slot] = 0; fallbacks += 1; continue }
                    // Three digits when the block fits them within ε, else four, else fp32.
                    if encode(lo, hi, limbs: 3, exponent: exponent, eps: eps, into: out, slot: slot) { continue }
                    if encode(lo, hi, limbs: 4, exponent: exponent, eps: eps, into: out, slot: slot) { continue }
                    out.scale[slot] = 0
                    fallbacks += 1
                }
            }
            return fallbacks
        }

        /// Writes the block (lo, hi) as `limbs` digits on the grid 2^e, e = exponent − (8·limbs − 3)
        /// (so |X_t| < 2^(8·limbs − 2)), if every element rounds to it within ε; else false.
        @inline(__always)
        static func encode(_ lo: Vec, _ hi: Vec, limbs: Int, exponent: Int, eps: Vec, into out: Digits, slot: Int) -> Bool {
            let e = exponent - (8 * limbs - 3)
            let up = Vec(repeating: Float(sign: .plus, exponent: -e, significand: 1))
            var sums = SIMD4<Int32>()
            for h in 0..<2 {
                let x = h == 0 ? lo : hi, v = x * up
                let r = v.rounded(.toNearestOrEven)
                if any(VectorMath.magnitude(r - v) .> eps * VectorMath.magnitude(v)) { return false }
                // An element so far below the block's largest that x·2^−e underflowed to 0
                // passed the check with v, not with x.
                if any((v .== 0) .& (x .!= 0)) { return false }
                var xi = opbench_f32_to_i32(r)
                for l in 0..<limbs {
                    let d = l == limbs - 1 ? xi : ((xi &+ 128) & 255) &- 128
                    sums[l] &+= d.wrappedSum()
                    let bytes = SIMD16<Int8>(truncatingIfNeeded: d)
                    UnsafeMutableRawPointer(out.digits + 32 * slot + 8 * l).storeBytes(
                        of: bytes, toByteOffset: 16 * h, as: SIMD16<Int8>.self)
                    xi = (xi &- d) &>> 8
                }
            }
            for l in 0..<4 { out.corrections[4 * slot + l] = l < limbs ? -8 &* sums[l] : 0 }
            if limbs < 4 { (out.digits + 32 * slot + 8 * limbs).update(repeating: 0, count: 8 * (4 - limbs)) }
            out.limbs[slot] = Int32(limbs)
            out.scale[slot] = Float(sign: .plus, exponent: e, significand: 1)
            return true
        }

        /// One block of x as `int4.simd`'s Q4_0 GEMV holds it on the integer path:
        /// x̂_t = X_t·2^exponent with X_t = Σ_l 256^l·digits[l][t].
        public struct IntegerBlock: Sendable, Equatable {
            public let exponent: Int
            /// 3 or 4: the digits the kernel multiplies (the rest are 0).
            public let limbs: Int
            /// 4 limbs × 32 signed digits.
            public let digits: [[Int8]]
            /// −8·Σ_t digits[l][t] per limb.
            public let corrections: [Int32]
        }

        /// x's blocks (row-major, K/32 per row) as the Q4_0 GEMV represents them: an
        /// `IntegerBlock`, or nil where the block takes the fp32 path.
        public static func integerBlocks(_ x: MatrixView) -> [IntegerBlock?] {
            let nb = x.cols / 32
            return Workspace.with(Digits.floats(rows: x.rows, blocks: nb)) { base in
                let d = Digits(base, rows: x.rows, blocks: nb)
                digits(x, into: d)
                return (0..<d.slots).map { slot in
                    let s = d.scale[slot]
                    guard s != 0 else { return nil }
                    let bytes = UnsafeRawPointer(d.digits + 32 * slot).assumingMemoryBound(to: Int8.self)
                    return IntegerBlock(
                        exponent: Int(s.exponent), limbs: Int(d.limbs[slot]),
                        digits: (0..<4).map { l in (0..<32).map { bytes[32 * l + $0] } },
                        corrections: (0..<4).map { d.corrections[4 * slot + $0] })
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

/// Packed-B source that dequantizes the blocks of W[N×K] (rows row0 …) into panels.
struct BlockPanels: PanelSource, @unchecked Sendable {
    let bytes: UnsafePointer<UInt8>
    let w: QuantizedMatrix
    let row0: Int

    func pack(k0: Int, kc: Int, j0: Int, nc: Int, into dst: UnsafeMutablePointer<Float>) {
        // k0 and kc are multiples of the block size: KC is rounded to it, and K is checked to be. Each row of a panel
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
