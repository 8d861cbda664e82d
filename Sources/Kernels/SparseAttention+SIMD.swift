extension SparseAttention {
    /// Flash-attention-style SIMD attention.
    ///
    /// Per head, K is packed once as Kᵀ panels and V as 64-column panels (the GEMM packing
    /// of `GEMM.swift`). Queries go 6 at a time against 64-key tiles: tiles the pattern
    /// leaves empty are skipped, full tiles skip masking. S = Q·Kᵀ and O += P·V both run on
    /// the 6×64 register-tile micro-kernel; between them an online softmax (running max m,
    /// running sum l, rescale of O by e^(m_old − m_new)) with the polynomial exp. Threads
    /// split (head, query tile) pairs. Decode steps (≤ 4 queries) skip the packing and run
    /// dot products and axpys on K and V in place (`decode`).
    public struct SIMD: AttentionKernel {
        public init() {}
        public var name: String { "simd" }
        public var summary: String { "flash-style 6x64 tiles, online softmax, empty tiles skipped, micro-kernel for QK^T and PV; threads split heads x query tiles; <=4 queries: unpacked decode path" }

        public func run(q: MatrixView, k: MatrixView, v: MatrixView, heads: Int, pattern: AttentionPattern,
                        _ out: MutableMatrixView, threads: Int) throws {
            let d = try validate(q: q, k: k, v: v, heads: heads, pattern: pattern, out, threads: threads)
            let tq = q.rows
            if tq <= Self.decodeRows {
                Parallel.forEach(heads * tq, threads: threads) { units in
                    SparseAttention.SIMD.decode(units, q: q, k: k, v: v, heads: heads, d: d, pattern: pattern, out)
                }
                return
            }
            let nqt = (tq + Blocking.mr - 1) / Blocking.mr
            Parallel.forEach(heads * nqt, threads: threads) { units in
                SparseAttention.SIMD.work(units, q: q, k: k, v: v, heads: heads, d: d, pattern: pattern, out)
            }
        }

        /// Up to this many queries (decode steps) take the unpacked path: packing K and V for
        /// a tile of 6 queries costs more than it saves when only 1–4 rows use it.
        static let decodeRows = 4

        /// Decode path, one (head, query) pair per unit: scores q·k_j with 16-lane dot products
        /// for the keys the pattern allows (64-key blocks classified, empty ones skipped), a
        /// two-pass softmax with the polynomial exp, then O = Σ p_j·v_j as 16-lane axpys.
        /// Reads K and V in place: no packing.
        static func decode(_ units: Range<Int>, q: MatrixView, k: MatrixView, v: MatrixView, heads: Int, d: Int,
                           pattern: AttentionPattern, _ out: MutableMatrixView) {
            let tq = q.rows, tk = k.rows, offset = tk - tq
            let dv = (d + 15) / 16 * 16
            let scale = 1 / Float(d).squareRoot()
            Workspace.with(tk + 16 + dv + 16) { ws in
                let s = ws, acc = ws + tk + 16
                for unit in units {
                    let h = unit / tq, r = unit % tq, i = r + offset
                    let qr = q.row(r) + h * d
                    // Scores; masked keys get −inf.
                    var m = -Float.infinity
                    var j0 = 0
                    while j0 < tk {
                        let j1 = min(tk, j0 + 64)
                        let cls = pattern.classify(i..<(i + 1), j0..<j1)
                        if cls == .empty {
                            for j in j0..<j1 { s[j] = -.infinity }
                        } else {
                            for j in j0..<j1 {
                                if cls == .partial && !pattern.allows(i, j) { s[j] = -.infinity; continue }
                                let kr = k.row(j) + h * d
                                var dot = Vec()
                                var t = 0
                                while t + 16 <= d {
                                    dot = dot.addingProduct(UnsafeRawPointer(qr + t).loadUnaligned(as: Vec.self),
                                                            UnsafeRawPointer(kr + t).loadUnaligned(as: Vec.self))
                                    t += 16
                                }
                                if t < d {
                                    dot = dot.addingProduct(VectorMath.loadPartial(qr + t, d - t, fill: 0), VectorMath.loadPartial(kr + t, d - t, fill: 0))
                                }
                                let sj = VectorMath.sum(dot) * scale
                                s[j] = sj
                                m = Swift.max(m, sj)
                            }
                        }
                        j0 = j1
                    }
                    let dst = out.row(r) + h * d
                    if m == -.infinity {
                        for t in 0..<d { dst[t] = 0 }
                        continue
                    }
                    // Exponentials (vectorized over keys) and their sum.
                    let mv = Vec(repeating: m)
                    var sum = Vec()
                    var j = 0
                    while j + 16 <= tk {
                        let e = VectorMath.expNonPositive(UnsafeRawPointer(s + j).loadUnaligned(as: Vec.self) - mv)
                        UnsafeMutableRawPointer(s + j).storeBytes(of: e, as: Vec.self)
                        sum += e
                        j += 16
                    }
                    if j < tk {
                        let e = VectorMath.expNonPositive(VectorMath.loadPartial(s + j, tk - j, fill: -.infinity) - mv)
                        VectorMath.storePartial(e, s + j, tk - j)
                        sum += e
                    }
                    // O = Σ p_j v_j, then one division by the sum.
                    for t in Swift.stride(from: 0, to: dv, by: 16) { UnsafeMutableRawPointer(acc + t).storeBytes(of: Vec(), as: Vec.self) }
                    for j in 0..<tk where s[j] != 0 {
                        let p = Vec(repeating: s[j])
                        let vr = v.row(j) + h * d
                        var t = 0
                        while t + 16 <= d {
                            let a = UnsafeRawPointer(acc + t).loadUnaligned(as: Vec.self)
                                .addingProduct(p, UnsafeRawPointer(vr + t).loadUnaligned(as: Vec.self))
                            UnsafeMutableRawPointer(acc + t).storeBytes(of: a, as: Vec.self)
                            t += 16
                        }
                        while t < d { acc[t] += s[j] * vr[t]; t += 1 }
                    }
                    let inv = 1 / VectorMath.sum(sum)
                    for t in 0..<d { dst[t] = acc[t] * inv }
                }
            }
        }

        static func work(_ units: Range<Int>, q: MatrixView, k: MatrixView, v: MatrixView, heads: Int, d: Int,
                         pattern: AttentionPattern, _ out: MutableMatrixView) {
            let mr = Blocking.mr, nr = Blocking.nr
            let tq = q.rows, tk = k.rows, offset = tk - tq
            let nqt = (tq + mr - 1) / mr, nkt = (tk + nr - 1) / nr
            let dPanels = (d + nr - 1) / nr, dp = dPanels * nr
            let scale = Vec(repeating: 1 / Float(d).squareRoot())
            let kCount = nkt * nr * d, vCount = dPanels * nr * tk
            let total = kCount + vCount + mr * d + 3 * mr * nr + mr * dp + nr * mr + 2 * mr + 64
            Workspace.with(total) { ws in
                let kp = ws, vp = kp + kCount, qp = vp + vCount
                let s = qp + mr * d, tile = s + mr * nr, pBuf = tile + mr * nr
                let o = pBuf + mr * nr, pp = o + mr * dp
                let mrow = pp + nr * mr, lrow = mrow + mr
                var packedHead = -1
                for unit in units {
                    let h = unit / nqt, qt = unit % nqt
                    if h != packedHead {
                        let kh = MatrixView(base: k.base + h * d, rows: tk, cols: d, stride: k.stride)
                        let vh = MatrixView(base: v.base + h * d, rows: tk, cols: d, stride: v.stride)
                        NKPanels(w: kh).pack(k0: 0, kc: d, j0: 0, nc: tk, into: kp)
                        KNPanels(b: vh).pack(k0: 0, kc: tk, j0: 0, nc: d, into: vp)
                        packedHead = h
                    }
                    let r0 = qt * mr, rows = min(mr, tq - r0)
                    let qh = MatrixView(base: q.base + h * d, rows: tq, cols: d, stride: q.stride)
                    GEMM.packPanelsA(qh, i0: r0, mc: rows, k0: 0, kc: d, into: qp)
                    for r in 0..<mr { mrow[r] = -.infinity; lrow[r] = 0 }
                    for t in 0..<(mr * dp) { o[t] = 0 }
                    let qi = (r0 + offset)..<(r0 + offset + rows)
                    for kt in 0..<nkt {
                        let j0 = kt * nr, cols = min(nr, tk - j0)
                        let cls = pattern.classify(qi, j0..<(j0 + cols))
                        if cls == .empty { continue }
                        GEMM.microKernel(d, UnsafePointer(qp), UnsafePointer(kp + kt * nr * d), s, nr, rows, cols, true, nil, tile)
                        for r in 0..<rows {
                            let sr = s + r * nr
                            if cols < nr { for j in cols..<nr { sr[j] = -.infinity } }
                            if cls == .partial {
                                for j in 0..<cols where !pattern.allows(qi.lowerBound + r, j0 + j) { sr[j] = -.infinity }
                            }
                            let raw = UnsafeMutableRawPointer(sr)
                            let s0 = raw.loadUnaligned(as: Vec.self) * scale
                            let s1 = raw.loadUnaligned(fromByteOffset: 64, as: Vec.self) * scale
                            let s2 = raw.loadUnaligned(fromByteOffset: 128, as: Vec.self) * scale
                            let s3 = raw.loadUnaligned(fromByteOffset: 192, as: Vec.self) * scale
                            var mx = s0.replacing(with: s1, where: s1 .> s0)
                            let mx2 = s2.replacing(with: s3, where: s3 .> s2)
                            mx = mx.replacing(with: mx2, where: mx2 .> mx)
                            let newMax = Swift.max(mrow[r], VectorMath.max(mx))
                            let pr = pBuf + r * nr
                            if newMax == -.infinity {
                                for j in 0..<nr { pr[j] = 0 }
                                continue
                            }
                            let mv = Vec(repeating: newMax)
                            let p0 = VectorMath.expNonPositive(s0 - mv), p1 = VectorMath.expNonPositive(s1 - mv)
                            let p2 = VectorMath.expNonPositive(s2 - mv), p3 = VectorMath.expNonPositive(s3 - mv)
                            let praw = UnsafeMutableRawPointer(pr)
                            praw.storeBytes(of: p0, as: Vec.self)
                            praw.storeBytes(of: p1, toByteOffset: 64, as: Vec.self)
                            praw.storeBytes(of: p2, toByteOffset: 128, as: Vec.self)
                            praw.storeBytes(of: p3, toByteOffset: 192, as: Vec.self)
                            let corr = mrow[r] == -.infinity ? 0 : VectorMath.exp(mrow[r] - newMax)
                            lrow[r] = lrow[r] * corr + VectorMath.sum((p0 + p1) + (p2 + p3))
                            mrow[r] = newMax
                            if corr != 1 {
                                let orow = o + r * dp
                                for t in 0..<dp { orow[t] *= corr }
                            }
                        }
                        // P (rows × cols) packed k-major for the micro-kernel: pp[j·6 + r].
                        for j in 0..<cols {
                            for r in 0..<mr { pp[j * mr + r] = r < rows ? pBuf[r * nr + j] : 0 }
                        }
                        for panel in 0..<dPanels {
                            let width = min(nr, d - panel * nr)
                            GEMM.microKernel(cols, UnsafePointer(pp), UnsafePointer(vp + panel * nr * tk + j0 * nr),
                                             o + panel * nr, dp, rows, width, false, nil, tile)
                        }
                    }
                    for r in 0..<rows {
                        let dst = out.row(r0 + r) + h * d
                        let inv: Float = lrow[r] > 0 ? 1 / lrow[r] : 0
                        let orow = o + r * dp
                        for t in 0..<d { dst[t] = orow[t] * inv }
                    }
                }
            }
        }
    }
}
