import Foundation

/// What the machine delivers at one moment: the 1-thread FMA peak and DRAM read rate of short
/// probes (`Machine.stateProbe`). On a shared VM these move by tens of percent from minute to
/// minute (a neighbour on the sibling hyperthread takes FMA issue slots and L1/L2; one
/// streaming takes DRAM bandwidth and L3), and they do not move every kernel alike: in one
/// busy CI run `attention.simd`'s decode case ran 2.1× slower while `attention.blas` on the
/// same shape ran 1.16× slower, so no peer cancels such a state. A speed comparison is only
/// meaningful between runs made in the same state.
public struct MachineState: Codable, Equatable, Sendable {
    public var fmaGflops: Double
    public var dramReadGBps: Double

    public init(fmaGflops: Double, dramReadGBps: Double) {
        self.fmaGflops = fmaGflops
        self.dramReadGBps = dramReadGBps
    }

    enum CodingKeys: String, CodingKey {
        case fmaGflops = "fma_gflops", dramReadGBps = "dram_read_gbps"
    }

    /// The states a baseline's runs were measured in and the deviation a probe may add.
    ///
    /// A baseline's band comes from how much its rounds varied, and they varied with the states
    /// its rounds met. A candidate run in a state within that range is covered by the band; one
    /// outside it (busier, or quieter, than any round of the baseline) is not.
    public struct Reference: Equatable, Sendable {
        /// The lowest and highest figure of the baseline's probes.
        public var low: MachineState
        public var high: MachineState
        /// Where they came from: the baseline's own state probes, or (files from before them)
        /// its calibrated 1-thread ceilings, the best the machine did.
        public var source: String
        /// How far beyond the range a probe may lie, per figure: the spot check's limits
        /// (`Machine.Limits.spotFma`, `spotRead`: a few times an idle machine's probe spread).
        public var fmaLimit: Double
        public var readLimit: Double
        /// The DRAM probe size to measure a state comparable with it.
        public var dramProbeBytes: Double

        /// "FMA 170.0–178.0 GFLOP/s, DRAM read 16.0–17.0 GB/s".
        public var text: String {
            String(
                format: "FMA %@ GFLOP/s, DRAM read %@ GB/s", Self.range(low.fmaGflops, high.fmaGflops),
                Self.range(low.dramReadGBps, high.dramReadGBps))
        }

        static func range(_ lo: Double, _ hi: Double) -> String {
            lo == hi ? String(format: "%.1f", lo) : String(format: "%.1f–%.1f", lo, hi)
        }

        /// How far `x` lies outside lo…hi, as a signed fraction (0 inside; NaN for a non-finite
        /// or non-positive probe).
        static func outside(_ x: Double, _ lo: Double, _ hi: Double) -> Double {
            guard x.isFinite, x > 0 else { return .nan }
            return x < lo ? x / lo - 1 : x > hi ? x / hi - 1 : 0
        }
    }

    /// The reference of `baseline`: the range of its state probes, else its calibrated 1-thread
    /// FMA peak and DRAM read rate; nil when it has neither.
    public static func reference(of baseline: MachineInfo) -> Reference? {
        typealias L = Machine.Limits
        let bytes = Machine.stateProbeBytes(baseline)
        if let probes = baseline.stateProbes, !probes.isEmpty {
            let f = probes.map(\.fmaGflops), r = probes.map(\.dramReadGBps)
            return Reference(
                low: MachineState(fmaGflops: f.min()!, dramReadGBps: r.min()!),
                high: MachineState(fmaGflops: f.max()!, dramReadGBps: r.max()!), source: "the baseline's \(probes.count) state probes",
                fmaLimit: L.spotFma, readLimit: L.spotRead, dramProbeBytes: bytes)
        }
        let one = baseline.ceiling(threads: 1)
        guard one.peakGflops.isFinite, one.peakGflops > 0, let read = one.levels?.last?.readGBps ?? one.readGBps, read > 0 else {
            return nil
        }
        let best = MachineState(fmaGflops: one.peakGflops, dramReadGBps: read)
        return Reference(
            low: best, high: best, source: "the baseline's calibration", fmaLimit: L.spotFma, readLimit: L.spotRead,
            dramProbeBytes: bytes)
    }

    /// How a run's state compares with a reference.
    public struct Check: Equatable, Sendable {
        /// The run's probe furthest outside the reference's range, figure by figure.
        public var worst: MachineState
        public var reference: Reference
        /// Every probe of the run within the reference's range and limits.
        public var matches: Bool

