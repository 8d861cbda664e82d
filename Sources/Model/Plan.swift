import Kernels

/// Which variant runs each operator of a model pass, in what weight format, on how many
/// threads: `matmul=simd,softmax=simd,layernorm=blas,attention=simd,weights=q4_0,threads=2`.
///
/// `auto` (alone or among the terms) sets every operator to its `auto` variant: the variant and
/// constants a tuning file chose for each call's shape (`opbench tune`), simd where it has none.
///
/// Keys (each optional, defaults in brackets): `matmul` [simd], `softmax` [simd] (the LM
/// head's next-token distribution; attention variants carry their own softmax), `layernorm`
/// [simd], `attention` [simd], `rmsnorm`, `rope`, `swiglu` [simd] (Llama-family passes),
/// `int4` [= matmul] (the int4 linear used when weights are quantized; a tensor in a format the
/// variant does not run, e.g. a K-quant under `int4=act8`, takes int4.simd), `weights`
/// f32|q4_0|q4_1|q8_0|q4_k|q6_k|q4_k_m|stored [f32; stored for GGUF files]
/// (`Weights`), `kv` f32|f16 [f32] (the KV cache's storage: f16
/// rounds K and V to half precision as they are stored, and attention.simd's decode path
/// reads the halves, half the bytes per step), `threads` [the --threads option].
public struct Plan: Sendable, Equatable, CustomStringConvertible {
    /// The weight format of every linear layer (and a decoder's tied LM head): f32, one GGUF
    /// block format for all, `q4_k_m`, llama.cpp's Q4_K_M mix (`format(tensor:…)`), or
    /// `stored`: each tensor as the weights file holds it (a GGUF file's types; f32 for
    /// safetensors and synthetic weights), the default for GGUF files. Any other choice
    /// starts from the fp32 values of the stored weights (dequantized if need be).
    public enum Weights: String, Sendable, CaseIterable {
        case f32, q4_0, q4_1, q8_0, q4_k, q6_k, q4_k_m, stored

        /// The format of tensor `tensor` (`q`, `k`, `v`, `proj`, `fc1`, `fc2`, or `head` for
        /// the LM head) of layer `layer` of `layers`, whose rows hold `k` weights; nil for f32.
        ///
        /// `q4_k_m` follows llama.cpp's Q4_K_M: Q6_K for the LM head, and for the value
        /// projection and the second MLP linear of the first and last eighth of the layers
        /// and of every third layer between; Q4_K elsewhere. A K-quant needs rows of whole
        /// 256-weight super-blocks; for other widths Q6_K falls back to Q8_0, as in llama.cpp,
        /// and Q4_K to Q4_1 (llama.cpp takes Q5_0, which OpBench does not have).
        public func format(tensor: String, layer: Int?, layers: Int, k: Int) -> QuantFormat? {
            let chosen: QuantFormat
            switch self {
            case .f32, .stored: return nil
            case .q4_0: chosen = .q4_0
            case .q4_1: chosen = .q4_1
            case .q8_0: chosen = .q8_0
            case .q4_k: chosen = .q4_k
            case .q6_k: chosen = .q6_k
            case .q4_k_m:
                let moreBits = layer.map { i in i < layers / 8 || i >= 7 * layers / 8 || (i - layers / 8) % 3 == 2 } ?? false
                chosen = tensor == "head" || ((tensor == "v" || tensor == "fc2") && moreBits) ? .q6_k : .q4_k
            }
            // Only the K-quants fall back; a 32-weight format is refused (by the quantizer) instead.
            guard chosen.blockSize == 256, k % 256 != 0 else { return chosen }
            return chosen == .q6_k ? .q8_0 : .q4_1
        }

        /// `format(tensor:layer:layers:k:)` for a model of `config`. A GPT-2 decoder stores Q,
        /// K and V as one tensor (`attn_qkv` in GGUF), which takes one format: there V is
        /// treated as Q and K are. (llama.cpp's Q4_K_M gives that tensor Q5_K, which OpBench
        /// does not have; here it is Q4_K.)
        public func format(tensor: String, layer: Int?, config: ModelConfig, k: Int) -> QuantFormat? {
            let fused = config.architecture == .decoder && tensor == "v"
            return format(tensor: fused ? "q" : tensor, layer: layer, layers: config.layers, k: k)
        }
    }
    public enum KVCache: String, Sendable, CaseIterable { case f32, f16 }

    public var matmul = "simd"
    public var softmax = "simd"
    public var layernorm = "simd"
    public var attention = "simd"
    public var rmsnorm = "simd"
    public var rope = "simd"
    public var swiglu = "simd"
    public var int4: String?
    public var weights = Weights.f32
    public var kv = KVCache.f32
    public var threads: Int?

    public init() {}

    /// The int4 variant actually used: the `int4` key, else the matmul choice when int4 has a
    /// variant of that name (a plugin matmul has none: then simd).
    public var int4Variant: String { int4 ?? (Int4.checkedNames.contains(matmul) ? matmul : "simd") }

