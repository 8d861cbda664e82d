import Foundation
import Kernels

/// One case to measure: operator × variant × shape × threads.
public struct BenchCase: Hashable, Sendable {
    public var variant: VariantID
    public var shape: CaseShape
    public var threads: Int
    public init(variant: VariantID, shape: CaseShape, threads: Int) { self.variant = variant; self.shape = shape; self.threads = threads }

    /// The cases of a results file, in its order; a `FileError` names a case it cannot parse.
    public static func list(from doc: ResultDocument, path: String) throws -> [BenchCase] {
        try doc.cases.map { c in
            guard let id = VariantID(c.id) else { throw FileError(path, "unknown variant id '\(c.id)'") }
            do { return BenchCase(variant: id, shape: try CaseShape(op: id.op, c.shape), threads: c.threads) } catch {
                throw FileError(path, "case \(c.key): \(error)")
            }
        }
    }
}

/// Measurement settings.
public struct BenchOptions: Sendable {
    /// Target total measuring time per case (split over the samples), seconds.
    public var minTime: Double = 0.5
    /// Samples per case.
    public var repetitions: Int = 10
    /// Fewer samples (at least 3) for cases whose samples would exceed this, seconds.
    public var maxCaseSeconds: Double = 30
    /// Warm-up time per case, seconds (at least one run).
    public var warmupSeconds: Double = 0.05
    /// How inputs meet the caches (`CacheMode`).
    public var cache: CacheMode = .warm
    /// Test-only: variants made slower on purpose (`OPBENCH_PLANT_SLOWDOWN`), to measure how
    /// reliably the gate catches a regression.
    public var plantedSlowdowns: [PlantedSlowdown] = []

    public init() {}

    /// Cold runs rotate over enough copies of the inputs that together they exceed the
    /// last-level cache this many times.
    public static let coldCacheMultiple = 4.0
    /// At most this many copies (a tiny case needs no more to be evicted between its runs).
    public static let coldCopiesLimit = 4096
    /// At most this much resident memory for a cold case's copies: a small case's copies take
    /// several times their bytes (huge pages), and 4 × a VM's 300 MiB L3 of them took 8 GB.
    public static let coldMemoryLimit = 4.0 * 1_073_741_824
}

/// A usage mistake found by the harness (bad option value).
public struct CLIUsageError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Where a benchmark run is: cases done (fractional within the group being measured), the
/// group (one op × shape, measured interleaved) and what is running; `finished` is set once
/// per group when it completes.
public struct BenchProgress: Sendable {
    public struct Finished: Sendable {
        public let op: String, shape: String
        public let cases: Int
        public let seconds: Double

        public init(op: String, shape: String, cases: Int, seconds: Double) {
            self.op = op; self.shape = shape; self.cases = cases; self.seconds = seconds
        }
    }
    public let done: Double
    public let total: Int
    public let group: Int, groups: Int
    public let current: String
    public let elapsed: Double
    public let finished: Finished?

    public init(done: Double, total: Int, group: Int, groups: Int, current: String, elapsed: Double, finished: Finished?) {
        self.done = done; self.total = total; self.group = group; self.groups = groups; self.current = current
        self.elapsed = elapsed; self.finished = finished
    }

    /// Seconds left at the pace so far, nil before anything is done.
    public var eta: Double? { done > 0 ? elapsed * (Double(total) - done) / done : nil }
}

public enum Bench {
    /// Measures every case. Cases of one op and shape share one set of inputs and are
    /// measured interleaved — sample r of every variant and thread count is taken in the
    /// same round — so slow drift of a shared machine hits them alike and their ratios
    /// (speed-ups, the gate's normalized figures) stay stable.
    public static func run(
        _ cases: [BenchCase], options: BenchOptions, machine: MachineInfo,
        progress: ((BenchProgress) -> Void)? = nil
    ) throws -> [CaseResult] {
        var groups: [(CaseShape, [BenchCase])] = []
        for c in cases {
            if let i = groups.firstIndex(where: { $0.0 == c.shape }) { groups[i].1.append(c) } else { groups.append((c.shape, [c])) }
        }
        // One group at a time, so only one group's inputs are alive (rounds, for the spread
        // between runs, are separate processes: see `merge`).
        var results: [CaseResult] = []
        var done = 0
        let start = Machine.now()
        for (g, (shape, group)) in groups.enumerated() {
            let copies = try workloads(shape, options: options, machine: machine)
            let w = copies[0]
            let groupStart = Machine.now()
            let (samples, cpuSamples, iters, checks) = try measureGroup(group, workloads: copies, options: options, machine: machine) {
                what, fraction in
                progress?(
                    BenchProgress(
                        done: Double(done) + fraction * Double(group.count), total: cases.count, group: g, groups: groups.count,
                        current: what, elapsed: Machine.now() - start, finished: nil))
            }
            for (i, c) in group.enumerated() {
                var r = result(
                    c, workload: w, samples: samples[i], iters: iters[i], check: checks[i], machine: machine, cache: options.cache)
                r.cpuSamplesSeconds = cpuSamples[i]
                results.append(r)
            }
            done += group.count
            progress?(
                BenchProgress(
                    done: Double(done), total: cases.count, group: g + 1, groups: groups.count, current: "",
                    elapsed: Machine.now() - start,
                    finished: .init(op: shape.op.rawValue, shape: shape.text, cases: group.count, seconds: Machine.now() - groupStart)))
        }
        linkPeers(&results)
        computeSpeedups(&results)
        return results
    }

