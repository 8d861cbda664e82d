import COpenBLAS
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Which (query, key) pairs attention may use, by absolute token position.
///
/// `allows(i, j)` = (not causal or j ≤ i) and (no sparse term given, or any given term
/// allows it). Sparse terms: `window` W (|i − j| < W), `global` G (i < G or j < G: the first G
/// tokens see and are seen by all), `block` (the block (i/B, j/B) is set in the mask).
/// BigBird/Longformer layouts are unions of these: window + global (+ random blocks).
public struct AttentionPattern: Sendable, Hashable, Codable, CustomStringConvertible {
    /// Keys after the query are masked.
    public var causal: Bool
    /// Sliding window: |i − j| < window. nil = no window term.
    public var window: Int?
    /// The first `global` tokens attend to and are attended by every token. 0 = none.
    public var global: Int
    /// Block-sparse term. nil = none.
    public var block: BlockMask?

    /// A square block mask over ⌈T/size⌉ × ⌈T/size⌉ blocks, row-major (query block, key block).
    public struct BlockMask: Sendable, Hashable, Codable {
        public var size: Int
        public var count: Int
        public var mask: [Bool]

        public init(size: Int, count: Int, mask: [Bool]) { self.size = size; self.count = count; self.mask = mask }

        /// A seeded random mask with about `density` of the blocks set, plus the diagonal
        /// (every query block sees its own keys).
        public static func random(size: Int, tokens: Int, density: Double, seed: UInt64) -> BlockMask {
            let n = (tokens + size - 1) / size
            var rng = SplitMix64(seed: seed)
            var mask = [Bool](repeating: false, count: n * n)
            for i in 0..<n { for j in 0..<n { mask[i * n + j] = i == j || Double(rng.next() >> 11) / Double(1 << 53) < density } }
            return BlockMask(size: size, count: n, mask: mask)
        }

        @inlinable public func isSet(_ bi: Int, _ bj: Int) -> Bool { mask[bi * count + bj] }
    }

    public init(causal: Bool = false, window: Int? = nil, global: Int = 0, block: BlockMask? = nil) {
        self.causal = causal; self.window = window; self.global = global; self.block = block
    }

    /// Dense, bidirectional attention.
    public static let all = AttentionPattern()

    /// True when no sparse term restricts the pattern.
    public var isDense: Bool { window == nil && global == 0 && block == nil }

    /// Whether query position i may attend to key position j.
    @inlinable
    public func allows(_ i: Int, _ j: Int) -> Bool {
        if causal && j > i { return false }
        if window == nil && global == 0 && block == nil { return true }
        if let w = window, abs(i - j) < w { return true }
        if i < global || j < global { return true }
        if let b = block, b.isSet(i / b.size, j / b.size) { return true }
        return false
    }

    /// `allows` as position bounds, for kernels that mask by comparing positions: without a
    /// block mask, query i sees the keys lo…hi and the global keys j < `global`, all of them
    /// only up to i when causal. lo > hi when the interval is empty; nil with a block mask.
    /// A global query sees every key; another its window, or with no window only the global
    /// keys; with no sparse term, every key.
    @inlinable
    public func keyInterval(_ i: Int) -> (lo: Int, hi: Int)? {
        guard block == nil else { return nil }
        var lo = Int.min / 2, hi = causal ? i : Int.max / 2
        if i >= global {
            if let w = window {
                lo = i - w + 1; hi = Swift.min(hi, i + w - 1)
            } else if global > 0 {
                lo = Int.max / 2
            }
        }
        return (lo, hi)
    }

    /// Coverage of a tile of query positions `qi` × key positions `kj`.
    public enum TileClass { case empty, full, partial }

    /// Classifies a tile so kernels skip empty tiles and skip masking full ones.
    public func classify(_ qi: Range<Int>, _ kj: Range<Int>) -> TileClass {
        let (i0, i1, j0, j1) = (qi.lowerBound, qi.upperBound - 1, kj.lowerBound, kj.upperBound - 1)
        if causal && j0 > i1 { return .empty }
        let causalFull = !causal || j1 <= i0
        if isDense { return causalFull ? .full : .partial }
        // Smallest and largest |i − j| over the tile.
        let minDist = j0 > i1 ? j0 - i1 : (i0 > j1 ? i0 - j1 : 0)
        let maxDist = Swift.max(abs(i1 - j0), abs(j1 - i0))
        var any = false, covered = false
        if let w = window {
            if minDist < w { any = true }
            if maxDist < w { covered = true }
        }
        if global > 0 {
            if i0 < global || j0 < global { any = true }
            if i1 < global || j1 < global { covered = true }
        }
        if let b = block {
            var allSet = true
            for bi in (i0 / b.size)...(i1 / b.size) {
                for bj in (j0 / b.size)...(j1 / b.size) {
                    if b.isSet(bi, bj) { any = true } else { allSet = false }
                }
            }
            if allSet { covered = true }
        }
        if !any { return .empty }
        return covered && causalFull ? .full : .partial
    }

    /// Checks the pattern against a sequence of `tokens` keys.
    public func validate(tokens: Int) throws {
        let op = "attention"
        if let w = window, w < 1 {
            throw KernelError.invalidArgument(op: op, argument: "window", value: "\(w)", reason: "must be at least 1")
        }
        if global < 0 {
            throw KernelError.invalidArgument(op: op, argument: "global", value: "\(global)", reason: "must be at least 0")
        }
        if let b = block {
            guard b.size >= 1 else {
                throw KernelError.invalidArgument(op: op, argument: "block", value: "\(b.size)", reason: "block size must be at least 1")
            }
            let n = (tokens + b.size - 1) / b.size
            guard b.count == n, b.mask.count == n * n else {
                throw KernelError.shapeMismatch(op: op, argument: "block mask", expected: "\(n)x\(n) blocks (T=\(tokens), block=\(b.size))",
                                                got: "\(b.count)x\(b.count) with \(b.mask.count) entries")
            }
        }
    }

