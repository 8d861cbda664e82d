import Harness
import Kernels
import Model
import Testing

/// Whole passes of the tiny presets against the fp64 reference pass.
@Suite struct ModelPassTests {
    static let prompt = [3, 141, 59, 265, 358, 97, 93, 238, 462, 64, 33, 83, 279, 502, 88, 41, 97, 169, 399, 375]

    static func request(
        _ preset: String, plans: [Plan], pattern: AttentionPattern = .all, threads: Int = 1,
        weights: ModelWeights? = nil
    ) throws -> ModelBench.Request {
        let cfg = try ModelConfig.preset(preset)
        return ModelBench.Request(
            weights: weights ?? .synthetic(cfg, seed: 11), plans: plans, pattern: pattern, threads: threads,
            prompt: prompt, types: nil, generate: cfg.isDecoder ? 12 : 0, repetitions: 1)
    }

    /// Every variant of every operator (and 2 threads), f32 weights: within the rounding
    /// model's tolerance of the fp64 pass, and the decoder's greedy predictions all agree.
    @Test(arguments: ["tiny", "tiny-encoder", "llama-tiny", "qwen2-tiny"], [1, 2])
    func exactPlansMatchTheFp64Pass(preset: String, threads: Int) throws {
        let req = try Self.request(preset, plans: try exactPlans(), threads: threads)
        let ref = ReferenceModel(weights: req.weights, pattern: .all).run(prompt: req.prompt, generate: req.generate)
        let tol = passTolerance(req.weights.config, rms: rms(ref.hidden), bothRound: false)
        for run in try ModelBench.run(req, reference: ref) {
            let m = run.result
            #expect((m.maxAbsError ?? .nan) <= tol, "\(preset) \(m.plan) t=\(threads): max abs \(m.maxAbsError ?? .nan) > \(tol)")
            #expect((m.cosine ?? .nan) >= cosineBound(tol: tol, rms: rms(ref.hidden)), "\(m.plan): cosine \(m.cosine ?? .nan)")
            #expect(run.hidden.rows == Self.prompt.count + req.generate)
            if req.weights.config.isDecoder {
                #expect(m.top1Agreement == 1, "\(m.plan): top-1 agreement \(m.top1Agreement ?? -1)")
                #expect(m.decodeTokensPerSecond.count == 1 && m.decodeTokensPerSecond[0] > 0)
                let ops =
                    req.weights.config.architecture == .llama
                    ? ["matmul", "attention", "rmsnorm", "rope", "swiglu", "softmax", "add", "embed"]
                    : ["matmul", "attention", "layernorm", "gelu", "softmax", "add", "embed"]
                for op in ops {
                    #expect((m.opSeconds[op] ?? 0) > 0, "\(m.plan): no time recorded for \(op)")
                }
            } else {
                #expect(m.top1Agreement == nil && m.decodeTokensPerSecond.isEmpty && m.pooledCosine! >= (m.cosine ?? .nan) - 1e-12)
            }
        }
    }

    /// Int4 plans differ from the f32 model only by quantization: the same pass in fp64 on
    /// the dequantized weights matches them within the exact-plan tolerance, for every int4
    /// variant and both formats.
    @Test(arguments: ["q4_0", "q4_1"])
    func int4PlansAreExactOnTheDequantizedWeights(format: String) throws {
        let cfg = try ModelConfig.preset("tiny")
        let w = ModelWeights.synthetic(cfg, seed: 11)
        let deq = try w.quantized(Plan.Weights(rawValue: format)!).dequantized()
        let plans = try ["naive", "simd", "blas"].map { try Plan.parse("int4=\($0),weights=\(format)") }
        let req = try Self.request("tiny", plans: plans, weights: w)
        let refDeq = ReferenceModel(weights: deq, pattern: .all).run(prompt: req.prompt, generate: req.generate)
        let tol = passTolerance(cfg, rms: rms(refDeq.hidden), bothRound: false)
        for run in try ModelBench.run(req, reference: refDeq) {
            #expect((run.result.maxAbsError ?? .nan) <= tol, "\(run.result.plan): \(run.result.maxAbsError ?? .nan) > \(tol)")
        }
        // Against the f32 model's reference the same plans report a real, larger error.
        let f32 = try ModelBench.run(Self.request("tiny", plans: [plans[1]], weights: w))[0].result
        #expect((f32.maxAbsError ?? .nan) > 10 * tol && (f32.cosine ?? .nan) < 1)
    }

