import Foundation
import Kernels

/// How a case's inputs meet the caches: `warm` repeats on the same inputs, so whatever of
/// them fits stays cached between runs; `cold` rotates over enough copies of the inputs to
/// exceed the last-level cache several times, so every run reads them from DRAM, as a model
/// decode reads each layer's weights.
public enum CacheMode: String, Codable, Sendable, CaseIterable {
    case warm, cold
}

/// Where a case sits on the cache-aware roofline (after Ilic et al.'s cache-aware roofline
/// model): the FMA peak, and the bandwidth of the levels its working set lives in, for its
/// mix of reads and writes.
public struct RooflinePlace: Equatable, Sendable {
    /// min(peak, intensity × bandwidth), GFLOP/s.
    public var gflops: Double
    /// `compute` or `memory`.
    public var bound: String
    /// The ceiling's name: `fma`, or the levels and the access kind, e.g. `L3-read`, `L2-rw`,
    /// `L3+DRAM-read`.
    public var ceiling: String
    /// The bandwidth the memory roof uses, GB/s.
    public var bandwidthGBps: Double
}

public enum Roofline {
    /// A fraction of its ceiling above this is a ceiling error: the ceiling is wrong (a probe
    /// that measured low, a working set that lives in a faster level than its size says),
    /// not the kernel fast. 5 % covers the probes' own spread.
    public static let errorFraction = 1.05

    /// The share of a working set of `bytes` each level serves: the best the hierarchy can
    /// do, the first L1-capacity bytes from L1, the next from L2, and so on (cold: all from
    /// DRAM). Levels with their capacities for the thread count, fastest first, DRAM last.
    public static func shares(bytes: Double, levels: [LevelBandwidth], cache: CacheMode) -> [Double] {
        if cache == .cold || bytes <= 0 { return levels.indices.map { $0 == levels.count - 1 ? 1 : 0 } }
        var below = 0.0
        return levels.map { l in
            let upTo = min(bytes, l.capacityBytes ?? .infinity)
            defer { below = max(below, upTo) }
            return max(0, upTo - below) / bytes
        }
    }

    /// Places a case of `flops` and `bytes` (of which `written` are written) on the roofline
    /// of `ceiling`. Per level the time of one byte read is 1/read and of one byte written
    /// 2/copy − 1/read (a copy moves one of each), so a read-only kernel meets the read
    /// ceiling, one that writes as much as it reads the copy ceiling, and others lie between.
    /// Without level figures (older calibrations) the DRAM copy bandwidth is used, as before.
    /// The compute roof is the FMA peak, or for `.int8Dot` variants the int8 dot-product peak
    /// (the FMA peak when a calibration predates that probe).
    public static func place(
        flops: Double, bytes: Double, written: Double, ceiling: Ceiling, cache: CacheMode, arithmetic: Arithmetic = .fma
    ) -> RooflinePlace {
        let ai = flops / bytes
        let written = min(max(0, written), bytes), read = bytes - written
        let kind = written <= 0.1 * bytes ? "read" : "rw"
        var bandwidth = ceiling.bandwidthGBps, name = "DRAM-copy"
        if let levels = ceiling.levels, !levels.isEmpty {
            let share = shares(bytes: bytes, levels: levels, cache: cache)
            var seconds = 0.0
            for (l, s) in zip(levels, share) where s > 0 {
                let perWritten = max(2 / l.copyGBps - 1 / l.readGBps, 0)
                seconds += s * (read / l.readGBps + written * perWritten)
            }
            bandwidth = bytes / seconds
            // Shares sum to 1 over at most four levels, so at least one is ≥ 0.25.
            name = zip(levels, share).filter { $0.1 >= 0.1 }.map(\.0.level).joined(separator: "+") + "-" + kind
        }
        let memoryRoof = ai * bandwidth
        let (peak, unit) =
            arithmetic == .int8Dot
            ? (ceiling.peakInt8Gops.map { ($0, "int8-dot") } ?? (ceiling.peakGflops, "fma")) : (ceiling.peakGflops, "fma")
        let compute = memoryRoof >= peak
        return RooflinePlace(
            gflops: min(peak, memoryRoof), bound: compute ? "compute" : "memory", ceiling: compute ? unit : name, bandwidthGBps: bandwidth)
    }
}
