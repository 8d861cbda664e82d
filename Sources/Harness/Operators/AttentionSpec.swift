import Kernels

/// attention: `T=4096,H=12,D=64` (T tokens, H heads of dimension D; Q, K and V [T×H·D]),
/// `KV=K` for grouped-query attention (K and V [T×KV·D], KV dividing H; 1 is multi-query),
/// `Tq=N` for the newest N tokens querying all T (a decode step against a KV cache), plus
/// pattern terms: `causal`, `window=W`, `global=G`, `block=B,density=F` (a seeded random
/// block mask with about F of the B×B blocks set, plus its diagonal), `all` (dense).
public struct AttentionSpec: OperatorSpec {
    public typealias Family = Attention

    /// T, Tq, H, KV, D and the pattern; `block` and `density` as written, for the canonical text.
    public struct Dims: Sendable {
        public let t: Int, tq: Int, h: Int, kv: Int, d: Int
        public let pattern: AttentionPattern
        let block: Int?, density: Double?
    }

    /// Largest block mask built for a `block=` term, in blocks (T/B squared).
    static let maxMaskBlocks = 1 << 22
    /// Longest sequence a block mask is offered for: counting its pairs goes over every block
    /// of every row.
    static let maxBlockTokens = 1 << 14

    public init() {}

    public var grammar: String { "T=…,H=…,D=… plus KV=K, Tq=N, causal, window=W, global=G, block=B,density=F" }

    public var shapes: ShapeSets {
        ShapeSets(
            verify: [
                "T=129,H=2,D=64,causal,window=16,global=2", "T=70,H=3,D=17", "T=200,H=2,D=32,block=16,density=0.3",
                "T=130,H=6,KV=2,D=64,causal", "T=300,Tq=1,H=8,KV=2,D=64,causal", "T=77,Tq=3,H=4,KV=1,D=24,causal,window=9",
            ],
            quick: ["T=512,H=4,D=64,causal", "T=1024,H=4,D=64,causal,window=128,global=4", "T=4096,Tq=1,H=32,KV=8,D=64,causal"],
            full: [
                "T=1024,H=12,D=64,causal", "T=4096,H=12,D=64,causal", "T=4096,H=12,D=64,causal,window=256,global=4",
                "T=4096,H=12,D=64,block=64,density=0.125", "T=2048,H=32,KV=8,D=64,causal", "T=4096,Tq=1,H=32,KV=8,D=64,causal",
            ],
            representative: "T=512,H=4,D=64,causal",
            ablation: "T=4096,H=12,D=64,causal,window=256,global=4")
    }