    /// Results measured in separate runs (`bench --isolate`: plugin variants in processes of
    /// their own) as one run's: peers linked and speed-ups computed across all of them.
    public static func combine(_ parts: [[CaseResult]]) -> [CaseResult] {
        var results = parts.flatMap { $0 }
        linkPeers(&results)
        computeSpeedups(&results)
        return results
    }

    /// The run's minimum (its one round), and the peer of each case (same op, shape and threads: blas, or
    /// simd for blas) with the per-sample normalized times.
    static func linkPeers(_ results: inout [CaseResult]) {
        for i in results.indices { results[i].roundMinSeconds = [results[i].samplesSeconds.min() ?? .nan] }
        for i in results.indices {
            let r = results[i]
            let peerName = r.variant == "blas" ? "simd" : "blas"
            guard
                let j = results.firstIndex(where: {
                    $0.op == r.op && $0.shape == r.shape && $0.threads == r.threads && $0.variant == peerName
                })
            else { continue }
            let peer = results[j]
            results[i].peer = peer.id
            let n = min(r.samplesSeconds.count, peer.samplesSeconds.count)
            results[i].normalizedSamples = (0..<n).map { r.samplesSeconds[$0] / peer.samplesSeconds[$0] }
        }
    }

    /// Speed-ups vs the naive and blas variants of the same op, shape and threads.
    public static func computeSpeedups(_ results: inout [CaseResult]) {
        for i in results.indices {
            let r = results[i]
            let same = results.filter { $0.op == r.op && $0.shape == r.shape && $0.threads == r.threads }
            results[i].speedupVsNaive = same.first { $0.variant == "naive" }.map { $0.medianSeconds / r.medianSeconds }
            results[i].speedupVsBlas = same.first { $0.variant == "blas" }.map { $0.medianSeconds / r.medianSeconds }
        }
    }

    /// Pools several runs of the same cases (e.g. one per process) into one document:
    /// samples, normalized samples and per-round minima concatenated, statistics recomputed,
    /// the worst accuracy kept. Cases are those of the first run.
    public static func merge(_ docs: [ResultDocument]) -> ResultDocument {
        guard var merged = docs.first else { preconditionFailure("merge needs at least one document") }
        for i in merged.cases.indices {
            let key = merged.cases[i].key
            for d in docs.dropFirst() {
                guard let c = d.cases.first(where: { $0.key == key }) else { continue }
                // CPU times only while every run has them, so they stay one per sample.
                let cpu = merged.cases[i].cpuSamplesSeconds.flatMap { a in c.cpuSamplesSeconds.map { a + $0 } }
                merged.cases[i].samplesSeconds += c.samplesSeconds
                merged.cases[i].cpuSamplesSeconds = cpu
                if let n = c.normalizedSamples { merged.cases[i].normalizedSamples = (merged.cases[i].normalizedSamples ?? []) + n }
                if let n = c.roundMinSeconds { merged.cases[i].roundMinSeconds = (merged.cases[i].roundMinSeconds ?? []) + n }
                if c.errorToTolerance > merged.cases[i].errorToTolerance {
                    merged.cases[i].maxAbsError = c.maxAbsError
                    merged.cases[i].maxRelError = c.maxRelError
                    merged.cases[i].nmse = c.nmse
                    merged.cases[i].tolerance = c.tolerance
                    merged.cases[i].errorToTolerance = c.errorToTolerance
                    merged.cases[i].accuracyPass = c.accuracyPass
                }
            }
            merged.cases[i].recomputeStatistics()
        }
        computeSpeedups(&merged.cases)
        merged.settings.rounds = docs.map(\.settings.rounds).reduce(0, +)
        let probes = docs.flatMap { $0.machine.stateProbes ?? [] }
        merged.machine.stateProbes = probes.isEmpty ? nil : probes
        return merged
    }

