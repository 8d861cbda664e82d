import Foundation
import Harness
import Kernels

/// Measures plans on one model and input, and scores each against the fp64 reference pass of
/// the model (dense attention, fp32 weights; `reference` overrides it, e.g. with the same
/// sparse pattern to check a kernel rather than price an approximation). Without a reference
/// (`Request.scored` false: speed only, as llama-bench measures) the accuracy fields stay
/// empty and the decode steps feed the first plan's own greedy tokens, from one untimed pass.
///
/// Protocol (like llama-bench's pp/tg): per plan, one untimed warm-up (the prompt and one
/// decode step), then `repetitions` timed passes, each from an empty KV cache: prefill of
/// the prompt (including the first next-token distribution for decoders), then `generate`
/// decode steps, each feeding the reference's greedy token and computing the next
/// distribution. The passes are interleaved: round r times pass r of every plan, so a shared
/// machine's drift hits the plans alike. Prefill tokens/s = prompt / prefill time, decode tokens/s = generate /
/// decode time, one value per repetition. Accuracy comes from the first timed pass (the
/// kernels are deterministic for a fixed thread count).
public enum ModelBench {
    public struct Request {
        public var weights: ModelWeights
        public var plans: [Plan]
        public var pattern: AttentionPattern
        public var threads: Int
        public var prompt: [Int]
        public var types: [Int]?
        public var generate: Int
        public var repetitions: Int
        /// Keep the first plan's call sites (`Run.calls`) from one more, untimed pass.
        public var recordCalls = false
        /// Score the plans against the fp64 reference pass (false: speed only, no accuracy).
        public var scored = true

        public init(
            weights: ModelWeights, plans: [Plan], pattern: AttentionPattern, threads: Int, prompt: [Int],
            types: [Int]?, generate: Int, repetitions: Int
        ) {
            self.weights = weights; self.plans = plans; self.pattern = pattern; self.threads = threads
            self.prompt = prompt; self.types = types; self.generate = generate; self.repetitions = repetitions
        }

        /// Checks everything that does not need a pass: token ranges, lengths, counts.
        public func validate() throws {
            let cfg = weights.config
            guard !plans.isEmpty else { throw ModelError.invalidOption(option: "--plan", value: "", reason: "give at least one plan") }
            guard (1...1000).contains(repetitions) else {
                throw ModelError.invalidOption(option: "--repetitions", value: "\(repetitions)", reason: "must be from 1 to 1000")
            }
            guard generate >= 0 else {
                throw ModelError.invalidOption(option: "--generate", value: "\(generate)", reason: "must be at least 0")
            }
            if cfg.architecture == .encoder && generate > 0 {
                throw ModelError.invalidOption(
                    option: "--generate", value: "\(generate)",
                    reason: "\(cfg.name) is an encoder (no decode step); use --generate 0")
            }
            guard prompt.count + generate <= cfg.maxPositions else {
                throw ModelError.invalidTokens(
                    reason:
                        "\(prompt.count) prompt + \(generate) generated = \(prompt.count + generate) tokens exceed \(cfg.name)'s "
                        + "\(cfg.maxPositions) positions"
                )
            }
        }
    }

    public struct Run {
        public var result: ModelResult
        /// Final hidden states of every position, [prompt + generate × C].
        public var hidden: Matrix
        /// Seconds spent in each operator, in prefill and in decode, one dictionary per
        /// repetition (in the order of `result`'s tokens/s).
        public var prefillOpSeconds: [[String: Double]] = []
        public var decodeOpSeconds: [[String: Double]] = []
        /// The operator calls of one pass, by site (`Request.recordCalls`, first plan only).
        public var calls: [CallSite: Int]?
    }

