import COpenBLAS
#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// An attention variant.
public protocol AttentionKernel: Kernel {
    /// out = softmax(Q·Kᵀ/√D, masked by `pattern`)·V per head. Q is [Tq, H·D]; K and V are
    /// [Tk, KV·D] with Tk ≥ Tq and KV dividing H (grouped-query attention: query head h reads
    /// K/V head h / (H/KV); KV = H is multi-head, KV = 1 multi-query); query row r is token
    /// Tk − Tq + r (the newest tokens).
    func run(
        q: MatrixView, k: MatrixView, v: MatrixView, heads: Int, pattern: AttentionPattern,
        _ out: MutableMatrixView, threads: Int) throws
}

/// Multi-head scaled dot-product attention restricted by an `AttentionPattern`.
///
/// A query with no allowed key outputs zeros. Accuracy: scores are D-term dot products
/// (γ_D·Σ|q||k|), then a softmax (see `Softmax`) and an L-term weighted sum of V rows
/// (γ_L·Σ p|v|); tests derive their bound from these terms.
public enum Attention: OperatorFamily {
    /// The operator name in ids, results and plans.
    public static let op = Op.attention

    /// Registered variants, in the order tools list them.
    public static let variants: [any AttentionKernel] = [Naive(), SIMD(), BLAS(), Auto()]

    /// The head layout of one call: head dimension D and the query heads per K/V head.
    public struct Heads: Sendable {
        /// D, the head dimension.
        public let d: Int
        /// H/KV, the query heads that share one K/V head (1 without grouping).
        public let group: Int
        /// The first K/V column of query head `h`: (h / group)·D.
        @inline(__always) public func kv(_ h: Int) -> Int { h / group * d }
    }

    /// Checks every argument; returns the head layout (D, and H/KV from K's width).
    @discardableResult
    public static func validate(
        q: MatrixView, k: MatrixView, v: MatrixView, heads: Int, pattern: AttentionPattern,
        _ out: MutableMatrixView, threads: Int
    ) throws -> Heads {
        let op = Self.op.rawValue
        try Check.threads(threads, op: op)
        try Check.positive(heads, "heads", op: op)
        try q.validate(op: op, argument: "Q")
        try k.validate(op: op, argument: "K")
        try v.validate(op: op, argument: "V")
        try out.validate(op: op, argument: "out")
        guard q.cols % heads == 0 else {
            throw KernelError.shapeMismatch(op: op, argument: "Q", expected: "columns a multiple of H=\(heads)", got: "\(q.rows)x\(q.cols)")
        }
        let d = q.cols / heads
        // K's width gives KV: a whole number of D-wide heads that divides H.
        guard k.cols > 0, k.cols % d == 0, heads % (k.cols / d) == 0 else {
            throw KernelError.shapeMismatch(
                op: op, argument: "K", expected: "KV·D=\(d)·KV columns with KV dividing H=\(heads)", got: "\(k.rows)x\(k.cols)")
        }
        guard v.cols == k.cols, v.rows == k.rows else {
            throw KernelError.shapeMismatch(op: op, argument: "V", expected: "\(k.rows)x\(k.cols) (K's shape)", got: "\(v.rows)x\(v.cols)")
        }
        guard k.rows >= q.rows else {
            throw KernelError.shapeMismatch(op: op, argument: "K", expected: "at least Tq=\(q.rows) rows", got: "\(k.rows) rows")
        }
        guard out.rows == q.rows, out.cols == q.cols else {
            throw KernelError.shapeMismatch(op: op, argument: "out", expected: "\(q.rows)x\(q.cols)", got: "\(out.rows)x\(out.cols)")
        }
        try pattern.validate(tokens: k.rows)
        return Heads(d: d, group: heads / (k.cols / d))
    }

    // MARK: - naive

    /// Scalar loops that visit only allowed keys: scores, max, expf, weighted sum of V.
    /// Threads split query rows.
    public struct Naive: AttentionKernel {
        public init() {}
        public var name: String { "naive" }
        public var summary: String { "scalar loops over allowed keys only, libm expf; threads split queries" }

