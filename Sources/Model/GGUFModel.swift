import Foundation
import Kernels

/// Models as GGUF files, in llama.cpp's tensor names and layouts: read (every tensor kept in
/// the format it is stored in) and written (in f32, f16 or a quantization scheme), so that
/// llama.cpp and OpBench run the same weights.
///
/// Architectures: `gpt2` (the decoder), `bert` (the encoder), `llama` and `qwen2` (the
/// Llama family: `attn_q`, `attn_k`, `attn_v` (+ biases for qwen2), `attn_output`,
/// `attn_norm`, `ffn_norm`, `ffn_gate`, `ffn_up`, `ffn_down`, `output_norm`, `output` or tied;
/// `.attention.head_count_kv`, `.rope.freq_base`, `.rope.dimension_count`,
/// `.attention.layer_norm_rms_epsilon`; llama's Q/K rows are stored for the adjacent RoPE
/// pairing, qwen2's for neox). Hyperparameters come from
/// `ARCH.block_count`, `.embedding_length`, `.attention.head_count`, `.feed_forward_length`,
/// `.context_length` and `.attention.layer_norm_epsilon`; the vocabulary from the token
/// embedding's rows, the token types from `token_types.weight`. Tensor names:
/// `token_embd`, `position_embd`, (bert) `token_types`, `token_embd_norm`; per layer `blk.N.`
/// + (gpt2) `attn_norm`, `attn_qkv` (Q, K and V rows stacked), `attn_output`, `ffn_norm`,
/// `ffn_up`, `ffn_down`; (bert) `attn_q`, `attn_k`, `attn_v`, `attn_output`,
/// `attn_output_norm`, `ffn_up`, `ffn_down`, `layer_output_norm`; (gpt2) `output_norm`, and
/// `output` only when it equals the token embedding (OpBench's GPT-2 ties its LM head).
/// A linear's weight is ggml [in, out] — PyTorch's [out, in] — so rows are output features.
public enum GGUFModel {
    /// The architectures this reads and writes.
    public static let architectures = ["gpt2", "bert", "llama", "qwen2"]

    // MARK: - reading

