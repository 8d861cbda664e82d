import Foundation
import Harness
import Kernels

/// One operator call of a model pass: the part of the pass, the operator, its shape as the
/// operator's spec spells it (what `opbench bench` takes), and for linears the tensor, layer
/// and weight format. `ModelRunner.callLog` counts them.
public struct CallSite: Hashable, Sendable {
    public enum Phase: String, Sendable, CaseIterable { case prefill, decode }
    public var phase: Phase
    public var op: String
    public var shape: String
    /// Linears: `q`, `k`, `v`, `proj`, `fc1`, `up`, `fc2` or `head`, and the layer (nil for the head).
    public var tensor: String?
    public var layer: Int?
    /// int4 linears: the weights' block format.
    public var format: String?
}

/// `opbench model --what-if`: from one measured pass of a base plan, predicts the tokens/s of
/// every one-operator swap (each other variant of each operator the pass calls, and each
/// other weight format) by Amdahl's law, then the command measures each swap for comparison.
///
/// The prediction: the pass records where every operator call happens (`CallSite`s, from an
/// extra untimed pass); every call is measured in isolation under the base plan and under
/// the swap (`opbench bench` cases at the call's shape and the pass's threads, side by side);
/// the operator's measured time in the pass is scaled by the ratio of the two sums (each call
/// counted as often as the pass makes it), and the rest of the pass is assumed unchanged.
/// Prefill and decode are predicted separately, once per repetition of the base pass, and the
/// median is the prediction.
public enum WhatIf {
    /// The base plan with one thing changed.
    public struct Swap: Sendable {
        /// The plan key changed: an operator (`matmul`, `int4`, `attention`, …) or `weights`.
        public var key: String
        public var from: String
        public var to: String
        public var plan: Plan
        /// `matmul=blas`, `weights=q4_0`.
        public var name: String { "\(key)=\(to)" }
    }

    /// What a swap is predicted to run at.
    public struct Prediction: Sendable {
        public var swap: Swap
        public var prefillTokensPerSecond: Double?
        public var decodeTokensPerSecond: Double?
        /// The groups whose isolated cost the swap changes, per phase.
        public var terms: [WhatIfTerm]
    }

    /// The linear timing key of a pass: `int4` when its linears were timed as such, else `matmul`.
    static func linearKey(_ run: ModelBench.Run) -> String {
        run.result.opSeconds[Int4.op.rawValue] != nil ? Int4.op.rawValue : Matmul.op.rawValue
    }

    /// The plan key that chooses the variant of a call of operator `op` (linears: `linear`).
    static func key(of op: String) -> String { op == Matmul.op.rawValue || op == Int4.op.rawValue ? "linear" : op }

    /// The case (variant id, shape) a call runs as under `plan` in a model of `config`.
    static func benchCase(_ call: CallSite, plan: Plan, config: ModelConfig) -> (id: VariantID, shape: String)? {
        guard key(of: call.op) == "linear" else {
            let variant: String
            switch call.op {
            case Attention.op.rawValue: variant = plan.attention
            case LayerNorm.op.rawValue: variant = plan.layernorm
            case RMSNorm.op.rawValue: variant = plan.rmsnorm
            case Softmax.op.rawValue: variant = plan.softmax
            case RoPE.op.rawValue: variant = plan.rope
            case SwiGLU.op.rawValue: variant = plan.swiglu
            default: return nil
            }
            return (VariantID(op: Op(rawValue: call.op), variant: variant), call.shape)
        }
        let dims = call.shape.split(separator: ",")[0].split(separator: "x").compactMap { Int($0) }
        guard dims.count == 3 else { return nil }
        let (m, k, n) = (dims[0], dims[1], dims[2])
        let format: QuantFormat? =
            plan.weights == .stored
            ? call.format.flatMap(QuantFormat.init(rawValue:))
            : plan.weights.format(tensor: call.tensor ?? "", layer: call.layer, config: config, k: k)
        guard let format else { return (VariantID(op: Matmul.op, variant: plan.matmul), "\(m)x\(k)x\(n),nk") }
        // As the runner does: a format the plan's int4 variant does not run takes int4.simd.
        let chosen = plan.int4Variant
        let runs = (Operators.kernel(VariantID(op: Int4.op, variant: chosen)) as? any Int4Kernel)?.supports(format) ?? false
        return (VariantID(op: Int4.op, variant: runs ? chosen : "simd"), "\(m)x\(k)x\(n)" + (format == .q4_0 ? "" : ",\(format.rawValue)"))
    }

