import Kernels

/// The shape of a transformer: which architecture and how big.
///
/// Three architectures, all built only from kernel-library calls:
/// - `encoder` (BERT): token + position + token-type embeddings → layernorm; each layer is
///   post-LN: x = LN(x + Attn(x)), x = LN(x + FC2(GELU_erf(FC1(x)))). Bidirectional.
/// - `decoder` (GPT-2): token + position embeddings; each layer is pre-LN:
///   x = x + Attn(LN(x)), x = x + FC2(GELU_tanh(FC1(LN(x)))); a final LN; the LM head is the
///   token embedding (tied), logits = LN_f(x)·Eᵀ. Causal, with a KV cache for decode.
/// - `llama` (Llama 2/3, TinyLlama, Mistral, Qwen2): token embedding only (positions enter
///   through RoPE); each layer is pre-RMSNorm: x = x + O(Attn(RoPE(Q), RoPE(K), V)) with
///   KV ≤ H K/V heads (grouped-query attention), x = x + Down(SiLU(Gate(n))·Up(n)) with
///   n = RMSNorm(x); a final RMSNorm; the LM head is `output.weight`, or the token embedding
///   when tied. No biases except Qwen2's on Q, K and V. Causal, with a KV cache for decode.
public struct ModelConfig: Sendable, Equatable {
    public enum Architecture: String, Sendable, Codable { case encoder, decoder, llama }

    public var name: String
    public var architecture: Architecture
    public var layers: Int
    /// d_model (C = H·D).
    public var hidden: Int
    public var heads: Int
    /// MLP inner width.
    public var ff: Int
    public var vocab: Int
    public var maxPositions: Int
    /// Token-type (segment) vocabulary; encoders only.
    public var typeVocab: Int
    /// The norms' ε (LayerNorm, or RMSNorm for `llama`).
    public var eps: Float
    public var gelu: Elementwise.GELU
    /// K/V heads (grouped-query attention), nil: as many as query heads.
    public var kvHeadCount: Int? = nil
    /// RoPE (`llama`): frequency base θ, rotated dimensions per head (nil: all of D) and the
    /// pairing — `adjacent` for GGUF `llama` files (whose Q/K rows are stored permuted for it),
    /// `neox` for Qwen2.
    public var ropeTheta: Double = 10000
    public var ropeDims: Int? = nil
    public var ropePairing: RoPEPairing = .adjacent
    /// Biases on the Q, K and V projections (`llama`: Qwen2 has them, Llama does not).
    public var qkvBias = false
    /// The LM head is the token embedding (GPT-2 always; `llama` when the file has no `output`).
    public var tiedEmbeddings = true

    public var headDim: Int { hidden / heads }
    /// KV, the K/V heads.
    public var kvHeads: Int { kvHeadCount ?? heads }
    /// KV·D, the width of a K or V row.
    public var kvDim: Int { kvHeads * headDim }
    /// R, the rotated dimensions of a head.
    public var rotaryDims: Int { ropeDims ?? headDim }
    /// Causal, with an LM head and decode steps (GPT-2 and Llama).
    public var isDecoder: Bool { architecture != .encoder }

    /// Checks the shape's integers against each other (heads dividing widths, GQA groups, RoPE).
    public func validate() throws {
        func bad(_ what: String, _ why: String) -> ModelError { .invalidOption(option: "model \(name)", value: what, reason: why) }
        for (n, v) in [("layers", layers), ("hidden", hidden), ("heads", heads), ("ff", ff), ("vocab", vocab)] where v < 1 {
            throw bad("\(n)=\(v)", "must be at least 1")
        }
        guard hidden % heads == 0 else { throw bad("heads=\(heads)", "must divide the hidden width \(hidden)") }
        guard kvHeads >= 1, heads % kvHeads == 0 else { throw bad("kv heads=\(kvHeads)", "must divide the \(heads) query heads") }
        guard eps.isFinite, eps > 0 else { throw bad("eps=\(eps)", "must be finite and positive") }
        if architecture == .llama {
            guard rotaryDims >= 2, rotaryDims % 2 == 0, rotaryDims <= headDim else {
                throw bad("rope dims=\(rotaryDims)", "must be even, at least 2 and at most the head dimension \(headDim)")
            }
            guard ropeTheta.isFinite, ropeTheta > 1 else { throw bad("rope theta=\(ropeTheta)", "must be finite and > 1") }
        }
    }

