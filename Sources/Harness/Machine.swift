import COpenBLAS
import Foundation
import Kernels

/// Measured bandwidth of one level of the memory hierarchy for a thread count.
public struct LevelBandwidth: Codable, Equatable, Sendable {
    /// `L1`, `L2`, `L3` or `DRAM`.
    public var level: String
    /// Bytes this level holds for the thread count (private levels: per core × threads; L3:
    /// the share measured to read faster than DRAM, `Machine.effectiveL3`); nil for DRAM.
    public var capacityBytes: Double?
    /// The probe's working set, all threads together (half the capacity for L1 and L2, a
    /// quarter for the shared L3, 4 × L3 for DRAM).
    public var probeBytes: Double
    /// Read-only: a SIMD sum over the working set, GB/s read.
    public var readGBps: Double
    /// Copy: half the working set into the other half, GB/s read + written (STREAM's count).
    public var copyGBps: Double
    /// (median − best) / best over the probe's repeats, read and copy: the noise of the figure.
    public var readSpread: Double
    public var copySpread: Double

    public init(
        level: String, capacityBytes: Double?, probeBytes: Double, readGBps: Double, copyGBps: Double, readSpread: Double = 0,
        copySpread: Double = 0
    ) {
        self.level = level; self.capacityBytes = capacityBytes; self.probeBytes = probeBytes
        self.readGBps = readGBps; self.copyGBps = copyGBps; self.readSpread = readSpread; self.copySpread = copySpread
    }

    enum CodingKeys: String, CodingKey {
        case level, capacityBytes = "capacity_bytes", probeBytes = "probe_bytes", readGBps = "read_gbps", copyGBps = "copy_gbps"
        case readSpread = "read_spread", copySpread = "copy_spread"
    }
}

/// Calibrated limits of this machine for a thread count.
public struct Ceiling: Codable, Equatable, Sendable {
    public var threads: Int
    /// Peak FP32 FMA throughput, GFLOP/s (built-in probe: independent SIMD16 FMA chains).
    public var peakGflops: Double
    /// DRAM copy bandwidth, GB/s (STREAM convention: bytes read + bytes written, arrays ≫ L3,
    /// ordinary stores): the level-blind figure older results used for every roofline.
    public var bandwidthGBps: Double
    /// The same copy with streaming (non-temporal) stores, which skip the write-allocate read
    /// of each destination line. Absent in calibrations made before it was measured.
    public var streamingCopyGBps: Double?
    /// DRAM read-only bandwidth, GB/s. Absent in calibrations made before it was measured.
    public var readGBps: Double?
    /// Read and copy bandwidth of L1, L2, L3 and DRAM: the cache-aware roofline's ceilings
    /// (`Roofline.place`). Absent in calibrations made before they were measured.
    public var levels: [LevelBandwidth]?
    /// (median − best) / best of the FMA probe's repeats.
    public var peakSpread: Double?
    /// Peak 8-bit integer dot-product throughput, GOPS (a multiply and an add per byte pair;
    /// built-in probe: independent `vpdpbusd` chains), the compute roof of integer-dot
    /// variants (`Arithmetic.int8Dot`). Absent in calibrations made before it was measured.
    public var peakInt8Gops: Double?
    /// (median − best) / best of the int8 probe's repeats.
    public var int8Spread: Double?

    /// Memberwise.
    public init(
        threads: Int, peakGflops: Double, bandwidthGBps: Double, streamingCopyGBps: Double? = nil, readGBps: Double? = nil,
        levels: [LevelBandwidth]? = nil, peakSpread: Double? = nil
    ) {
        self.threads = threads
        self.peakGflops = peakGflops
        self.bandwidthGBps = bandwidthGBps
        self.streamingCopyGBps = streamingCopyGBps
        self.readGBps = readGBps
        self.levels = levels
        self.peakSpread = peakSpread
    }

    enum CodingKeys: String, CodingKey {
        case threads, peakGflops = "peak_gflops", bandwidthGBps = "bandwidth_gbps", streamingCopyGBps = "streaming_copy_gbps"
        case readGBps = "read_gbps", levels, peakSpread = "peak_spread", peakInt8Gops = "peak_int8_gops", int8Spread = "int8_spread"
    }
}