    /// The pattern terms as written on the command line: `causal,window=256,global=4`.
    public var description: String {
        var terms: [String] = []
        if causal { terms.append("causal") }
        if let w = window { terms.append("window=\(w)") }
        if global > 0 { terms.append("global=\(global)") }
        if let b = block {
            let set = b.mask.filter { $0 }.count
            terms.append("block=\(b.size),blocks=\(set)/\(b.mask.count)")
        }
        return terms.isEmpty ? "all" : terms.joined(separator: ",")
    }
}

/// A small seeded generator (SplitMix64) for reproducible masks and data.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    public var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// An attention variant.
public protocol AttentionKernel: Kernel {
    /// out = softmax(Q·Kᵀ/√D, masked by `pattern`)·V per head. Q is [Tq, H·D]; K and V are
    /// [Tk, H·D] with Tk ≥ Tq; query row r is token Tk − Tq + r (the newest tokens).
    func run(q: MatrixView, k: MatrixView, v: MatrixView, heads: Int, pattern: AttentionPattern,
             _ out: MutableMatrixView, threads: Int) throws
}

/// Multi-head scaled dot-product attention restricted by an `AttentionPattern`.
///
/// A query with no allowed key outputs zeros. Accuracy: scores are D-term dot products
/// (γ_D·Σ|q||k|), then a softmax (see `Softmax`) and an L-term weighted sum of V rows
/// (γ_L·Σ p|v|); tests derive their bound from these terms.
public enum SparseAttention {
    /// Registered variants, in the order tools list them.
    public static let variants: [any AttentionKernel] = [Naive(), SIMD(), BLAS()]

    /// The variant registered as `name`.
    public static func variant(_ name: String) throws -> any AttentionKernel {
        try Registry.lookup(variants, hidden: Ablation.attentionSteps, op: .attention, name: name, nameOf: { $0.name })
    }

    /// Checks every argument; returns the head dimension D.
    @discardableResult
    public static func validate(q: MatrixView, k: MatrixView, v: MatrixView, heads: Int, pattern: AttentionPattern,
                                _ out: MutableMatrixView, threads: Int) throws -> Int {
        let op = "attention"
        try Check.threads(threads, op: op)
        try Check.positive(heads, "heads", op: op)
        try q.validate(op: op, argument: "Q")
        try k.validate(op: op, argument: "K")
        try v.validate(op: op, argument: "V")
        try out.validate(op: op, argument: "out")
        guard q.cols % heads == 0 else {
            throw KernelError.shapeMismatch(op: op, argument: "Q", expected: "columns a multiple of H=\(heads)", got: "\(q.rows)x\(q.cols)")
        }
        guard k.cols == q.cols, v.cols == q.cols, v.rows == k.rows else {
            throw KernelError.shapeMismatch(op: op, argument: k.cols != q.cols ? "K" : "V", expected: "\(k.rows)x\(q.cols) (Tk×H·D)",
                                            got: k.cols != q.cols ? "\(k.rows)x\(k.cols)" : "\(v.rows)x\(v.cols)")
        }
        guard k.rows >= q.rows else {
            throw KernelError.shapeMismatch(op: op, argument: "K", expected: "at least Tq=\(q.rows) rows", got: "\(k.rows) rows")
        }
        guard out.rows == q.rows, out.cols == q.cols else {
            throw KernelError.shapeMismatch(op: op, argument: "out", expected: "\(q.rows)x\(q.cols)", got: "\(out.rows)x\(out.cols)")
        }
        try pattern.validate(tokens: k.rows)
        return q.cols / heads
    }

    // MARK: - naive

    /// Scalar loops that visit only allowed keys: scores, max, expf, weighted sum of V.
    /// Threads split query rows.
    public struct Naive: AttentionKernel {
        public init() {}
        public var name: String { "naive" }
        public var summary: String { "scalar loops over allowed keys only, libm expf; threads split queries" }

        public func run(q: MatrixView, k: MatrixView, v: MatrixView, heads: Int, pattern: AttentionPattern,
                        _ out: MutableMatrixView, threads: Int) throws {
            let d = try validate(q: q, k: k, v: v, heads: heads, pattern: pattern, out, threads: threads)
            let tk = k.rows, offset = k.rows - q.rows
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
                            let kj = k.row(j) + h * d
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
                                let vj = v.row(j) + h * d
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
        public var summary: String { "sgemm QK^T per non-empty 64x64 block, masked softmax, sgemm PV; threads split heads x query blocks" }

        static let bq = 64, bk = 64

        public func run(q: MatrixView, k: MatrixView, v: MatrixView, heads: Int, pattern: AttentionPattern,
                        _ out: MutableMatrixView, threads: Int) throws {
            let d = try validate(q: q, k: k, v: v, heads: heads, pattern: pattern, out, threads: threads)
            openblas_set_num_threads(1)
            let tq = q.rows, tk = k.rows, offset = tk - tq
            let bq = Self.bq, bk = Self.bk
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
                            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(cols), Int32(d), scale,
                                        q.row(r0) + h * d, Int32(q.stride), k.row(kb * bk) + h * d, Int32(k.stride),
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
                            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(rows), Int32(d), Int32(cols), 1,
                                        s + c * bk, Int32(ld), v.row(kb * bk) + h * d, Int32(v.stride),
                                        1, o, Int32(out.stride))
                        }
                    }
                }
            }
        }
    }
}
