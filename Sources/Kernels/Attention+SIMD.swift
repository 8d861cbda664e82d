extension Attention {
    /// Flash-attention-style SIMD attention.
    ///
    /// Per head, K is packed once as Kᵀ panels of 64 keys (the GEMM packing of `GEMM.swift`);
    /// V is read in place when D is a multiple of 64, else packed as 64-column panels.
    /// Queries go 6 at a time against key tiles of up to 256 keys (`Attention.tuning.keyTile`): tiles and 64-key
    /// panels the pattern leaves empty are skipped, full ones skip masking, and partial ones
    /// compute only the 16-key groups some row can see (6×16/32/48 kernels). With a window
    /// only the span the rows' windows reach is visited, and up to 16 global keys join its
    /// last tile as one extra group. S = Q·Kᵀ and O += P·V run on the 6×64 register-tile
    /// micro-kernel; between them an online softmax (running max m, running sum l, rescale of
    /// O by e^(m_old − m_new)) with the polynomial exp. Threads split (head, query tile)
    /// pairs. Decode steps (≤ 4 queries) skip the packing and run dot products and axpys on K
    /// and V in place (`decode`).
    public struct SIMD: AttentionKernel {
        public init() {}
        public var name: String { "simd" }
        public var tunables: [String] { ["keyTile", "decodeRows"] }
        public var summary: String {
            "flash-style: 6 queries x 256-key tiles of 64-key panels, 16-key groups on partial tiles, window spans + global group, "
                + "online softmax, micro-kernel for QK^T and PV; threads split heads x query tiles; <=4 queries: unpacked decode path"
        }

        public func run(
            q: MatrixView, k: MatrixView, v: MatrixView, heads: Int, pattern: AttentionPattern,
            _ out: MutableMatrixView, threads: Int
        ) throws {
            let layout = try validate(q: q, k: k, v: v, heads: heads, pattern: pattern, out, threads: threads)
            let tq = q.rows
            if tq <= Self.decodeRows {
                Parallel.forEach(heads, threads: threads) { headRange in
                    Attention.SIMD.decode(headRange, q: q, k: k, v: v, layout: layout, pattern: pattern, out)
                }
                return
            }
            Attention.SIMD.tiles(q: q, k: k, v: v, heads: heads, layout: layout, pattern: pattern, out, threads: threads)
        }

        /// Decode (at most `decodeRows` queries) against K and V stored as fp16, the way a model
        /// keeps a half-precision KV cache: the decode path reading each row's halves and
        /// widening them exactly (`vcvtph2ps`), so a step streams half the cache bytes. The
        /// result is the fp32 decode on the K and V those halves hold.
        public static func decode(
            q: MatrixView, k: HalfMatrixView, v: HalfMatrixView, heads: Int, pattern: AttentionPattern,
            _ out: MutableMatrixView, threads: Int
        ) throws {
            // The shape checks of the fp32 entry, on views of K's and V's shapes.
            let layout = try validate(
                q: q, k: MatrixView(base: q.base, rows: k.rows, cols: k.cols, stride: k.stride),
                v: MatrixView(base: q.base, rows: v.rows, cols: v.cols, stride: v.stride),
                heads: heads, pattern: pattern, out, threads: threads)
            guard q.rows <= decodeRows else {
                throw KernelError.shapeMismatch(
                    op: "attention", argument: "Q", expected: "at most \(decodeRows) rows with fp16 K and V",
                    got: "\(q.rows)x\(q.cols)")
            }
            Parallel.forEach(heads, threads: threads) { headRange in
                Attention.SIMD.decode(headRange, q: q, k: k, v: v, layout: layout, pattern: pattern, out)
            }
        }

        /// The tile path over all (head, query tile) units. `vectorMask` and `skipUnreachable`
        /// switch off two optimizations for the ablation (`Ablation.steps(.attention)`):
        /// masking partial tiles 16 keys at a time, and visiting only the span of keys a
        /// window reaches (with the global keys as an extra group).
        static func tiles(
            q: MatrixView, k: MatrixView, v: MatrixView, heads: Int, layout: Heads, pattern: AttentionPattern,
            _ out: MutableMatrixView, threads: Int, vectorMask: Bool = true, skipUnreachable: Bool = true
        ) {
            let nqt = (q.rows + Blocking.mr - 1) / Blocking.mr
            Parallel.forEach(heads * nqt, threads: threads) { units in
                Attention.SIMD.work(
                    units, q: q, k: k, v: v, layout: layout, pattern: pattern, out,
                    vectorMask: vectorMask, skipUnreachable: skipUnreachable)
            }
        }

        /// The most queries the decode path (and the fp16 decode entry) takes.
        static var decodeRows: Int { Attention.current.decodeRows }
        /// The most queries the fp16 decode entry takes (`Attention.tuning.decodeRows`).
        public static var decodeQueries: Int { decodeRows }

        /// Decode path. Threads take ranges of heads; for each query the keys are visited in
        /// order and, for every key, all the range's heads at once, so each K and V row is read
        /// as one contiguous stretch (a KV cache row holds every head side by side; visiting
        /// head by head strides through it one head's stretch at a time).
        /// Pass 1: scores q_h·k_j,h (16-lane dot products) for the keys the pattern allows
        /// (64-key blocks classified, empty ones skipped). Pass 2: per head, max, polynomial exp
        /// and sum, vectorized over keys. Pass 3: O_h = Σ p_hj·v_j,h as 16-lane axpys, then one
        /// division by the sum. No packing.
        static func decode<Rows: DecodeRows>(
            _ headRange: Range<Int>, q: MatrixView, k: Rows, v: Rows, layout: Heads,
            pattern: AttentionPattern, _ out: MutableMatrixView
        ) {
            let d = layout.d, tq = q.rows, tk = k.rows, offset = tk - tq
            let nh = headRange.count
            let ldS = (tk + 15) / 16 * 16 + 16
            let dv = (d + 15) / 16 * 16
            let scale = 1 / Float(d).squareRoot()
            Workspace.with(nh * ldS + nh * dv + nh + 16) { ws in
                let scores = ws, acc = ws + nh * ldS, inv = acc + nh * dv
                for r in 0..<tq {
                    let i = r + offset
                    // Pass 1: scores; masked keys −inf.
                    var j0 = 0
                    while j0 < tk {
                        let j1 = min(tk, j0 + 64)
                        let cls = pattern.classify(i..<(i + 1), j0..<j1)
                        for j in j0..<j1 {
                            if cls == .empty || (cls == .partial && !pattern.allows(i, j)) {
                                for h in 0..<nh { scores[h * ldS + j] = -.infinity }
                                continue
                            }
                            for h in 0..<nh {
                                let qh = q.row(r) + (headRange.lowerBound + h) * d
                                scores[h * ldS + j] = k.dot(qh, row: j, col: layout.kv(headRange.lowerBound + h), count: d) * scale
                            }
                        }
                        j0 = j1
                    }
                    // Pass 2: exponentials and sums per head.
                    for h in 0..<nh { inv[h] = 0 }
                    for h in 0..<nh {
                        let s = scores + h * ldS
                        var mv = Vec(repeating: -.infinity)
                        var j = 0
                        while j + 16 <= tk {
                            let x = UnsafeRawPointer(s + j).loadUnaligned(as: Vec.self)
                            mv = mv.replacing(with: x, where: x .> mv)
                            j += 16
                        }
                        var m = VectorMath.max(mv)
                        while j < tk { m = Swift.max(m, s[j]); j += 1 }
                        if m == -.infinity {
                            for t in 0..<tk { s[t] = 0 }
                            continue
                        }
                        let mb = Vec(repeating: m)
                        var sum = Vec()
                        j = 0
                        while j + 16 <= tk {
                            let e = VectorMath.expNonPositive(UnsafeRawPointer(s + j).loadUnaligned(as: Vec.self) - mb)
                            UnsafeMutableRawPointer(s + j).storeBytes(of: e, as: Vec.self)
                            sum += e
                            j += 16
                        }
                        if j < tk {
                            let e = VectorMath.expNonPositive(VectorMath.loadPartial(s + j, tk - j, fill: -.infinity) - mb)
                            VectorMath.storePartial(e, s + j, tk - j)
                            sum += e
                        }
                        inv[h] = 1 / VectorMath.sum(sum)
                    }
                    // Pass 3: O = Σ p·v, key by key over all heads of the range.
                    for t in Swift.stride(from: 0, to: nh * dv, by: 16) {
                        UnsafeMutableRawPointer(acc + t).storeBytes(of: Vec(), as: Vec.self)
                    }
                    for j in 0..<tk {
                        for h in 0..<nh {
                            let p = scores[h * ldS + j]
                            if p == 0 { continue }
                            v.axpy(p, row: j, col: layout.kv(headRange.lowerBound + h), into: acc + h * dv, count: d)
                        }
                    }
                    for h in 0..<nh {
                        let dst = out.row(r) + (headRange.lowerBound + h) * d
                        let ah = acc + h * dv
                        for t in 0..<d { dst[t] = ah[t] * inv[h] }
                    }
                }
            }
        }

        /// Sets the scores of the keys j0 ..< j0 + cols that query `row` may not see to −inf.
        /// Without a block mask the allowed keys are one interval and the global keys
        /// (`AttentionPattern.keyInterval`), so 16 lanes at a time compare key positions
        /// against them; with one, `allows` decides key by key (a scalar `allows` on every
        /// entry of a partial tile is a large part of a window pass).
        @inline(__always)
        static func mask(_ sr: UnsafeMutablePointer<Float>, row i: Int, j0: Int, cols: Int, _ pattern: AttentionPattern) {
            guard let (lo, hi) = pattern.keyInterval(i) else {
                for j in 0..<cols where !pattern.allows(i, j0 + j) { sr[j] = -.infinity }
                return
            }
            // Every position is in Int32 range (checked shapes); clamp the open bounds into it.
            let loV = SIMD16<Int32>(repeating: Int32(clamping: lo - j0)), hiV = SIMD16<Int32>(repeating: Int32(clamping: hi - j0))
            let gV = SIMD16<Int32>(repeating: Int32(clamping: pattern.global - j0))
            // The causal bound holds for the global keys too (a global query before them).
            let cV = SIMD16<Int32>(repeating: Int32(clamping: (pattern.causal ? i : Int.max / 2) - j0))
            var t = 0
            while t < cols {
                let jv = VectorMath.laneIndex &+ Int32(t)
                let outside = (jv .< loV) .| (jv .> hiV)
                let hidden = (outside .& (jv .>= gV)) .| (jv .> cV)
                let p = UnsafeMutableRawPointer(sr + t)
                p.storeBytes(of: p.loadUnaligned(as: Vec.self).replacing(with: -.infinity, where: hidden), as: Vec.self)
                t += 16
            }
        }

        /// The 16-key groups [g0, g1) of the tile j0 ..< j0 + cols that any query in `rows`
        /// may see: the union of the rows' key intervals and the global keys (causal bound
        /// included), widened to whole groups. All groups with a block mask.
        @inline(__always)
        static func groups(rows qi: Range<Int>, j0: Int, cols: Int, _ pattern: AttentionPattern) -> (Int, Int) {
            let all = (0, (cols + 15) / 16), j1 = j0 + cols - 1
            var lo = Int.max, hi = Int.min, globalHi = -1
            for i in qi {
                guard let (a, b) = pattern.keyInterval(i) else { return all }
                if a <= b { lo = Swift.min(lo, a); hi = Swift.max(hi, b) }
                globalHi = Swift.max(globalHi, Swift.min(pattern.global - 1, pattern.causal ? i : Int.max / 2))
            }
            // The two parts clipped to the tile, then their hull.
            lo = Swift.max(lo, j0); hi = Swift.min(hi, j1)
            if globalHi >= j0 {
                if lo > hi { hi = j0 - 1 }
                lo = j0; hi = Swift.max(hi, Swift.min(globalHi, j1))
            }
            if lo > hi { return (0, 0) }
            return ((lo - j0) / 16, (hi - j0) / 16 + 1)
        }

        /// O[rows × d] += P[rows × count]·V[keys ..< keys + count, columns column ..< column + d]
        /// (one K/V head): P's rows read in place (row r at p + r·ls; rows past `rows` repeat
        /// the last one, their results discarded), V in place (B stride = V's row stride) or
        /// from its packed panels.
        @inline(__always)
        static func pv(
            _ p: UnsafeMutablePointer<Float>, keys: Int, count: Int, rows: Int, ls: Int, v: MatrixView, column: Int, d: Int,
            vp: UnsafeMutablePointer<Float>, vInPlace: Bool, o: UnsafeMutablePointer<Float>, dp: Int,
            tile: UnsafeMutablePointer<Float>
        ) {
            let nr = Blocking.nr, tk = v.rows
            for panel in 0..<(dp / nr) {
                let width = min(nr, d - panel * nr)
                let vPanel =
                    vInPlace
                    ? UnsafePointer(v.base + column + panel * nr + keys * v.stride)
                    : UnsafePointer(vp + panel * nr * tk + keys * nr)
                GEMM.microKernel(
                    count, UnsafePointer(p), vPanel, o + panel * nr, dp, rows, width, false, nil, tile,
                    aRows: GEMM.rowOffsets(rows, stride: ls), aStep: 1, bStride: vInPlace ? v.stride : nr)
            }
        }

        /// One tile's online softmax in three passes over the rows, so that the rows' latency
        /// chains (lane max, horizontal max, exp) overlap instead of running one row after
        /// another: (1) tile max per row; (2) new maxima and corrections e^(m_old − m_new) of
        /// all rows as one vector exp; (3) P, running sums and the rescale of O. The scores are
        /// the 16-key groups [g0, g1) of S's rows (ls floats apart; keys from c1Key on are past
        /// the tile's end) and, with the global keys' scores, group `extra`; P goes to the same
        /// places in p. A function of its own: inside `work` the compiler stopped inlining the
        /// vector loads and stores of these loops.
        @inline(never)
        static func onlineSoftmax(
            s: UnsafeMutablePointer<Float>, p pBuf: UnsafeMutablePointer<Float>, ls: Int, rows: Int, g0: Int, g1: Int,
            extra: Int?, c1Key: Int, scale: Vec, mrow: UnsafeMutablePointer<Float>,
            tileMax: UnsafeMutablePointer<Float>, lrow: UnsafeMutablePointer<Float>,
            o: UnsafeMutablePointer<Float>, dp: Int
        ) {
            let gEnd = extra == nil ? g1 : g1 + 1, extraGroup = extra ?? 0
            @inline(__always) func group(_ i: Int) -> Int { i < g1 ? i : extraGroup }
            for r in 0..<rows {
                let sr = s + r * ls
                if c1Key < g1 * 16 {
                    // Keys past the tile's end in its last group: −inf (one blend).
                    let lastGroup = UnsafeMutableRawPointer(sr + (g1 - 1) * 16)
                    let past = VectorMath.laneIndex .>= SIMD16<Int32>(repeating: Int32(c1Key - (g1 - 1) * 16))
                    lastGroup.storeBytes(of: lastGroup.loadUnaligned(as: Vec.self).replacing(with: -.infinity, where: past), as: Vec.self)
                }
                let raw = UnsafeRawPointer(sr)
                var mx = Vec(repeating: -.infinity)
                for i in g0..<gEnd {
                    let x = raw.loadUnaligned(fromByteOffset: 64 * group(i), as: Vec.self)
                    mx = mx.replacing(with: x, where: x .> mx)
                }
                // max(s)·scale = max(s·scale): rounding is monotone and scale > 0.
                tileMax[r] = VectorMath.max(mx) * scale[0]
            }
            // Lanes are rows (rows past `rows` carry −inf and are ignored). An
            // unchanged max gives e^0, exactly 1; a first max (m_old = −inf) gives 0;
            // a row with nothing seen yet (m_new = −inf) is skipped below.
            let mOld = UnsafeRawPointer(mrow).loadUnaligned(as: Vec.self)
            let tMax = UnsafeRawPointer(tileMax).loadUnaligned(as: Vec.self)
            let mNew = mOld.replacing(with: tMax, where: tMax .> mOld)
            let corrs = VectorMath.expNonPositive(mOld - mNew).replacing(with: 1, where: mNew .== -.infinity)
            UnsafeMutableRawPointer(mrow).storeBytes(of: mNew, as: Vec.self)
            for r in 0..<rows {
                let newMax = mNew[r], corr = corrs[r]
                let pr = pBuf + r * ls
                if newMax == -.infinity {
                    for i in g0..<gEnd { UnsafeMutableRawPointer(pr + 16 * group(i)).storeBytes(of: Vec(), as: Vec.self) }
                    continue
                }
                // s·scale − max as one FMA (one rounding; exact when scale is a power
                // of two, as for d = 64).
                let negMax = Vec(repeating: -newMax)
                let raw = UnsafeRawPointer(s + r * ls), praw = UnsafeMutableRawPointer(pr)
                var sum = Vec()
                for i in g0..<gEnd {
                    let at = 64 * group(i)
                    let p = VectorMath.expNonPositive(negMax.addingProduct(raw.loadUnaligned(fromByteOffset: at, as: Vec.self), scale))
                    praw.storeBytes(of: p, toByteOffset: at, as: Vec.self)
                    sum += p
                }
                // The sum stays in lanes until the end: one horizontal add per row
                // and unit, not per tile.
                let lr = UnsafeMutableRawPointer(lrow + 16 * r)
                lr.storeBytes(of: lr.loadUnaligned(as: Vec.self) * corr + sum, as: Vec.self)
                // O is still zero before a row's first max: nothing to rescale.
                if corr != 1 && mOld[r] != -.infinity {
                    let orow = o + r * dp
                    for t in 0..<dp { orow[t] *= corr }
                }
            }
        }

        /// One thread's scratch for its (head, query tile) units: the current head's packed K
        /// (and V when it is not read in place), the packed Q tile, the S and P rows (`stride`
        /// floats apart: a key tile's columns plus one extra group for the global keys), the
        /// output accumulator O [MR × paddedD] and the online softmax's state.
        struct UnitScratch {
            let packedK: UnsafeMutablePointer<Float>  // [⌈Tk/NR⌉ panels × NR × D]
            let packedV: UnsafeMutablePointer<Float>  // [D panels × NR × Tk], unless V is read in place
            let packedQ: UnsafeMutablePointer<Float>  // [MR × D]
            let scores: UnsafeMutablePointer<Float>  // S [MR × stride]
            let tile: UnsafeMutablePointer<Float>  // the micro-kernel's edge tile [MR × NR]
            let probs: UnsafeMutablePointer<Float>  // P [MR × stride]
            let acc: UnsafeMutablePointer<Float>  // O [MR × paddedD]
            let rowMax: UnsafeMutablePointer<Float>  // running max, lane r per row [16]
            let tileMax: UnsafeMutablePointer<Float>  // this tile's max [16]
            let rowSum: UnsafeMutablePointer<Float>  // running sum, 16 lanes per row [MR × 16]
            let stride: Int, keyTile: Int, paddedD: Int

            /// Floats the scratch needs.
            static func count(tk: Int, d: Int, vInPlace: Bool, keyTile: Int) -> Int {
                let mr = Blocking.mr, nr = Blocking.nr
                let kCount = (tk + nr - 1) / nr * nr * d, vCount = vInPlace ? 0 : (d + nr - 1) / nr * nr * tk
                let stride = keyTile + 16, paddedD = (d + nr - 1) / nr * nr
                return kCount + vCount + mr * d + 2 * mr * stride + mr * nr + mr * paddedD + 32 + 16 * mr + 64
            }

            init(_ buffer: UnsafeMutablePointer<Float>, tk: Int, d: Int, vInPlace: Bool, keyTile: Int) {
                let mr = Blocking.mr, nr = Blocking.nr
                self.keyTile = keyTile
                stride = keyTile + 16
                paddedD = (d + nr - 1) / nr * nr
                packedK = buffer
                packedV = packedK + (tk + nr - 1) / nr * nr * d
                packedQ = packedV + (vInPlace ? 0 : paddedD * tk)
                scores = packedQ + mr * d
                tile = scores + mr * stride
                probs = tile + mr * nr
                acc = probs + mr * stride
                rowMax = acc + mr * paddedD
                tileMax = rowMax + 16
                rowSum = tileMax + 16
            }

            /// Empties O and the softmax state before a unit's first tile.
            func reset() {
                for r in 0..<16 { rowMax[r] = -.infinity; tileMax[r] = -.infinity }
                for i in 0..<(16 * Blocking.mr) { rowSum[i] = 0 }
                for i in 0..<(Blocking.mr * paddedD) { acc[i] = 0 }
            }
        }

        /// The keys one query tile visits. With a window (and no block mask) only the span
        /// the queries' windows reach, [first.lo, last.hi] from the first panel it touches,
        /// and the global keys can be non-empty: the rest is not classified at all. At most 16
        /// global keys before the span join its last tile as one extra group of scores
        /// (`appendGlobal`: G dot products per query) instead of a tile of their own; more get
        /// a tile [0, G) first (`globalTile`). Otherwise all keys, in tiles from 0.
        struct KeySpan {
            var lo = 0, hi: Int, globalTile = 0, appendGlobal = false

            init(queries qi: Range<Int>, keys tk: Int, pattern: AttentionPattern, skipUnreachable: Bool) {
                hi = tk
                let g = pattern.global, nr = Blocking.nr
                guard skipUnreachable, pattern.window != nil, qi.lowerBound >= g,
                    let first = pattern.keyInterval(qi.lowerBound), let last = pattern.keyInterval(qi.upperBound - 1)
                else { return }
                // Both bounds grow with the query, so the rows' union is first.lo … last.hi.
                lo = Swift.max(0, first.lo) / nr * nr
                hi = Swift.min(tk, last.hi + 1)
                if g > 0 {
                    if g >= lo { lo = 0 } else if g <= 16 { appendGlobal = true } else { globalTile = g }
                }
            }
        }

        /// The scores of the `g` global keys for query rows r0 ..< r0 + rows of head h (K/V
        /// columns from `kvColumn`), into the extra group at column `column` of each S row
        /// (lanes past G −inf).
        @inline(__always)
        static func globalScores(
            q: MatrixView, k: MatrixView, h: Int, kvColumn kc: Int, d: Int, r0: Int, rows: Int, g: Int, _ scratch: UnitScratch,
            column: Int
        ) {
            for r in 0..<rows {
                let qr = q.row(r0 + r) + h * d, sr = scratch.scores + r * scratch.stride
                UnsafeMutableRawPointer(sr + column).storeBytes(of: Vec(repeating: -.infinity), as: Vec.self)
                var j = 0
                while j < g {
                    let k0 = k.row(j) + kc, k1 = k.row(Swift.min(j + 1, g - 1)) + kc
                    let k2 = k.row(Swift.min(j + 2, g - 1)) + kc, k3 = k.row(Swift.min(j + 3, g - 1)) + kc
                    let dots = VectorMath.dots(qr, k0, k1, k2, k3, count: d)
                    for t in 0..<Swift.min(4, g - j) { sr[column + j + t] = dots[t] }
                    j += 4
                }
            }
        }

        /// S = Q·Kᵀ over the 16-key groups [groupLo, groupHi) of the key tile at `tileStart`
        /// (`tileCols` keys), one K panel (64 keys) at a time: a panel the pattern leaves empty
        /// gets −inf, a partial one is masked.
        @inline(__always)
        static func scoreTile(
            queries qi: Range<Int>, rows: Int, tileStart: Int, tileCols: Int, groupLo: Int, groupHi: Int,
            tileClass: AttentionPattern.TileClass, keys tk: Int, d: Int, pattern: AttentionPattern, vectorMask: Bool,
            _ scratch: UnitScratch
        ) {
            let nr = Blocking.nr, stride = scratch.stride, s = scratch.scores
            var panel = groupLo / 4
            while panel * 4 < groupHi {
                let ga = Swift.max(groupLo, panel * 4), gb = Swift.min(groupHi, panel * 4 + 4)
                let kj0 = tileStart + panel * nr
                let panelClass = tileClass == .full ? .full : pattern.classify(qi, kj0..<Swift.min(kj0 + nr, tk))
                let ja = ga * 16, jb = Swift.min(tileCols, gb * 16)
                if panelClass == .empty {
                    for r in 0..<rows { for j in ja..<(gb * 16) { s[r * stride + j] = -.infinity } }
                } else {
                    let kPanel = UnsafePointer(scratch.packedK + (kj0 / nr) * nr * d + (ga - panel * 4) * 16)
                    GEMM.kernel(
                        vectors: gb - ga, d, UnsafePointer(scratch.packedQ), kPanel, s + ja, stride, bStride: nr, tile: scratch.tile)
                    if panelClass == .partial {
                        for r in 0..<rows {
                            let sr = s + r * stride
                            if vectorMask {
                                Attention.SIMD.mask(sr + ja, row: qi.lowerBound + r, j0: tileStart + ja, cols: jb - ja, pattern)
                            } else {
                                for j in ja..<jb where !pattern.allows(qi.lowerBound + r, tileStart + j) { sr[j] = -.infinity }
                            }
                        }
                    }
                }
                panel += 1
            }
        }

        /// The keys [lo, hi) of a partial tile from the first to the last 16-key group in which
        /// some row has a nonzero P (a window's edges and the causal diagonal often leave whole
        /// groups at 0), or nil when every P of the tile is 0.
        @inline(__always)
        static func nonzeroKeys(rows: Int, groupLo: Int, groupHi: Int, tileCols: Int, _ scratch: UnitScratch) -> Range<Int>? {
            var first = groupHi, last = -1
            for i in groupLo..<groupHi {
                var any = Vec()
                for r in 0..<rows {
                    any = any + UnsafeRawPointer(scratch.probs + r * scratch.stride + 16 * i).loadUnaligned(as: Vec.self)
                }
                if VectorMath.max(any) > 0 { first = Swift.min(first, i); last = i }
            }
            if last < 0 { return nil }
            return (first * 16)..<Swift.min(tileCols, (last + 1) * 16)
        }

        /// Writes O / l for rows r0 ..< r0 + rows of head h (0 for a row that saw no key).
        @inline(__always)
        static func finishRows(_ out: MutableMatrixView, r0: Int, rows: Int, h: Int, d: Int, _ scratch: UnitScratch) {
            for r in 0..<rows {
                let dst = out.row(r0 + r) + h * d
                let l = VectorMath.sum(UnsafeRawPointer(scratch.rowSum + 16 * r).loadUnaligned(as: Vec.self))
                let inv: Float = l > 0 ? 1 / l : 0
                let orow = scratch.acc + r * scratch.paddedD
                for t in 0..<d { dst[t] = orow[t] * inv }
            }
        }

        /// Prefetches the next unit's Q rows and output rows: a head's slice of rows a whole
        /// row apart, which the hardware prefetchers do not follow; with few tiles per unit (a
        /// window) their misses were the largest stall of a unit.
        @inline(__always)
        static func prefetchUnit(_ unit: Int, tilesPerHead nqt: Int, q: MatrixView, _ out: MutableMatrixView, d: Int) {
            let h = unit / nqt, r0 = (unit % nqt) * Blocking.mr
            for r in r0..<Swift.min(r0 + Blocking.mr, q.rows) {
                var t = 0
                while t < d {
                    CacheControl.prefetch(q.row(r) + h * d + t)
                    CacheControl.prefetch(out.row(r) + h * d + t)
                    t += 16
                }
            }
        }

        /// The (head, query tile) units `units` (unit = head · ⌈Tq/MR⌉ + query tile): per unit,
        /// the keys of its span tile by tile — scores, online softmax, O += P·V — then O / l.
        /// Units go head by head, so the query heads of one K/V group follow each other and
        /// reuse its packed K (packed once per group and thread, not once per query head).
        static func work(
            _ units: Range<Int>, q: MatrixView, k: MatrixView, v: MatrixView, layout: Heads,
            pattern: AttentionPattern, _ out: MutableMatrixView, vectorMask: Bool, skipUnreachable: Bool
        ) {
            let d = layout.d, mr = Blocking.mr, nr = Blocking.nr
            let tq = q.rows, tk = k.rows, offset = tk - tq
            let tilesPerHead = (tq + mr - 1) / mr
            let keyTile = Attention.current.keyTile
            let scale = Vec(repeating: 1 / Float(d).squareRoot())
            // With d a multiple of NR a head's V rows are whole 64-column panels already: PV
            // reads them in place (B stride = V's row stride) and V is not packed.
            let vInPlace = d % nr == 0
            Workspace.with(UnitScratch.count(tk: tk, d: d, vInPlace: vInPlace, keyTile: keyTile)) { buffer in
                let scratch = UnitScratch(buffer, tk: tk, d: d, vInPlace: vInPlace, keyTile: keyTile)
                let stride = scratch.stride
                var packedColumn = -1
                for unit in units {
                    let h = unit / tilesPerHead, r0 = (unit % tilesPerHead) * mr, rows = min(mr, tq - r0)
                    let kvColumn = layout.kv(h)
                    if kvColumn != packedColumn {
                        let kh = MatrixView(base: k.base + kvColumn, rows: tk, cols: d, stride: k.stride)
                        let vh = MatrixView(base: v.base + kvColumn, rows: tk, cols: d, stride: v.stride)
                        NKPanels(w: kh).pack(k0: 0, kc: d, j0: 0, nc: tk, into: scratch.packedK)
                        if !vInPlace { KNPanels(b: vh).pack(k0: 0, kc: tk, j0: 0, nc: d, into: scratch.packedV) }
                        packedColumn = kvColumn
                    }
                    if unit + 1 < units.upperBound { prefetchUnit(unit + 1, tilesPerHead: tilesPerHead, q: q, out, d: d) }
                    let qh = MatrixView(base: q.base + h * d, rows: tq, cols: d, stride: q.stride)
                    GEMM.packPanelsA(qh, i0: r0, mc: rows, k0: 0, kc: d, into: scratch.packedQ)
                    scratch.reset()
                    let qi = (r0 + offset)..<(r0 + offset + rows)
                    let span = KeySpan(queries: qi, keys: tk, pattern: pattern, skipUnreachable: skipUnreachable)
                    let g = pattern.global
                    var j0 = span.globalTile > 0 ? 0 : span.lo
                    var inGlobalTile = span.globalTile > 0
                    while inGlobalTile || j0 < span.hi {
                        let tileCols = inGlobalTile ? span.globalTile : Swift.min(keyTile, span.hi - j0)
                        let tileStart = j0
                        if inGlobalTile { inGlobalTile = false; j0 = span.lo } else { j0 += tileCols }
                        let withGlobal = span.appendGlobal && j0 >= span.hi
                        let tileClass = pattern.classify(qi, tileStart..<(tileStart + tileCols))
                        if tileClass == .empty && !withGlobal { continue }
                        // The 16-key groups [groupLo, groupHi) of the tile that any of the rows
                        // may see; the others get no scores, no exponentials and no P.
                        var groupLo = 0, groupHi = (tileCols + 15) / 16
                        if tileClass == .empty { (groupLo, groupHi) = (0, 0) }
                        if tileClass == .partial {
                            (groupLo, groupHi) = Attention.SIMD.groups(rows: qi, j0: tileStart, cols: tileCols, pattern)
                            if groupLo >= groupHi && !withGlobal { continue }
                        }
                        if withGlobal {
                            globalScores(q: q, k: k, h: h, kvColumn: kvColumn, d: d, r0: r0, rows: rows, g: g, scratch, column: keyTile)
                        }
                        scoreTile(
                            queries: qi, rows: rows, tileStart: tileStart, tileCols: tileCols, groupLo: groupLo, groupHi: groupHi,
                            tileClass: tileClass, keys: tk, d: d, pattern: pattern, vectorMask: vectorMask, scratch)
                        let keyHi = Swift.min(tileCols, groupHi * 16)
                        Attention.SIMD.onlineSoftmax(
                            s: scratch.scores, p: scratch.probs, ls: stride, rows: rows, g0: groupLo, g1: groupHi,
                            extra: withGlobal ? keyTile / 16 : nil, c1Key: keyHi, scale: scale, mrow: scratch.rowMax,
                            tileMax: scratch.tileMax, lrow: scratch.rowSum, o: scratch.acc, dp: scratch.paddedD)
                        // O += P·V. P's rows are read in place (row r at probs + r·stride; rows
                        // past `rows` repeat the last one, their results discarded): no
                        // transpose into a packed panel. The global keys' P goes with V's first
                        // G rows; a partial tile's P only over its nonzero keys.
                        if withGlobal {
                            Attention.SIMD.pv(
                                scratch.probs + keyTile, keys: 0, count: g, rows: rows, ls: stride, v: v, column: kvColumn, d: d,
                                vp: scratch.packedV, vInPlace: vInPlace, o: scratch.acc, dp: scratch.paddedD, tile: scratch.tile)
                        }
                        var keys = Swift.min(groupLo * 16, keyHi)..<keyHi
                        if tileClass == .partial {
                            guard let nonzero = nonzeroKeys(rows: rows, groupLo: groupLo, groupHi: groupHi, tileCols: tileCols, scratch)
                            else { continue }
                            keys = nonzero
                        }
                        if !keys.isEmpty {
                            Attention.SIMD.pv(
                                scratch.probs + keys.lowerBound, keys: tileStart + keys.lowerBound, count: keys.count, rows: rows,
                                ls: stride, v: v, column: kvColumn, d: d, vp: scratch.packedV, vInPlace: vInPlace, o: scratch.acc,
                                dp: scratch.paddedD, tile: scratch.tile)
                        }
                    }
                    finishRows(out, r0: r0, rows: rows, h: h, d: d, scratch)
                }
            }
        }
    }
}
