import CIntrinsics

extension Int4 {
    /// The quantized linear with 8-bit activations: x rounded once per call to 8-bit blocks,
    /// then integer dot products against the weights' planes for every M (as ggml's CPU
    /// backend multiplies Q4_0/Q8_0 weights by q8_0-rounded activations).
    ///
    /// - Activations (`Act8Blocks`): each row's 32-element block b gets d = max|x|/127 (fp32)
    ///   and q_t = round(x_t·127/max|x|) ∈ [−127, 127], stored as signed bytes, with the
    ///   block's correction −o·Σ_t q_t (o = 8 for Q4_0, 128 for Q8_0, 0 for Q4_1 and Q4_K;
    ///   Q6_K: o = 32, one correction per 16-element half) and d·Σ_t q_t (for the minima of
    ///   Q4_1 and Q4_K). A block with a non-finite element gets d = NaN, so the rows it
    ///   touches come out NaN rather than a number.
    /// - Weights: the matrix's planes (`Int4.Planes`), 16 rows per 32-bit lane group: Q4_0,
    ///   Q4_1 and Q4_K nibbles become bytes by one AND (low) or a shift and an AND (high);
    ///   Q8_0's quants are stored + 128 and Q6_K's 6-bit levels (0…63) as unsigned bytes.
    ///   Q4_K is Q4_1 with fp32 factors per 32 weights (d·sc_s and −dmin·m_s, exact), Q6_K
    ///   Q8_0 with two fp32 scales per 32 weights (d·sc of each half, exact).
    /// - Micro-kernel: 4 rows of x × 32 rows of W (two lane groups). Per block, each of the
    ///   8 (row, group) pairs starts an int32 sum at its correction and adds 8 `vpdpbusd`
    ///   (four byte products per lane, 64 per instruction, exact: |sum| < 2²¹), converts it
    ///   to fp32 (exact) and adds it times d_w·d_x by one FMA (Q4_1: a second FMA adds
    ///   m_w·d_x·Σq; Q6_K: two integer sums per block, one per half, each joined by one FMA
    ///   with its half's scale). Each 16-byte group of weights is unpacked once for the 4 rows
    ///   of x.
    /// - Threads round rows of x in parts of their own, then take chunks of N (256 rows, less
    ///   where that evens out the threads' shares: `Parallel.chunkStep`) from a shared counter.
    ///
    /// Accuracy: the rounding of x moves each element by at most d_b·(½ + 400u) (the
    /// reciprocal, the scale and the product each round once: |fl(x·id) − x/d| ≤ 127·3.01u),
    /// the integer sums are exact, and the blocks' nb products and FMAs round as an nb-term
    /// sum: |ŷ − y| ≤ (½ + 400u)·R + γ_{nb+2}·(Σ|w||x| + (½ + 400u)·R + |bias|) with
    /// R = Σ_b d_b·Σ_{t∈b}|w_t| (`Tolerance.int4Act8`). This is a worst case (all roundings
    /// aligned); the typical error grows as √K, and model passes report its cost as KL,
    /// cosine and top-1 beside the exact path's.
    public struct Act8: Int4Kernel {
        public init() {}
        public var name: String { "act8" }
        public var tunables: [String] { ["act8ChunkRows"] }
        public var arithmetic: Arithmetic { .int8Dot }
        public var approximates: Bool { true }
        public var summary: String {
            "x rounded once per call to 8-bit blocks (d = max|x|/127), integer dot products (vpdpbusd) against 16-row planes, "
                + "4 rows of x x 32 rows of W per tile, fp32 scales per block, every M; Q4_0/Q4_1/Q8_0/Q4_K/Q6_K; "
                + "threads round rows of x, then take chunks of up to 256 rows (balanced); changes the numerics: own bound"
        }

