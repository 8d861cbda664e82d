import COpenBLAS
import Foundation
import Kernels

/// The fp64 reference pass: the same architecture and weights (the fp32 originals, never the
/// quantized copies, so an int4 plan's error includes its quantization), computed in double
/// precision throughout. Linear layers use `cblas_dgemm` (fp64: its rounding, ~1e-16
/// relative, is invisible next to fp32's 6e-8, and it keeps a gpt2-small reference to
/// seconds); layernorm, RMSNorm, GELU (libm `erf`/`tanh`), SiLU (libm `exp`), RoPE (fp64
/// angles, libm `cos`/`sin`), softmax and attention are plain loops.
///
/// Memory: the weights are held in fp64 when that takes at most `resident` bytes; a larger
/// model (a 1.1B-parameter one would need 8.8 GB) keeps its fp32 weights and widens one
/// linear at a time when it runs — slower, never twice the model in memory.
///
/// Decoders generate greedily: the reference's argmax tokens become the sequence every plan
/// is fed (teacher forcing), so all plans see the same input and their hidden states and
/// predictions are comparable position by position.
public final class ReferenceModel {
    public let config: ModelConfig
    let pattern: AttentionPattern
    let tokenEmbedding: [Double], positionEmbedding: [Double], tokenType: [Double]?
    let layers: [Layer]
    let embeddingNorm: (g: [Double], b: [Double])?
    let finalNorm: (g: [Double], b: [Double])?
    let head: Lin

    /// fp64 weights kept resident up to this many bytes.
    public static let resident = 4 << 30

    /// A linear: W [outF × inF] in fp64, or the fp32 matrices stacked by rows in it (shared
    /// with the model's weights, not copied) to widen at each use.
    struct Lin {
        let w: [Double]?, parts: [Matrix]
        let b: [Double]?
        let outF: Int, inF: Int
        init(_ parts: [Matrix], bias: [Double]?, keep: Bool) {
            self.parts = keep ? [] : parts
            w = keep ? Lin.widen(parts) : nil
            b = bias; outF = parts.map(\.rows).reduce(0, +); inF = parts[0].cols
        }
        init(w: [Double], outF: Int, inF: Int) { self.w = w; parts = []; b = nil; self.outF = outF; self.inF = inF }
        static func widen(_ parts: [Matrix]) -> [Double] {
            var out: [Double] = []
            out.reserveCapacity(parts.map { $0.rows * $0.cols }.reduce(0, +))
            for m in parts { m.withView { v in for r in 0..<v.rows { for k in 0..<v.cols { out.append(Double(v[r, k])) } } } }
            return out
        }
        func withWeights<R>(_ body: ([Double]) -> R) -> R { body(w ?? Lin.widen(parts)) }
    }
    /// One layer; `up` is Llama's up projection; nb are empty for RMSNorm.
    struct Layer { let qkv, proj, fc1, fc2: Lin; let up: Lin?; let n1g, n1b, n2g, n2b: [Double] }

    /// The result of a reference run.
    public struct Output: Sendable {
        /// The whole sequence: prompt, then the greedy tokens fed back (decoders).
        public var tokens: [Int]
        /// Final hidden states of every position, [tokens × C] row-major.
        public var hidden: [Double]
        /// Decoders: the argmax next token after the prompt and after each generated token
        /// (generate + 1 predictions); the first `generate` of them are `tokens`' tail.
        public var predictions: [Int]
        /// Decoders: the next-token distribution (softmax of the fp64 logits) behind each
        /// prediction, [predictions × vocab] row-major.
        public var distributions: [Double] = []
    }

    public init(weights: ModelWeights, pattern: AttentionPattern) {
        config = weights.config
        var p = pattern
        if config.isDecoder { p.causal = true }
        self.pattern = p
        let keep = config.parameterCount * 8 <= Double(Self.resident)
        func d(_ m: Matrix) -> [Double] { m.dense.map(Double.init) }
        func d(_ v: [Float]) -> [Double] { v.map(Double.init) }
        func lin(_ l: Linear) -> Lin { Lin([l.weight], bias: l.bias.map(d), keep: keep) }
        tokenEmbedding = d(weights.tokenEmbedding)
        positionEmbedding = d(weights.positionEmbedding)
        tokenType = weights.tokenTypeEmbedding.map(d)
        // Q, K and V stacked by rows: [C + 2·KV·D × C].
        func fused(_ l: LayerWeights) -> Lin {
            Lin([l.q.weight, l.k.weight, l.v.weight], bias: l.q.bias.map { d($0) + d(l.k.bias ?? []) + d(l.v.bias ?? []) }, keep: keep)
        }
        layers = weights.layers.map {
            Layer(
                qkv: fused($0), proj: lin($0.proj), fc1: lin($0.fc1), fc2: lin($0.fc2), up: $0.up.map(lin),
                n1g: d($0.norm1.gamma), n1b: d($0.norm1.beta), n2g: d($0.norm2.gamma), n2b: d($0.norm2.beta))
        }
        embeddingNorm = weights.embeddingNorm.map { (d($0.gamma), d($0.beta)) }
        finalNorm = weights.finalNorm.map { (d($0.gamma), d($0.beta)) }
        head = weights.output.map(lin) ?? Lin(w: tokenEmbedding, outF: config.vocab, inF: config.hidden)
    }

