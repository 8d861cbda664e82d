import Foundation
import Harness
import Kernels
import Model
import Testing

/// Models through GGUF files: exported and read back, a model runs exactly as before — the
/// same weights in the same formats, so the same hidden states bit for bit — and files
/// whose metadata or tensors disagree with the architecture are refused by name.
@Suite struct GGUFModelTests {
    static let prompt = [3, 141, 59, 265, 358, 97, 93, 238, 462, 64, 33, 83]

    /// The first plan's final hidden states of `weights` (prompt and 4 decode steps).
    static func hidden(_ weights: ModelWeights, _ plan: String) throws -> Matrix {
        let req = ModelBench.Request(
            weights: weights, plans: [try Plan.parse(plan)], pattern: .all, threads: 1, prompt: prompt, types: nil,
            generate: weights.config.isDecoder ? 4 : 0, repetitions: 1)
        return try ModelBench.run(req)[0].hidden
    }

    static func roundTrip(_ w: ModelWeights, as stored: GGUFModel.StoredAs) throws -> ModelWeights {
        try GGUFModel.load(try GGUF(data: try GGUFModel.export(w, as: stored), path: "round-trip.gguf"))
    }

    /// f32 export → read: every tensor identical, and the passes identical bit for bit.
    @Test(arguments: ["tiny", "tiny-encoder", "llama-tiny", "qwen2-tiny"])
    func f32RoundTripIsExact(preset: String) throws {
        let w = ModelWeights.synthetic(try ModelConfig.preset(preset), seed: 5)
        let back = try Self.roundTrip(w, as: .f32)
        #expect(back.config.layers == w.config.layers && back.config.hidden == w.config.hidden && back.config.vocab == w.config.vocab)
        #expect(back.config.eps == w.config.eps && back.config.architecture == w.config.architecture)
        #expect(back.config.kvHeads == w.config.kvHeads && back.config.ropeTheta == w.config.ropeTheta)
        #expect(back.config.ropePairing == w.config.ropePairing && back.config.qkvBias == w.config.qkvBias)
        #expect(back.config.tiedEmbeddings == w.config.tiedEmbeddings && back.output?.weight == w.output?.weight)
        #expect(back.tokenEmbedding == w.tokenEmbedding && back.positionEmbedding == w.positionEmbedding)
        for (a, b) in zip(back.layers, w.layers) {
            #expect(a.linears.map(\.0) == b.linears.map(\.0))
            for (name, path) in b.linears {
                #expect(a[keyPath: path].weight == b[keyPath: path].weight && a[keyPath: path].bias == b[keyPath: path].bias, "\(name)")
            }
        }
        #expect(try Self.hidden(back, "") == Self.hidden(w, ""))
    }

    /// Quantized export → read as stored: the same blocks, so the same pass as quantizing in
    /// OpBench, for one format and for the Q4_K_M mix (whose GPT-2 Q, K and V share a format).
    @Test(arguments: ["tiny", "tiny-encoder", "llama-tiny", "qwen2-tiny"], [Plan.Weights.q8_0, .q4_k_m, .q4_0])
    func quantizedRoundTripRunsTheSameBlocks(preset: String, scheme: Plan.Weights) throws {
        let w = ModelWeights.synthetic(try ModelConfig.preset(preset), seed: 6)
        let q = try w.quantized(scheme)
        let back = try Self.roundTrip(q, as: .quantized)
        for (a, b) in zip(back.layers, q.layers) {
            for (name, path) in b.linears {
                #expect(a[keyPath: path].quantized == b[keyPath: path].quantized, "\(name) \(scheme)")
            }
        }
        #expect(back.tokenEmbeddingQuantized == q.tokenEmbeddingQuantized && back.output?.quantized == q.output?.quantized)
        #expect(try Self.hidden(back, "weights=stored") == Self.hidden(w, "weights=\(scheme.rawValue)"))
    }

