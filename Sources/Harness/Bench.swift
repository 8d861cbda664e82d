import Foundation
import Kernels

/// One case to measure: operator × variant × shape × threads.
public struct BenchCase: Hashable, Sendable {
    public var variant: VariantID
    public var shape: CaseShape
    public var threads: Int
    public init(variant: VariantID, shape: CaseShape, threads: Int) { self.variant = variant; self.shape = shape; self.threads = threads }
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
    public static func run(_ cases: [BenchCase], options: BenchOptions, machine: MachineInfo,
                           progress: ((Int, Int, String) -> Void)? = nil) throws -> [CaseResult] {
        var groups: [(CaseShape, [BenchCase])] = []
        for c in cases {
            if let i = groups.firstIndex(where: { $0.0 == c.shape }) { groups[i].1.append(c) } else { groups.append((c.shape, [c])) }
        }
        var results: [CaseResult] = []
        var done = 0
        for (shape, group) in groups {
            let workload = try Workloads.make(shape)
            struct Prepared { let c: BenchCase; let run: () throws -> Void; let iters: Int; let reps: Int; let check: Verification }
            var prepared: [Prepared] = []
            for c in group {
                progress?(done, cases.count, "\(c.variant) \(shape.text) t=\(c.threads) (warm-up)")
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
                    progress?(done, cases.count, "\(p.c.variant) \(shape.text) t=\(p.c.threads) sample \(r + 1)/\(p.reps)")
                    let s = Machine.now()
                    for _ in 0..<p.iters { try p.run() }
                    samples[i].append((Machine.now() - s) / Double(p.iters))
                }
            }
            for (i, p) in prepared.enumerated() {
                results.append(result(p.c, workload: workload, samples: samples[i], iters: p.iters, check: p.check, machine: machine))
                done += 1
            }
        }
        // Peers, normalized samples and speed-ups within each op × shape × threads.
        for i in results.indices {
            let r = results[i]
            let peerName = r.variant == "blas" ? "simd" : "blas"
            let same = results.filter { $0.op == r.op && $0.shape == r.shape && $0.threads == r.threads }
            if let peer = same.first(where: { $0.variant == peerName }) {
                results[i].peer = peer.id
                let n = min(r.samplesSeconds.count, peer.samplesSeconds.count)
                results[i].normalizedSamples = (0..<n).map { r.samplesSeconds[$0] / peer.samplesSeconds[$0] }
            }
            if let naive = same.first(where: { $0.variant == "naive" }) { results[i].speedupVsNaive = naive.medianSeconds / r.medianSeconds }
            if let blas = same.first(where: { $0.variant == "blas" }) { results[i].speedupVsBlas = blas.medianSeconds / r.medianSeconds }
        }
        progress?(cases.count, cases.count, "done")
        return results
    }

    /// Statistics, throughput and roofline position of one case.
    static func result(_ c: BenchCase, workload: any Workload, samples: [Double], iters: Int, check: Verification,
                       machine: MachineInfo) -> CaseResult {
        let median = Statistics.median(samples)
        let ceiling = machine.ceiling(threads: c.threads)
        let ai = workload.flops / workload.bytes
        let memoryRoof = ai * ceiling.bandwidthGBps
        let roof = min(ceiling.peakGflops, memoryRoof)
        let gflops = workload.flops / median / 1e9
        return CaseResult(
            id: c.variant.description, op: c.variant.op.rawValue, variant: c.variant.variant, shape: c.shape.text, threads: c.threads,
            samplesSeconds: samples, iterationsPerSample: iters, medianSeconds: median,
            p10Seconds: Statistics.quantile(samples, 0.1), p90Seconds: Statistics.quantile(samples, 0.9),
            madSeconds: Statistics.mad(samples), minSeconds: samples.min() ?? .nan,
            flops: workload.flops, bytes: workload.bytes, gflops: gflops, gbps: workload.bytes / median / 1e9,
            arithmeticIntensity: ai, rooflineGflops: roof, rooflineFraction: gflops / roof,
            bound: memoryRoof < ceiling.peakGflops ? "memory" : "compute",
            speedupVsNaive: nil, speedupVsBlas: nil, peer: nil, normalizedSamples: nil,
            maxAbsError: check.accuracy.maxAbs, maxRelError: check.accuracy.maxRel, nmse: check.accuracy.nmse,
            tolerance: check.tolerance, errorToTolerance: check.worstRatio, accuracyPass: check.passed,
            rowsChecked: check.rowsChecked)
    }
}