    /// The swaps of `base` that change what some call of `calls` runs: each other registered
    /// variant of each operator the pass calls (`auto` only with `includeAuto`; never the
    /// ablation steps), the int4 variant when linears are quantized, and each other weight
    /// format. Swaps whose cases a variant cannot run at `threads` are left out.
    public static func swaps(of base: Plan, calls: [CallSite: Int], config: ModelConfig, threads: Int, includeAuto: Bool) -> [Swap] {
        var out: [Swap] = []
        let ops = Set(calls.keys.map(\.op))
        func consider(_ key: String, from: String, to: String, _ change: (inout Plan) -> Void) {
            var plan = base
            change(&plan)
            var changed = false
            for call in calls.keys {
                guard let before = benchCase(call, plan: base, config: config), let after = benchCase(call, plan: plan, config: config)
                else { continue }
                if before != after { changed = true }
                guard let shape = try? CaseShape(op: after.id.op, after.shape),
                    Operators.unsupported(after.id, shape, threads: threads) == nil
                else { return }
            }
            if changed { out.append(Swap(key: key, from: from, to: to, plan: plan)) }
        }
        func variants<F: OperatorFamily>(_ family: F.Type, current: String, _ set: @escaping (inout Plan, String) -> Void) {
            guard ops.contains(F.op.rawValue) || (F.op == Matmul.op && ops.contains(Int4.op.rawValue)) else { return }
            for k in F.kernels where k.name != current && (k.runsByDefault || (includeAuto && k.name == "auto")) {
                consider(F.op.rawValue, from: current, to: k.name) { set(&$0, k.name) }
            }
        }
        variants(Matmul.self, current: base.matmul) { $0.matmul = $1 }
        if ops.contains(Int4.op.rawValue) { variants(Int4.self, current: base.int4Variant) { $0.int4 = $1 } }
        variants(Attention.self, current: base.attention) { $0.attention = $1 }
        variants(LayerNorm.self, current: base.layernorm) { $0.layernorm = $1 }
        variants(RMSNorm.self, current: base.rmsnorm) { $0.rmsnorm = $1 }
        variants(Softmax.self, current: base.softmax) { $0.softmax = $1 }
        variants(RoPE.self, current: base.rope) { $0.rope = $1 }
        variants(SwiGLU.self, current: base.swiglu) { $0.swiglu = $1 }
        for w in Plan.Weights.allCases where w != base.weights && w != .stored {
            consider("weights", from: base.weights.rawValue, to: w.rawValue) { $0.weights = w }
        }
        return out
    }

    /// A phase's predicted seconds: `total`, with each timing group's time in the pass
    /// (`inPass`) scaled by the ratio of its calls' isolated cost after the swap to before.
    public static func amdahl(total: Double, inPass: [String: Double], before: [String: Double], after: [String: Double]) -> Double {
        var out = total
        for (group, b) in before where b > 0 { out += (inPass[group] ?? 0) * ((after[group] ?? b) / b - 1) }
        return out
    }

    /// Bytes of weights one pass of `plan` reads: each linear tensor its calls name, once, in
    /// the format the plan gives it.
    static func weightBytes(_ calls: [CallSite: Int], plan: Plan, config: ModelConfig) -> Double {
        var tensors: [String: Double] = [:]
        for call in calls.keys where key(of: call.op) == "linear" {
            guard let c = benchCase(call, plan: plan, config: config), let shape = try? CaseShape(op: c.id.op, c.shape) else { continue }
            // The weights' share of the case's compulsory traffic: all of it but x and y.
            let dims = c.shape.split(separator: ",")[0].split(separator: "x").compactMap { Double($0) }
            guard dims.count == 3 else { continue }
            tensors["\(call.tensor ?? "") \(call.layer ?? -1)"] = shape.bytes - 4 * dims[0] * (dims[1] + dims[2])
        }
        return tensors.values.reduce(0, +)
    }