        public func run(
            _ x: MatrixView, _ w: QuantizedMatrix, bias: UnsafeBufferPointer<Float>?,
            _ y: MutableMatrixView, threads: Int
        ) throws {
            let (m, _, n) = try validate(x, w, bias: bias, y, threads: threads)
            let nb = w.cols / 32
            let bp = SendablePointer(bias?.baseAddress.map { UnsafePointer($0) })
            Workspace.with(Act8Blocks.floats(rows: m, blocks: nb)) { buf in
                let act = Act8Blocks(buf, rows: m, blocks: nb)
                // Rows of x split over the threads once there are enough blocks to pay for a
                // dispatch (512 blocks, about 10 µs here): at 512×384 the serial rounding was a
                // fifth of the linear on 2 threads.
                Parallel.forEach(m, threads: m * nb >= 512 ? threads : 1) { rows in
                    switch w.format {
                    case .q4_0: act.quantize(x, rows: rows, offset: 8)
                    case .q8_0: act.quantize(x, rows: rows, offset: 128)
                    case .q6_k: act.quantize(x, rows: rows, offset: 32, halves: true)
                    case .q4_1, .q4_k: act.quantize(x, rows: rows, offset: 0)
                    }
                }
                Parallel.forEachChunk(n, threads: threads, chunk: Int4.current.act8ChunkRows, granule: 32) { cols in
                    w.withPlanes { scales, mins, units in
                        switch w.format {
                        case .q4_0: Act8.columns(act, scales, mins, units, nb: nb, bias: bp.pointer, y, cols: cols, Q40.self)
                        case .q4_1: Act8.columns(act, scales, mins, units, nb: nb, bias: bp.pointer, y, cols: cols, Q41.self)
                        case .q8_0: Act8.columns(act, scales, mins, units, nb: nb, bias: bp.pointer, y, cols: cols, Q80.self)
                        case .q4_k: Act8.columns(act, scales, mins, units, nb: nb, bias: bp.pointer, y, cols: cols, Q4K.self)
                        case .q6_k: Act8.columns(act, scales, mins, units, nb: nb, bias: bp.pointer, y, cols: cols, Q6K.self)
                        }
                    }
                }
            }
        }

        /// y[·, cols] in tiles of 4 rows of x × 32 rows of W (the last tiles narrower).
        static func columns<F: Act8Format>(
            _ act: Act8Blocks, _ scales: UnsafePointer<UInt16>, _ mins: UnsafePointer<UInt16>, _ units: UnsafePointer<UInt8>, nb: Int,
            bias: UnsafePointer<Float>?, _ y: MutableMatrixView, cols: Range<Int>, _ format: F.Type
        ) {
            var j0 = cols.lowerBound
            while j0 < cols.upperBound {
                let width = Swift.min(32, cols.upperBound - j0)
                var i0 = 0
                while i0 < act.rows {
                    let rows = Swift.min(4, act.rows - i0)
                    // One specialization per row count, group count and format (generic
                    // parameters the optimizer specializes): the tile's loops unroll and the
                    // unused rows' code disappears.
                    // Decode (≤ 2 rows of x): one lane group at a time, so the weights are read as
                    // one sequential stream (two interleaved streams reached 56 % of the DRAM read
                    // bandwidth cold at 1×4096×14336, one stream more).
                    switch (rows, width > 16 && act.rows > 2) {
                    case (4, true): tile(act, scales, mins, units, nb, bias, y, i0, j0, width, R4G2.self, F.self)
                    case (4, false): tile(act, scales, mins, units, nb, bias, y, i0, j0, width, R4G1.self, F.self)
                    case (3, true): tile(act, scales, mins, units, nb, bias, y, i0, j0, width, R3G2.self, F.self)
                    case (3, false): tile(act, scales, mins, units, nb, bias, y, i0, j0, width, R3G1.self, F.self)
                    case (2, true): tile(act, scales, mins, units, nb, bias, y, i0, j0, width, R2G2.self, F.self)
                    case (2, false):
                        tile(act, scales, mins, units, nb, bias, y, i0, j0, Swift.min(16, width), R2G1.self, F.self)
                        if width > 16 { tile(act, scales, mins, units, nb, bias, y, i0, j0 + 16, width - 16, R2G1.self, F.self) }
                    case (_, true): tile(act, scales, mins, units, nb, bias, y, i0, j0, width, R1G2.self, F.self)
                    case (_, false):
                        tile(act, scales, mins, units, nb, bias, y, i0, j0, Swift.min(16, width), R1G1.self, F.self)
                        if width > 16 { tile(act, scales, mins, units, nb, bias, y, i0, j0 + 16, width - 16, R1G1.self, F.self) }
                    }
                    i0 += rows
                }
                j0 += width
            }
        }

