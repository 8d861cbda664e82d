import Foundation
import Harness
import Kernels
import Model
import Testing

/// Llama-family passes against Hugging Face `transformers` run in float64
/// (`Fixtures/make_llama_fixture.py`): a Llama with grouped-query attention and its own LM
/// head, and a Qwen2 with multi-query attention, Q/K/V biases, neox rotary pairs and tied
/// embeddings, each read from its GGUF file (llama.cpp's layout: Llama's Q/K rows permuted for
/// adjacent pairs) and from its safetensors checkpoint (Hugging Face's layout, neox pairs).
/// Sequences include positions past 512.
@Suite struct LlamaFixtureTests {
    struct Sequence: Decodable {
        let name: String
        let tokens: [Int]
        let positions: [Int]
        /// [positions × vocab] float64 logits from transformers.
        let logits: [[Double]]
    }
    struct Model: Decodable { let sequences: [Sequence] }

    static let fixture: [String: Model] = {
        let url = Bundle.module.url(forResource: "Fixtures/llama_reference.json", withExtension: nil)!
        return try! JSONDecoder().decode([String: Model].self, from: Data(contentsOf: url))
    }()

    static func weights(_ model: String, _ format: String) throws -> ModelWeights {
        let path = Bundle.module.url(forResource: "Fixtures/\(model).\(format)", withExtension: nil)!.path
        if format == "gguf" { return try GGUFModel.load(try GGUF(path: path)) }
        return try ModelWeights.load(try ModelConfig.preset(model), from: try SafeTensors(path: path))
    }

    /// The logits tolerance: the pass's rounding model (`passTolerance`) with one more stage,
    /// the LM head's C-term dot products, on the scale of the expected logits. transformers ran
    /// in float64, so only OpBench's side rounds in fp32.
    static func tolerance(_ cfg: ModelConfig, _ expected: [[Double]]) -> Double {
        let stages = Double(13 * cfg.layers + 2)
        return passTolerance(cfg, rms: rms(expected.flatMap { $0 }), bothRound: false) * ((stages + 1) / stages).squareRoot()
    }

    /// Compares logits rows [tokens × vocab] at the fixture's positions; returns the max abs error.
    static func maxError(_ got: Matrix, _ seq: Sequence) -> Double {
        var worst = 0.0
        for (row, p) in seq.positions.enumerated() {
            for (j, e) in seq.logits[row].enumerated() { worst = max(worst, abs(Double(got[p, j]) - e)) }
        }
        return worst
    }

    @Test(arguments: ["llama-tiny", "qwen2-tiny"], ["gguf", "safetensors"])
    func exactPlansMatchTransformers(model: String, format: String) throws {
        let w = try Self.weights(model, format)
        let cfg = w.config
        #expect(cfg.architecture == .llama && cfg.kvHeads == (model == "llama-tiny" ? 2 : 1))
        // GGUF `llama` holds the adjacent layout; Hugging Face checkpoints and qwen2 the neox one.
        #expect(cfg.ropePairing == (model == "llama-tiny" && format == "gguf" ? .adjacent : .neox))
        #expect(cfg.qkvBias == (model == "qwen2-tiny") && cfg.tiedEmbeddings == (model == "qwen2-tiny"))
        var plans = try exactPlans()
        plans.append(try Plan.parse("threads=2"))
        for seq in Self.fixture[model]!.sequences {
            let tol = Self.tolerance(cfg, seq.logits)
            // The fp64 reference pass agrees with transformers to fp64 rounding (the same model
            // of error with u = 2⁻⁵³ in place of 2⁻²⁴).
            let reference = ReferenceModel(weights: w, pattern: .all)
            let refLogits = reference.logits(reference.run(prompt: seq.tokens).hidden, rows: seq.tokens.count)
            var refErr = 0.0
            for (row, p) in seq.positions.enumerated() {
                for (j, e) in seq.logits[row].enumerated() { refErr = max(refErr, abs(refLogits[p * cfg.vocab + j] - e)) }
            }
            #expect(refErr <= tol * 0x1p-29, "\(model).\(format) \(seq.name): fp64 pass vs transformers \(refErr)")
            for plan in plans {
                let runner = try ModelRunner(weights: w, plan: plan, threads: 1, pattern: .all, capacity: seq.tokens.count)
                let logits = try runner.logits(try runner.forward(seq.tokens))
                let err = Self.maxError(logits, seq)
                #expect(err <= tol, "\(model).\(format) \(seq.name) \(plan): max abs \(err) > \(tol)")
            }
        }
    }

    /// Prefill of the first 500 tokens, then one decode step per token up to 600: the logits at
    /// positions past 512 match transformers' full-sequence pass.
    @Test(arguments: ["llama-tiny", "qwen2-tiny"])
    func decodePastPosition512MatchesTransformers(model: String) throws {
        let w = try Self.weights(model, "gguf")
        let seq = Self.fixture[model]!.sequences.first { $0.name == "long" }!
        let runner = try ModelRunner(weights: w, plan: Plan(), threads: 2, pattern: .all, capacity: seq.tokens.count)
        var rows = Matrix(rows: seq.tokens.count, cols: w.config.vocab)
        let pre = try runner.logits(try runner.forward(Array(seq.tokens[..<500])))
        for p in 0..<500 { for j in 0..<w.config.vocab { rows[p, j] = pre[p, j] } }
        for p in 500..<seq.tokens.count {
            let step = try runner.logits(try runner.forward([seq.tokens[p]]))
            for j in 0..<w.config.vocab { rows[p, j] = step[0, j] }
        }
        let tol = Self.tolerance(w.config, seq.logits)
        #expect(Self.maxError(rows, seq) <= tol, "\(model) decode: \(Self.maxError(rows, seq)) > \(tol)")
        // The pairing is in effect: the same weights rotated in the other pairing are far off.
        var other = w
        other.config.ropePairing = w.config.ropePairing == .neox ? .adjacent : .neox
        let wrong = try ModelRunner(weights: other, plan: Plan(), threads: 2, pattern: .all, capacity: seq.tokens.count)
        let wrongLogits = try wrong.logits(try wrong.forward(seq.tokens))
        #expect(Self.maxError(wrongLogits, seq) > 100 * tol, "the pairing must matter")
    }
}