        public func run(
            q: MatrixView, k: MatrixView, v: MatrixView, heads: Int, pattern: AttentionPattern,
            _ out: MutableMatrixView, threads: Int
        ) throws {
            let layout = try validate(q: q, k: k, v: v, heads: heads, pattern: pattern, out, threads: threads)
            let d = layout.d, tk = k.rows, offset = k.rows - q.rows
            let scale = 1 / Float(d).squareRoot()
            Parallel.forEach(q.rows, threads: threads) { rows in
                Workspace.with(tk + d + 16) { ws in
                    let scores = ws, acc = ws + tk
                    for r in rows {
                        let i = r + offset
                        for h in 0..<heads {
                            let qi = q.row(r) + h * d
                            var m = -Float.infinity
                            for j in 0..<tk where pattern.allows(i, j) {
                                let kj = k.row(j) + layout.kv(h)
                                var s: Float = 0
                                for t in 0..<d { s += qi[t] * kj[t] }
                                scores[j] = s * scale
                                m = Swift.max(m, scores[j])
                            }
                            for t in 0..<d { acc[t] = 0 }
                            var sum: Float = 0
                            if m > -.infinity {
                                for j in 0..<tk where pattern.allows(i, j) {
                                    let p = expf(scores[j] - m)
                                    sum += p
                                    let vj = v.row(j) + layout.kv(h)
                                    for t in 0..<d { acc[t] += p * vj[t] }
                                }
                            }
                            let o = out.row(r) + h * d
                            let inv: Float = sum > 0 ? 1 / sum : 0
                            for t in 0..<d { o[t] = acc[t] * inv }
                        }
                    }
                }
            }
        }
    }

    // MARK: - blas

    /// Per head and 64-query block: `sgemm` Q_blk·K_blkᵀ for each non-empty 64-key block,
    /// mask, scalar softmax over the gathered row, then `sgemm` P_blk·V_blk accumulated
    /// over the blocks. Threads split (head, query block) pairs; OpenBLAS single-threaded.
    public struct BLAS: AttentionKernel {
        public init() {}
        public var name: String { "blas" }
        public var tunables: [String] { ["blasBlock"] }
        public var summary: String { "sgemm QK^T per non-empty 64x64 block, masked softmax, sgemm PV; threads split heads x query blocks" }

        public func run(
            q: MatrixView, k: MatrixView, v: MatrixView, heads: Int, pattern: AttentionPattern,
            _ out: MutableMatrixView, threads: Int
        ) throws {
            let layout = try validate(q: q, k: k, v: v, heads: heads, pattern: pattern, out, threads: threads)
            let d = layout.d
            openblas_set_num_threads(1)
            let tq = q.rows, tk = k.rows, offset = tk - tq
            let bq = Attention.current.blasBlock, bk = bq
            let nqb = (tq + bq - 1) / bq, nkb = (tk + bk - 1) / bk
            let scale = 1 / Float(d).squareRoot()
            Parallel.forEach(heads * nqb, threads: threads) { units in
                Workspace.with(bq * nkb * bk + nkb) { ws in
                    let s = ws  // [bq × (selected·bk)]
                    for unit in units {
                        let h = unit / nqb, qb = unit % nqb
                        let r0 = qb * bq, rows = min(bq, tq - r0)
                        let qi = (r0 + offset)..<(r0 + offset + rows)
                        var selected: [(Int, AttentionPattern.TileClass)] = []
                        for kb in 0..<nkb {
                            let cls = pattern.classify(qi, (kb * bk)..<min(tk, kb * bk + bk))
                            if cls != .empty { selected.append((kb, cls)) }
                        }
                        let ld = max(1, selected.count * bk)
                        let o = out.row(r0) + h * d
                        for r in 0..<rows { for t in 0..<d { o[r * out.stride + t] = 0 } }
                        if selected.isEmpty { continue }
                        for (c, (kb, cls)) in selected.enumerated() {
                            let cols = min(bk, tk - kb * bk)
                            cblas_sgemm(
                                CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(cols), Int32(d), scale,
                                q.row(r0) + h * d, Int32(q.stride), k.row(kb * bk) + layout.kv(h), Int32(k.stride),
                                0, s + c * bk, Int32(ld))
                            for r in 0..<rows {
                                let sr = s + r * ld + c * bk
                                for j in cols..<bk { sr[j] = -.infinity }
                                if cls == .partial {
                                    for j in 0..<cols where !pattern.allows(qi.lowerBound + r, kb * bk + j) { sr[j] = -.infinity }
                                }
                            }
                        }
                        for r in 0..<rows {
                            let sr = s + r * ld
                            var m = -Float.infinity
                            for j in 0..<ld { m = Swift.max(m, sr[j]) }
                            if m == -.infinity { for j in 0..<ld { sr[j] = 0 }; continue }
                            var sum: Float = 0
                            for j in 0..<ld { let e = expf(sr[j] - m); sr[j] = e; sum += e }
                            let inv = 1 / sum
                            for j in 0..<ld { sr[j] *= inv }
                        }
                        for (c, (kb, _)) in selected.enumerated() {
                            let cols = min(bk, tk - kb * bk)
                            cblas_sgemm(
                                CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(rows), Int32(d), Int32(cols), 1,
                                s + c * bk, Int32(ld), v.row(kb * bk) + layout.kv(h), Int32(v.stride),
                                1, o, Int32(out.stride))
                        }
                    }
                }
            }
        }
    }
}

extension Op {
    /// Masked multi-head attention.
    public static let attention = Op(rawValue: "attention")
}