        /// One tile: rows i0 ..< i0+rows of y (≤ 4), columns j0 ..< j0+width (≤ 16·groups).
        @inline(never)
        static func tile<S: Act8Tile, F: Act8Format>(
            _ act: Act8Blocks, _ scales: UnsafePointer<UInt16>, _ mins: UnsafePointer<UInt16>, _ units: UnsafePointer<UInt8>,
            _ nb: Int, _ bias: UnsafePointer<Float>?, _ y: MutableMatrixView, _ i0: Int, _ j0: Int, _ width: Int,
            _ shape: S.Type, _ format: F.Type
        ) {
            typealias I = SIMD16<Int32>
            let rows = S.rows, groups = S.groups, kind = F.format
            let bytes = kind == .q8_0 || kind == .q6_k, unitBytes = bytes ? 512 : 256
            let g0 = j0 / 16, g1 = g0 + 1
            // Row r's blocks: quants (8 dwords each), scales, corrections, d·Σq.
            let q0 = act.quants + (i0 * nb) * 8, q1 = q0 + 8 * nb, q2 = q1 + 8 * nb, q3 = q2 + 8 * nb
            let d0 = act.scale + i0 * nb, d1 = d0 + nb, d2 = d1 + nb, d3 = d2 + nb
            let c0 = act.correction + i0 * nb, c1 = c0 + nb, c2 = c1 + nb, c3 = c2 + nb
            let h0 = act.correctionHigh + i0 * nb, h1 = h0 + nb, h2 = h1 + nb, h3 = h2 + nb
            let s0 = act.sums + i0 * nb, s1 = s0 + nb, s2 = s1 + nb, s3 = s2 + nb
            var f00 = Vec(), f01 = Vec(), f10 = Vec(), f11 = Vec(), f20 = Vec(), f21 = Vec(), f30 = Vec(), f31 = Vec()
            let low = SIMD16<UInt32>(repeating: 0x0F0F_0F0F)
            // Block b's 16 factors of lane group g: fp16 for Q4_0/Q4_1/Q8_0, fp32 for the K-quants.
            @inline(__always) func factors(_ p: UnsafePointer<UInt16>, _ g: Int, _ b: Int) -> Vec {
                kind == .q4_k || kind == .q6_k
                    ? UnsafeRawPointer(p).load(fromByteOffset: 64 * (g * nb + b), as: Vec.self) : VectorMath.halves(p + (g * nb + b) * 16)
            }
            for b in 0..<nb {
                let ua = UnsafeRawPointer(units + (g0 * nb + b) * unitBytes), ub = UnsafeRawPointer(units + (g1 * nb + b) * unitBytes)
                let qa = q0 + 8 * b, qb = q1 + 8 * b, qc = q2 + 8 * b, qd = q3 + 8 * b
                if rows <= 2 {
                    // Few rows of x (decode): the loop streams the weights once, faster than the
                    // hardware prefetchers keep up with; ask for them 16 units ahead into L1 and
                    // 64 into L2, as int4.simd's GEMV does.
                    for line in stride(from: 0, to: unitBytes, by: 64) {
                        CacheControl.prefetch(ua + 16 * unitBytes + line)
                        CacheControl.prefetchL2(ua + 64 * unitBytes + line)
                        if groups > 1 {
                            CacheControl.prefetch(ub + 16 * unitBytes + line)
                            CacheControl.prefetchL2(ub + 64 * unitBytes + line)
                        }
                    }
                }
                var a00 = I(repeating: c0[b]), a01 = a00
                var a10 = rows > 1 ? I(repeating: c1[b]) : I(), a11 = a10
                var a20 = rows > 2 ? I(repeating: c2[b]) : I(), a21 = a20
                var a30 = rows > 3 ? I(repeating: c3[b]) : I(), a31 = a30
                // Vector v of a unit: 4 bytes of each of 16 rows; Q4 (low, high) nibbles pair
                // with x's dwords v and 4 + v, bytes (Q8_0, Q6_K) with dword v.
                @inline(__always) func step(_ wa: I, _ wb: I, _ v: Int) {
                    a00 = opbench_dot_u8s8(a00, wa, qa[v])
                    if groups > 1 { a01 = opbench_dot_u8s8(a01, wb, qa[v]) }
                    if rows > 1 {
                        a10 = opbench_dot_u8s8(a10, wa, qb[v])
                        if groups > 1 { a11 = opbench_dot_u8s8(a11, wb, qb[v]) }
                    }
                    if rows > 2 {
                        a20 = opbench_dot_u8s8(a20, wa, qc[v])
                        if groups > 1 { a21 = opbench_dot_u8s8(a21, wb, qc[v]) }
                    }
                    if rows > 3 {
                        a30 = opbench_dot_u8s8(a30, wa, qd[v])
                        if groups > 1 { a31 = opbench_dot_u8s8(a31, wb, qd[v]) }
                    }
                }
                @inline(__always) func join(_ f: inout Vec, _ a: I, _ dw: Vec, _ dx: Float) {
                    f = f.addingProduct(opbench_i32_to_f32(a), dw * Vec(repeating: dx))
                }
                // f += S·(d_w·d_x) for every (row, group), with the lane groups' factors.
                @inline(__always) func joinAll(_ wa: Vec, _ wb: Vec) {
                    join(&f00, a00, wa, d0[b])
                    if groups > 1 { join(&f01, a01, wb, d0[b]) }
                    if rows > 1 { join(&f10, a10, wa, d1[b]); if groups > 1 { join(&f11, a11, wb, d1[b]) } }
                    if rows > 2 { join(&f20, a20, wa, d2[b]); if groups > 1 { join(&f21, a21, wb, d2[b]) } }
                    if rows > 3 { join(&f30, a30, wa, d3[b]); if groups > 1 { join(&f31, a31, wb, d3[b]) } }
                }
                @inline(__always) func bytesStep(_ v: Int) {
                    step(ua.load(fromByteOffset: 64 * v, as: I.self), groups > 1 ? ub.load(fromByteOffset: 64 * v, as: I.self) : I(), v)
                }
                if kind == .q6_k {
                    // Q6_K: the first half's sums join with its scales; the second half starts
                    // from its own correction. (Two loops of constant trip count: both unroll.)
                    for v in 0..<4 { bytesStep(v) }
                    joinAll(factors(scales, g0, b), groups > 1 ? factors(scales, g1, b) : Vec())
                    a00 = I(repeating: h0[b]); a01 = a00
                    if rows > 1 { a10 = I(repeating: h1[b]); a11 = a10 }
                    if rows > 2 { a20 = I(repeating: h2[b]); a21 = a20 }
                    if rows > 3 { a30 = I(repeating: h3[b]); a31 = a30 }
                    for v in 4..<8 { bytesStep(v) }
                } else if bytes {
                    for v in 0..<8 { bytesStep(v) }
                } else {
                    for v in 0..<4 {
                        let ra = ua.load(fromByteOffset: 64 * v, as: SIMD16<UInt32>.self)
                        let rb = groups > 1 ? ub.load(fromByteOffset: 64 * v, as: SIMD16<UInt32>.self) : SIMD16<UInt32>()
                        step(unsafeBitCast(ra & low, to: I.self), unsafeBitCast(rb & low, to: I.self), v)
                        step(unsafeBitCast((ra &>> 4) & low, to: I.self), unsafeBitCast((rb &>> 4) & low, to: I.self), 4 + v)
                    }
                }
                // Q6_K's second half joins with its scales, in the second array.
                let second = kind == .q6_k
                joinAll(factors(second ? mins : scales, g0, b), groups > 1 ? factors(second ? mins : scales, g1, b) : Vec())
                if kind == .q4_1 || kind == .q4_k {
                    // + m_w·(d_x·Σq) per (row, group).
                    let ma = factors(mins, g0, b)
                    let mb = groups > 1 ? factors(mins, g1, b) : Vec()
                    f00 = f00.addingProduct(ma, Vec(repeating: s0[b]))
                    if groups > 1 { f01 = f01.addingProduct(mb, Vec(repeating: s0[b])) }
                    if rows > 1 {
                        f10 = f10.addingProduct(ma, Vec(repeating: s1[b]))
                        if groups > 1 { f11 = f11.addingProduct(mb, Vec(repeating: s1[b])) }
                    }
                    if rows > 2 {
                        f20 = f20.addingProduct(ma, Vec(repeating: s2[b]))
                        if groups > 1 { f21 = f21.addingProduct(mb, Vec(repeating: s2[b])) }
                    }
                    if rows > 3 {
                        f30 = f30.addingProduct(ma, Vec(repeating: s3[b]))
                        if groups > 1 { f31 = f31.addingProduct(mb, Vec(repeating: s3[b])) }
                    }
                }
            }
            @inline(__always) func store(_ f: Vec, row: Int, group: Int) {
                let lanes = Swift.min(16, width - 16 * group)
                guard lanes > 0 else { return }
                let col = j0 + 16 * group
                var v = f
                if let bias { v += VectorMath.loadPartial(bias + col, lanes, fill: 0) }
                let dst = y.row(i0 + row) + col
                if lanes == 16 {
                    UnsafeMutableRawPointer(dst).storeBytes(of: v, as: Vec.self)
                } else {
                    VectorMath.storePartial(v, dst, lanes)
                }
            }
            store(f00, row: 0, group: 0)
            if groups > 1 { store(f01, row: 0, group: 1) }
            if rows > 1 { store(f10, row: 1, group: 0); if groups > 1 { store(f11, row: 1, group: 1) } }
            if rows > 2 { store(f20, row: 2, group: 0); if groups > 1 { store(f21, row: 2, group: 1) } }
            if rows > 3 { store(f30, row: 3, group: 0); if groups > 1 { store(f31, row: 3, group: 1) } }
        }
    }