    /// The model in `file`: its configuration from the metadata, every tensor checked against
    /// it, linear weights kept in their stored block format (and dequantized beside it).
    public static func load(_ file: GGUF) throws -> ModelWeights {
        func fail(_ what: String, _ problem: String) -> ModelError { .weights(path: file.path, tensor: what, problem: problem) }
        guard let arch = file["general.architecture"]?.string else {
            throw fail("general.architecture", "missing (or not a string): the file does not say what model it holds")
        }
        guard architectures.contains(arch) else {
            throw fail(
                "general.architecture",
                "'\(arch)' is not supported (\(architectures.joined(separator: ", ")) are)")
        }
        func int(_ key: String) throws -> Int {
            guard let v = file["\(arch).\(key)"] else { throw fail("\(arch).\(key)", "missing") }
            guard let n = v.int, n > 0, n <= 1 << 24 else { throw fail("\(arch).\(key)", "\(v) is not a positive integer up to 2^24") }
            return n
        }
        let llama = arch == "llama" || arch == "qwen2"
        let layers = try int("block_count"), c = try int("embedding_length"), heads = try int("attention.head_count")
        let ff = try int("feed_forward_length"), ctx = try int("context_length")
        let epsKey = "\(arch).attention.layer_norm\(llama ? "_rms" : "")_epsilon"
        guard let epsValue = file[epsKey], let eps = epsValue.double, eps.isFinite, eps > 0, eps < 1 else {
            throw fail(epsKey, file[epsKey].map { "\($0) is not a float in (0, 1)" } ?? "missing")
        }
        guard c % heads == 0 else { throw fail("\(arch).attention.head_count", "\(heads) heads do not divide \(c)") }
        var kvHeads = heads
        if let kv = file["\(arch).attention.head_count_kv"] {
            guard let n = kv.int, n > 0, heads % n == 0 else {
                throw fail("\(arch).attention.head_count_kv", "\(kv) does not divide the \(heads) query heads")
            }
            guard llama || n == heads else {
                throw fail(
                    "\(arch).attention.head_count_kv", "\(kv) differs from the \(heads) query heads (\(arch) has no grouped K/V heads)")
            }
            kvHeads = n
        }
        guard let embd = file.tensor("token_embd.weight") else { throw fail("token_embd.weight", "missing from the file") }
        guard embd.dims.count == 2, embd.dims[0] == c else {
            throw fail("token_embd.weight", "dims \(embd.dims), expected [\(c), vocab]")
        }
        let vocab = embd.dims[1]
        var typeVocab = 0
        if arch == "bert" {
            guard let t = file.tensor("token_types.weight") else { throw fail("token_types.weight", "missing from the file") }
            guard t.dims.count == 2, t.dims[0] == c else { throw fail("token_types.weight", "dims \(t.dims), expected [\(c), types]") }
            typeVocab = t.dims[1]
        }
        let name = file["general.name"]?.string ?? URL(fileURLWithPath: file.path).lastPathComponent
        var config = ModelConfig(
            name: name, architecture: llama ? .llama : arch == "gpt2" ? .decoder : .encoder, layers: layers, hidden: c, heads: heads,
            ff: ff, vocab: vocab, maxPositions: ctx, typeVocab: typeVocab, eps: Float(eps), gelu: arch == "bert" ? .erf : .tanh)
        do { try ModelWeights.checkMemory(config, quantizedPlans: 0) } catch { throw fail("metadata", "\(error)") }
        if llama {
            config.kvHeadCount = kvHeads
            config.ropePairing = arch == "qwen2" ? .neox : .adjacent
            config.qkvBias = file.tensor("blk.0.attn_q.bias") != nil
            config.tiedEmbeddings = file.tensor("output.weight") == nil
            if let base = file["\(arch).rope.freq_base"] {
                guard let theta = base.double, theta.isFinite, theta > 1 else { throw fail("\(arch).rope.freq_base", "\(base) is not > 1") }
                config.ropeTheta = theta
            }
            if let dims = file["\(arch).rope.dimension_count"] {
                guard let r = dims.int, r >= 2, r % 2 == 0, r <= c / heads else {
                    throw fail("\(arch).rope.dimension_count", "\(dims) is not even and within the head dimension \(c / heads)")
                }
                config.ropeDims = r
            }
            do { try config.validate() } catch { throw fail("metadata", "\(error)") }
            return try loadLlama(file, config: config, embd: embd)
        }

        let r = Reader(file: file, arch: arch)
        var weights = ModelWeights(
            config: config, tokenEmbedding: try file.matrix(embd),
            positionEmbedding: try r.matrix("position_embd.weight", rows: ctx, cols: c),
            tokenTypeEmbedding: arch == "bert" ? try r.matrix("token_types.weight", rows: typeVocab, cols: c) : nil,
            embeddingNorm: arch == "bert" ? try r.norm("token_embd_norm", c) : nil, layers: [],
            finalNorm: arch == "gpt2" ? try r.norm("output_norm", c) : nil, source: file.path)
        if arch == "gpt2", case .quantized(let f) = embd.type {
            weights.tokenEmbeddingQuantized = try file.quantized(embd, format: f)
        }
        if arch == "gpt2", let out = file.tensor("output.weight") {
            let same =
                out.dims == embd.dims && out.type == embd.type && file.withBytes(out, { a in file.withBytes(embd) { a.elementsEqual($0) } })
            guard same else {
                throw fail("output.weight", "an LM head apart from the token embedding is not supported (OpBench's GPT-2 ties it)")
            }
        }
        for i in 0..<layers {
            let p = "blk.\(i)."
            if arch == "gpt2" {
                let qkv = try r.linears(p + "attn_qkv", out: c, in: c, parts: 3)
                weights.layers.append(
                    LayerWeights(
                        q: qkv[0], k: qkv[1], v: qkv[2],
                        proj: try r.linear(p + "attn_output", out: c, in: c, bias: true),
                        fc1: try r.linear(p + "ffn_up", out: ff, in: c, bias: true),
                        fc2: try r.linear(p + "ffn_down", out: c, in: ff, bias: true), norm1: try r.norm(p + "attn_norm", c),
                        norm2: try r.norm(p + "ffn_norm", c)))
            } else {
                weights.layers.append(
                    LayerWeights(
                        q: try r.linear(p + "attn_q", out: c, in: c, bias: true), k: try r.linear(p + "attn_k", out: c, in: c, bias: true),
                        v: try r.linear(p + "attn_v", out: c, in: c, bias: true),
                        proj: try r.linear(p + "attn_output", out: c, in: c, bias: true),
                        fc1: try r.linear(p + "ffn_up", out: ff, in: c, bias: true),
                        fc2: try r.linear(p + "ffn_down", out: c, in: ff, bias: true),
                        norm1: try r.norm(p + "attn_output_norm", c), norm2: try r.norm(p + "layer_output_norm", c)))
            }
        }
        return weights
    }