    /// Runs `prompt` (and, for decoders, `generate` greedy steps).
    public func run(prompt: [Int], types: [Int]? = nil, generate: Int = 0) -> Output {
        let c = config.hidden
        var cache = [[Double]](repeating: [], count: config.layers)  // per layer [tokens × (C + 2·KV·D)]
        var tokens = prompt
        var hidden: [Double] = []
        var predictions: [Int] = []
        var distributions: [Double] = []
        var h = forward(prompt, types: types, at: 0, cache: &cache)
        hidden += h
        if config.isDecoder {
            for step in 0...generate {
                let (next, probs) = nextToken(Array(h[(h.count - c)...]))
                predictions.append(next)
                distributions += probs
                if step == generate { break }
                tokens.append(next)
                h = forward([next], types: nil, at: tokens.count - 1, cache: &cache)
                hidden += h
            }
        }
        return Output(tokens: tokens, hidden: hidden, predictions: predictions, distributions: distributions)
    }

    /// fp64 logits of final hidden rows [rows × C] through the LM head, [rows × vocab].
    public func logits(_ h: [Double], rows: Int) -> [Double] { linear(h, rows: rows, head) }

    /// The next-token distribution of one final hidden row and its argmax (first on ties).
    func nextToken(_ h: [Double]) -> (Int, [Double]) {
        var p = logits(h, rows: 1)
        var best = 0
        for j in 1..<p.count where p[j] > p[best] { best = j }
        let m = p[best]
        var sum = 0.0
        for j in p.indices { p[j] = Foundation.exp(p[j] - m); sum += p[j] }
        for j in p.indices { p[j] /= sum }
        return (best, p)
    }

    func forward(_ toks: [Int], types: [Int]?, at p0: Int, cache: inout [[Double]]) -> [Double] {
        let c = config.hidden, t = toks.count, llama = config.architecture == .llama
        var x = [Double](repeating: 0, count: t * c)
        for (r, id) in toks.enumerated() {
            for j in 0..<c {
                var e = tokenEmbedding[id * c + j]
                if let tt = tokenType { e += tt[(types?[r] ?? 0) * c + j] }
                x[r * c + j] = llama ? e : e + positionEmbedding[(p0 + r) * c + j]
            }
        }
        if let n = embeddingNorm { x = layerNorm(x, rows: t, n.g, n.b) }
        for (i, l) in layers.enumerated() {
            cache[i] += [Double](repeating: 0, count: t * l.qkv.outF)
            switch config.architecture {
            case .llama:
                project(rmsNorm(x, rows: t, l.n1g), rows: t, l.qkv, into: &cache[i], at: p0)
                rotate(&cache[i], rows: t, at: p0)
                let a = linear(attend(cache[i], newRows: t, at: p0), rows: t, l.proj)
                for i in x.indices { x[i] += a[i] }
                let n = rmsNorm(x, rows: t, l.n2g)
                let gate = linear(n, rows: t, l.fc1), up = linear(n, rows: t, l.up!)
                let m = linear(zip(gate, up).map { g, u in g / (1 + Foundation.exp(-g)) * u }, rows: t, l.fc2)
                for i in x.indices { x[i] += m[i] }
            case .encoder:
                project(x, rows: t, l.qkv, into: &cache[i], at: p0)
                let a = attend(cache[i], newRows: t, at: p0)
                var o = linear(a, rows: t, l.proj)
                for i in o.indices { o[i] += x[i] }
                x = layerNorm(o, rows: t, l.n1g, l.n1b)
                var m = linear(gelu(linear(x, rows: t, l.fc1)), rows: t, l.fc2)
                for i in m.indices { m[i] += x[i] }
                x = layerNorm(m, rows: t, l.n2g, l.n2b)
            case .decoder:
                project(layerNorm(x, rows: t, l.n1g, l.n1b), rows: t, l.qkv, into: &cache[i], at: p0)
                let a = linear(attend(cache[i], newRows: t, at: p0), rows: t, l.proj)
                for i in x.indices { x[i] += a[i] }
                let m = linear(gelu(linear(layerNorm(x, rows: t, l.n2g, l.n2b), rows: t, l.fc1)), rows: t, l.fc2)
                for i in x.indices { x[i] += m[i] }
            }
        }
        if let n = finalNorm { x = llama ? rmsNorm(x, rows: t, n.g) : layerNorm(x, rows: t, n.g, n.b) }
        return x
    }