    /// A tile shape of `Int4.Act8`: rows of x (1…4) × lane groups of 16 W rows (1 or 2).
    protocol Act8Tile { static var rows: Int { get }; static var groups: Int { get } }
    enum R4G2: Act8Tile { static var rows: Int { 4 }; static var groups: Int { 2 } }
    enum R4G1: Act8Tile { static var rows: Int { 4 }; static var groups: Int { 1 } }
    enum R3G2: Act8Tile { static var rows: Int { 3 }; static var groups: Int { 2 } }
    enum R3G1: Act8Tile { static var rows: Int { 3 }; static var groups: Int { 1 } }
    enum R2G2: Act8Tile { static var rows: Int { 2 }; static var groups: Int { 2 } }
    enum R2G1: Act8Tile { static var rows: Int { 2 }; static var groups: Int { 1 } }
    enum R1G2: Act8Tile { static var rows: Int { 1 }; static var groups: Int { 2 } }
    enum R1G1: Act8Tile { static var rows: Int { 1 }; static var groups: Int { 1 } }
    /// A weight format of `Int4.Act8`, as a type, so each format's tile is its own code.
    protocol Act8Format { static var format: QuantFormat { get } }
    enum Q40: Act8Format { static var format: QuantFormat { .q4_0 } }
    enum Q41: Act8Format { static var format: QuantFormat { .q4_1 } }
    enum Q80: Act8Format { static var format: QuantFormat { .q8_0 } }
    enum Q4K: Act8Format { static var format: QuantFormat { .q4_k } }
    enum Q6K: Act8Format { static var format: QuantFormat { .q6_k } }