    /// int4=act8 rounds the activations: against the fp64 pass of the dequantized weights the
    /// exact plan stays within the rounding model's tolerance and act8 does not, yet the cost of
    /// rounding activations to 8 bits (KL) stays below that of rounding the weights to Q4_0.
    /// With Q4_K weights (tiny's fc2, K = 256; the others fall back to a 32-weight format) act8
    /// runs every tensor: the pass runs and differs from the all-exact one.
    /// Without the fp64 reference (speed only) every accuracy field stays empty, the passes
    /// are timed as many times, and the decode steps feed the first plan's own greedy tokens:
    /// with a plan that agrees with fp64 on every prediction those are the reference's, so the
    /// final hidden states are the scored run's, bit for bit.
    @Test(arguments: ["tiny", "llama-tiny", "tiny-encoder"])
    func unscoredPassesKeepNoAccuracy(preset: String) throws {
        let plans = [try Plan.parse("matmul=simd")]
        let scored = try ModelBench.run(try Self.request(preset, plans: plans))[0]
        var req = try Self.request(preset, plans: plans)
        req.scored = false
        let speedOnly = try ModelBench.run(req)[0]
        let r = speedOnly.result
        #expect(r.maxAbsError == nil && r.cosine == nil && r.minTokenCosine == nil && r.pooledCosine == nil)
        #expect(r.top1Agreement == nil && r.meanKL == nil)
        #expect(r.prefillTokensPerSecond.count == 1 && r.decodeTokensPerSecond.count == (r.generatedTokens > 0 ? 1 : 0))
        #expect(scored.result.top1Agreement ?? 1 == 1, "the f32 plan should agree with fp64 here")
        #expect(speedOnly.hidden == scored.hidden, "\(preset): the unscored pass fed other tokens or computed otherwise")
    }

    /// The memory check counts the fp64 reference only when the pass is scored: without it the
    /// budget is the fp32 weights and the quantized copies, and the difference is the
    /// reference's linears (up to `ReferenceModel.resident`) plus its fp64 token embedding.
    @Test func unscoredPassesBudgetNoReference() throws {
        let cfg = try ModelConfig.preset("tinyllama-1.1b")
        let params = cfg.parameterCount, embedding = Double(cfg.vocab) * Double(cfg.hidden)
        let scored = ModelWeights.memoryNeeded(cfg, quantizedPlans: 2),
            speedOnly = ModelWeights.memoryNeeded(cfg, quantizedPlans: 2, scored: false)
        #expect(speedOnly == 4 * params + 2 * 2.2 * params)
        #expect(scored - speedOnly == min(8 * params, Double(ReferenceModel.resident)) + 8 * embedding)
    }

