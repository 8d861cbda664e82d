import Foundation
import Kernels

/// A linear layer y = x·Wᵀ + b with W stored `[out, in]` (PyTorch's layout), and optionally
/// the same weights as GGUF int4 blocks.
public struct Linear: Sendable {
    public var weight: Matrix
    public var bias: [Float]?
    /// Set by `ModelWeights.quantized(_:)`; the forward pass then uses the int4 kernel.
    public var quantized: QuantizedMatrix?
    /// Set at load by a `ModelRunner` whose matmul variant reads packed weights
    /// (`MatmulKernel.usesPackedWeights`): `weight` packed once into the GEMM's panels.
    public var packed: PackedWeights?

    public init(weight: Matrix, bias: [Float]?) { self.weight = weight; self.bias = bias }

    public var outFeatures: Int { weight.rows }
    public var inFeatures: Int { weight.cols }
}

/// LayerNorm's γ and β, or RMSNorm's γ (β empty).
public struct Norm: Sendable {
    public var gamma: [Float]
    public var beta: [Float]

    public init(gamma: [Float], beta: [Float]) { self.gamma = gamma; self.beta = beta }
    /// An RMSNorm's scale.
    public init(rms gamma: [Float]) { self.init(gamma: gamma, beta: []) }
}

/// One transformer layer. Q, K and V are three linears ([C × C], [KV·D × C], [KV·D × C]), so
/// K and V write straight into their own contiguous cache rows.
public struct LayerWeights: Sendable {
    public var q: Linear
    public var k: Linear
    public var v: Linear
    public var proj: Linear
    /// The MLP's first linear [F × C]: GPT-2's and BERT's up projection, Llama's gate.
    public var fc1: Linear
    /// The MLP's last linear [C × F] (Llama's down projection).
    public var fc2: Linear
    /// Encoder: the LN after attention; decoder: the LN before it.
    public var norm1: Norm
    /// Encoder: the LN after the MLP; decoder: the LN before it.
    public var norm2: Norm
    /// Llama's up projection [F × C], multiplied by SiLU(gate); nil for GPT-2 and BERT.
    public var up: Linear? = nil

    /// The linears in a fixed order (q, k, v, proj, fc1, fc2, then up when present), with their names.
    public var linears: [(String, WritableKeyPath<LayerWeights, Linear>)] {
        [("q", \.q), ("k", \.k), ("v", \.v), ("proj", \.proj), ("fc1", \.fc1), ("fc2", \.fc2)] + (up == nil ? [] : [("up", \.up!)])
    }
}

/// All weights of a model, in fp32 as loaded or generated.
public struct ModelWeights: Sendable {
    public var config: ModelConfig
    /// [vocab × C]; a decoder's LM head too when tied.
    public var tokenEmbedding: Matrix
    /// Set with int4 plans on decoders: the tied LM head as int4 blocks (the embedding lookup
    /// then dequantizes the row, so both uses see the same quantized tensor).
    public var tokenEmbeddingQuantized: QuantizedMatrix?
    /// [maxPositions × C]; no rows for `llama` (RoPE instead).
    public var positionEmbedding: Matrix
    /// [typeVocab × C], encoders.
    public var tokenTypeEmbedding: Matrix?
    /// Encoders: the LN after the embedding sum.
    public var embeddingNorm: Norm?
    public var layers: [LayerWeights]
    /// Decoders: the LN before the LM head.
    public var finalNorm: Norm?
    /// Where the weights came from, for reports: `synthetic seed N` or the file path.
    public var source: String
    /// A `llama` model's own LM head [vocab × C] (`output.weight`); nil when tied.
    public var output: Linear? = nil

    /// The LM head: `output`, or the token embedding (and its quantized copy) when tied.
    public var head: Linear { output ?? Linear(weight: tokenEmbedding, bias: nil, quantized: tokenEmbeddingQuantized) }

