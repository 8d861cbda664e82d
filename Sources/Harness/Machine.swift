import COpenBLAS
import Foundation
import Kernels

/// Calibrated limits of this machine for a thread count.
public struct Ceiling: Codable, Equatable, Sendable {
    public var threads: Int
    /// Peak FP32 FMA throughput, GFLOP/s (built-in probe: independent SIMD16 FMA chains).
    public var peakGflops: Double
    /// Streaming copy bandwidth, GB/s (STREAM convention: bytes read + bytes written, arrays ≫ L3,
    /// ordinary stores). Every roofline in the reports uses this figure.
    public var bandwidthGBps: Double
    /// The same copy with streaming (non-temporal) stores, which skip the write-allocate read
    /// of each destination line: the headroom a kernel with streaming stores can reach beyond
    /// `bandwidthGBps`. Absent in calibrations made before it was measured.
    public var streamingCopyGBps: Double?
    /// Read-only bandwidth, GB/s (a SIMD sum over an array ≫ L3): the ceiling of a kernel
    /// that only streams its input, such as a GEMV over weights larger than L3. Shown for
    /// context; rooflines keep `bandwidthGBps`. Absent in calibrations made before it was
    /// measured.
    public var readGBps: Double?

    /// Memberwise.
    public init(threads: Int, peakGflops: Double, bandwidthGBps: Double, streamingCopyGBps: Double? = nil, readGBps: Double? = nil) {
        self.threads = threads
        self.peakGflops = peakGflops
        self.bandwidthGBps = bandwidthGBps
        self.streamingCopyGBps = streamingCopyGBps
        self.readGBps = readGBps
    }

    enum CodingKeys: String, CodingKey {
        case threads, peakGflops = "peak_gflops", bandwidthGBps = "bandwidth_gbps", streamingCopyGBps = "streaming_copy_gbps"
        case readGBps = "read_gbps"
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
        case opbenchCommit = "opbench_commit", ceilings
    }

    /// The ceiling for `threads` (the largest calibrated one at or below it).
    public func ceiling(threads: Int) -> Ceiling {
        ceilings.filter { $0.threads <= threads }.max { $0.threads < $1.threads } ?? ceilings.first
            ?? Ceiling(threads: 1, peakGflops: .nan, bandwidthGBps: .nan)
    }

    /// Same hardware and software (so cached ceilings still apply).
    public func sameFingerprint(_ o: MachineInfo) -> Bool {
        cpuModel == o.cpuModel && cores == o.cores && hostname == o.hostname && openblasConfig == o.openblasConfig
    }
}

public enum Machine {
    /// Reads the fingerprint (no calibration; ceilings empty).
    public static func fingerprint() -> MachineInfo {
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
        return MachineInfo(
            cpuModel: field("model name") ?? machine, cores: ProcessInfo.processInfo.activeProcessorCount,
            simdFeatures: simd, caches: caches, os: os, kernel: "Linux \(release) \(machine)",
            hostname: ProcessInfo.processInfo.hostName, swiftVersion: swiftVersion(),
            openblasConfig: openblas_get_config().map { String(cString: $0) } ?? "unknown",
            openblasCore: openblas_get_corename().map { String(cString: $0) } ?? "unknown",
            opbenchCommit: gitCommit(), ceilings: [])
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

    // MARK: - calibration

    /// Measures FMA peak and copy bandwidth for 1 … cores threads (about 2 s).
    public static func calibrate(_ info: MachineInfo) -> MachineInfo {
        var info = info
        let counts = Array(Set([1, info.cores])).sorted()
        info.ceilings = counts.map { t in
            Ceiling(
                threads: t, peakGflops: peakGflops(threads: t), bandwidthGBps: copyBandwidth(threads: t),
                streamingCopyGBps: copyBandwidth(threads: t, streamingStores: true), readGBps: readBandwidth(threads: t))
        }
        return info
    }

    /// Best of 5 runs of 12 independent SIMD16 FMA chains per thread (≥ 3 per FMA latency
    /// × 2 pipes, so the FMA units, not the dependency chains, set the rate).
    public static func peakGflops(threads: Int) -> Double {
        let iterations = 4_000_000
        let dt = fastest(runs: 5) {
            Parallel.forEach(threads, threads: threads) { _ in
                let s = fmaProbe(iterations)
                if s == 42 { print("") }  // keeps the result alive
            }
        }
        return Double(threads) * Double(iterations) * 12 * 16 * 2 / dt / 1e9
    }

    /// The shortest of `runs` timings of `body`, seconds (the probes report the best rate).
    static func fastest(runs: Int, _ body: () -> Void) -> Double {
        var best = Double.infinity
        for _ in 0..<runs {
            let t0 = now()
            body()
            best = min(best, now() - t0)
        }
        return best
    }

    /// A 64 MiB array (≫ L3) for the bandwidth probes, `probeCount` floats.
    static let probeCount = 16 << 20
    static func probeSource() -> AlignedBuffer {
        let src = AlignedBuffer(count: probeCount)
        for i in 0..<probeCount { src.pointer[i] = Float(i & 1023) }
        return src
    }

    @inline(never)
    static func fmaProbe(_ n: Int) -> Float {
        let b = Vec(repeating: 0.999_999), c = Vec(repeating: 1e-7)
        var a0 = Vec(repeating: 1), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0
        var a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0
        for _ in 0..<n {
            a0 = c.addingProduct(a0, b); a1 = c.addingProduct(a1, b); a2 = c.addingProduct(a2, b)
            a3 = c.addingProduct(a3, b); a4 = c.addingProduct(a4, b); a5 = c.addingProduct(a5, b)
            a6 = c.addingProduct(a6, b); a7 = c.addingProduct(a7, b); a8 = c.addingProduct(a8, b)
            a9 = c.addingProduct(a9, b); a10 = c.addingProduct(a10, b); a11 = c.addingProduct(a11, b)
        }
        return VectorMath.sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11)
    }

