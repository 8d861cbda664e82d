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
        let op = Attention.op.rawValue
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
                throw KernelError.shapeMismatch(
                    op: op, argument: "block mask", expected: "\(n)x\(n) blocks (T=\(tokens), block=\(b.size))",
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
