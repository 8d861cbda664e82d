import COpenBLAS
import Foundation
import Kernels

/// The fp64 reference pass: the same architecture and weights (the fp32 originals, never the
/// quantized copies, so an int4 plan's error includes its quantization), computed in double
/// precision throughout. Linear layers use `cblas_dgemm` (fp64: its rounding, ~1e-16
/// relative, is invisible next to fp32's 6e-8, and it keeps a gpt2-small reference to
/// seconds); layernorm, GELU (libm `erf`/`tanh`), softmax and attention are plain loops.
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

    struct Lin { let w: [Double]; let b: [Double]?; let outF: Int; let inF: Int }
    struct Layer { let qkv, proj, fc1, fc2: Lin; let n1g, n1b, n2g, n2b: [Double] }

    /// The result of a reference run.
    public struct Output: Sendable {
        /// The whole sequence: prompt, then the greedy tokens fed back (decoders).
        public var tokens: [Int]
        /// Final hidden states of every position, [tokens × C] row-major.
        public var hidden: [Double]
        /// Decoders: the argmax next token after the prompt and after each generated token
        /// (generate + 1 predictions); the first `generate` of them are `tokens`' tail.
        public var predictions: [Int]
    }

    public init(weights: ModelWeights, pattern: AttentionPattern) {
        config = weights.config
        var p = pattern
        if config.architecture == .decoder { p.causal = true }
        self.pattern = p
        func d(_ m: Matrix) -> [Double] { m.dense.map(Double.init) }
        func d(_ v: [Float]) -> [Double] { v.map(Double.init) }
        func lin(_ l: Linear) -> Lin { Lin(w: d(l.weight), b: l.bias.map(d), outF: l.outFeatures, inF: l.inFeatures) }
        tokenEmbedding = d(weights.tokenEmbedding)
        positionEmbedding = d(weights.positionEmbedding)
        tokenType = weights.tokenTypeEmbedding.map(d)
        func fused(_ l: LayerWeights) -> Lin {
            Lin(
                w: d(l.q.weight) + d(l.k.weight) + d(l.v.weight), b: l.q.bias.map { d($0) + d(l.k.bias ?? []) + d(l.v.bias ?? []) },
                outF: 3 * l.q.outFeatures, inF: l.q.inFeatures)
        }
        layers = weights.layers.map {
            Layer(
                qkv: fused($0), proj: lin($0.proj), fc1: lin($0.fc1), fc2: lin($0.fc2),
                n1g: d($0.norm1.gamma), n1b: d($0.norm1.beta), n2g: d($0.norm2.gamma), n2b: d($0.norm2.beta))
        }
        embeddingNorm = weights.embeddingNorm.map { (d($0.gamma), d($0.beta)) }
        finalNorm = weights.finalNorm.map { (d($0.gamma), d($0.beta)) }
    }

    /// Runs `prompt` (and, for decoders, `generate` greedy steps).
    public func run(prompt: [Int], types: [Int]? = nil, generate: Int = 0) -> Output {
        let c = config.hidden
        var cache = [[Double]](repeating: [], count: config.layers)  // per layer [tokens × 3C]
        var tokens = prompt
        var hidden: [Double] = []
        var predictions: [Int] = []
        var h = forward(prompt, types: types, at: 0, cache: &cache)
        hidden += h
        if config.architecture == .decoder {
            for step in 0...generate {
                let next = argmaxLogits(Array(h[(h.count - c)...]))
                predictions.append(next)
                if step == generate { break }
                tokens.append(next)
                h = forward([next], types: nil, at: tokens.count - 1, cache: &cache)
                hidden += h
            }
        }
        return Output(tokens: tokens, hidden: hidden, predictions: predictions)
    }

    /// fp64 logits of one final hidden row through the tied LM head; the argmax (first on ties).
    func argmaxLogits(_ h: [Double]) -> Int {
        var logits = [Double](repeating: 0, count: config.vocab)
        cblas_dgemv(
            CblasRowMajor, CblasNoTrans, Int32(config.vocab), Int32(config.hidden), 1, tokenEmbedding, Int32(config.hidden),
            h, 1, 0, &logits, 1)
        var best = 0
        for j in 1..<logits.count where logits[j] > logits[best] { best = j }
        return best
    }

    func forward(_ toks: [Int], types: [Int]?, at p0: Int, cache: inout [[Double]]) -> [Double] {
        let c = config.hidden, t = toks.count
        var x = [Double](repeating: 0, count: t * c)
        for (r, id) in toks.enumerated() {
            for j in 0..<c {
                var e = tokenEmbedding[id * c + j]
                if let tt = tokenType { e += tt[(types?[r] ?? 0) * c + j] }
                x[r * c + j] = e + positionEmbedding[(p0 + r) * c + j]
            }
        }
        if let n = embeddingNorm { x = layerNorm(x, rows: t, n.g, n.b) }
        for (i, l) in layers.enumerated() {
            cache[i] += [Double](repeating: 0, count: t * 3 * c)
            switch config.architecture {
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
        if let n = finalNorm { x = layerNorm(x, rows: t, n.g, n.b) }
        return x
    }

    func linear(_ x: [Double], rows: Int, _ l: Lin) -> [Double] {
        var y = [Double](repeating: 0, count: rows * l.outF)
        if let b = l.b { for r in 0..<rows { for j in 0..<l.outF { y[r * l.outF + j] = b[j] } } }
        cblas_dgemm(
            CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(l.outF), Int32(l.inF), 1,
            x, Int32(l.inF), l.w, Int32(l.inF), l.b == nil ? 0 : 1, &y, Int32(l.outF))
        return y
    }

    func project(_ x: [Double], rows: Int, _ l: Lin, into cache: inout [Double], at p0: Int) {
        let y = linear(x, rows: rows, l)
        cache.replaceSubrange((p0 * l.outF)..<((p0 + rows) * l.outF), with: y)
    }

    /// Attention of the `newRows` newest queries over all cached keys, per head.
    func attend(_ cache: [Double], newRows t: Int, at p0: Int) -> [Double] {
        let c = config.hidden, hd = config.headDim, s3 = 3 * c, tk = p0 + t
        let scale = 1 / Double(hd).squareRoot()
        var out = [Double](repeating: 0, count: t * c)
        var s = [Double](repeating: 0, count: tk)
        for r in 0..<t {
            let i = p0 + r
            for h in 0..<config.heads {
                var m = -Double.infinity
                for j in 0..<tk where pattern.allows(i, j) {
                    var dot = 0.0
                    for u in 0..<hd { dot += cache[i * s3 + h * hd + u] * cache[j * s3 + c + h * hd + u] }
                    s[j] = dot * scale
                    m = max(m, s[j])
                }
                if m == -.infinity { continue }
                var sum = 0.0
                for j in 0..<tk where pattern.allows(i, j) { s[j] = Foundation.exp(s[j] - m); sum += s[j] }
                for j in 0..<tk where pattern.allows(i, j) {
                    let p = s[j] / sum
                    for u in 0..<hd { out[r * c + h * hd + u] += p * cache[j * s3 + 2 * c + h * hd + u] }
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
