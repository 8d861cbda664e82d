import Kernels

/// attention: `T=4096,H=12,D=64` (T tokens, H heads of dimension D; Q, K and V [T×H·D])
/// plus pattern terms: `causal`, `window=W`, `global=G`, `block=B,density=F` (a seeded random
/// block mask with about F of the B×B blocks set, plus its diagonal), `all` (dense).
public struct AttentionSpec: OperatorSpec {
    public typealias Family = Attention

    /// T, H, D and the pattern; `block` and `density` as written, for the canonical text.
    public struct Dims: Sendable {
        public let t: Int, h: Int, d: Int
        public let pattern: AttentionPattern
        let block: Int?, density: Double?
    }

    /// Largest block mask built for a `block=` term, in blocks (T/B squared).
    static let maxMaskBlocks = 1 << 22
    /// Longest sequence a block mask is offered for: counting its pairs goes over every block
    /// of every row.
    static let maxBlockTokens = 1 << 14

    public init() {}

    public var grammar: String { "T=…,H=…,D=… plus causal, window=W, global=G, block=B,density=F" }

    public var shapes: ShapeSets {
        ShapeSets(
            verify: ["T=129,H=2,D=64,causal,window=16,global=2", "T=70,H=3,D=17", "T=200,H=2,D=32,block=16,density=0.3"],
            quick: ["T=512,H=4,D=64,causal", "T=1024,H=4,D=64,causal,window=128,global=4"],
            full: [
                "T=1024,H=12,D=64,causal", "T=4096,H=12,D=64,causal", "T=4096,H=12,D=64,causal,window=256,global=4",
                "T=4096,H=12,D=64,block=64,density=0.125",
            ],
            representative: "T=512,H=4,D=64,causal",
            ablation: "T=4096,H=12,D=64,causal,window=256,global=4")
    }

    public func parse(_ text: String) throws -> Dims {
        var t: Int?, h: Int?, d: Int?
        var blockSize: Int?, density: Double?
        var pattern = AttentionPattern.all
        for term in text.split(separator: ",", omittingEmptySubsequences: false).map(String.init) {
            let kv = term.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            func value() throws -> Int {
                guard kv.count == 2, let v = Int(kv[1]), v > 0 else {
                    throw ShapeError("attention shape '\(text)': '\(term)' needs a positive integer value")
                }
                guard v <= Shapes.maxDim else { throw ShapeError("attention shape '\(text)': \(v) exceeds \(Shapes.maxDim)") }
                return v
            }
            switch kv[0] {
            case "T": t = try value()
            case "H": h = try value()
            case "D": d = try value()
            case "causal" where kv.count == 1: pattern.causal = true
            case "all" where kv.count == 1: break
            case "window": pattern.window = try value()
            case "global": pattern.global = try value()
            case "block": blockSize = try value()
            case "density":
                guard kv.count == 2, let v = Double(kv[1]), v >= 0, v <= 1 else {
                    throw ShapeError("attention shape '\(text)': density must be a number in [0, 1]")
                }
                density = v
            default:
                throw ShapeError(
                    "attention shape '\(text)': unknown term '\(term)' "
                        + "(expected T=, H=, D=, causal, window=, global=, block=, density=)")
            }
        }
        guard let t, let h, let d else { throw ShapeError("attention shape '\(text)' must give T=, H= and D=") }
        if (blockSize == nil) != (density == nil) {
            throw ShapeError("attention shape '\(text)': block= and density= go together")
        }
        if let blockSize, let density {
            guard t <= Self.maxBlockTokens else {
                throw ShapeError("attention shape '\(text)': block masks are offered up to T=\(Self.maxBlockTokens)")
            }
            let blocks = (t + blockSize - 1) / blockSize
            guard blocks <= Self.maxMaskBlocks / blocks else {
                throw ShapeError("attention shape '\(text)': a \(blocks)x\(blocks) block mask is larger than \(Self.maxMaskBlocks) blocks")
            }
            pattern.block = .random(size: blockSize, tokens: t, density: density, seed: 1)
        }
        return Dims(t: t, h: h, d: d, pattern: pattern, block: blockSize, density: density)
    }

    public func canonical(_ d: Dims) -> String {
        var terms = ["T=\(d.t)", "H=\(d.h)", "D=\(d.d)"]
        if d.pattern.causal { terms.append("causal") }
        if let w = d.pattern.window { terms.append("window=\(w)") }
        if d.pattern.global > 0 { terms.append("global=\(d.pattern.global)") }
        if let b = d.block, let f = d.density { terms += ["block=\(b)", "density=\(f)"] }
        return terms.joined(separator: ",")
    }

    /// 2·D for Q·Kᵀ and 2·D for P·V per allowed (query, key) pair and head; the softmax is
    /// not counted.
    public func flops(_ d: Dims) -> Double { 4 * Double(d.d) * Double(d.h) * Self.countPairs(d.pattern, t: d.t) }