    public func parse(_ text: String) throws -> Dims {
        var t: Int?, h: Int?, d: Int?, kvHeads: Int?, queries: Int?
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
            case "KV": kvHeads = try value()
            case "Tq": queries = try value()
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
                        + "(expected T=, H=, D=, KV=, Tq=, causal, window=, global=, block=, density=)")
            }
        }
        guard let t, let h, let d else { throw ShapeError("attention shape '\(text)' must give T=, H= and D=") }
        let kv = kvHeads ?? h, tq = queries ?? t
        guard h % kv == 0 else { throw ShapeError("attention shape '\(text)': KV=\(kv) must divide H=\(h)") }
        guard tq <= t else { throw ShapeError("attention shape '\(text)': Tq=\(tq) queries exceed T=\(t) tokens") }
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
        return Dims(t: t, tq: tq, h: h, kv: kv, d: d, pattern: pattern, block: blockSize, density: density)
    }

    public func canonical(_ d: Dims) -> String {
        var terms = ["T=\(d.t)"]
        if d.tq != d.t { terms.append("Tq=\(d.tq)") }
        terms.append("H=\(d.h)")
        if d.kv != d.h { terms.append("KV=\(d.kv)") }
        terms.append("D=\(d.d)")
        if d.pattern.causal { terms.append("causal") }
        if let w = d.pattern.window { terms.append("window=\(w)") }
        if d.pattern.global > 0 { terms.append("global=\(d.pattern.global)") }
        if let b = d.block, let f = d.density { terms += ["block=\(b)", "density=\(f)"] }
        return terms.joined(separator: ",")
    }

    /// 2·D for Q·Kᵀ and 2·D for P·V per allowed (query, key) pair and head; the softmax is
    /// not counted.
    public func flops(_ d: Dims) -> Double {
        4 * Double(d.d) * Double(d.h) * Self.countPairs(d.pattern, t: d.t, queries: (d.t - d.tq)..<d.t)
    }

    /// Q [Tq×H·D], K and V [T×KV·D] read once, the output [Tq×H·D] written once, fp32.
    public func bytes(_ d: Dims) -> Double { 8 * Double(d.d) * (Double(d.tq) * Double(d.h) + Double(d.t) * Double(d.kv)) }

    /// The output O.
    public func writtenBytes(_ d: Dims) -> Double { 4 * Double(d.tq) * Double(d.h) * Double(d.d) }

    /// The inputs and output, one 64-key score tile per token, a decode step's score rows,
    /// and the block mask.
    public func memoryBytes(_ d: Dims) -> Double {
        let blocks = d.block.map { Double((d.t + $0 - 1) / $0) } ?? 0
        return bytes(d) + Double(d.t) * 64 * 4 + Double(d.h) * Double(d.t) * 4 + blocks * blocks
    }

    public func tuningKey(_ d: Dims, threads: Int) -> TuningKey {
        Attention.tuningKey(tq: d.tq, tk: d.t, heads: d.h, kvHeads: d.kv, headDim: d.d, pattern: d.pattern, threads: threads)
    }

    public func workload(_ shape: CaseShape, _ dims: Dims, seed: UInt64) throws -> any Workload {
        AttentionWorkload(shape, dims, seed: seed)
    }

    /// Allowed (query, key) pairs of the query rows `queries` (all T by default), row by row in
    /// closed form: a row sees its window and the global keys (all keys when it is itself
    /// global), up to itself when causal, and with a block mask every key of a set block;
    /// O(T) without a mask, O(T · T/B) with one.
    static func countPairs(_ p: AttentionPattern, t: Int, queries: Range<Int>? = nil) -> Double {
        var total = 0.0
        for i in queries ?? 0..<t {
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

/// Attention of the newest Tq of T tokens over all T, Q/K/V ∈ [−1, 1).
final class AttentionWorkload: Workload {
    let shape: CaseShape
    let q: Matrix  // [Tq×H·D]
    let k: Matrix, v: Matrix  // [T×KV·D] each
    var out: Matrix  // [Tq×H·D]
    let t: Int, tq: Int, h: Int, d: Int
    let pattern: AttentionPattern
    let flops: Double

    init(_ shape: CaseShape, _ dims: AttentionSpec.Dims, seed: UInt64) {
        self.shape = shape; t = dims.t; tq = dims.tq; h = dims.h; d = dims.d; pattern = dims.pattern
        q = Workloads.random(tq, h * d, seed: seed); k = Workloads.random(t, dims.kv * d, seed: seed + 1)
        v = Workloads.random(t, dims.kv * d, seed: seed + 2); out = Matrix(rows: tq, cols: h * d)
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

    /// The sampled queries' fp64 outputs and bounds, computed once: the inputs never change,
    /// and `opbench tune` checks every candidate against them.
    lazy var reference: (rows: [Int], ref: [Double], tol: [Double]) = {
        let rows = Workloads.sampleRows(tq, limit: tq <= 256 ? tq : 8), first = t - tq
        var ref: [Double] = [], tol: [Double] = []
        q.withView { qv in
            k.withView { kv in
                v.withView { vv in
                    for r in rows {
                        let (o, absScale) = Reference.attention(
                            q: qv.rows(r, 1), k: kv, v: vv, heads: h, pattern: pattern, firstQuery: first + r)
                        ref += o
                        tol += Tolerance.attentionRow(
                            q: qv, k: kv, heads: h, pattern: pattern, row: first + r, queryRow: r, absScale: absScale[...])
                    }
                }
            }
        }
        return (rows, ref, tol)
    }()

    func verify() -> Verification {
        let (rows, ref, tol) = reference
        var got: [Float] = []
        for r in rows { for j in 0..<(h * d) { got.append(out[r, j]) } }
        return Workloads.verification(got: got, ref: ref, tol: tol, rows: rows.count, total: tq)
    }
}
