import Harness
import Kernels
import Testing

@testable import Model

/// `--what-if`: the call sites a pass records, the swaps they allow, the cases each call runs
/// as under a plan, and the Amdahl arithmetic.
@Suite struct WhatIfTests {
    /// One pass of `preset` recording its calls: prompt 8, 2 decode steps.
    static func calls(_ preset: String, plan: Plan = Plan()) throws -> [CallSite: Int] {
        let weights = ModelWeights.synthetic(try ModelConfig.preset(preset), seed: 3)
        var req = ModelBench.Request(
            weights: weights, plans: [plan], pattern: .init(), threads: 1, prompt: Array(0..<8), types: nil,
            generate: weights.config.isDecoder ? 2 : 0, repetitions: 1)
        req.recordCalls = true
        return try #require(try ModelBench.run(req)[0].calls)
    }

    /// Every call of a pass is recorded once per time it happens, with a shape its operator's
    /// spec reads, for both phases of a decoder.
    @Test func passesRecordEveryCall() throws {
        let cfg = try ModelConfig.preset("tiny")
        let calls = try Self.calls("tiny")
        for site in calls.keys { _ = try CaseShape(op: Op(rawValue: site.op), site.shape) }
        func count(_ phase: CallSite.Phase, _ op: String) -> Int {
            calls.filter { $0.key.phase == phase && $0.key.op == op }.map(\.value).reduce(0, +)
        }
        // Per pass: q, k, v, proj, fc1, fc2 per layer and the LM head; 2 decode steps.
        #expect(count(.prefill, "matmul") == 6 * cfg.layers + 1 && count(.decode, "matmul") == 2 * (6 * cfg.layers + 1))
        #expect(count(.prefill, "attention") == cfg.layers && count(.decode, "attention") == 2 * cfg.layers)
        #expect(count(.prefill, "layernorm") == 2 * cfg.layers + 1 && count(.decode, "softmax") == 2)
        #expect(
            calls[CallSite(phase: .decode, op: "attention", shape: "T=10,Tq=1,H=4,D=16,causal", tensor: nil, layer: nil, format: nil)]
                == cfg.layers)
        #expect(calls.keys.contains { $0.op == "matmul" && $0.shape == "1x64x512,nk" && $0.tensor == "head" })
        // Quantized linears are recorded as int4 calls in their format.
        var q = Plan()
        q.weights = .q8_0
        let quantized = try Self.calls("tiny", plan: q)
        #expect(quantized.keys.filter { $0.op == "matmul" }.isEmpty)
        #expect(quantized.keys.contains { $0.op == "int4" && $0.shape == "8x64x256,q8_0" && $0.tensor == "fc1" && $0.format == "q8_0" })
        // Llama: RoPE on Q and K heads, RMSNorm, SwiGLU.
        let llama = try Self.calls("llama-tiny")
        #expect(Set(llama.keys.map(\.op)) == ["matmul", "attention", "rmsnorm", "rope", "swiglu", "softmax"])
    }

    @Test func swapsChangeWhatSomeCallRuns() throws {
        let calls = try Self.calls("tiny")
        let names = WhatIf.swaps(of: Plan(), calls: calls, config: try ModelConfig.preset("tiny"), threads: 1, includeAuto: false).map(
            \.name)
        for expected in [
            "matmul=naive", "matmul=blas", "attention=blas", "layernorm=naive", "softmax=blas", "weights=q4_0", "weights=q8_0",
        ] {
            #expect(names.contains(expected), "\(names)")
        }
        #expect(!names.contains { $0.hasPrefix("rmsnorm") || $0.hasPrefix("rope") || $0.hasPrefix("int4") || $0.hasSuffix("=auto") })
        let withAuto = WhatIf.swaps(of: Plan(), calls: calls, config: try ModelConfig.preset("tiny"), threads: 1, includeAuto: true)
        #expect(withAuto.map(\.name).contains("matmul=auto"))
        // From quantized weights, the int4 variant is a swap of its own.
        var q = Plan()
        q.weights = .q4_0
        let qNames = WhatIf.swaps(
            of: q, calls: try Self.calls("tiny", plan: q), config: try ModelConfig.preset("tiny"), threads: 1, includeAuto: false
        )
        .map(\.name)
        #expect(qNames.contains("int4=act8") && qNames.contains("weights=f32"))
    }

    /// A linear call runs as the plan's matmul in fp32, as the plan's int4 variant in the format
    /// the plan gives the tensor (GPT-2's V as Q; act8 runs the K-quants too).
    @Test func callsMapToTheCasesAPlanRuns() throws {
        let cfg = try ModelConfig.preset("gpt2-small")
        let v = CallSite(phase: .prefill, op: "matmul", shape: "8x768x768,nk", tensor: "v", layer: 11, format: nil)
        var plan = Plan()
        #expect(WhatIf.benchCase(v, plan: plan, config: cfg)?.shape == "8x768x768,nk")
        plan.weights = .q4_k_m
        // In llama.cpp's mix V of the last layers takes Q6_K; GPT-2's fused QKV follows Q: Q4_K.
        #expect(WhatIf.benchCase(v, plan: plan, config: cfg).map { "\($0.id) \($0.shape)" } == "int4.simd 8x768x768,q4_k")
        plan.int4 = "act8"
        let fc2 = CallSite(phase: .prefill, op: "matmul", shape: "8x3072x768,nk", tensor: "fc2", layer: 11, format: nil)
        #expect(WhatIf.benchCase(fc2, plan: plan, config: cfg).map { "\($0.id) \($0.shape)" } == "int4.act8 8x3072x768,q6_k")
        plan.weights = .q8_0
        #expect(WhatIf.benchCase(fc2, plan: plan, config: cfg).map { "\($0.id) \($0.shape)" } == "int4.act8 8x3072x768,q8_0")
    }

    /// Amdahl: the swapped group's time in the pass scales by its isolated cost ratio; the
    /// rest of the pass stays.
    @Test func amdahlScalesOnlyTheSwappedGroup() {
        let inPass = ["matmul": 6.0, "attention": 3.0]
        #expect(WhatIf.amdahl(total: 10, inPass: inPass, before: ["matmul": 3], after: ["matmul": 1.5]) == 7)
        #expect(WhatIf.amdahl(total: 10, inPass: inPass, before: ["attention": 2], after: ["attention": 4]) == 13)
        #expect(WhatIf.amdahl(total: 10, inPass: inPass, before: [:], after: [:]) == 10)
    }
}