    /// Best of 5 copies of a 64 MiB array (≫ L3) into another, split over threads;
    /// GB/s counts bytes read plus bytes written, as STREAM's copy. `streamingStores` writes
    /// with non-temporal stores (`CacheControl`) instead of ordinary ones.
    public static func copyBandwidth(threads: Int, streamingStores: Bool = false) -> Double {
        let count = probeCount
        let src = probeSource(), dst = AlignedBuffer(count: count)
        let dt = fastest(runs: 6) {
            Parallel.forEach(count, threads: threads, granule: 4096) { r in
                var i = r.lowerBound
                let s = UnsafeRawPointer(src.pointer), d = UnsafeMutableRawPointer(dst.pointer)
                if streamingStores {
                    // Granules of 4096 floats keep every part 64-byte aligned.
                    while i < r.upperBound {
                        CacheControl.streamStore(s.load(fromByteOffset: i * 4, as: Vec.self), dst.pointer + i)
                        i += 16
                    }
                    CacheControl.streamFence()
                    return
                }
                while i < r.upperBound {
                    d.storeBytes(of: s.load(fromByteOffset: i * 4, as: Vec.self), toByteOffset: i * 4, as: Vec.self)
                    i += 16
                }
            }
        }
        return 2 * Double(count) * 4 / dt / 1e9
    }

    /// Best of 6 sums of a 64 MiB array (≫ L3), split over threads, four SIMD16
    /// accumulators per thread; GB/s counts bytes read.
    public static func readBandwidth(threads: Int) -> Double {
        let count = probeCount
        let src = probeSource()
        let dt = fastest(runs: 6) {
            Parallel.forEach(count, threads: threads, granule: 4096) { r in
                let s = UnsafeRawPointer(src.pointer)
                var a0 = Vec(), a1 = Vec(), a2 = Vec(), a3 = Vec()
                var i = r.lowerBound
                while i < r.upperBound {
                    a0 += s.load(fromByteOffset: i * 4, as: Vec.self)
                    a1 += s.load(fromByteOffset: i * 4 + 64, as: Vec.self)
                    a2 += s.load(fromByteOffset: i * 4 + 128, as: Vec.self)
                    a3 += s.load(fromByteOffset: i * 4 + 192, as: Vec.self)
                    i += 64
                }
                if VectorMath.sum((a0 + a1) + (a2 + a3)) == 42 { print("") }  // keeps the sums alive
            }
        }
        return Double(count) * 4 / dt / 1e9
    }

    /// Monotonic clock, seconds.
    @inline(__always)
    public static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }

    // MARK: - cache

    /// Where calibrations are cached: $OPBENCH_CACHE_DIR, else ~/.cache/opbench.
    public static var cacheFile: String {
        let env = ProcessInfo.processInfo.environment
        let dir = env["OPBENCH_CACHE_DIR"] ?? ((env["XDG_CACHE_HOME"] ?? (NSHomeDirectory() + "/.cache")) + "/opbench")
        return dir + "/machine.json"
    }

    /// The fingerprint with ceilings: from the cache when it matches this machine, else
    /// calibrated now and cached (`recalibrate` forces a new calibration).
    public static func current(recalibrate: Bool = false) -> MachineInfo {
        let fresh = fingerprint()
        let path = cacheFile
        if !recalibrate, let data = try? Data(contentsOf: URL(fileURLWithPath: path)),
            var cached = try? JSONDecoder().decode(MachineInfo.self, from: data), cached.sameFingerprint(fresh), !cached.ceilings.isEmpty,
            cached.ceilings.allSatisfy({ $0.streamingCopyGBps != nil && $0.readGBps != nil })
        {
            cached.opbenchCommit = fresh.opbenchCommit
            cached.swiftVersion = fresh.swiftVersion
            return cached
        }
        let calibrated = calibrate(fresh)
        let dir = URL(fileURLWithPath: path).deletingLastPathComponent().path
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        if let data = try? e.encode(calibrated) { try? FileIO.writeAtomically(data, to: path) }
        return calibrated
    }
}