    /// The inputs of one shape: one workload when warm; when cold, as many copies as it takes
    /// for their traffic to exceed the last-level cache `coldCacheMultiple` times (each run
    /// then finds its inputs evicted by the others). A copy's memory is what one copy really
    /// added to this process's resident memory (buffers of 256 KiB and more sit on their own 2
    /// MiB huge pages, so a small case takes several times its bytes), and the copies must fit
    /// in `Workloads.memoryBudget` and `coldMemoryLimit`; when fewer fit than wanted, as many
    /// as fit are used and stderr says so, as long as they hold at least twice the L3 share
    /// the calibration measured (`Machine.effectiveL3`); else the case is refused.
    static func workloads(_ shape: CaseShape, options: BenchOptions, machine: MachineInfo) throws -> [any Workload] {
        guard options.cache == .cold else { return [try Workloads.make(shape)] }
        let wanted = coldCopies(shape, machine: machine)
        try Workloads.checkMemory(shape, copies: 2)
        let first = try Workloads.make(shape, seed: 1)
        let before = Machine.residentBytes()
        let second = try first.copy(seed: 2)
        let after = Machine.residentBytes()
        let measured = before.flatMap { b in after.map { $0 - b } } ?? 0
        let perCopy = max(measured, shape.memoryBytes * 0.5, 4096)
        let fit = Int(min(Workloads.memoryBudget, BenchOptions.coldMemoryLimit) / perCopy)
        var copies = wanted
        if fit < wanted {
            // The floor is twice the L3 share this machine measured (sysfs's L3 where none was).
            let share =
                machine.ceilings.compactMap { $0.levels?.first { $0.level == "L3" }?.capacityBytes }.max() ?? Machine.cacheBytes(machine).l3
            copies = max(2, fit)
            let multiple = Double(copies) * shape.bytes / share
            try Workloads.checkMemory(shape, copies: copies, perCopy: perCopy)
            guard multiple >= 2 else {
                throw ShapeError(
                    String(
                        format: "%@ shape '%@' cold: the %d copies that fit in memory (%.0f MiB each) hold %.1f× the L3 share "
                            + "measured (%.0f MiB), not 2×",
                        shape.op.rawValue, shape.text, copies, perCopy / 1_048_576, multiple, share / 1_048_576))
            }
            FileHandle.standardError.write(
                Data(
                    String(
                        format: "note: %@ %@ cold: %d of %d copies (%.0f MiB each) fit in memory, %.1f× the L3 share measured "
                            + "(%.0f MiB)\n",
                        shape.op.rawValue, shape.text, copies, wanted, perCopy / 1_048_576, multiple, share / 1_048_576
                    ).utf8))
        }
        return try [first, second] + (2..<max(2, copies)).map { try first.copy(seed: 1 &+ UInt64($0)) }
    }

    /// How many copies of `shape`'s inputs a cold run rotates over.
    public static func coldCopies(_ shape: CaseShape, machine: MachineInfo) -> Int {
        let l3 = Machine.cacheBytes(machine).l3
        return min(BenchOptions.coldCopiesLimit, max(2, Int((BenchOptions.coldCacheMultiple * l3 / shape.bytes).rounded(.up))))
    }