        /// "FMA 131.2 GFLOP/s against 170.0–178.0 (-23%, limit ±6%), DRAM read 16.2 GB/s against 16.0–17.0 (+0%, limit ±12%)".
        public var text: String {
            func one(_ name: String, _ now: Double, _ lo: Double, _ hi: Double, _ limit: Double, _ unit: String) -> String {
                String(
                    format: "%@ %.1f %@ against %@ (%+.0f%%, limit ±%.0f%%)", name, now, unit, Reference.range(lo, hi),
                    Reference.outside(now, lo, hi) * 100, limit * 100)
            }
            let r = reference
            return one("FMA", worst.fmaGflops, r.low.fmaGflops, r.high.fmaGflops, r.fmaLimit, "GFLOP/s") + ", "
                + one("DRAM read", worst.dramReadGBps, r.low.dramReadGBps, r.high.dramReadGBps, r.readLimit, "GB/s")
        }
    }

    /// `probes` against `reference`; nil without probes.
    public static func check(_ probes: [MachineState], against reference: Reference) -> Check? {
        guard !probes.isEmpty else { return nil }
        let lo = reference.low, hi = reference.high
        func dev(_ x: Double, _ l: Double, _ h: Double) -> Double {
            let o = Reference.outside(x, l, h)
            return o.isNaN ? .infinity : abs(o)
        }
        let f = probes.max { dev($0.fmaGflops, lo.fmaGflops, hi.fmaGflops) < dev($1.fmaGflops, lo.fmaGflops, hi.fmaGflops) }!
        let r = probes.max {
            dev($0.dramReadGBps, lo.dramReadGBps, hi.dramReadGBps) < dev($1.dramReadGBps, lo.dramReadGBps, hi.dramReadGBps)
        }!
        let matches =
            dev(f.fmaGflops, lo.fmaGflops, hi.fmaGflops) <= reference.fmaLimit
            && dev(r.dramReadGBps, lo.dramReadGBps, hi.dramReadGBps) <= reference.readLimit
        return Check(worst: MachineState(fmaGflops: f.fmaGflops, dramReadGBps: r.dramReadGBps), reference: reference, matches: matches)
    }
}

extension Machine {
    /// The state now (about 0.5 s): the 1-thread FMA rate as the median of 5 samples 40 ms
    /// apart, each the best of 3 runs of about 2 ms, and the DRAM read rate over `dramBytes`
    /// (the calibration's DRAM probe size, several times the last-level cache). One FMA sample
    /// alone read 131 to 178 GFLOP/s within seconds on the Xeon VM: a neighbour's burst of a
    /// few milliseconds is not the state a run of a minute meets, and the median ignores it.
    public static func stateProbe(dramBytes: Double) -> MachineState {
        var fma: [Double] = []
        for i in 0..<5 {
            if i > 0 { Thread.sleep(forTimeInterval: 0.04) }
            fma.append(peakGflops(threads: 1, iterations: 1_000_000, runs: 3).best)
        }
        return MachineState(fmaGflops: Statistics.median(fma), dramReadGBps: dramRead(totalBytes: dramBytes, threads: 1, runs: 2).best)
    }

    /// The DRAM probe size of `info`'s calibration, else 1.2 GiB (the calibration's default).
    public static func stateProbeBytes(_ info: MachineInfo) -> Double {
        info.ceiling(threads: 1).levels?.last?.probeBytes ?? 1_258_291_200
    }
}

/// Which candidate runs the gate may judge for speed, by their machine state.
public struct GateStateSelection: Equatable, Sendable {
    /// Indices of the runs judged: those whose probes match the baseline's state, and those
    /// without probes (files from before them: judged as they always were).
    public var judged: [Int]
    /// Each run's check (nil: no probes, or a baseline with no state at all).
    public var checks: [MachineState.Check?]
    /// Lines for the summary: the state of each run, and why a run was left out.
    public var notes: [String]

    public init(baseline: MachineInfo, runs: [MachineInfo]) {
        guard let reference = MachineState.reference(of: baseline) else {
            judged = Array(runs.indices)
            checks = runs.map { _ in nil }
            notes = ["The baseline records no machine state (no state probes, no calibration): runs judged without a state check."]
            return
        }
        let checks = runs.map { MachineState.check($0.stateProbes ?? [], against: reference) }
        self.checks = checks
        judged = checks.indices.filter { checks[$0]?.matches ?? true }
        var lines = ["Machine state against \(reference.source) (\(reference.text)):"]
        for (i, c) in checks.enumerated() {
            let what = c.map { ($0.matches ? "matches: " : "**another state**, not judged: ") + $0.text } ?? "no state probes: judged"
            lines.append("- run \(i + 1): \(what)")
        }
        notes = [lines.joined(separator: "\n")]
    }

    /// No run could be judged: every one was made in another state than the baseline's.
    public var noneJudged: Bool { judged.isEmpty && !checks.isEmpty }
}