    /// x[M×K] rounded to 8-bit blocks of 32 for `int4.act8`, in workspace floats: per row i
    /// and block b (slot i·K/32 + b) the 32 signed bytes (8 Int32), the fp32 scale d, the
    /// int32 correction −o·Σq (with `halves`: −o·Σq over the first 16 elements, and
    /// `correctionHigh` the second 16's) and the fp32 d·Σq.
    struct Act8Blocks: @unchecked Sendable {
        let quants: UnsafeMutablePointer<Int32>
        let scale: UnsafeMutablePointer<Float>
        let correction: UnsafeMutablePointer<Int32>
        let correctionHigh: UnsafeMutablePointer<Int32>
        let sums: UnsafeMutablePointer<Float>
        let rows: Int, blocks: Int

        /// Floats of workspace for M rows of K/32 blocks.
        static func floats(rows: Int, blocks: Int) -> Int { rows * blocks * (8 + 4) }

        init(_ base: UnsafeMutablePointer<Float>, rows: Int, blocks: Int) {
            self.rows = rows; self.blocks = blocks
            let slots = rows * blocks, raw = UnsafeMutableRawPointer(base)
            quants = raw.bindMemory(to: Int32.self, capacity: 8 * slots)
            scale = (raw + 32 * slots).bindMemory(to: Float.self, capacity: slots)
            correction = (raw + 36 * slots).bindMemory(to: Int32.self, capacity: slots)
            correctionHigh = (raw + 40 * slots).bindMemory(to: Int32.self, capacity: slots)
            sums = (raw + 44 * slots).bindMemory(to: Float.self, capacity: slots)
        }

