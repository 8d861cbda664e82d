import Foundation
import Kernels

/// `opbench tune`: for one operator, shape and thread count, races the variants and, for the
/// variants that read a tuning table (`Kernel.tunables`), seeded random settings of their
/// constants, by successive halving with interleaved samples, within a time budget; then
/// measures the winner and the default (simd at its defaults) side by side and keeps the
/// winner only when it is faster by a one-sided U test and by at least `minGain`. Every candidate is checked against the
/// fp64 reference before it is measured: one that fails can never win.
public enum Tuner {
    public struct Options: Sendable {
        /// Seconds for this shape and thread count, racing and final rounds together.
        public var budgetSeconds: Double = 10
        /// The variants raced (names; those that cannot run the shape are left out).
        public var variants: [String]
        /// Random settings drawn per tunable variant, at most (the budget may allow fewer).
        public var maxSettings = 96
        /// Seeds the draws, so a search can be repeated.
        public var seed: UInt64 = 1
        /// Significance the final rounds need before the choice replaces the default.
        public var alpha = 0.05
        /// Least gain (default median / tuned median − 1) worth an entry that differs from the default.
        public var minGain = 0.01

        public init(variants: [String]) { self.variants = variants }
    }

    /// One candidate: a variant and the constants that differ from its defaults.
    public struct Candidate: Hashable, Sendable, CustomStringConvertible {
        public var variant: String
        public var parameters: [String: Int]
        public var description: String {
            parameters.isEmpty
                ? variant
                : variant + "{" + parameters.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",") + "}"
        }
    }

    /// The search's result: the entry for the tuning file, and what was refused and why.
    public struct Outcome: Sendable {
        public var entry: TuningEntry
        public var rejected: [(candidate: String, why: String)]
        /// Rungs of the race (each halving the field).
        public var rungs: Int
        /// What the race found when the final rounds did not confirm it, else nil.
        public var note: String?
    }

    /// The variants a search races when none are named: every one that runs by default, but
    /// not naive (never the fastest) nor those that approximate (`Kernel.approximates`:
    /// `auto` must not change a plan's numerics unasked).
    public static func defaultVariants(_ spec: any OperatorSpec) -> [String] {
        spec.kernels.filter { $0.runsByDefault && !$0.approximates && $0.name != "naive" }.map(\.name)
    }

    /// The values a tuner tries for `p`: a ladder around its default (×¼, ×½, ×⅔, ×1, ×1½,
    /// ×2, ×4), rounded to its multiple and kept within its range.
    public static func ladder(_ p: TuningParameter) -> [Int] {
        let base = max(p.value, p.multiple, 1)
        var out: [Int] = []
        for f in [0.25, 0.5, 2.0 / 3, 1, 1.5, 2, 4] {
            var v = Int((Double(base) * f / Double(p.multiple)).rounded()) * p.multiple
            v = min(max(v, p.range.lowerBound), p.range.upperBound)
            if v % p.multiple != 0 { continue }
            if !out.contains(v) { out.append(v) }
        }
        if !out.contains(p.value) { out.append(p.value) }
        return out.sorted()
    }

    /// The candidates for `variants` at `shape` on `threads` threads: each variant at its
    /// defaults, then up to `limit` distinct seeded random settings of the constants each
    /// tunable variant reads that matter at this shape (`TuningTable.relevant`). Each draw
    /// changes every such constant with probability ½ (to a value of its ladder), so settings
    /// stay close to the defaults and a winner names only constants that bought something.
    public static func candidates(_ shape: CaseShape, threads: Int, variants: [String], limit: Int, seed: UInt64) -> [Candidate] {
        var out = variants.map { Candidate(variant: $0, parameters: [:]) }
        guard let family = shape.spec.tunableFamily else { return out }
        let relevant = family.relevant(to: shape.tuningKey(threads: threads))
        let defaults = family.defaultParameters.filter { relevant.contains($0.name) }
        var rng = SplitMix64(seed: seed)
        for v in variants {
            guard let kernel = Operators.kernel(VariantID(op: shape.op, variant: v)), !kernel.tunables.isEmpty else { continue }
            let params = defaults.filter { kernel.tunables.contains($0.name) }
            guard !params.isEmpty else { continue }
            var seen = Set<[String: Int]>([[:]])
            var attempts = 0
            while seen.count <= limit && attempts < limit * 20 {
                attempts += 1
                var values: [String: Int] = [:]
                for p in params where rng.next() & 1 == 1 {
                    let choices = ladder(p).filter { $0 != p.value }
                    if !choices.isEmpty { values[p.name] = choices[Int(rng.next() % UInt64(choices.count))] }
                }
                if seen.insert(values).inserted { out.append(Candidate(variant: v, parameters: values)) }
            }
        }
        return out
    }

    /// Tunes `shape` on `threads` threads. `progress` gets a line on what runs and the share
    /// of the budget used.
    public static func tune(
        _ shape: CaseShape, threads: Int, options: Options, progress: (String, Double) -> Void = { _, _ in }
    ) throws -> Outcome {
        let start = Machine.now()
        let budget = options.budgetSeconds
        func used() -> Double { (Machine.now() - start) / budget }
        let workload = try Workloads.make(shape)
        let family = shape.spec.tunableFamily
        let variants = options.variants.filter {
            Operators.unsupported(VariantID(op: shape.op, variant: $0), shape, threads: threads) == nil
        }
        let reference = variants.contains("simd") ? "simd" : variants.first
        guard let reference else {
            throw CLIUsageError("tune \(shape.op) \(shape.text): none of the variants \(options.variants.joined(separator: ",")) runs it")
        }
        // A runnable, checked candidate: its runner with its table installed around each run.
        struct Entrant {
            let candidate: Candidate
            let run: () throws -> Void
            var samples: [Double] = []
        }
        func entrant(_ c: Candidate) throws -> Entrant {
            let base = try workload.runner(variant: c.variant, threads: threads)
            let table = c.parameters.isEmpty ? nil : try family?.table(c.parameters)
            guard let family, let table else { return Entrant(candidate: c, run: base) }
            return Entrant(candidate: c, run: { try family.withTable(table) { try base() } })
        }
        var rejected: [(String, String)] = []
        /// Runs `c` once and checks it against fp64: the entrant, or nil (and why, in `rejected`).
        func checked(_ c: Candidate) -> Entrant? {
            do {
                let e = try entrant(c)
                try e.run()
                let v = workload.verify()
                guard v.passed else {
                    rejected.append(
                        (
                            c.description,
                            v.worstRatio.isFinite
                                ? String(format: "error %.3g× its bound", v.worstRatio)
                                : "an output that is nan or inf, or beyond every bound"
                        ))
                    return nil
                }
                return e
            } catch {
                rejected.append((c.description, "\(error)"))
                return nil
            }
        }
        progress("\(shape.op) \(shape.text) t=\(threads): checking the default", used())
        guard let defaultEntrant = checked(Candidate(variant: reference, parameters: [:])) else {
            throw CLIUsageError("tune \(shape.op) \(shape.text): the default \(reference) fails its fp64 check (\(rejected.last?.1 ?? ""))")
        }
        // Iterations per sample: at least ~2 ms of work, so timer and install costs vanish.
        let best = try Bench.bestTime(defaultEntrant.run, seconds: min(0.05, budget * 0.01), minRuns: 2)
        let iters = max(1, Int((0.002 / best).rounded(.up)))
        let sampleSeconds = Double(iters) * best
        // The budget: 30 % for the final rounds, the rest for the race. A race of n entrants
        // starting at 2 samples each costs about 2·n·sample per rung, over ⌈log2 n⌉ + 1 rungs.
        let raceBudget = 0.7 * budget
        var pool = candidates(shape, threads: threads, variants: variants, limit: options.maxSettings, seed: options.seed)
        var n = pool.count
        func raceCost(_ n: Int) -> Double { 2 * Double(n) * sampleSeconds * (log2(Double(max(n, 1))).rounded(.up) + 1) }
        while n > variants.count && raceCost(n) > raceBudget { n -= 1 }
        pool = Array(pool.prefix(n))
        var field: [Entrant] = []
        for (i, c) in pool.enumerated() {
            if used() > 0.5 { break }  // checking alone must not eat the budget
            progress("\(shape.op) \(shape.text) t=\(threads): checking \(c) (\(i + 1)/\(pool.count))", used())
            if c == defaultEntrant.candidate { field.append(defaultEntrant) } else if let e = checked(c) { field.append(e) }
        }
        let tried = field.count + rejected.count
        // Successive halving: every survivor gets the rung's samples, interleaved; the faster
        // half by median goes on, with twice the samples.
        var perRung = 2, rungs = 0
        while field.count > 1 && used() < 0.7 {
            rungs += 1
            for s in 0..<perRung {
                for i in field.indices {
                    if used() >= 0.7 { break }
                    progress(
                        "\(shape.op) \(shape.text) t=\(threads): rung \(rungs), \(field.count) left, "
                            + "\(field[i].candidate) \(s + 1)/\(perRung)",
                        used())
                    let t0 = Machine.now()
                    for _ in 0..<iters { try field[i].run() }
                    field[i].samples.append((Machine.now() - t0) / Double(iters))
                }
            }
            field.sort {
                Statistics.median($0.samples.isEmpty ? [.infinity] : $0.samples)
                    < Statistics.median($1.samples.isEmpty ? [.infinity] : $1.samples)
            }
            field = Array(field.prefix((field.count + 1) / 2))
            perRung *= 2
        }
        let winner = field.first ?? defaultEntrant
        // Final rounds: the winner and the default side by side until the budget is spent
        // (at least 5 rounds each, at most 101); 5 of the default alone when it won the race.
        var def: [Double] = [], tuned: [Double] = []
        let isDefault = winner.candidate == defaultEntrant.candidate
        var rounds = 0
        while rounds < 5 || (!isDefault && used() < 1 && rounds < 101) {
            rounds += 1
            progress("\(shape.op) \(shape.text) t=\(threads): final round \(rounds), \(winner.candidate) vs default", min(used(), 1))
            for (entrant, sink) in isDefault ? [(defaultEntrant, 0)] : [(defaultEntrant, 0), (winner, 1)] {
                let t0 = Machine.now()
                for _ in 0..<iters { try entrant.run() }
                let t = (Machine.now() - t0) / Double(iters)
                if sink == 0 { def.append(t) } else { tuned.append(t) }
            }
        }
        if isDefault { tuned = def }
        // One-sided: the U test is two-sided, so halve its p when the choice's median is lower.
        let twoSided = isDefault ? 1 : Statistics.mannWhitneyU(tuned, def).p
        let faster = Statistics.median(tuned) < Statistics.median(def)
        let p = isDefault ? 1 : (faster ? twoSided / 2 : 1 - twoSided / 2)
        let gain = Statistics.median(def) / Statistics.median(tuned) - 1
        let keep = !isDefault && faster && p < options.alpha && gain >= options.minGain
        let chosen = keep ? winner.candidate : defaultEntrant.candidate
        let entry = TuningEntry(
            op: shape.op.rawValue, shape: shape.canonical, threads: threads, variant: chosen.variant, parameters: chosen.parameters,
            defaultMedianSeconds: Statistics.median(def), tunedMedianSeconds: Statistics.median(keep ? tuned : def), pValue: p,
            finalSamples: rounds, candidates: tried, rejected: rejected.count, budgetSeconds: budget,
            elapsedSeconds: Machine.now() - start)
        // Say what the race found even when the final rounds did not confirm it.
        let note =
            keep || isDefault
            ? nil
            : String(
                format: "%@ raced fastest but ran %.3f× the default's speed in the final rounds (p = %.2g; needs p < %.2g and "
                    + "≥ %.1f%%): kept the default",
                winner.candidate.description, 1 + gain, p, options.alpha, options.minGain * 100)
        return Outcome(entry: entry, rejected: rejected.map { (candidate: $0.0, why: $0.1) }, rungs: rungs, note: note)
    }
}