    /// Bytes of weights one decode step reads (every linear weight and the LM head, in the
    /// form the plan stores them; biases and norms included; embedding rows excluded).
    public var bytesPerDecodeStep: Int {
        func bytes(_ lin: Linear) -> Int {
            (lin.quantized?.byteCount ?? lin.weight.rows * lin.weight.cols * 4) + (lin.bias?.count ?? 0) * 4
        }
        var total = 0
        for l in layers {
            for (_, path) in l.linears { total += bytes(l[keyPath: path]) }
            total += (l.norm1.gamma.count + l.norm1.beta.count + l.norm2.gamma.count + l.norm2.beta.count) * 4
        }
        if config.isDecoder {
            total += bytes(head)
            total += ((finalNorm?.gamma.count ?? 0) + (finalNorm?.beta.count ?? 0)) * 4
        }
        return total
    }

    /// FLOPs of the linear layers (and the LM head of the last token, for decoders) of a
    /// prefill of `tokens` tokens: 2·tokens·(parameters of the linears).
    public func linearFlops(tokens: Int) -> Double {
        var perToken = 0.0
        for l in layers {
            for (_, path) in l.linears { perToken += 2 * Double(l[keyPath: path].weight.rows * l[keyPath: path].inFeatures) }
        }
        let head = config.isDecoder ? 2 * Double(config.vocab * config.hidden) : 0
        return perToken * Double(tokens) + head
    }

    // MARK: - memory

    /// Bytes a model pass of `config` holds at its peak: the fp32 weights, the fp64 reference
    /// when the pass is `scored` (its linears up to `ReferenceModel.resident`, its token
    /// embedding always) and one quantized copy per quantized plan (at most 2.2 bytes a weight:
    /// Q8_0 is 34 bytes per 32 weights, held twice, as GGUF blocks and as the 16-row planes of
    /// the GEMV and int4.act8), and a packed copy of the fp32 linears (4 bytes a weight) per
    /// plan whose matmul variant packs them (`packedPlans`).
    public static func memoryNeeded(_ config: ModelConfig, quantizedPlans: Int, packedPlans: Int = 0, scored: Bool = true) -> Double {
        let params = config.parameterCount, embedding = Double(config.vocab) * Double(config.hidden)
        let reference = scored ? min(8 * params, Double(ReferenceModel.resident)) + 8 * embedding : 0
        return 4 * params + reference + 2.2 * params * Double(quantizedPlans) + 4 * config.linearParameterCount * Double(packedPlans)
    }

    /// A typed error when `memoryNeeded` exceeds 80 % of this machine's memory, before any allocation.
    public static func checkMemory(_ config: ModelConfig, quantizedPlans: Int, packedPlans: Int = 0, scored: Bool = true) throws {
        let need = memoryNeeded(config, quantizedPlans: quantizedPlans, packedPlans: packedPlans, scored: scored),
            physical = Double(ProcessInfo.processInfo.physicalMemory)
        guard need <= 0.8 * physical else {
            throw ModelError.invalidOption(
                option: "model", value: config.name,
                reason: String(
                    format: "%.2fB parameters with %d quantized plan(s) need %.1f GiB, more than 80%% of this machine's %.1f GiB",
                    config.parameterCount / 1e9, quantizedPlans, need / 1_073_741_824, physical / 1_073_741_824))
        }
    }

    // MARK: - synthetic