/// Fingerprint of the machine and toolchain plus calibrated ceilings.
public struct MachineInfo: Codable, Equatable, Sendable {
    public var cpuModel: String
    public var cores: Int
    public var simdFeatures: [String]
    public var caches: [String: String]
    public var os: String
    public var kernel: String
    public var hostname: String
    public var swiftVersion: String
    public var openblasConfig: String
    public var openblasCore: String
    public var opbenchCommit: String
    public var ceilings: [Ceiling]
    /// When the ceilings were measured (ISO 8601), nil in older files.
    public var calibratedAt: String?
    /// What the calibration or this run's spot check found wrong (a busy machine, figures
    /// that disagree with the cache); empty when nothing was.
    public var calibrationWarnings: [String]?
    /// Which probes measured the ceilings (`Machine.calibrationVersion` when current; nil in
    /// files from before the L3 share was measured): a cached calibration of an older version
    /// is measured again.
    public var calibrationVersion: Int?
    /// The core OpenBLAS detected by itself when opbench asked for a better one
    /// (`Machine.betterOpenBLASCore`); nil when OpenBLAS's own choice stands.
    public var openblasDetectedCore: String?
    /// The machine's state while the run measured: short 1-thread probes taken as the run
    /// started and as it ended (`Machine.stateProbe`), one pair per round in merged files;
    /// nil in older files. The gate judges speed only from runs whose state matches the
    /// baseline's (`MachineState.check`, `GateStateSelection`).
    public var stateProbes: [MachineState]?

    /// Memberwise.
    public init(
        cpuModel: String, cores: Int, simdFeatures: [String], caches: [String: String], os: String,
        kernel: String, hostname: String, swiftVersion: String, openblasConfig: String,
        openblasCore: String, opbenchCommit: String, ceilings: [Ceiling]
    ) {
        self.cpuModel = cpuModel
        self.cores = cores
        self.simdFeatures = simdFeatures
        self.caches = caches
        self.os = os
        self.kernel = kernel
        self.hostname = hostname
        self.swiftVersion = swiftVersion
        self.openblasConfig = openblasConfig
        self.openblasCore = openblasCore
        self.opbenchCommit = opbenchCommit
        self.ceilings = ceilings
    }

    enum CodingKeys: String, CodingKey {
        case cpuModel = "cpu_model", cores, simdFeatures = "simd_features", caches, os, kernel, hostname
        case swiftVersion = "swift_version", openblasConfig = "openblas_config", openblasCore = "openblas_core"
        case opbenchCommit = "opbench_commit", ceilings, calibratedAt = "calibrated_at"
        case calibrationWarnings = "calibration_warnings", openblasDetectedCore = "openblas_detected_core"
        case calibrationVersion = "calibration_version", stateProbes = "state_probes"
    }

    /// The ceiling for `threads` (the largest calibrated one at or below it).
    public func ceiling(threads: Int) -> Ceiling {
        ceilings.filter { $0.threads <= threads }.max { $0.threads < $1.threads } ?? ceilings.first
            ?? Ceiling(threads: 1, peakGflops: .nan, bandwidthGBps: .nan)
    }

    /// Same hardware and software (so cached ceilings still apply).
    public func sameFingerprint(_ o: MachineInfo) -> Bool {
        cpuModel == o.cpuModel && cores == o.cores && hostname == o.hostname && openblasConfig == o.openblasConfig
            && simdFeatures == o.simdFeatures && caches == o.caches
    }

    /// nil when speed figures measured on `o` can be compared with this machine's: the same
    /// CPU model, core count, caches, SIMD features (which pick the kernels' code paths) and
    /// OpenBLAS core type; else what differs. The host name may differ (CI runners of one kind).
    public func speedDifference(_ o: MachineInfo) -> String? {
        var d: [String] = []
        if cpuModel != o.cpuModel { d.append("CPU '\(cpuModel)' vs '\(o.cpuModel)'") }
        if cores != o.cores { d.append("\(cores) vs \(o.cores) cores") }
        let (mine, theirs) = (Set(simdFeatures), Set(o.simdFeatures))
        if mine != theirs {
            let only = mine.subtracting(theirs).sorted(), missing = theirs.subtracting(mine).sorted()
            d.append(
                "SIMD features" + (only.isEmpty ? "" : " +\(only.joined(separator: ","))")
                    + (missing.isEmpty ? "" : " −\(missing.joined(separator: ","))"))
        }
        if caches != o.caches {
            func list(_ c: [String: String]) -> String {
                c.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            }
            d.append("caches \(list(caches)) vs \(list(o.caches))")
        }
        if openblasCore != o.openblasCore { d.append("OpenBLAS core \(openblasCore) vs \(o.openblasCore)") }
        return d.isEmpty ? nil : d.joined(separator: "; ")
    }
}