    /// Parses the plan text; unknown keys, variants or values are errors naming them.
    public static func parse(_ text: String) throws -> Plan {
        var plan = Plan()
        var seen = Set<String>()
        let terms = text.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        for term in terms where !(terms.count == 1 && term.isEmpty) {
            // `auto`: every operator takes the tuning file's choice for each call's shape.
            if term == "auto" {
                guard seen.insert("auto").inserted else {
                    throw ModelError.invalidOption(option: "--plan", value: text, reason: "auto is given twice")
                }
                (plan.matmul, plan.softmax, plan.layernorm, plan.attention) = ("auto", "auto", "auto", "auto")
                (plan.rmsnorm, plan.rope, plan.swiglu) = ("auto", "auto", "auto")
                continue
            }
            let kv = term.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            guard kv.count == 2, !kv[1].isEmpty else {
                throw ModelError.invalidOption(option: "--plan", value: text, reason: "term '\(term)' must be key=value")
            }
            let (key, value) = (kv[0], kv[1])
            guard seen.insert(key).inserted else {
                throw ModelError.invalidOption(option: "--plan", value: text, reason: "key '\(key)' is given twice")
            }
            func variant<F: OperatorFamily>(_: F.Type) throws -> String {
                let names = F.kernels.map(\.name)
                guard names.contains(value) else {
                    throw ModelError.invalidOption(
                        option: "--plan", value: text,
                        reason: "\(key)=\(value): unknown variant (known: \(names.joined(separator: ", ")))"
                            + Suggest.clause(value, among: names))
                }
                return value
            }
            func choice<E: RawRepresentable & CaseIterable>(_: E.Type) throws -> E where E.RawValue == String {
                guard let e = E(rawValue: value) else {
                    throw ModelError.invalidOption(
                        option: "--plan", value: text,
                        reason: "\(key)=\(value): expected one of \(E.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                return e
            }
            switch key {
            case Matmul.op.rawValue: plan.matmul = try variant(Matmul.self)
            case Softmax.op.rawValue: plan.softmax = try variant(Softmax.self)
            case LayerNorm.op.rawValue: plan.layernorm = try variant(LayerNorm.self)
            case Attention.op.rawValue: plan.attention = try variant(Attention.self)
            case RMSNorm.op.rawValue: plan.rmsnorm = try variant(RMSNorm.self)
            case RoPE.op.rawValue: plan.rope = try variant(RoPE.self)
            case SwiGLU.op.rawValue: plan.swiglu = try variant(SwiGLU.self)
            case Int4.op.rawValue: plan.int4 = try variant(Int4.self)
            case "weights": plan.weights = try choice(Weights.self)
            case "kv": plan.kv = try choice(KVCache.self)
            case "threads":
                guard let t = Int(value), (1...Check.maxThreads).contains(t) else {
                    throw ModelError.invalidOption(
                        option: "--plan", value: text, reason: "threads=\(value): must be from 1 to \(Check.maxThreads)")
                }
                plan.threads = t
            default:
                throw ModelError.invalidOption(
                    option: "--plan", value: text,
                    reason: "unknown key '\(key)' (known: \(Self.keys.joined(separator: ", ")))" + Suggest.clause(key, among: Self.keys))
            }
        }
        if plan.int4 != nil && plan.weights == .f32 {
            throw ModelError.invalidOption(
                option: "--plan", value: text, reason: "int4=\(plan.int4!) needs quantized weights (weights=q4_0, q8_0, q4_k_m…)")
        }
        return plan
    }

    /// The keys a plan takes.
    public static let keys = [
        "matmul", "softmax", "layernorm", "attention", "rmsnorm", "rope", "swiglu", "int4", "weights", "kv", "threads",
    ]

    /// The canonical text: every key in a fixed order, except that the Llama-family operators
    /// (rmsnorm, rope, swiglu) appear only when they differ from simd, so the text of a GPT-2 or
    /// BERT plan stays what it was before they existed.
    public var description: String {
        var terms = ["matmul=\(matmul)", "softmax=\(softmax)", "layernorm=\(layernorm)", "attention=\(attention)"]
        for (key, value) in [("rmsnorm", rmsnorm), ("rope", rope), ("swiglu", swiglu)] where value != "simd" {
            terms.append("\(key)=\(value)")
        }
        if weights != .f32 { terms.append("int4=\(int4Variant)") }
        terms.append("weights=\(weights.rawValue)")
        if kv != .f32 { terms.append("kv=\(kv.rawValue)") }
        if let threads { terms.append("threads=\(threads)") }
        return terms.joined(separator: ",")
    }

    /// Parses `--attention-pattern`: `all`, or any of `window=W`, `global=G` joined by commas.
    /// (The decoder adds the causal mask itself; block masks depend on the sequence length and
    /// are not offered here.)
    public static func pattern(_ text: String) throws -> AttentionPattern {
        var p = AttentionPattern()
        if text == "all" { return p }
        for term in text.split(separator: ",", omittingEmptySubsequences: false).map(String.init) {
            let kv = term.split(separator: "=", maxSplits: 1).map(String.init)
            if kv.count == 1, kv[0] == "causal" { p.causal = true; continue }
            guard kv.count == 2, let v = Int(kv[1]) else {
                throw ModelError.invalidOption(
                    option: "--attention-pattern", value: text,
                    reason: "term '\(term)' must be all, causal, window=W or global=G")
            }
            switch kv[0] {
            case "window":
                guard v >= 1 else {
                    throw ModelError.invalidOption(option: "--attention-pattern", value: text, reason: "window=\(v) must be at least 1")
                }
                p.window = v
            case "global":
                guard v >= 0 else {
                    throw ModelError.invalidOption(option: "--attention-pattern", value: text, reason: "global=\(v) must be at least 0")
                }
                p.global = v
            default:
                throw ModelError.invalidOption(
                    option: "--attention-pattern", value: text,
                    reason: "unknown term '\(kv[0])' (expected all, causal, window=W, global=G)")
            }
        }
        return p
    }
}