    /// Measures every case the base's and the swaps' calls run as, on the pass's thread count,
    /// side by side (`Bench.run`; the linears of a plan whose weights exceed the L3 this machine
    /// measured with `--cache cold`, as a pass reads them from DRAM), and predicts each swap's
    /// prefill and decode tokens/s from `bases[i]`, a pass of `basePlan` measured beside swap i
    /// (`calls` from any pass of it). Returns the predictions and the cases.
    public static func predict(
        bases: [ModelBench.Run], plan basePlan: Plan, calls: [CallSite: Int], swaps: [Swap], config: ModelConfig, threads: Int,
        options: BenchOptions, machine: MachineInfo, progress: ((BenchProgress) -> Void)? = nil
    ) throws -> (predictions: [Prediction], cases: [CaseResult]) {
        let l3 = machine.ceiling(threads: threads).levels?.first { $0.level == "L3" }?.capacityBytes ?? Machine.cacheBytes(machine).l3
        // The case a call runs as under `plan`, and whether it is measured cold.
        func measured(_ call: CallSite, _ plan: Plan, cold: Bool) -> (id: VariantID, shape: String, cold: Bool)? {
            benchCase(call, plan: plan, config: config).map { ($0.id, $0.shape, cold && key(of: call.op) == "linear") }
        }
        func label(_ c: (id: VariantID, shape: String, cold: Bool)) -> String { "\(c.id) \(c.shape) \(c.cold ? "cold" : "warm")" }
        let plans = [basePlan] + swaps.map(\.plan)
        let cold = plans.map { weightBytes(calls, plan: $0, config: config) > l3 }
        var warmCases: [BenchCase] = [], coldCases: [BenchCase] = []
        var seen = Set<String>()
        for (plan, isCold) in zip(plans, cold) {
            for call in calls.keys {
                guard let c = measured(call, plan, cold: isCold), seen.insert(label(c)).inserted else { continue }
                let bc = BenchCase(variant: c.id, shape: try CaseShape(op: c.id.op, c.shape), threads: threads)
                if c.cold { coldCases.append(bc) } else { warmCases.append(bc) }
            }
        }
        var median: [String: Double] = [:]
        var results: [CaseResult] = []
        for (cases, mode) in [(warmCases, CacheMode.warm), (coldCases, .cold)] where !cases.isEmpty {
            var o = options
            o.cache = mode
            let measuredCases = try Bench.run(cases, options: o, machine: machine, progress: progress)
            for r in measuredCases { median["\(r.id) \(r.shape) \(mode.rawValue)"] = r.medianSeconds }
            results += measuredCases
        }
        // The prediction for swap i in `phase`: one per repetition of its base pass (that pass's
        // phase time and its operators' time in it), the median taken, so one slow pass of the
        // base does not move it; and the terms it came from.
        func predicted(_ i: Int, _ phase: CallSite.Phase) -> (rate: Double?, terms: [WhatIfTerm]) {
            let base = bases[i], swap = swaps[i]
            let tokens = phase == .prefill ? base.result.promptTokens : base.result.generatedTokens
            let rates = phase == .prefill ? base.result.prefillTokensPerSecond : base.result.decodeTokensPerSecond
            let opSeconds = phase == .prefill ? base.prefillOpSeconds : base.decodeOpSeconds
            guard tokens > 0, !rates.isEmpty, opSeconds.count == rates.count else { return (nil, []) }
            let linear = linearKey(base)
            // Per timing group (the linears together): the isolated cost of its calls before and after.
            var before: [String: Double] = [:], after: [String: Double] = [:]
            for (call, count) in calls where call.phase == phase {
                guard let b = measured(call, basePlan, cold: cold[0]), let a = measured(call, swap.plan, cold: cold[i + 1]),
                    let tb = median[label(b)], let ta = median[label(a)]
                else { continue }
                let group = key(of: call.op) == "linear" ? linear : call.op
                before[group, default: 0] += Double(count) * tb
                after[group, default: 0] += Double(count) * ta
            }
            let perPass = zip(rates, opSeconds).map { rate, ops in
                Double(tokens) / amdahl(total: Double(tokens) / rate, inPass: ops, before: before, after: after)
            }
            let terms = before.keys.sorted().compactMap { g -> WhatIfTerm? in
                guard let b = before[g], let a = after[g], a != b else { return nil }
                return WhatIfTerm(
                    phase: phase.rawValue, group: g, inPassSeconds: Statistics.median(opSeconds.map { $0[g] ?? 0 }),
                    isolatedBeforeSeconds: b, isolatedAfterSeconds: a)
            }
            let rate = Statistics.median(perPass)
            return (rate.isFinite && rate > 0 ? rate : nil, terms)
        }
        let predictions = swaps.indices.map { i in
            let (prefill, p) = predicted(i, .prefill), (decode, d) = predicted(i, .decode)
            return Prediction(swap: swaps[i], prefillTokensPerSecond: prefill, decodeTokensPerSecond: decode, terms: p + d)
        }
        return (predictions, results)
    }
}