    /// Weights of the model (linears, embeddings, head, norms), for memory checks and reports;
    /// in floating point, so a file's absurd metadata (2^24 layers of width 2^24) cannot overflow.
    public var parameterCount: Double {
        let c = Double(hidden)
        let embeddings =
            Double(vocab) * c * (isDecoder && !tiedEmbeddings ? 2 : 1) + (architecture == .llama ? 0 : Double(maxPositions) * c)
        return linearParameterCount + Double(layers) * 4 * c + embeddings
    }

    /// Weights of the layers' linears (Q, K, V, the projection and the MLP's), biases excluded.
    public var linearParameterCount: Double {
        let c = Double(hidden), f = Double(ff), kv = Double(kvHeads) * (c / Double(heads))
        let attention = 2 * c * c + 2 * c * kv
        let mlp = (architecture == .llama ? 3 : 2) * c * f
        return Double(layers) * (attention + mlp)
    }

    /// The named presets (`--preset`).
    public static let presets: [ModelConfig] = [
        ModelConfig(
            name: "tiny", architecture: .decoder, layers: 2, hidden: 64, heads: 4, ff: 256, vocab: 512,
            maxPositions: 128, typeVocab: 0, eps: 1e-5, gelu: .tanh),
        ModelConfig(
            name: "tiny-encoder", architecture: .encoder, layers: 2, hidden: 64, heads: 4, ff: 256, vocab: 512,
            maxPositions: 128, typeVocab: 2, eps: 1e-12, gelu: .erf),
        ModelConfig(
            name: "minilm-l6", architecture: .encoder, layers: 6, hidden: 384, heads: 12, ff: 1536, vocab: 30522,
            maxPositions: 512, typeVocab: 2, eps: 1e-12, gelu: .erf),
        ModelConfig(
            name: "gpt2-small", architecture: .decoder, layers: 12, hidden: 768, heads: 12, ff: 3072, vocab: 50257,
            maxPositions: 1024, typeVocab: 0, eps: 1e-5, gelu: .tanh),
        // Llama-family shapes with seeded synthetic weights (`ModelWeights.synthetic`).
        ModelConfig(
            name: "llama-tiny", architecture: .llama, layers: 2, hidden: 64, heads: 4, ff: 160, vocab: 512,
            maxPositions: 1024, typeVocab: 0, eps: 1e-5, gelu: .tanh, kvHeadCount: 2, ropeTheta: 10000, tiedEmbeddings: false),
        ModelConfig(
            name: "qwen2-tiny", architecture: .llama, layers: 2, hidden: 64, heads: 4, ff: 160, vocab: 512,
            maxPositions: 1024, typeVocab: 0, eps: 1e-6, gelu: .tanh, kvHeadCount: 1, ropeTheta: 1_000_000, ropePairing: .neox,
            qkvBias: true),
        ModelConfig(
            name: "tinyllama-1.1b", architecture: .llama, layers: 22, hidden: 2048, heads: 32, ff: 5632, vocab: 32000,
            maxPositions: 2048, typeVocab: 0, eps: 1e-5, gelu: .tanh, kvHeadCount: 4, ropeTheta: 10000, tiedEmbeddings: false),
        ModelConfig(
            name: "llama-3.2-1b", architecture: .llama, layers: 16, hidden: 2048, heads: 32, ff: 8192, vocab: 128_256,
            maxPositions: 131_072, typeVocab: 0, eps: 1e-5, gelu: .tanh, kvHeadCount: 8, ropeTheta: 500_000),
        ModelConfig(
            name: "qwen2.5-0.5b", architecture: .llama, layers: 24, hidden: 896, heads: 14, ff: 4864, vocab: 151_936,
            maxPositions: 32768, typeVocab: 0, eps: 1e-6, gelu: .tanh, kvHeadCount: 2, ropeTheta: 1_000_000, ropePairing: .neox,
            qkvBias: true),
    ]

    /// The preset called `name`, or an error listing the presets.
    public static func preset(_ name: String) throws -> ModelConfig {
        guard let c = presets.first(where: { $0.name == name }) else {
            throw ModelError.invalidOption(
                option: "--preset", value: name,
                reason: "known presets: " + presets.map(\.name).joined(separator: ", "))
        }
        return c
    }
}

/// A typed error from building or running a model; the message names the option,
/// tensor or token and the values involved.
public enum ModelError: Error, Equatable, CustomStringConvertible, Sendable {
    case invalidOption(option: String, value: String, reason: String)
    case invalidTokens(reason: String)
    case weights(path: String, tensor: String, problem: String)

    public var description: String {
        switch self {
        case let .invalidOption(option, value, reason): return "\(option) '\(value)': \(reason)"
        case let .invalidTokens(reason): return "tokens: \(reason)"
        case let .weights(path, tensor, problem): return "\(path): tensor '\(tensor)': \(problem)"
        }
    }
}