    /// Seeded, deterministic weights with GPT-2's initialization scale: linears and
    /// embeddings uniform with standard deviation 0.02 (the output projections 0.02/√(2L)),
    /// biases 0.02, LN γ = 1 ± 0.1 and β of standard deviation 0.02 — non-trivial values in
    /// every tensor so every path is exercised.
    ///
    /// `llama`: the same scales, no biases but Qwen2's on Q, K and V, RMSNorm γ = 1 ± 0.1, an
    /// output head of its own unless tied.
    public static func synthetic(_ config: ModelConfig, seed: UInt64) -> ModelWeights {
        if config.architecture == .llama { return syntheticLlama(config, seed: seed) }
        var draws = UniformDraws(seed: seed)
        func uniform(_ count: Int, std: Float) -> [Float] { draws.next(count, std: std) }
        func matrix(_ r: Int, _ c: Int, std: Float) -> Matrix { Matrix(rows: r, cols: c, values: uniform(r * c, std: std)) }
        func norm() -> Norm {
            Norm(gamma: uniform(config.hidden, std: 0.1 / Float(3).squareRoot()).map { 1 + $0 }, beta: uniform(config.hidden, std: 0.02))
        }
        let c = config.hidden, f = config.ff
        let residualStd = 0.02 / Float(2 * config.layers).squareRoot()
        let tok = matrix(config.vocab, c, std: 0.02)
        let pos = matrix(config.maxPositions, c, std: 0.02)
        let types = config.typeVocab > 0 ? matrix(config.typeVocab, c, std: 0.02) : nil
        let embNorm = config.architecture == .encoder ? norm() : nil
        var layers: [LayerWeights] = []
        for _ in 0..<config.layers {
            let q = Linear(weight: matrix(c, c, std: 0.02), bias: uniform(c, std: 0.02))
            let k = Linear(weight: matrix(c, c, std: 0.02), bias: uniform(c, std: 0.02))
            let v = Linear(weight: matrix(c, c, std: 0.02), bias: uniform(c, std: 0.02))
            let proj = Linear(weight: matrix(c, c, std: residualStd), bias: uniform(c, std: 0.02))
            let fc1 = Linear(weight: matrix(f, c, std: 0.02), bias: uniform(f, std: 0.02))
            let fc2 = Linear(weight: matrix(c, f, std: residualStd), bias: uniform(c, std: 0.02))
            layers.append(LayerWeights(q: q, k: k, v: v, proj: proj, fc1: fc1, fc2: fc2, norm1: norm(), norm2: norm()))
        }
        let final = config.architecture == .decoder ? norm() : nil
        return ModelWeights(
            config: config, tokenEmbedding: tok, positionEmbedding: pos, tokenTypeEmbedding: types,
            embeddingNorm: embNorm, layers: layers, finalNorm: final, source: "synthetic seed \(seed)")
    }

    static func syntheticLlama(_ config: ModelConfig, seed: UInt64) -> ModelWeights {
        var draws = UniformDraws(seed: seed)
        func uniform(_ count: Int, std: Float) -> [Float] { draws.next(count, std: std) }
        func linear(_ r: Int, _ c: Int, std: Float = 0.02, bias: Bool = false) -> Linear {
            Linear(weight: Matrix(rows: r, cols: c, values: uniform(r * c, std: std)), bias: bias ? uniform(r, std: 0.02) : nil)
        }
        func norm() -> Norm { Norm(rms: uniform(config.hidden, std: 0.1 / Float(3).squareRoot()).map { 1 + $0 }) }
        let c = config.hidden, f = config.ff, kv = config.kvDim, b = config.qkvBias
        let residualStd = 0.02 / Float(2 * config.layers).squareRoot()
        let tok = Matrix(rows: config.vocab, cols: c, values: uniform(config.vocab * c, std: 0.02))
        var layers: [LayerWeights] = []
        for _ in 0..<config.layers {
            layers.append(
                LayerWeights(
                    q: linear(c, c, bias: b), k: linear(kv, c, bias: b), v: linear(kv, c, bias: b), proj: linear(c, c, std: residualStd),
                    fc1: linear(f, c), fc2: linear(c, f, std: residualStd), norm1: norm(), norm2: norm(), up: linear(f, c)))
        }
        var w = ModelWeights(
            config: config, tokenEmbedding: tok, positionEmbedding: Matrix(rows: 0, cols: c), tokenTypeEmbedding: nil,
            embeddingNorm: nil, layers: layers, finalNorm: norm(), source: "synthetic seed \(seed)")
        if !config.tiedEmbeddings { w.output = linear(config.vocab, c) }
        return w
    }

    // MARK: - quantization

    /// The same model with every linear weight (and a decoder's tied LM head) quantized to
    /// `format`; K (the input width) of each must be a multiple of its block size.
    public func quantized(_ format: QuantFormat) throws -> ModelWeights {
        try quantized { _, _, _ in format }
    }