public enum Machine {
    /// The OpenBLAS core type to ask for (`OPENBLAS_CORETYPE`) when the library's own detection
    /// (`detected`, `openblas_get_corename()`) chose kernels older than the CPU's instructions
    /// (`flags`, /proc/cpuinfo's), or nil. OpenBLAS 0.3.21 (Debian 12) does not know Sapphire
    /// and Emerald Rapids and falls back to `Prescott`, whose SSE3 SGEMM ran 256³ at 15.7
    /// GFLOP/s there against 104 with `Cooperlake`'s: against such a peer every "vs blas" ratio
    /// would flatter OpBench 4–6×. Only cores OpenBLAS ranks below the CPU's best are replaced
    /// (a user's own `OPENBLAS_CORETYPE` is never touched); unknown names are left alone.
    public static func betterOpenBLASCore(detected: String, flags: Set<String>) -> String? {
        // x86-64 cores by the widest kernels they use: SSE only, AVX, AVX2+FMA, AVX-512, AVX-512 with BF16.
        let sse = [
            "Katmai", "Coppermine", "Northwood", "Prescott", "Banias", "Core2", "Penryn", "Dunnington", "Nehalem", "Atom",
            "Opteron", "Opteron_SSE3", "Barcelona", "Bobcat", "Nano",
        ]
        let ranks: [String: Int] =
            Dictionary(uniqueKeysWithValues: sse.map { ($0, 0) }).merging(
                [
                    "Sandybridge": 1, "Bulldozer": 1, "Piledriver": 1, "Steamroller": 1, "Excavator": 1,
                    "Haswell": 2, "Zen": 2, "SkylakeX": 3, "Cooperlake": 4,
                ], uniquingKeysWith: { a, _ in a })
        let lower = Set(flags.map { $0.lowercased() })
        let best: (rank: Int, core: String)? =
            ["avx512f", "avx512bw", "avx512dq", "avx512vl"].allSatisfy(lower.contains)
            ? (lower.contains("avx512_bf16") ? (4, "Cooperlake") : (3, "SkylakeX"))
            : lower.contains("avx2") && lower.contains("fma") ? (2, "Haswell") : nil
        guard let best, let rank = ranks[detected], rank < best.rank else { return nil }
        return best.core
    }