    func linear(_ x: [Double], rows: Int, _ l: Lin) -> [Double] {
        var y = [Double](repeating: 0, count: rows * l.outF)
        if let b = l.b { for r in 0..<rows { for j in 0..<l.outF { y[r * l.outF + j] = b[j] } } }
        l.withWeights { w in
            cblas_dgemm(
                CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(l.outF), Int32(l.inF), 1,
                x, Int32(l.inF), w, Int32(l.inF), l.b == nil ? 0 : 1, &y, Int32(l.outF))
        }
        return y
    }

    /// RoPE on the Q and K parts of the `rows` newest cache rows (positions p0 …), in fp64.
    func rotate(_ cache: inout [Double], rows t: Int, at p0: Int) {
        let c = config.hidden, d = config.headDim, r = config.rotaryDims, width = c + 2 * config.kvDim
        for row in p0..<(p0 + t) {
            for i in 0..<(r / 2) {
                let a = RoPE.angle(position: row, pair: i, rotaryDims: r, theta: config.ropeTheta)
                let (cs, sn) = (Foundation.cos(a), Foundation.sin(a))
                let (i0, i1) = config.ropePairing == .adjacent ? (2 * i, 2 * i + 1) : (i, i + r / 2)
                // Q's H heads, then K's KV heads: both start at a multiple of D.
                for h in 0..<(config.heads + config.kvHeads) {
                    let base = row * width + h * d
                    let (x0, x1) = (cache[base + i0], cache[base + i1])
                    cache[base + i0] = x0 * cs - x1 * sn
                    cache[base + i1] = x0 * sn + x1 * cs
                }
            }
        }
    }

    func rmsNorm(_ x: [Double], rows: Int, _ g: [Double]) -> [Double] {
        let c = config.hidden
        var y = x
        for r in 0..<rows {
            var ss = 0.0
            for j in 0..<c { ss += x[r * c + j] * x[r * c + j] }
            let inv = 1 / (ss / Double(c) + Double(config.eps)).squareRoot()
            for j in 0..<c { y[r * c + j] = x[r * c + j] * inv * g[j] }
        }
        return y
    }

    func project(_ x: [Double], rows: Int, _ l: Lin, into cache: inout [Double], at p0: Int) {
        let y = linear(x, rows: rows, l)
        cache.replaceSubrange((p0 * l.outF)..<((p0 + rows) * l.outF), with: y)
    }

    /// Attention of the `newRows` newest queries over all cached keys, per head (a cache row
    /// is Q [C], K [KV·D], V [KV·D]; query head h reads K/V head h / (H/KV)).
    func attend(_ cache: [Double], newRows t: Int, at p0: Int) -> [Double] {
        let c = config.hidden, hd = config.headDim, kvd = config.kvDim, s3 = c + 2 * kvd, tk = p0 + t
        let group = config.heads / config.kvHeads
        let scale = 1 / Double(hd).squareRoot()
        var out = [Double](repeating: 0, count: t * c)
        var s = [Double](repeating: 0, count: tk)
        for r in 0..<t {
            let i = p0 + r
            for h in 0..<config.heads {
                let kv = h / group * hd
                var m = -Double.infinity
                for j in 0..<tk where pattern.allows(i, j) {
                    var dot = 0.0
                    for u in 0..<hd { dot += cache[i * s3 + h * hd + u] * cache[j * s3 + c + kv + u] }
                    s[j] = dot * scale
                    m = max(m, s[j])
                }
                if m == -.infinity { continue }
                var sum = 0.0
                for j in 0..<tk where pattern.allows(i, j) { s[j] = Foundation.exp(s[j] - m); sum += s[j] }
                for j in 0..<tk where pattern.allows(i, j) {
                    let p = s[j] / sum
                    for u in 0..<hd { out[r * c + h * hd + u] += p * cache[j * s3 + c + kvd + kv + u] }
                }
            }
        }
        return out
    }

    func layerNorm(_ x: [Double], rows: Int, _ g: [Double], _ b: [Double]) -> [Double] {
        let c = config.hidden
        var y = x
        for r in 0..<rows {
            var mean = 0.0
            for j in 0..<c { mean += x[r * c + j] }
            mean /= Double(c)
            var v = 0.0
            for j in 0..<c { let d = x[r * c + j] - mean; v += d * d }
            v /= Double(c)
            let inv = 1 / (v + Double(config.eps)).squareRoot()
            for j in 0..<c { y[r * c + j] = (x[r * c + j] - mean) * inv * g[j] + b[j] }
        }
        return y
    }

    func gelu(_ x: [Double]) -> [Double] {
        switch config.gelu {
        case .erf: return x.map { 0.5 * $0 * (1 + Foundation.erf($0 / 2.0.squareRoot())) }
        case .tanh: return x.map { 0.5 * $0 * (1 + Foundation.tanh((2 / Double.pi).squareRoot() * ($0 + 0.044715 * $0 * $0 * $0))) }
        }
    }
}