    /// The same model with its weights in the plan's `scheme` (`Plan.Weights.format(tensor:layer:config:k:)`);
    /// f32 leaves them as they are.
    public func quantized(_ scheme: Plan.Weights) throws -> ModelWeights {
        try quantized { tensor, layer, k in scheme.format(tensor: tensor, layer: layer, config: config, k: k) }
    }

    /// Quantizes each linear weight to `choose(tensor, layer, K)` (nil: keeps fp32); `head`
    /// is a decoder's tied LM head.
    func quantized(_ choose: (String, Int?, Int) -> QuantFormat?) throws -> ModelWeights {
        var out = self
        func q(_ w: Matrix, _ format: QuantFormat, _ name: String) throws -> QuantizedMatrix {
            guard w.cols % format.blockSize == 0 else {
                throw ModelError.invalidOption(
                    option: "--plan", value: "weights=\(format.rawValue)",
                    reason: "\(name) has \(w.cols) input features, not a multiple of \(format.blockSize) (the \(format.rawValue) block)")
            }
            return try w.withView { try Int4.quantize($0, format: format) }
        }
        for i in out.layers.indices {
            for (name, path) in out.layers[i].linears {
                let lin = out.layers[i][keyPath: path]
                if let format = choose(name, i, lin.inFeatures) {
                    out.layers[i][keyPath: path].quantized = try q(lin.weight, format, "layer \(i) \(name)")
                }
            }
        }
        if config.isDecoder, let format = choose("head", nil, config.hidden) {
            if let head = output {
                out.output?.quantized = try q(head.weight, format, "the LM head")
            } else {
                out.tokenEmbeddingQuantized = try q(tokenEmbedding, format, "the LM head")
            }
        }
        return out
    }

    /// The fp32 model an int4 model computes: every quantized weight replaced by its exact
    /// dequantization (and the int4 copies dropped). Its fp64 pass is the oracle that
    /// separates kernel error from quantization error.
    public func dequantized() -> ModelWeights {
        var out = self
        for i in out.layers.indices {
            for (_, path) in out.layers[i].linears {
                if let q = out.layers[i][keyPath: path].quantized {
                    out.layers[i][keyPath: path].weight = Int4.dequantize(q)
                    out.layers[i][keyPath: path].quantized = nil
                }
            }
        }
        if let q = tokenEmbeddingQuantized {
            out.tokenEmbedding = Int4.dequantize(q)
            out.tokenEmbeddingQuantized = nil
        }
        if let q = output?.quantized {
            out.output?.weight = Int4.dequantize(q)
            out.output?.quantized = nil
        }
        return out
    }

    // MARK: - safetensors