    /// Tensor reading with shape checks against the configuration, shared by the architectures.
    struct Reader {
        let file: GGUF, arch: String
        func fail(_ what: String, _ problem: String) -> ModelError { .weights(path: file.path, tensor: what, problem: problem) }
        func tensor(_ name: String, _ dims: [Int]) throws -> GGUF.Tensor {
            guard let t = file.tensor(name) else { throw fail(name, "missing from the file") }
            guard t.dims == dims else { throw fail(name, "dims \(t.dims), expected \(dims) for this \(arch) configuration") }
            return t
        }
        func matrix(_ name: String, rows: Int, cols: Int) throws -> Matrix { try file.matrix(try tensor(name, [cols, rows])) }
        func vector(_ name: String, _ n: Int) throws -> [Float] { try file.matrix(try tensor(name, [n])).dense }
        func norm(_ name: String, _ c: Int, rms: Bool = false) throws -> Norm {
            rms
                ? Norm(rms: try vector(name + ".weight", c))
                : Norm(gamma: try vector(name + ".weight", c), beta: try vector(name + ".bias", c))
        }
        /// `parts` linears [out × in] stacked by rows in one tensor (GPT-2's Q, K and V), the
        /// tensor read once; a quantized weight is kept as its blocks. `bias`: whether the
        /// `.bias` tensor is read.
        func linears(_ name: String, out: Int, in inF: Int, parts: Int, bias hasBias: Bool = true) throws -> [Linear] {
            let t = try tensor(name + ".weight", [inF, out * parts])
            let bias = hasBias ? try vector(name + ".bias", out * parts) : nil
            func part(_ n: Int) -> [Float]? { bias.map { Array($0[(n * out)..<((n + 1) * out)]) } }
            if case .quantized(let f) = t.type {
                let rowBytes = inF / f.blockSize * f.blockBytes
                return try (0..<parts).map { n in
                    let q = try file.withBytes(t) { raw in
                        try QuantizedMatrix(format: f, rows: out, cols: inF, bytes: raw.baseAddress! + n * out * rowBytes)
                    }
                    var lin = Linear(weight: Int4.dequantize(q), bias: part(n))
                    lin.quantized = q
                    return lin
                }
            }
            let all = try file.matrix(t)
            if parts == 1 { return [Linear(weight: all, bias: part(0))] }
            return (0..<parts).map { n in Linear(weight: Matrix(rows: out, cols: inF) { r, k in all[n * out + r, k] }, bias: part(n)) }
        }
        func linear(_ name: String, out: Int, in inF: Int, bias: Bool) throws -> Linear {
            try linears(name, out: out, in: inF, parts: 1, bias: bias)[0]
        }
    }

    /// A `llama`/`qwen2` file's tensors for `config` (read from its metadata).
    static func loadLlama(_ file: GGUF, config: ModelConfig, embd: GGUF.Tensor) throws -> ModelWeights {
        let r = Reader(file: file, arch: config.ropePairing == .neox ? "qwen2" : "llama")
        let c = config.hidden, kv = config.kvDim, f = config.ff, b = config.qkvBias
        var w = ModelWeights(
            config: config, tokenEmbedding: try file.matrix(embd), positionEmbedding: Matrix(rows: 0, cols: c), tokenTypeEmbedding: nil,
            embeddingNorm: nil, layers: [], finalNorm: try r.norm("output_norm", c, rms: true), source: file.path)
        if !config.tiedEmbeddings {
            w.output = try r.linear("output", out: config.vocab, in: c, bias: false)
        } else if case .quantized(let format) = embd.type {
            w.tokenEmbeddingQuantized = try file.quantized(embd, format: format)
        }
        for i in 0..<config.layers {
            let p = "blk.\(i)."
            w.layers.append(
                LayerWeights(
                    q: try r.linear(p + "attn_q", out: c, in: c, bias: b), k: try r.linear(p + "attn_k", out: kv, in: c, bias: b),
                    v: try r.linear(p + "attn_v", out: kv, in: c, bias: b),
                    proj: try r.linear(p + "attn_output", out: c, in: c, bias: false),
                    fc1: try r.linear(p + "ffn_gate", out: f, in: c, bias: false),
                    fc2: try r.linear(p + "ffn_down", out: c, in: f, bias: false),
                    norm1: try r.norm(p + "attn_norm", c, rms: true), norm2: try r.norm(p + "ffn_norm", c, rms: true),
                    up: try r.linear(p + "ffn_up", out: f, in: c, bias: false)))
        }
        return w
    }