    /// Q, K and V read once, the output written once, fp32.
    public func bytes(_ d: Dims) -> Double { 16 * Double(d.t) * Double(d.h) * Double(d.d) }

    /// The output O.
    public func writtenBytes(_ d: Dims) -> Double { 4 * Double(d.t) * Double(d.h) * Double(d.d) }

    /// The inputs and output, one 64-key score tile per token, and the block mask.
    public func memoryBytes(_ d: Dims) -> Double {
        let blocks = d.block.map { Double((d.t + $0 - 1) / $0) } ?? 0
        return bytes(d) + Double(d.t) * 64 * 4 + blocks * blocks
    }

    public func workload(_ shape: CaseShape, _ dims: Dims, seed: UInt64) throws -> any Workload {
        AttentionWorkload(shape, dims, seed: seed)
    }

    /// Allowed (query, key) pairs, row by row in closed form: a row sees its window and the
    /// global keys (all keys when it is itself global), up to itself when causal, and with a
    /// block mask every key of a set block; O(T) without a mask, O(T · T/B) with one.
    static func countPairs(_ p: AttentionPattern, t: Int) -> Double {
        var total = 0.0
        for i in 0..<t {
            let last = p.causal ? i : t - 1  // the largest key the row may see
            if p.isDense || i < p.global {
                total += Double(last + 1)
                continue
            }
            guard let mask = p.block else {
                total += Double(unmaskedKeys(p, row: i, last: last, 0..<t))
                continue
            }
            let bi = i / mask.size
            var n = 0
            for bj in 0..<mask.count {
                let keys = (bj * mask.size)..<min(t, (bj + 1) * mask.size)
                n +=
                    mask.isSet(bi, bj)
                    ? max(0, min(keys.upperBound, last + 1) - keys.lowerBound)
                    : unmaskedKeys(p, row: i, last: last, keys)
            }
            total += Double(n)
        }
        return total
    }

    /// Keys in `keys` (up to `last`) that row `i` (not itself global) sees by its window or
    /// as global keys.
    static func unmaskedKeys(_ p: AttentionPattern, row i: Int, last: Int, _ keys: Range<Int>) -> Int {
        let hi = min(keys.upperBound, last + 1), lo = keys.lowerBound
        guard hi > lo else { return 0 }
        var window = lo..<lo
        if let w = p.window {
            let wLo = max(lo, i - w + 1)
            window = wLo..<max(wLo, min(hi, i + w))
        }
        let global = lo..<max(lo, min(hi, p.global))
        let overlap = max(0, min(window.upperBound, global.upperBound) - max(window.lowerBound, global.lowerBound))
        return window.count + global.count - overlap
    }
}

/// Self-attention over T tokens, Q/K/V ∈ [−1, 1).
final class AttentionWorkload: Workload {
    let shape: CaseShape
    let q: Matrix, k: Matrix, v: Matrix  // [T×H·D] each
    var out: Matrix  // [T×H·D]
    let t: Int, h: Int, d: Int
    let pattern: AttentionPattern
    let flops: Double

    init(_ shape: CaseShape, _ dims: AttentionSpec.Dims, seed: UInt64) {
        self.shape = shape; t = dims.t; h = dims.h; d = dims.d; pattern = dims.pattern
        q = Workloads.random(t, h * d, seed: seed); k = Workloads.random(t, h * d, seed: seed + 1)
        v = Workloads.random(t, h * d, seed: seed + 2); out = Matrix(rows: t, cols: h * d)
        flops = shape.flops
    }

    func runner(variant: String, threads: Int) throws -> () throws -> Void {
        let kernel = try Attention.variant(variant)
        let heads = h, pattern = pattern
        return { [self] in
            try self.q.withView { qv in
                try self.k.withView { kv in
                    try self.v.withView { vv in
                        try self.out.withMutableView { ov in
                            try kernel.run(q: qv, k: kv, v: vv, heads: heads, pattern: pattern, ov, threads: threads)
                        }
                    }
                }
            }
        }
    }

    func verify() -> Verification {
        let rows = Workloads.sampleRows(t, limit: t <= 256 ? t : 8)
        var got: [Float] = [], ref: [Double] = [], tol: [Double] = []
        q.withView { qv in
            k.withView { kv in
                v.withView { vv in
                    for r in rows {
                        let (o, absScale) = Reference.attention(q: qv.rows(r, 1), k: kv, v: vv, heads: h, pattern: pattern, firstQuery: r)
                        ref += o
                        tol += Tolerance.attentionRow(
                            q: qv, k: kv, heads: h, pattern: pattern, row: r, queryRow: r, absScale: absScale[...])
                        for j in 0..<(h * d) { got.append(out[r, j]) }
                    }
                }
            }
        }
        return Workloads.verification(got: got, ref: ref, tol: tol, rows: rows.count, total: t)
    }
}