        /// Rounds every block of x's `rows` (see `Act8`); `offset` is the weights' o (8, 128, 32 or 0),
        /// `halves` asks for one correction per 16 elements (Q6_K).
        func quantize(_ x: MatrixView, rows: Range<Int>, offset: Int32, halves: Bool = false) {
            for i in rows {
                let row = x.row(i)
                for b in 0..<blocks {
                    Self.quantizeBlock(
                        row + 32 * b, UnsafeMutableRawPointer(quants + 8 * (i * blocks + b)), slot: i * blocks + b, offset: offset,
                        halves: halves, scale: scale, correction: correction, correctionHigh: correctionHigh, sums: sums)
                }
            }
        }

        /// The block of 32 floats at `x`: d = max|x|/127, q = round(x·(127/max|x|)) (to
        /// nearest even), or d = 0 and q = 0 for a block of zeros (or of magnitudes below
        /// 127/Float.greatestFiniteMagnitude), or d = NaN for a block holding a non-finite value.
        @inline(__always)
        static func quantizeBlock(
            _ x: UnsafePointer<Float>, _ q: UnsafeMutableRawPointer, slot: Int, offset: Int32, halves: Bool,
            scale: UnsafeMutablePointer<Float>, correction: UnsafeMutablePointer<Int32>, correctionHigh: UnsafeMutablePointer<Int32>,
            sums: UnsafeMutablePointer<Float>
        ) {
            let v0 = UnsafeRawPointer(x).loadUnaligned(as: Vec.self),
                v1 = UnsafeRawPointer(x).loadUnaligned(fromByteOffset: 64, as: Vec.self)
            // max|x| by the bits of |x|: for non-negative floats integer order is value order,
            // and +inf and every NaN lie at or above 0x7F800000.
            let bits = opbench_u32_max(pointwiseMax(VectorMath.magnitudeBits(v0), VectorMath.magnitudeBits(v1)))
            let finite = bits < 0x7F80_0000, amax = Float(bitPattern: bits)
            // Below about 3.7e-37, 127/max|x| overflows: such a block is taken as zeros (an
            // error of at most max|x| per element, which `Tolerance.int4Act8` allows for).
            guard finite, amax > 0, (127 / amax).isFinite else {
                q.initializeMemory(as: UInt8.self, repeating: 0, count: 32)
                scale[slot] = finite ? 0 : .nan; correction[slot] = 0; correctionHigh[slot] = 0; sums[slot] = finite ? 0 : .nan
                return
            }
            let d = amax / 127, id = Vec(repeating: 127 / amax)
            let i0 = opbench_f32_to_i32_nearest(v0 * id), i1 = opbench_f32_to_i32_nearest(v1 * id)
            opbench_store_i32_as_i8(q, i0)
            opbench_store_i32_as_i8(q + 16, i1)
            let first = opbench_i32_sum(i0), second = opbench_i32_sum(i1), sum = first + second
            scale[slot] = d; sums[slot] = d * Float(sum)
            if halves {
                correction[slot] = -offset * first; correctionHigh[slot] = -offset * second
            } else {
                correction[slot] = -offset * sum
            }
        }
    }
}