    /// MiniLM-L6's real weights: GGUF f32 gives the safetensors run's hidden states exactly.
    @Test func miniLMThroughGGUFIsExact() throws {
        guard let path = miniLMPath() else {
            Issue.record("MiniLM-L6 weights not found (bash .ci/setup installs them)")
            return
        }
        let w = try ModelWeights.load(try ModelConfig.preset("minilm-l6"), from: try SafeTensors(path: path))
        let back = try Self.roundTrip(w, as: .f32)
        #expect(try Self.hidden(back, "") == Self.hidden(w, ""))
    }

    /// gpt2-small at its real shape (124M parameters, 500 MB in f32): the GGUF f32 round trip
    /// gives the same tensors and the same pass (4 tokens and 1 decode step) bit for bit.
    @Test func gpt2SmallRoundTripIsExact() throws {
        let w = ModelWeights.synthetic(try ModelConfig.preset("gpt2-small"), seed: 3)
        let back = try Self.roundTrip(w, as: .f32)
        #expect(back.config.layers == 12 && back.config.vocab == 50257 && back.config.maxPositions == 1024)
        #expect(back.tokenEmbedding == w.tokenEmbedding && back.layers[11].fc2.weight == w.layers[11].fc2.weight)
        func pass(_ m: ModelWeights) throws -> Matrix {
            let req = ModelBench.Request(
                weights: m, plans: [Plan()], pattern: .all, threads: 2, prompt: [50256, 318, 257, 1332], types: nil, generate: 1,
                repetitions: 1)
            return try ModelBench.run(req)[0].hidden
        }
        #expect(try pass(back) == pass(w))
    }

