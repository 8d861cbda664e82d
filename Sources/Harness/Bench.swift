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
    /// Test-only: make one variant slower by this fraction of its own time (busy work after
    /// each run), to measure how reliably the gate catches a regression.
    public var plantedSlowdown: (id: VariantID, fraction: Double)?

    public init() {}

    /// Reads `OPBENCH_PLANT_SLOWDOWN=op.variant:fraction` (e.g. `matmul.simd:0.10`).
    public static func plantedFromEnvironment() throws -> (id: VariantID, fraction: Double)? {
        guard let text = ProcessInfo.processInfo.environment["OPBENCH_PLANT_SLOWDOWN"], !text.isEmpty else { return nil }
        let parts = text.split(separator: ":")
        guard parts.count == 2, let id = VariantID(String(parts[0])), let f = Double(parts[1]), f >= 0, f < 10 else {
            throw CLIUsageError("OPBENCH_PLANT_SLOWDOWN='\(text)' must be op.variant:fraction, e.g. matmul.simd:0.10")
        }
        return (id, f)
    }
}

/// A usage mistake found by the harness (bad option value).
public struct CLIUsageError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

public enum Bench {
    /// Measures every case. Cases of one op and shape share one set of inputs and are
    /// measured interleaved — sample r of every variant and thread count is taken in the
    /// same round — so slow drift of a shared machine hits them alike and their ratios
    /// (speed-ups, the gate's normalized figures) stay stable.
    public static func run(
        _ cases: [BenchCase], options: BenchOptions, machine: MachineInfo,
        progress: ((Int, Int, String) -> Void)? = nil
    ) throws -> [CaseResult] {
        var groups: [(CaseShape, [BenchCase])] = []
        for c in cases {
            if let i = groups.firstIndex(where: { $0.0 == c.shape }) { groups[i].1.append(c) } else { groups.append((c.shape, [c])) }
        }
        // One group at a time, so only one group's inputs are alive (rounds, for the spread
        // between runs, are separate processes: see `merge`).
        var results: [CaseResult] = []
        var done = 0
        for (shape, group) in groups {
            let w = try Workloads.make(shape)
            let (samples, iters, checks) = try measureGroup(group, workload: w, options: options) { progress?(done, cases.count, $0) }
            for (i, c) in group.enumerated() {
                results.append(result(c, workload: w, samples: samples[i], iters: iters[i], check: checks[i], machine: machine))
            }
            done += group.count
        }
        linkPeers(&results)
        computeSpeedups(&results)
        progress?(cases.count, cases.count, "done")
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
                merged.cases[i].samplesSeconds += c.samplesSeconds
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
        return merged
    }

    /// Warms up, verifies and calibrates every case of one op × shape, then takes the
    /// samples round-robin. Returns samples, iterations per sample and verifications.
    static func measureGroup(
        _ group: [BenchCase], workload: any Workload, options: BenchOptions,
        progress: (String) -> Void
    ) throws -> ([[Double]], [Int], [Verification]) {
        struct Prepared { let c: BenchCase; let run: () throws -> Void; let iters: Int; let reps: Int; let check: Verification }
        var prepared: [Prepared] = []
        for c in group {
            progress("\(c.variant) \(c.shape.text) t=\(c.threads) (warm-up)")
            var run = try workload.runner(variant: c.variant.variant, threads: c.threads)
            if let plant = options.plantedSlowdown, plant.id == c.variant {
                let inner = run, fraction = plant.fraction
                run = {
                    let t0 = Machine.now()
                    try inner()
                    let until = t0 + (Machine.now() - t0) * (1 + fraction)
                    while Machine.now() < until {}
                }
            }
            let t0 = Machine.now()
            var best = Double.infinity, runs = 0
            repeat {
                let s = Machine.now()
                try run()
                best = min(best, Machine.now() - s)
                runs += 1
            } while Machine.now() - t0 < options.warmupSeconds && runs < 1000
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
        let rounds = prepared.map(\.reps).max() ?? 0
        for r in 0..<rounds {
            for (i, p) in prepared.enumerated() where r < p.reps {
                progress("\(p.c.variant) \(p.c.shape.text) t=\(p.c.threads) sample \(r + 1)/\(p.reps)")
                let s = Machine.now()
                for _ in 0..<p.iters { try p.run() }
                samples[i].append((Machine.now() - s) / Double(p.iters))
            }
        }
        return (samples, prepared.map(\.iters), prepared.map(\.check))
    }

    /// Statistics, throughput and roofline position of one case.
    static func result(
        _ c: BenchCase, workload: any Workload, samples: [Double], iters: Int, check: Verification,
        machine: MachineInfo
    ) -> CaseResult {
        let ceiling = machine.ceiling(threads: c.threads)
        let ai = workload.flops / workload.bytes
        let memoryRoof = ai * ceiling.bandwidthGBps
        var r = CaseResult(
            id: c.variant.description, op: c.variant.op.rawValue, variant: c.variant.variant, shape: c.shape.text, threads: c.threads,
            samplesSeconds: samples, iterationsPerSample: iters, medianSeconds: .nan, p10Seconds: .nan, p90Seconds: .nan,
            madSeconds: .nan, minSeconds: .nan, flops: workload.flops, bytes: workload.bytes, gflops: .nan, gbps: .nan,
            arithmeticIntensity: ai, rooflineGflops: min(ceiling.peakGflops, memoryRoof), rooflineFraction: .nan,
            bound: memoryRoof < ceiling.peakGflops ? "memory" : "compute",
            maxAbsError: check.accuracy.maxAbs, maxRelError: check.accuracy.maxRel, nmse: check.accuracy.nmse,
            tolerance: check.tolerance, errorToTolerance: check.worstRatio, accuracyPass: check.passed,
            rowsChecked: check.rowsChecked)
        r.recomputeStatistics()
        return r
    }
}
