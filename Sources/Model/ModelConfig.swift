import Kernels

/// The shape of a transformer: which architecture and how big.
///
/// Two architectures, both built only from kernel-library calls:
/// - `encoder` (BERT): token + position + token-type embeddings → layernorm; each layer is
///   post-LN: x = LN(x + Attn(x)), x = LN(x + FC2(GELU_erf(FC1(x)))). Bidirectional.
/// - `decoder` (GPT-2): token + position embeddings; each layer is pre-LN:
///   x = x + Attn(LN(x)), x = x + FC2(GELU_tanh(FC1(LN(x)))); a final LN; the LM head is the
///   token embedding (tied), logits = LN_f(x)·Eᵀ. Causal, with a KV cache for decode.
public struct ModelConfig: Sendable, Equatable, Codable {
    public enum Architecture: String, Sendable, Codable { case encoder, decoder }

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
    public var eps: Float
    public var gelu: Elementwise.GELU

    public var headDim: Int { hidden / heads }

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