    /// Metadata and tensors that disagree with the architecture, each refused by name.
    @Test(arguments: ["tiny", "llama-tiny"])
    func inconsistentModelsAreRefused(preset: String) throws {
        let w = ModelWeights.synthetic(try ModelConfig.preset(preset), seed: 7)
        let good = try GGUF(data: try GGUFModel.export(w, as: .f32), path: "m.gguf")
        func rewrite(
            meta: (inout [(key: String, value: GGUF.Value)]) -> Void = { _ in },
            tensors: (inout [GGUF.TensorData]) -> Void = { _ in }
        ) throws -> GGUF {
            var m = good.metadata
            var t = good.tensors.map { info in
                good.withBytes(info) { GGUF.TensorData(name: info.name, dims: info.dims, type: info.type, bytes: Array($0)) }
            }
            meta(&m); tensors(&t)
            return try GGUF(data: try GGUF.encode(metadata: m, tensors: t), path: "bad.gguf")
        }
        func set(_ key: String, _ v: GGUF.Value) -> (inout [(key: String, value: GGUF.Value)]) -> Void {
            { m in m = m.map { $0.key == key ? (key, v) : $0 } }
        }
        func refuse(_ file: GGUF, _ fragments: [String], sourceLocation: SourceLocation = #_sourceLocation) {
            expectError(["bad.gguf"] + fragments, sourceLocation: sourceLocation) { _ = try GGUFModel.load(file) }
        }
        _ = try GGUFModel.load(good)
        if preset == "llama-tiny" {
            refuse(
                try rewrite(meta: set("llama.attention.head_count_kv", .u32(3))), ["head_count_kv", "does not divide the 4 query heads"])
            refuse(try rewrite(meta: set("llama.rope.dimension_count", .u32(7))), ["rope.dimension_count", "not even"])
            refuse(try rewrite(meta: set("llama.rope.dimension_count", .u32(32))), ["rope.dimension_count", "head dimension 16"])
            refuse(try rewrite(meta: set("llama.rope.freq_base", .f32(.nan))), ["rope.freq_base", "not > 1"])
            // Metadata of a model far larger than memory (2^24 layers: 7e11 parameters): refused
            // before any layer's tensor is read.
            refuse(try rewrite(meta: set("llama.block_count", .u32(1 << 24))), ["model", "GiB"])
            refuse(try rewrite(meta: set("llama.attention.layer_norm_rms_epsilon", .f32(0))), ["layer_norm_rms_epsilon", "not a float"])
            refuse(try rewrite(tensors: { $0.removeAll { $0.name == "blk.1.ffn_gate.weight" } }), ["blk.1.ffn_gate.weight", "missing"])
            refuse(
                try rewrite(meta: set("llama.attention.head_count_kv", .u32(4))),
                ["blk.0.attn_k.weight", "dims [64, 32], expected [64, 64]"])
            return
        }
        refuse(try rewrite(meta: set("general.architecture", .string("mamba"))), ["general.architecture", "'mamba' is not supported"])
        refuse(try rewrite(meta: { $0.removeAll { $0.key == "general.architecture" } }), ["general.architecture", "missing"])
        refuse(try rewrite(meta: set("gpt2.block_count", .u32(3))), ["blk.2.", "missing"])
        refuse(try rewrite(meta: set("gpt2.block_count", .i32(-1))), ["gpt2.block_count", "not a positive integer"])
        refuse(try rewrite(meta: set("gpt2.embedding_length", .u32(48))), ["token_embd.weight", "dims [64, 512], expected [48, vocab]"])
        refuse(try rewrite(meta: set("gpt2.attention.head_count", .u32(5))), ["head_count", "5 heads do not divide 64"])
        refuse(
            try rewrite(meta: set("gpt2.feed_forward_length", .u32(128))), ["blk.0.ffn_up.weight", "dims [64, 256], expected [64, 128]"])
        refuse(try rewrite(meta: set("gpt2.attention.layer_norm_epsilon", .f32(.nan))), ["layer_norm_epsilon", "not a float"])
        refuse(try rewrite(meta: set("gpt2.context_length", .u64(1 << 40))), ["gpt2.context_length", "not a positive integer"])
        refuse(try rewrite(tensors: { $0.removeAll { $0.name == "blk.1.attn_qkv.bias" } }), ["blk.1.attn_qkv.bias", "missing"])
        refuse(
            try rewrite(tensors: { t in
                let e = t.first { $0.name == "token_embd.weight" }!
                t.append(.init(name: "output.weight", dims: e.dims, type: .f32, bytes: e.bytes.map { $0 ^ 1 }))
            }), ["output.weight", "apart from the token embedding"])
        refuse(
            try rewrite(meta: { $0.append(("gpt2.attention.head_count_kv", .u32(2))) }), ["head_count_kv", "gpt2 has no grouped K/V heads"])
    }

    /// A small GPT-2 written by the gguf package's own writer (make_gguf_fixture.py) loads
    /// with its metadata's shape, and its pass stays within the fp64 reference's bound.
    @Test func ggufPackageModelLoads() throws {
        let g = try GGUF(path: Bundle.module.url(forResource: "Fixtures/tiny-gpt2.gguf", withExtension: nil)!.path)
        let w = try GGUFModel.load(g)
        #expect(w.config.architecture == .decoder && w.config.layers == 2 && w.config.hidden == 64 && w.config.vocab == 512)
        #expect(w.layers[0].fc1.quantized?.format == .q8_0 && w.layers[1].q.quantized?.format == .q8_0)
        let req = ModelBench.Request(
            weights: w, plans: [try Plan.parse("weights=stored")], pattern: .all, threads: 1, prompt: Self.prompt, types: nil,
            generate: 4, repetitions: 1)
        let ref = ReferenceModel(weights: w, pattern: .all).run(prompt: req.prompt, generate: 4)
        let m = try ModelBench.run(req, reference: ref)[0].result
        let tol = passTolerance(w.config, rms: rms(ref.hidden), bothRound: false)
        #expect((m.maxAbsError ?? .nan) <= tol, "max abs \(m.maxAbsError ?? .nan) > \(tol)")
        #expect(m.top1Agreement == 1)
    }
}