    /// Loads a checkpoint whose tensor names and layout follow Hugging Face's `BertModel`
    /// (encoders: sentence-transformers MiniLM), `GPT2Model` (decoders) or
    /// `LlamaForCausalLM`/`Qwen2ForCausalLM` (`llama`: Hugging Face's rotary layout is the
    /// neox pairing, so the loaded config says so; `lm_head.weight` absent means tied). Every
    /// tensor the preset needs is checked for presence, float dtype and exact shape; other
    /// tensors (the BERT pooler, position_ids buffers) are ignored.
    public static func load(_ config: ModelConfig, from file: SafeTensors) throws -> ModelWeights {
        var config = config
        let c = config.hidden, f = config.ff, kv = config.kvDim
        func mat(_ name: String, _ r: Int, _ cols: Int) throws -> Matrix {
            Matrix(rows: r, cols: cols, values: try file.floats(name, shape: [r, cols]))
        }
        func vec(_ name: String, _ n: Int) throws -> [Float] { try file.floats(name, shape: [n]) }
        /// GPT-2's Conv1D stores [in, out]; transpose to [out, in].
        func conv1d(_ name: String, _ inF: Int, _ outF: Int) throws -> Matrix { try mat(name, inF, outF).transposed }
        switch config.architecture {
        case .encoder:
            let e = "embeddings."
            let norm = Norm(gamma: try vec(e + "LayerNorm.weight", c), beta: try vec(e + "LayerNorm.bias", c))
            var layers: [LayerWeights] = []
            for i in 0..<config.layers {
                let p = "encoder.layer.\(i)."
                func attn(_ name: String) throws -> Linear {
                    Linear(weight: try mat(p + "attention.self.\(name).weight", c, c), bias: try vec(p + "attention.self.\(name).bias", c))
                }
                layers.append(
                    LayerWeights(
                        q: try attn("query"), k: try attn("key"), v: try attn("value"),
                        proj: Linear(
                            weight: try mat(p + "attention.output.dense.weight", c, c),
                            bias: try vec(p + "attention.output.dense.bias", c)),
                        fc1: Linear(
                            weight: try mat(p + "intermediate.dense.weight", f, c), bias: try vec(p + "intermediate.dense.bias", f)),
                        fc2: Linear(weight: try mat(p + "output.dense.weight", c, f), bias: try vec(p + "output.dense.bias", c)),
                        norm1: Norm(
                            gamma: try vec(p + "attention.output.LayerNorm.weight", c),
                            beta: try vec(p + "attention.output.LayerNorm.bias", c)),
                        norm2: Norm(gamma: try vec(p + "output.LayerNorm.weight", c), beta: try vec(p + "output.LayerNorm.bias", c))))
            }
            return ModelWeights(
                config: config, tokenEmbedding: try mat(e + "word_embeddings.weight", config.vocab, c),
                positionEmbedding: try mat(e + "position_embeddings.weight", config.maxPositions, c),
                tokenTypeEmbedding: try mat(e + "token_type_embeddings.weight", config.typeVocab, c),
                embeddingNorm: norm, layers: layers, finalNorm: nil, source: file.path)
        case .llama:
            config.ropePairing = .neox
            config.tiedEmbeddings = file.entries["lm_head.weight"] == nil
            func lin(_ name: String, _ r: Int, _ cols: Int, bias: Bool = false) throws -> Linear {
                Linear(weight: try mat(name + ".weight", r, cols), bias: bias ? try vec(name + ".bias", r) : nil)
            }
            var layers: [LayerWeights] = []
            for i in 0..<config.layers {
                let p = "model.layers.\(i).", a = p + "self_attn.", b = config.qkvBias
                layers.append(
                    LayerWeights(
                        q: try lin(a + "q_proj", c, c, bias: b), k: try lin(a + "k_proj", kv, c, bias: b),
                        v: try lin(a + "v_proj", kv, c, bias: b), proj: try lin(a + "o_proj", c, c),
                        fc1: try lin(p + "mlp.gate_proj", f, c), fc2: try lin(p + "mlp.down_proj", c, f),
                        norm1: Norm(rms: try vec(p + "input_layernorm.weight", c)),
                        norm2: Norm(rms: try vec(p + "post_attention_layernorm.weight", c)), up: try lin(p + "mlp.up_proj", f, c)))
            }
            var w = ModelWeights(
                config: config, tokenEmbedding: try mat("model.embed_tokens.weight", config.vocab, c),
                positionEmbedding: Matrix(rows: 0, cols: c), tokenTypeEmbedding: nil, embeddingNorm: nil, layers: layers,
                finalNorm: Norm(rms: try vec("model.norm.weight", c)), source: file.path)
            if !config.tiedEmbeddings { w.output = try lin("lm_head", config.vocab, c) }
            return w
        case .decoder:
            var layers: [LayerWeights] = []
            for i in 0..<config.layers {
                let p = "h.\(i)."
                // c_attn holds Q, K and V side by side: [C, 3C] (Conv1D), bias [3C].
                let qkv = try conv1d(p + "attn.c_attn.weight", c, 3 * c), qkvBias = try vec(p + "attn.c_attn.bias", 3 * c)
                func part(_ n: Int) -> Linear {
                    Linear(
                        weight: Matrix(rows: c, cols: c) { r, col in qkv[n * c + r, col] }, bias: Array(qkvBias[(n * c)..<((n + 1) * c)]))
                }
                layers.append(
                    LayerWeights(
                        q: part(0), k: part(1), v: part(2),
                        proj: Linear(weight: try conv1d(p + "attn.c_proj.weight", c, c), bias: try vec(p + "attn.c_proj.bias", c)),
                        fc1: Linear(weight: try conv1d(p + "mlp.c_fc.weight", c, f), bias: try vec(p + "mlp.c_fc.bias", f)),
                        fc2: Linear(weight: try conv1d(p + "mlp.c_proj.weight", f, c), bias: try vec(p + "mlp.c_proj.bias", c)),
                        norm1: Norm(gamma: try vec(p + "ln_1.weight", c), beta: try vec(p + "ln_1.bias", c)),
                        norm2: Norm(gamma: try vec(p + "ln_2.weight", c), beta: try vec(p + "ln_2.bias", c))))
            }
            return ModelWeights(
                config: config, tokenEmbedding: try mat("wte.weight", config.vocab, c),
                positionEmbedding: try mat("wpe.weight", config.maxPositions, c), tokenTypeEmbedding: nil,
                embeddingNorm: nil, layers: layers,
                finalNorm: Norm(gamma: try vec("ln_f.weight", c), beta: try vec("ln_f.bias", c)), source: file.path)
        }
    }