    /// Memory the system can give without swapping (/proc/meminfo's MemAvailable), nil where
    /// it cannot be read.
    public static func availableBytes() -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("MemAvailable:") }),
            let kib = line.split(separator: " ").dropFirst().first.flatMap({ Double($0) })
        else { return nil }
        return kib * 1024
    }

    /// This process's resident memory (/proc/self/statm), nil where it cannot be read.
    public static func residentBytes() -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8),
            let pages = text.split(separator: " ").dropFirst().first.flatMap({ Double($0) })
        else { return nil }
        return pages * Double(sysconf(Int32(_SC_PAGESIZE)))
    }

    /// The CPU's feature flags, from /proc/cpuinfo (empty where it cannot be read).
    public static func cpuFlags() -> Set<String> {
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        guard let line = cpuinfo.split(separator: "\n").first(where: { $0.hasPrefix("flags") }),
            let list = line.split(separator: ":", maxSplits: 1).last
        else { return [] }
        return Set(list.split(separator: " ").map(String.init))
    }

    /// The variable through which opbench tells the process it re-executed which core OpenBLAS
    /// had detected before `OPENBLAS_CORETYPE` replaced it.
    public static let openBLASDetectedVariable = "OPBENCH_OPENBLAS_DETECTED"

    /// OpenBLAS's core type as it chose it for this process.
    public static var openBLASCore: String { openblas_get_corename().map { String(cString: $0) } ?? "unknown" }

    /// Reads the fingerprint (no calibration; ceilings empty). Without `toolchain` the Swift
    /// version and the OpBench commit are left empty (they take a process each to read): the
    /// hardware facts alone, which `speedDifference` and `slug` use.
    public static func fingerprint(toolchain: Bool = true) -> MachineInfo {
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        func field(_ name: String) -> String? {
            cpuinfo.split(separator: "\n").first { $0.hasPrefix(name) }.flatMap { $0.split(separator: ":", maxSplits: 1).last }
                .map { $0.trimmingCharacters(in: .whitespaces) }
        }
        let flags = Set((field("flags") ?? "").split(separator: " ").map(String.init))
        let simd = ["sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512_vnni", "avx512_bf16"]
            .filter(flags.contains)
        var caches: [String: String] = [:]
        for i in 0..<8 {
            let dir = "/sys/devices/system/cpu/cpu0/cache/index\(i)"
            guard let level = try? String(contentsOfFile: dir + "/level", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines),
                let type = try? String(contentsOfFile: dir + "/type", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines),
                let size = try? String(contentsOfFile: dir + "/size", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            else { continue }
            if type == "Instruction" { continue }
            caches["L\(level)\(type == "Data" ? "d" : "")"] = size
        }
        let osRelease = (try? String(contentsOfFile: "/etc/os-release", encoding: .utf8)) ?? ""
        let os =
            osRelease.split(separator: "\n").first { $0.hasPrefix("PRETTY_NAME=") }
            .map { String($0.dropFirst(12)).trimmingCharacters(in: CharacterSet(charactersIn: "\"")) }
            ?? ProcessInfo.processInfo.operatingSystemVersionString
        var uts = utsname()
        uname(&uts)
        let release = withUnsafeBytes(of: &uts.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let machine = withUnsafeBytes(of: &uts.machine) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        var info = MachineInfo(
            cpuModel: field("model name") ?? machine, cores: ProcessInfo.processInfo.activeProcessorCount,
            simdFeatures: simd, caches: caches, os: os, kernel: "Linux \(release) \(machine)",
            hostname: ProcessInfo.processInfo.hostName, swiftVersion: toolchain ? swiftVersion() : "",
            openblasConfig: openblas_get_config().map { String(cString: $0) } ?? "unknown",
            openblasCore: openBLASCore, opbenchCommit: toolchain ? gitCommit() : "", ceilings: [])
        info.openblasDetectedCore = ProcessInfo.processInfo.environment[openBLASDetectedVariable]
        return info
    }

    /// `swift --version`'s first line, or the compiler this binary was built with.
    static func swiftVersion() -> String {
        // The driver makes a TemporaryDirectory.XXXXXX in $TMPDIR and leaves it behind: give
        // it a directory of its own and remove that afterwards.
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("opbench-swift-\(getpid())")
        try? FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        if let out = run("/usr/bin/env", ["TMPDIR=\(scratch.path)", "swift", "--version"]),
            let line = out.split(separator: "\n").first(where: { $0.contains("Swift version") })
        {
            return line.trimmingCharacters(in: .whitespaces)
        }
        #if compiler(>=6.3)
            return "Swift 6.3 or later (compile time)"
        #else
            return "Swift before 6.3 (compile time)"
        #endif
    }

    /// The OpBench source tree's commit (`-dirty` with uncommitted changes outside results/),
    /// or "unknown".
    static func gitCommit() -> String {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        guard
            let head = run("/usr/bin/env", ["git", "-C", root, "rev-parse", "--short=12", "HEAD"])?.trimmingCharacters(
                in: .whitespacesAndNewlines),
            !head.isEmpty
        else { return "unknown" }
        // Results files rewritten by a run are not changes to the code that made them.
        let status = ["git", "-C", root, "status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)results"]
        let dirty = run("/usr/bin/env", status).map { !$0.isEmpty } ?? false
        return head + (dirty ? "-dirty" : "")
    }

    static func run(_ tool: String, _ args: [String]) -> String? {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tool)
        p.arguments = args
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        do { try p.run() } catch { return nil }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return p.terminationStatus == 0 ? String(decoding: data, as: UTF8.self) : nil
    }

    /// Monotonic clock, seconds.
    @inline(__always)
    public static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }

    /// The process's CPU time (every thread's), seconds.
    @inline(__always)
    public static func cpuNow() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }

    /// The 1, 5 and 15-minute load averages (empty where the system gives none).
    public static func loadAverage() -> [Double] {
        var loads = [Double](repeating: 0, count: 3)
        return getloadavg(&loads, 3) == 3 ? loads : []
    }

    /// The first CPU's clock in MHz as /proc/cpuinfo reports it, nil where it does not.
    public static func megahertz() -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("cpu MHz") }),
            let value = line.split(separator: ":").last.flatMap({ Double($0.trimmingCharacters(in: .whitespaces)) })
        else { return nil }
        return Int(value.rounded())
    }

    /// How many logical CPUs share CPU 0's cache of `level` and type (`Data`, `Instruction`,
    /// `Unified`), from sysfs; nil where it is not found.
    public static func cacheSharing(level: Int, type: String) -> Int? {
        let base = "/sys/devices/system/cpu/cpu0/cache"
        for index in 0..<8 {
            func read(_ file: String) -> String? {
                (try? String(contentsOfFile: "\(base)/index\(index)/\(file)", encoding: .utf8))?.trimmingCharacters(
                    in: .whitespacesAndNewlines)
            }
            guard let l = read("level"), let t = read("type") else { continue }
            guard Int(l) == level, t == type, let list = read("shared_cpu_list") else { continue }
            // "0-3,8-11" → 8
            return list.split(separator: ",").reduce(0) { n, range in
                let ends = range.split(separator: "-").compactMap { Int($0) }
                return n + (ends.count == 2 ? ends[1] - ends[0] + 1 : 1)
            }
        }
        return nil
    }

}