    /// Warms up, verifies and calibrates every case of one op × shape, then takes the
    /// samples round-robin. With several workloads (cold caches) each run uses the next one.
    /// Returns samples, iterations per sample and verifications (of the first workload).
    static func measureGroup(
        _ group: [BenchCase], workloads: [any Workload], options: BenchOptions, machine: MachineInfo,
        progress: (_ what: String, _ fraction: Double) -> Void
    ) throws -> ([[Double]], [[Double]], [Int], [Verification]) {
        struct Prepared { let c: BenchCase; let run: () throws -> Void; let iters: Int; let reps: Int; let check: Verification }
        var prepared: [Prepared] = []
        let workload = workloads[0]
        // Progress within the group: the warm-ups count for a tenth, the samples for the rest.
        for (n, c) in group.enumerated() {
            progress("\(c.variant) \(c.shape.text) t=\(c.threads) (warm-up)", 0.1 * Double(n) / Double(group.count))
            let first = try workload.runner(variant: c.variant.variant, threads: c.threads)
            var run = first
            if workloads.count > 1 {
                let runners = [first] + (try workloads.dropFirst().map { try $0.runner(variant: c.variant.variant, threads: c.threads) })
                let next = Counter()
                run = {
                    try runners[next.value % runners.count]()
                    next.value += 1
                }
            }
            if let plant = options.plantedSlowdowns.first(where: { $0.id == c.variant }) {
                let place = roofline(c, workload: workload, machine: machine, cache: options.cache)
                run = plant.wrap(run, best: try bestTime(run, seconds: options.warmupSeconds), computeBound: place.bound == "compute")
            }
            let best = try bestTime(run, seconds: options.warmupSeconds, minRuns: 1)
            if workloads.count > 1 { try first() }  // the first workload holds the output that is checked
            let check = workload.verify()
            let perSample = options.minTime / Double(options.repetitions)
            let iters = max(1, Int((perSample / best).rounded(.down)))
            var reps = options.repetitions
            if Double(reps * iters) * best > options.maxCaseSeconds {
                reps = max(3, Int(options.maxCaseSeconds / (Double(iters) * best)))
            }
            prepared.append(Prepared(c: c, run: run, iters: iters, reps: reps, check: check))
        }
        var samples = [[Double]](repeating: [], count: prepared.count)
        var cpuSamples = [[Double]](repeating: [], count: prepared.count)
        let rounds = prepared.map(\.reps).max() ?? 0
        for r in 0..<rounds {
            for (i, p) in prepared.enumerated() where r < p.reps {
                progress(
                    "\(p.c.variant) \(p.c.shape.text) t=\(p.c.threads) sample \(r + 1)/\(p.reps)", 0.1 + 0.9 * Double(r) / Double(rounds))
                let s = Machine.now(), cpu = Machine.cpuNow()
                for _ in 0..<p.iters { try p.run() }
                samples[i].append((Machine.now() - s) / Double(p.iters))
                cpuSamples[i].append((Machine.cpuNow() - cpu) / Double(p.iters))
            }
        }
        return (samples, cpuSamples, prepared.map(\.iters), prepared.map(\.check))
    }

    /// The best time of `run` over about `seconds` (at least `minRuns` runs, at most 1000).
    static func bestTime(_ run: () throws -> Void, seconds: Double, minRuns: Int = 3) throws -> Double {
        let t0 = Machine.now()
        var best = Double.infinity, runs = 0
        repeat {
            let s = Machine.now()
            try run()
            best = min(best, Machine.now() - s)
            runs += 1
        } while (Machine.now() - t0 < seconds || runs < minRuns) && runs < 1000
        return best
    }

    /// The case's place on the cache-aware roofline.
    static func roofline(_ c: BenchCase, workload: any Workload, machine: MachineInfo, cache: CacheMode) -> RooflinePlace {
        let kernel = c.shape.spec.kernels.first { $0.name == c.variant.variant }
        return Roofline.place(
            flops: workload.flops, bytes: workload.bytes, written: c.shape.writtenBytes, ceiling: machine.ceiling(threads: c.threads),
            cache: cache, arithmetic: kernel?.arithmetic ?? .fma)
    }

    /// Statistics, throughput and roofline position of one case.
    static func result(
        _ c: BenchCase, workload: any Workload, samples: [Double], iters: Int, check: Verification,
        machine: MachineInfo, cache: CacheMode
    ) -> CaseResult {
        let place = roofline(c, workload: workload, machine: machine, cache: cache)
        let ai = workload.flops / workload.bytes
        var r = CaseResult(
            id: c.variant.description, op: c.variant.op.rawValue, variant: c.variant.variant, shape: c.shape.text, threads: c.threads,
            samplesSeconds: samples, iterationsPerSample: iters, medianSeconds: .nan, p10Seconds: .nan, p90Seconds: .nan,
            madSeconds: .nan, minSeconds: .nan, flops: workload.flops, bytes: workload.bytes, gflops: .nan, gbps: .nan,
            arithmeticIntensity: ai, rooflineGflops: place.gflops, rooflineFraction: .nan, bound: place.bound,
            maxAbsError: check.accuracy.maxAbs, maxRelError: check.accuracy.maxRel, nmse: check.accuracy.nmse,
            tolerance: check.tolerance, errorToTolerance: check.worstRatio, accuracyPass: check.passed,
            rowsChecked: check.rowsChecked)
        r.ceiling = place.ceiling
        r.cache = cache.rawValue
        r.recomputeStatistics()
        return r
    }
}

/// A run counter the rotating runner of cold-cache cases mutates.
final class Counter { var value = 0 }