    /// The stored formats of the model's linears, e.g. `q4_k×40, q6_k×9, f32×0`, for reports.
    public static func formats(_ w: ModelWeights) -> String {
        var counts: [String: Int] = [:]
        for l in w.layers {
            for (_, path) in l.linears { counts[l[keyPath: path].quantized?.format.rawValue ?? "f32", default: 0] += 1 }
        }
        return counts.sorted { $0.value > $1.value }.map { "\($0.key)×\($0.value)" }.joined(separator: ", ")
    }

    // MARK: - writing

    /// How `export` stores the weights: `f32`, `f16` (linear weights and embeddings rounded to
    /// half precision; norms and biases stay f32, as llama.cpp keeps 1-D tensors), or the
    /// model's own quantized linears (`quantized`: whatever `ModelWeights.quantized` made).
    public enum StoredAs: Sendable { case f32, f16, quantized }

    /// The model as a GGUF file llama.cpp loads: architecture metadata, a tokenizer
    /// (`tokens`: the vocabulary's strings, or synthetic `<tok N>` ones), and every tensor in
    /// llama.cpp's names and layouts. A Llama-family model is written as `qwen2` when it has
    /// Q/K/V biases (its rows in the neox pairing), else as `llama` (its Q/K rows in the
    /// adjacent pairing: `ModelWeights.paired` converts fp32 weights).
    public static func export(_ w: ModelWeights, as stored: StoredAs, tokens: [String]? = nil) throws -> Data {
        var w = w
        let arch: String
        switch w.config.architecture {
        case .decoder: arch = "gpt2"
        case .encoder: arch = "bert"
        case .llama:
            arch = w.config.qkvBias ? "qwen2" : "llama"
            w = try w.paired(arch == "qwen2" ? .neox : .adjacent)
        }
        let cfg = w.config, c = cfg.hidden, llama = cfg.architecture == .llama
        if let tokens, tokens.count != cfg.vocab {
            throw ModelError.invalidOption(
                option: "--export-gguf", value: "\(tokens.count) tokens", reason: "the vocabulary has \(cfg.vocab)")
        }
        var meta: [(key: String, value: GGUF.Value)] = [
            ("general.architecture", .string(arch)), ("general.name", .string(cfg.name)),
            ("\(arch).block_count", .u32(UInt32(cfg.layers))), ("\(arch).context_length", .u32(UInt32(cfg.maxPositions))),
            ("\(arch).embedding_length", .u32(UInt32(c))), ("\(arch).feed_forward_length", .u32(UInt32(cfg.ff))),
            ("\(arch).attention.head_count", .u32(UInt32(cfg.heads))),
            ("\(arch).attention.layer_norm\(llama ? "_rms" : "")_epsilon", .f32(cfg.eps)),
        ]
        if llama {
            meta += [
                ("\(arch).attention.head_count_kv", .u32(UInt32(cfg.kvHeads))), ("\(arch).rope.freq_base", .f32(Float(cfg.ropeTheta))),
                ("\(arch).rope.dimension_count", .u32(UInt32(cfg.rotaryDims))),
            ]
        }
        let vocab = tokens ?? (0..<cfg.vocab).map { "<tok \($0)>" }
        let normal: GGUF.Value = .i32(1)
        if arch == "bert" {
            meta += [
                ("bert.attention.causal", .bool(false)), ("bert.pooling_type", .u32(0)),
                ("tokenizer.ggml.model", .string("bert")), ("tokenizer.ggml.token_type_count", .u32(UInt32(cfg.typeVocab))),
            ]
        } else {
            // A byte-level BPE vocabulary with no merges for every decoder: synthetic tokens have no text.
            meta += [("tokenizer.ggml.model", .string("gpt2")), ("tokenizer.ggml.merges", .array(.string, []))]
        }
        meta += [
            ("tokenizer.ggml.tokens", .array(.string, vocab.map { .string($0) })),
            ("tokenizer.ggml.token_type", .array(.i32, Array(repeating: normal, count: cfg.vocab))),
            ("tokenizer.ggml.bos_token_id", .u32(0)), ("tokenizer.ggml.eos_token_id", .u32(UInt32(min(1, cfg.vocab - 1)))),
        ]
        var tensors: [GGUF.TensorData] = []
        func f32Bytes(_ v: [Float]) -> [UInt8] { v.withUnsafeBytes { Array($0) } }
        func f16Bytes(_ v: [Float]) -> [UInt8] { v.map { Half.bits($0).littleEndian }.withUnsafeBytes { Array($0) } }
        func vector(_ name: String, _ v: [Float]) { tensors.append(.init(name: name, dims: [v.count], type: .f32, bytes: f32Bytes(v))) }
        func norm(_ name: String, _ n: Norm) {
            vector(name + ".weight", n.gamma)
            if !n.beta.isEmpty { vector(name + ".bias", n.beta) }
        }
        /// Float matrices (embeddings, unquantized linears): f16 when asked, else f32.
        func dense(_ name: String, _ m: Matrix) {
            let half = stored == .f16
            tensors.append(
                .init(name: name, dims: [m.cols, m.rows], type: half ? .f16 : .f32, bytes: half ? f16Bytes(m.dense) : f32Bytes(m.dense)))
        }
        /// Linear weights stacked by rows (GPT-2's Q, K, V); all must share one format.
        func weight(_ name: String, _ parts: [Linear]) throws {
            let formats = Set(parts.map { $0.quantized?.format })
            guard formats.count == 1 else {
                throw ModelError.invalidOption(
                    option: "--export-gguf", value: name,
                    reason: "its stacked parts are in different formats (\(formats.map { $0?.rawValue ?? "f32" }))")
            }
            let cols = parts[0].inFeatures, rows = parts.map(\.outFeatures).reduce(0, +)
            if stored == .quantized, let format = formats.first! {
                tensors.append(
                    .init(name: name, dims: [cols, rows], type: .quantized(format), bytes: parts.flatMap { $0.quantized!.bytes }))
            } else {
                dense(name, Matrix(rows: rows, cols: cols, values: parts.flatMap(\.weight.dense)))
            }
        }
        if stored == .quantized, let q = w.tokenEmbeddingQuantized {
            tensors.append(.init(name: "token_embd.weight", dims: [c, cfg.vocab], type: .quantized(q.format), bytes: q.bytes))
        } else {
            dense("token_embd.weight", w.tokenEmbedding)
        }
        if !llama { dense("position_embd.weight", w.positionEmbedding) }
        if let out = w.output { try weight("output.weight", [out]) }
        if arch == "bert" {
            if let t = w.tokenTypeEmbedding { dense("token_types.weight", t) }
            if let n = w.embeddingNorm { norm("token_embd_norm", n) }
        }
        for (i, l) in w.layers.enumerated() {
            let p = "blk.\(i)."
            if arch == "gpt2" {
                try weight(p + "attn_qkv.weight", [l.q, l.k, l.v])
                if let q = l.q.bias, let k = l.k.bias, let v = l.v.bias { vector(p + "attn_qkv.bias", q + k + v) }
                norm(p + "attn_norm", l.norm1); norm(p + "ffn_norm", l.norm2)
            } else if llama {
                for (n, lin) in [("attn_q", l.q), ("attn_k", l.k), ("attn_v", l.v)] {
                    try weight(p + n + ".weight", [lin])
                    if let b = lin.bias { vector(p + n + ".bias", b) }
                }
                norm(p + "attn_norm", l.norm1); norm(p + "ffn_norm", l.norm2)
                if let up = l.up { try weight(p + "ffn_up.weight", [up]) }
                try weight(p + "ffn_gate.weight", [l.fc1]); try weight(p + "ffn_down.weight", [l.fc2])
                try weight(p + "attn_output.weight", [l.proj])
                continue
            } else {
                for (n, lin) in [("attn_q", l.q), ("attn_k", l.k), ("attn_v", l.v)] {
                    try weight(p + n + ".weight", [lin])
                    if let b = lin.bias { vector(p + n + ".bias", b) }
                }
                norm(p + "attn_output_norm", l.norm1); norm(p + "layer_output_norm", l.norm2)
            }
            for (n, lin) in [("attn_output", l.proj), ("ffn_up", l.fc1), ("ffn_down", l.fc2)] {
                try weight(p + n + ".weight", [lin])
                if let b = lin.bias { vector(p + n + ".bias", b) }
            }
        }
        if let n = w.finalNorm { norm("output_norm", n) }
        return try GGUF.encode(metadata: meta, tensors: tensors)
    }
}