    /// Runs every plan; `progress` is told which plan starts.
    public static func run(
        _ req: Request, reference: ReferenceModel.Output? = nil,
        progress: (Int, Plan) -> Void = { _, _ in }
    ) throws -> [Run] {
        try req.validate()
        let cfg = req.weights.config
        let p = req.prompt.count, g = req.generate, c = cfg.hidden
        // Build every runner first so a bad plan fails before any pass runs.
        let runners = try req.plans.map {
            try ModelRunner(weights: req.weights, plan: $0, threads: req.threads, pattern: req.pattern, capacity: p + g)
        }
        try runners[0].validate(tokens: req.prompt, types: req.types)
        // The reference is the model as defined — dense attention (causal for decoders) and the
        // fp32 weights — so a plan's sparsity and quantization both show up as its accuracy cost.
        let ref =
            reference
            ?? (req.scored
                ? ReferenceModel(weights: req.weights, pattern: .all).run(prompt: req.prompt, types: req.types, generate: g) : nil)
        // OpenBLAS's worker threads, which ran the reference's dgemm, spin for about 2^28 cycles
        // (~0.1 s) after their last call before they sleep; a 2-thread pass timed in that window
        // shares a core with a spinner and ran at a third of its speed. Let them go idle first.
        if reference == nil && req.scored { Thread.sleep(forTimeInterval: 0.25) }
        // The tokens the decode steps feed: the reference's greedy ones, or without a
        // reference the first plan's own, from an untimed pass.
        var fed: [Int] = []
        if let ref {
            fed = Array(ref.tokens[p..<(p + g)])
        } else if g > 0 {
            let runner = runners[0]
            runner.reset()
            var next = try runner.nextToken(after: try runner.forward(req.prompt, types: req.types)).top1
            for _ in 0..<g {
                fed.append(next)
                next = try runner.nextToken(after: try runner.forward([next])).top1
            }
        }
        // What each plan accumulates over its timed passes.
        struct Tally {
            var prefill: [Double] = [], decode: [Double] = []
            var prefillOps: [[String: Double]] = [], decodeOps: [[String: Double]] = []
            var hidden: Matrix
            var predictions: [Int] = [], divergences: [Double] = []
            var hits = 0, misses = 0
        }
        var tallies = runners.map { _ in Tally(hidden: Matrix(rows: p + g, cols: c)) }
        // KL(P_fp64 ‖ P_plan) of prediction `n`, the plan's log-probabilities from its logits
        // in fp64 (a log-softmax: no log of an underflowed fp32 probability).
        func divergence(_ runner: ModelRunner, _ n: Int, _ ref: ReferenceModel.Output) -> Double {
            let logits = runner.lastLogits, v = cfg.vocab
            var m = -Double.infinity
            for x in logits { m = Swift.max(m, Double(x)) }
            var sum = 0.0
            for x in logits { sum += Foundation.exp(Double(x) - m) }
            let logZ = m + Foundation.log(sum)
            // Σ p·log(p/q) − p + q: the same sum (both distributions total 1), but each term is
            // ≥ 0 (x·log x − x + 1 ≥ 0), so rounding cannot make a near-zero KL negative.
            var kl = 0.0
            for j in 0..<v {
                let pr = ref.distributions[n * v + j], lq = Double(logits[j]) - logZ
                let term = (pr > 0 ? pr * (Foundation.log(pr) - lq) : 0) - pr + Foundation.exp(lq)
                kl += Swift.max(0, term)
            }
            return kl
        }
        func spent(_ after: [String: Double], since before: [String: Double]) -> [String: Double] {
            var out: [String: Double] = [:]
            for (op, s) in after { out[op] = s - (before[op] ?? 0) }
            return out
        }
        for (index, runner) in runners.enumerated() {
            progress(index, runner.plan)
            // Warm-up.
            runner.reset()
            let hw = try runner.forward(req.prompt, types: req.types)
            if cfg.isDecoder {
                _ = try runner.nextToken(after: hw)
                if g > 0 { _ = try runner.nextToken(after: try runner.forward([fed[0]])) }
            }
            runner.resetTimers()
        }
        // Round `rep` times pass `rep` of every plan, so a shared machine's drift hits the
        // plans alike (as bench interleaves its variants).
        // One timed pass of `runner` into `tally` (in place: no copy of its buffers while timing).
        func pass(_ runner: ModelRunner, _ tally: inout Tally, rep: Int) throws {
            TunedChoices.resetCounts()
            runner.reset()
            let ops0 = runner.opSeconds
            let t0 = Machine.now()
            let h = try runner.forward(req.prompt, types: req.types)
            var pred = cfg.isDecoder ? try runner.nextToken(after: h).top1 : 0
            let t1 = Machine.now()
            let ops1 = runner.opSeconds
            if rep == 0 {
                tally.hidden.withMutableView { out in for r in 0..<p { out.row(r).update(from: h.row(r), count: c) } }
                tally.predictions.append(pred)
                if cfg.isDecoder, let ref { tally.divergences.append(divergence(runner, 0, ref)) }
            }
            for step in 0..<g {
                let hs = try runner.forward([fed[step]])
                pred = try runner.nextToken(after: hs).top1
                if rep == 0 {
                    tally.hidden.withMutableView { $0.row(p + step).update(from: hs.row(0), count: c) }
                    tally.predictions.append(pred)
                    if let ref { tally.divergences.append(divergence(runner, step + 1, ref)) }
                }
            }
            let t2 = Machine.now()
            tally.prefill.append(Double(p) / (t1 - t0))
            if g > 0 { tally.decode.append(Double(g) / (t2 - t1)) }
            tally.prefillOps.append(spent(ops1, since: ops0))
            tally.decodeOps.append(spent(runner.opSeconds, since: ops1))
            (tally.hits, tally.misses) = (tally.hits + TunedChoices.hits, tally.misses + TunedChoices.misses)
        }
        for rep in 0..<req.repetitions {
            for (index, runner) in runners.enumerated() { try pass(runner, &tallies[index], rep: rep) }
        }
        var runs: [Run] = []
        for (index, runner) in runners.enumerated() {
            let tally = tallies[index]
            // One more pass, untimed, that records where every operator call happens.
            var calls: [CallSite: Int]?
            if req.recordCalls && index == 0 {
                runner.reset()
                runner.callLog = [:]
                runner.phase = .prefill
                let h = try runner.forward(req.prompt, types: req.types)
                if cfg.isDecoder { _ = try runner.nextToken(after: h) }
                runner.phase = .decode
                for step in 0..<g { _ = try runner.nextToken(after: try runner.forward([fed[step]])) }
                calls = runner.callLog
                runner.callLog = nil
                runner.phase = .prefill
            }
            let got = tally.hidden.dense
            // Accuracy against the reference, when there is one.
            var acc: Accuracy?, minTokenCosine: Double?, pooled: Double?, top1: Double?
            if let ref {
                acc = Accuracy(got: got, ref: ref.hidden)
                // NaN-propagating: one position whose cosine is not a number makes the minimum NaN.
                var lowest = 1.0
                for r in 0..<(p + g) {
                    let cosine = Accuracy(got: got[(r * c)..<((r + 1) * c)], ref: ref.hidden[(r * c)..<((r + 1) * c)]).cosine
                    if cosine.isNaN || cosine < lowest { lowest = cosine }
                    if lowest.isNaN { break }
                }
                minTokenCosine = lowest
                if cfg.architecture == .encoder {
                    pooled =
                        Accuracy(got: meanPool(got.map(Double.init), rows: p + g, cols: c), ref: meanPool(ref.hidden, rows: p + g, cols: c))
                        .cosine
                }
                if cfg.isDecoder {
                    top1 = Double(zip(tally.predictions, ref.predictions).filter { $0 == $1 }.count) / Double(ref.predictions.count)
                }
            }
            var result = ModelResult(
                preset: cfg.name, architecture: cfg.architecture.rawValue, plan: runner.plan.description,
                pattern: runner.pattern.description, weights: req.weights.source, threads: runner.threads,
                promptTokens: p, generatedTokens: g, prefillTokensPerSecond: tally.prefill, decodeTokensPerSecond: tally.decode,
                opSeconds: runner.opSeconds.mapValues { $0 / Double(req.repetitions) },
                prefillLinearFlops: req.weights.linearFlops(tokens: p),
                weightBytesPerToken: Double(runner.weights.bytesPerDecodeStep),
                maxAbsError: acc?.maxAbs, cosine: acc?.cosine, minTokenCosine: minTokenCosine,
                pooledCosine: pooled, top1Agreement: top1,
                meanKL: tally.divergences.isEmpty ? nil : tally.divergences.reduce(0, +) / Double(tally.divergences.count))
            if tally.hits + tally.misses > 0 { (result.tunedCalls, result.autoCalls) = (tally.hits, tally.hits + tally.misses) }
            runs.append(
                Run(
                    result: result, hidden: tally.hidden, prefillOpSeconds: tally.prefillOps, decodeOpSeconds: tally.decodeOps,
                    calls: calls))
        }
        return runs
    }

    /// The mean over rows of a [rows × cols] row-major matrix (sentence-transformers' pooling).
    public static func meanPool(_ x: [Double], rows: Int, cols: Int) -> [Double] {
        var out = [Double](repeating: 0, count: cols)
        for r in 0..<rows { for j in 0..<cols { out[j] += x[r * cols + j] } }
        return out.map { $0 / Double(rows) }
    }
}