    /// The tensors `load` reads, in Hugging Face naming and layout (the inverse of `load`):
    /// used by tests to write checkpoints and by anyone exporting synthetic weights. (`llama`
    /// weights in the adjacent pairing are written in Hugging Face's neox layout.)
    public func namedTensors() -> [(name: String, shape: [Int], values: [Float])] {
        let c = config.hidden
        var out: [(name: String, shape: [Int], values: [Float])] = []
        func add(_ name: String, _ m: Matrix) { out.append((name, [m.rows, m.cols], m.dense)) }
        func add(_ name: String, _ v: [Float]) { out.append((name, [v.count], v)) }
        switch config.architecture {
        case .llama:
            let w = (try? paired(.neox)) ?? self
            add("model.embed_tokens.weight", w.tokenEmbedding)
            for (i, l) in w.layers.enumerated() {
                let p = "model.layers.\(i).", a = p + "self_attn."
                for (name, lin) in [("q_proj", l.q), ("k_proj", l.k), ("v_proj", l.v), ("o_proj", l.proj)] {
                    add(a + name + ".weight", lin.weight)
                    if let b = lin.bias { add(a + name + ".bias", b) }
                }
                add(p + "mlp.gate_proj.weight", l.fc1.weight); add(p + "mlp.down_proj.weight", l.fc2.weight)
                if let up = l.up { add(p + "mlp.up_proj.weight", up.weight) }
                add(p + "input_layernorm.weight", l.norm1.gamma); add(p + "post_attention_layernorm.weight", l.norm2.gamma)
            }
            if let n = w.finalNorm { add("model.norm.weight", n.gamma) }
            if let o = w.output { add("lm_head.weight", o.weight) }
        case .encoder:
            let e = "embeddings."
            add(e + "word_embeddings.weight", tokenEmbedding)
            add(e + "position_embeddings.weight", positionEmbedding)
            if let t = tokenTypeEmbedding { add(e + "token_type_embeddings.weight", t) }
            if let n = embeddingNorm { add(e + "LayerNorm.weight", n.gamma); add(e + "LayerNorm.bias", n.beta) }
            for (i, l) in layers.enumerated() {
                let p = "encoder.layer.\(i)."
                for (name, lin) in [("query", l.q), ("key", l.k), ("value", l.v)] {
                    add(p + "attention.self.\(name).weight", lin.weight)
                    add(p + "attention.self.\(name).bias", lin.bias ?? [])
                }
                add(p + "attention.output.dense.weight", l.proj.weight); add(p + "attention.output.dense.bias", l.proj.bias ?? [])
                add(p + "intermediate.dense.weight", l.fc1.weight); add(p + "intermediate.dense.bias", l.fc1.bias ?? [])
                add(p + "output.dense.weight", l.fc2.weight); add(p + "output.dense.bias", l.fc2.bias ?? [])
                add(p + "attention.output.LayerNorm.weight", l.norm1.gamma); add(p + "attention.output.LayerNorm.bias", l.norm1.beta)
                add(p + "output.LayerNorm.weight", l.norm2.gamma); add(p + "output.LayerNorm.bias", l.norm2.beta)
            }
        case .decoder:
            add("wte.weight", tokenEmbedding)
            add("wpe.weight", positionEmbedding)
            for (i, l) in layers.enumerated() {
                let p = "h.\(i)."
                let qkv = Matrix(rows: 3 * c, cols: c, values: l.q.weight.dense + l.k.weight.dense + l.v.weight.dense)
                add(p + "attn.c_attn.weight", qkv.transposed)
                add(p + "attn.c_attn.bias", (l.q.bias ?? []) + (l.k.bias ?? []) + (l.v.bias ?? []))
                add(p + "attn.c_proj.weight", l.proj.weight.transposed); add(p + "attn.c_proj.bias", l.proj.bias ?? [])
                add(p + "mlp.c_fc.weight", l.fc1.weight.transposed); add(p + "mlp.c_fc.bias", l.fc1.bias ?? [])
                add(p + "mlp.c_proj.weight", l.fc2.weight.transposed); add(p + "mlp.c_proj.bias", l.fc2.bias ?? [])
                add(p + "ln_1.weight", l.norm1.gamma); add(p + "ln_1.bias", l.norm1.beta)
                add(p + "ln_2.weight", l.norm2.gamma); add(p + "ln_2.bias", l.norm2.beta)
            }
            if let n = finalNorm { add("ln_f.weight", n.gamma); add("ln_f.bias", n.beta) }
        }
        return out
    }
}