    /// A plan whose matmul reads packed weights (simd) packs every fp32 layer linear once at
    /// load, and the memory check budgets 4 bytes per linear weight for it; blas's plan and a
    /// quantized plan's int4 linears pack nothing. (What the panels compute is checked bit for
    /// bit against the stored weights in MatmulTests; the f32 plans against fp64 in ModelTests.)
    @Test func simdPlansPackTheLinears() throws {
        let cfg = try ModelConfig.preset("tiny")
        let w = ModelWeights.synthetic(cfg, seed: 5)
        let simd = try ModelRunner(weights: w, plan: try Plan.parse("matmul=simd"), threads: 1, pattern: .all, capacity: 8)
        let blas = try ModelRunner(weights: w, plan: try Plan.parse("matmul=blas"), threads: 1, pattern: .all, capacity: 8)
        let q = try ModelRunner(weights: w, plan: try Plan.parse("weights=q8_0"), threads: 1, pattern: .all, capacity: 8)
        for (i, l) in simd.weights.layers.enumerated() {
            for (name, path) in l.linears {
                let lin = l[keyPath: path]
                #expect(lin.packed?.weight == lin.weight, "layer \(i) \(name) not packed")
                #expect(blas.weights.layers[i][keyPath: path].packed == nil && q.weights.layers[i][keyPath: path].packed == nil)
            }
        }
        let linears = cfg.linearParameterCount
        #expect(
            ModelWeights.memoryNeeded(cfg, quantizedPlans: 1, packedPlans: 2, scored: false)
                - ModelWeights.memoryNeeded(cfg, quantizedPlans: 1, scored: false) == 8 * linears)
    }

    @Test(arguments: ["q8_0", "q4_0", "q4_1", "q4_k_m"])
    func act8PlansRoundTheActivations(format: String) throws {
        let cfg = try ModelConfig.preset("tiny")
        let w = ModelWeights.synthetic(cfg, seed: 11)
        let deq = try w.quantized(Plan.Weights(rawValue: format)!).dequantized()
        let plans = try ["simd", "act8"].map { try Plan.parse("int4=\($0),weights=\(format)") }
        let req = try Self.request("tiny", plans: plans, weights: w)
        let refDeq = ReferenceModel(weights: deq, pattern: .all).run(prompt: req.prompt, generate: req.generate)
        let tol = passTolerance(cfg, rms: rms(refDeq.hidden), bothRound: false)
        let runs = try ModelBench.run(req, reference: refDeq).map(\.result)
        #expect(
            (runs[0].maxAbsError ?? .nan) <= tol && (runs[1].maxAbsError ?? .nan) > tol,
            "\(runs[0].maxAbsError ?? .nan), \(runs[1].maxAbsError ?? .nan), tol \(tol)")
        let q4 = try ModelBench.run(Self.request("tiny", plans: [try Plan.parse("weights=q4_0")], weights: w))[0].result
        let (act8KL, q4KL) = (runs[1].meanKL ?? .nan, q4.meanKL ?? .nan)
        #expect(act8KL > 0 && act8KL < q4KL, "act8 KL \(act8KL), Q4_0 weights KL \(q4KL)")
        let mixed = try ModelBench.run(
            Self.request("tiny", plans: try ["simd", "act8"].map { try Plan.parse("int4=\($0),weights=q4_k") }, weights: w)
        ).map(\.result)
        #expect((mixed[1].cosine ?? .nan).isFinite && mixed[1].maxAbsError != mixed[0].maxAbsError)
    }

    /// The next-token divergence from the fp64 pass ranks the weight formats: KL ≥ 0 always,
    /// f32 (rounding only) below Q8_0 below Q4_0, and the exact plan's KL far under Q8_0's.
    @Test(arguments: ["tiny", "llama-tiny"])
    func klDivergenceRanksQuantization(preset: String) throws {
        let plans = try ["f32", "q8_0", "q4_0"].map { try Plan.parse("weights=\($0)") }
        let runs = try ModelBench.run(try Self.request(preset, plans: plans)).map(\.result)
        let kl = runs.map { $0.meanKL ?? -1 }
        #expect(kl.allSatisfy { $0 >= 0 }, "\(kl)")
        #expect(kl[0] < kl[1] / 100 && kl[1] < kl[2], "KL f32 \(kl[0]), q8_0 \(kl[1]), q4_0 \(kl[2])")
    }

    /// Sparse plans run the pattern they name: equal to the fp64 pass with that pattern,
    /// different from the dense pass.
    @Test(arguments: ["tiny", "tiny-encoder", "llama-tiny"])
    func sparsePatternsMatchTheirReference(preset: String) throws {
        let pattern = AttentionPattern(window: 4, global: 2)
        let req = try Self.request(preset, plans: try exactPlans(), pattern: pattern)
        let ref = ReferenceModel(weights: req.weights, pattern: pattern).run(prompt: req.prompt, generate: req.generate)
        let dense = ReferenceModel(weights: req.weights, pattern: .all).run(prompt: req.prompt, generate: req.generate)
        let tol = passTolerance(req.weights.config, rms: rms(ref.hidden), bothRound: false)
        for run in try ModelBench.run(req, reference: ref) {
            #expect((run.result.maxAbsError ?? .nan) <= tol, "\(run.result.plan) \(pattern): \(run.result.maxAbsError ?? .nan) > \(tol)")
            #expect(run.result.pattern.contains("window=4,global=2"))
        }
        let gap = zip(ref.hidden, dense.hidden).map { abs($0 - $1) }.max()!
        #expect(gap > 100 * tol, "the window must change the result (gap \(gap))")
    }

    /// Decode with the KV cache gives the same hidden states as one prefill of the whole
    /// sequence (the causal mask makes them the same function).
    /// Prefill of the whole sequence against prefill then one decode step per token, for an
    /// fp32 and a half-precision cache. With kv=f16 the prefill's attention reads the fp32
    /// rows (rounded to half precision as they were stored) through the tile path, and the
    /// decode steps read the halves through attention.simd's fp16 decode entry.
    @Test(arguments: Plan.KVCache.allCases, ["tiny", "llama-tiny", "qwen2-tiny"])
    func kvCacheDecodeEqualsFullPrefill(kv: Plan.KVCache, preset: String) throws {
        let cfg = try ModelConfig.preset(preset)
        let w = ModelWeights.synthetic(cfg, seed: 3)
        var plan = Plan(); plan.kv = kv
        let runner = try ModelRunner(weights: w, plan: plan, threads: 1, pattern: .all, capacity: 40)
        let seq = Self.prompt + [5, 6, 7, 8, 9]
        let full = try runner.forward(seq)
        let fullRows = (0..<seq.count).map { Array(UnsafeBufferPointer(start: full.row($0), count: cfg.hidden)) }
        runner.reset()
        var rows = (0..<Self.prompt.count).map { _ in [Float]() }
        let pre = try runner.forward(Self.prompt)
        for r in 0..<Self.prompt.count { rows[r] = Array(UnsafeBufferPointer(start: pre.row(r), count: cfg.hidden)) }
        for t in seq[Self.prompt.count...] {
            let h = try runner.forward([t])
            rows.append(Array(UnsafeBufferPointer(start: h.row(0), count: cfg.hidden)))
        }
        let tol = passTolerance(cfg, rms: rms(fullRows.flatMap { $0 }), bothRound: true)
        let err = zip(rows.flatMap { $0 }, fullRows.flatMap { $0 }).map { Double(abs($0 - $1)) }.max()!
        let perRow = (0..<seq.count).map { r in zip(rows[r], fullRows[r]).map { Double(abs($0 - $1)) }.max()! }
        #expect(err <= tol, "decode vs prefill (kv=\(kv)): \(err) > \(tol); per row \(perRow)")
        // The cache format is in effect: rounding K and V to halves moves the hidden states.
        if kv == .f16 {
            let exact = try ModelRunner(weights: w, plan: Plan(), threads: 1, pattern: .all, capacity: 40).forward(seq)
            let moved = (0..<seq.count).contains { r in (0..<cfg.hidden).contains { exact.row(r)[$0] != fullRows[r][$0] } }
            #expect(moved, "kv=f16 gave the fp32 cache's hidden states bit for bit")
        }
    }

    @Test func badInputIsATypedErrorNamingTheValues() throws {
        let cfg = try ModelConfig.preset("tiny")
        let w = ModelWeights.synthetic(cfg, seed: 1)
        let runner = try ModelRunner(weights: w, plan: Plan(), threads: 1, pattern: .all, capacity: 8)
        expectError(["token 1 is id 512", "vocabulary 0..<512"]) { _ = try runner.forward([1, 512]) }
        expectError(["token 0 is id -1"]) { _ = try runner.forward([-1]) }
        expectError(["9 tokens exceed the capacity of 8"]) { _ = try runner.forward(Array(repeating: 1, count: 9)) }
        expectError(["token types are for encoders"]) { _ = try runner.forward([1], types: [0]) }
        expectError(["200 tokens exceed tiny's 128 positions"]) {
            _ = try ModelRunner(weights: w, plan: Plan(), threads: 1, pattern: .all, capacity: 200)
        }
        expectError(["120 prompt + 20 generated = 140 tokens exceed tiny's 128 positions"]) {
            try ModelBench.Request(
                weights: w, plans: [Plan()], pattern: .all, threads: 1, prompt: Array(repeating: 1, count: 120),
                types: nil, generate: 20, repetitions: 1
            ).validate()
        }
        let enc = ModelWeights.synthetic(try ModelConfig.preset("tiny-encoder"), seed: 1)
        expectError(["--generate", "encoder"]) {
            try ModelBench.Request(
                weights: enc, plans: [Plan()], pattern: .all, threads: 1, prompt: [1, 2], types: nil,
                generate: 3, repetitions: 1
            ).validate()
        }
        expectError(["bidirectional encoder"]) {
            _ = try ModelRunner(weights: enc, plan: Plan(), threads: 1, pattern: AttentionPattern(causal: true), capacity: 8)
        }
        let encRunner = try ModelRunner(weights: enc, plan: Plan(), threads: 1, pattern: .all, capacity: 8)
        expectError(["token type 1 is 2, outside 0..<2"]) { _ = try encRunner.forward([1, 2], types: [0, 2]) }
        expectError(["2 token types for 3 tokens"]) { _ = try encRunner.forward([1, 2, 3], types: [0, 0]) }
        // A width that is not a multiple of the int4 block size.
        var odd = cfg
        odd.hidden = 48; odd.heads = 4; odd.ff = 96; odd.name = "odd"
        expectError(["weights=q4_0", "layer 0 q has 48 input features, not a multiple of 32"]) {
            _ = try ModelRunner(
                weights: .synthetic(odd, seed: 1), plan: try Plan.parse("weights=q4_0"), threads: 1, pattern: .all, capacity: 8)
        }
    }
}