/// The synthetic weights' one seeded stream: uniform values of mean 0 and a given standard
/// deviation (on ±std·√3), drawn in order.
struct UniformDraws {
    var rng: SplitMix64
    init(seed: UInt64) { rng = SplitMix64(seed: seed) }
    mutating func next(_ count: Int, std: Float) -> [Float] {
        let a = std * Float(3).squareRoot()
        return (0..<count).map { _ in Float(Double(rng.next() >> 11) / Double(1 << 53)) * 2 * a - a }
    }
}

extension ModelWeights {
    /// The same `llama` model for the other rotary pairing: within each head of Q and K (rows
    /// and biases) the rows of pair i move from (i, i + D/2) (neox) to (2i, 2i + 1) (adjacent),
    /// or back, so that the rotation acts on the same values (the layout llama.cpp's converter
    /// gives GGUF `llama` files). Needs every dimension rotated (R = D). Fp32 weights only.
    public func paired(_ pairing: RoPEPairing) throws -> ModelWeights {
        let cfg = config
        guard cfg.architecture == .llama, cfg.ropePairing != pairing else { return self }
        guard cfg.rotaryDims == cfg.headDim else {
            throw ModelError.invalidOption(
                option: "rope pairing", value: pairing.rawValue,
                reason: "converting the pairing needs every dimension rotated (R=\(cfg.rotaryDims), D=\(cfg.headDim))")
        }
        let d = cfg.headDim, half = d / 2
        // Row r of the result is row source(r) of the input.
        func source(_ r: Int) -> Int {
            let h = r / d, i = r % d
            return pairing == .adjacent ? h * d + (i % 2) * half + i / 2 : h * d + (i < half ? 2 * i : 2 * (i - half) + 1)
        }
        func permuted(_ lin: Linear) throws -> Linear {
            guard lin.quantized == nil else {
                throw ModelError.invalidOption(option: "rope pairing", value: pairing.rawValue, reason: "Q and K are quantized")
            }
            let w = lin.weight
            return Linear(
                weight: Matrix(rows: w.rows, cols: w.cols) { r, k in w[source(r), k] },
                bias: lin.bias.map { b in b.indices.map { b[source($0)] } })
        }
        var out = self
        for i in out.layers.indices {
            out.layers[i].q = try permuted(layers[i].q)
            out.layers[i].k = try permuted(layers[i].k)
        }
        out.config.ropePairing = pairing
        return out
    }
}

extension Matrix {
    /// The transpose (GPT-2's Conv1D weights are stored [in, out]).
    fileprivate var transposed: Matrix { Matrix(rows: cols, cols: rows) { r, c in self[c, r] } }
}
