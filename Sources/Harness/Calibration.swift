import Foundation
import Kernels

/// Measuring the ceilings, judging whether a measurement can be trusted, and caching it.
///
/// A calibration made while something else runs stores ceilings that are too low, and every
/// later roofline is then wrong. So: each probe is repeated and its best rate kept with the
/// spread of the repeats; the machine's load is read from /proc/stat before probing; a
/// calibration is cached only when the load was low, the spreads small and the all-thread
/// figures scale over the one-thread ones. Each run re-checks a cached calibration with a
/// short spot probe and recalibrates when they disagree by more than the noise.
extension Machine {
    /// The version of the probes (`MachineInfo.calibrationVersion`): 2 measures the L3 share.
    public static let calibrationVersion = 2

    /// What the calibration's acceptance checks allow.
    public enum Limits {
        /// Other processes may keep at most this many cores busy while calibrating.
        public static let busyCores = 0.25
        /// The FMA probe's repeats may spread by at most this much ((median − best) / best).
        public static let peakSpread = 0.05
        /// All-thread FMA peak must reach this fraction of threads × the one-thread peak
        /// (physical cores only; SMT siblings share the FMA units).
        public static let fmaScaling = 0.75
        /// A spot probe may differ from the cached figure by this much (FMA, DRAM read) before
        /// the cache is re-measured: a few times the spreads seen on an idle machine here.
        public static let spotFma = 0.06
        public static let spotRead = 0.12
        /// A recalibration raises a cached level figure only when its repeats spread by at
        /// most this much.
        public static let raiseSpread = 0.10
        /// A working set counts as served by L3 while it reads at least this many times the DRAM
        /// rate: well above DRAM's own spread between probes (up to 20 % here), well below the
        /// L3/DRAM ratio of any CPU (3–4× on Zen 4, 1.5–1.8× on the Xeon VM here).
        public static let l3OverDram = 1.3
    }

    /// Cores that other processes kept busy over `seconds`, from /proc/stat (nil when it
    /// cannot be read). This process sleeps while it samples, so its own work is not counted.
    public static func busyCores(over seconds: Double = 0.25) -> Double? {
        func sample() -> (busy: Double, total: Double)? {
            guard let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
                let line = text.split(separator: "\n").first, line.hasPrefix("cpu ")
            else { return nil }
            let v = line.split(separator: " ").dropFirst().compactMap { Double($0) }
            guard v.count >= 5 else { return nil }
            let total = v.prefix(8).reduce(0, +)
            return (total - v[3] - v[4], total)
        }
        guard let a = sample() else { return nil }
        usleep(UInt32(seconds * 1e6))
        guard let b = sample(), b.total > a.total else { return nil }
        return (b.busy - a.busy) / (b.total - a.total) * Double(ProcessInfo.processInfo.activeProcessorCount)
    }

    /// Distinct physical cores (package, core id) among the online CPUs; `cores` when the
    /// topology cannot be read.
    public static func physicalCores(_ cores: Int) -> Int {
        var seen = Set<String>()
        for i in 0..<cores {
            let dir = "/sys/devices/system/cpu/cpu\(i)/topology/"
            guard let core = try? String(contentsOfFile: dir + "core_id", encoding: .utf8),
                let pkg = try? String(contentsOfFile: dir + "physical_package_id", encoding: .utf8)
            else { return cores }
            seen.insert(pkg.trimmingCharacters(in: .whitespacesAndNewlines) + "/" + core.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        return max(1, seen.count)
    }

    /// Cache sizes in bytes (L1d, L2 per core; L3 shared) from the fingerprint, with Zen 4's
    /// as the fallback when sysfs does not say.
    public static func cacheBytes(_ info: MachineInfo) -> (l1: Double, l2: Double, l3: Double) {
        func bytes(_ key: String, _ fallback: Double) -> Double {
            guard let text = info.caches[key], let unit = text.last else { return fallback }
            let scale: Double = unit == "K" ? 1024 : unit == "M" ? 1_048_576 : 1
            return Double(text.filter(\.isNumber)).map { $0 * scale } ?? fallback
        }
        return (bytes("L1d", 32_768), bytes("L2", 1_048_576), bytes("L3", 33_554_432))
    }

    /// Measures the FMA peak and the read and copy bandwidth of every level for 1 … cores
    /// threads (about 2 s), and says what makes the figures untrustworthy (`problems`).
    public static func calibrate(_ info: MachineInfo) -> (info: MachineInfo, problems: [String]) {
        var info = info
        var problems: [String] = []
        if let busy = busyCores(), busy > Limits.busyCores {
            problems.append(String(format: "other processes kept %.2f cores busy while calibrating", busy))
        }
        let counts = Array(Set([1, info.cores])).sorted()
        let caches = cacheBytes(info)
        info.ceilings = counts.map { t in
            let peak = peakGflops(threads: t), int8 = peakInt8Gops(threads: t)
            let probes = levelProbes(threads: t, caches: caches)
            let dram = probes.levels.last!
            var c = Ceiling(
                threads: t, peakGflops: peak.best, bandwidthGBps: dram.copyGBps, streamingCopyGBps: probes.streamingCopyGBps,
                readGBps: dram.readGBps, levels: probes.levels, peakSpread: peak.spread)
            (c.peakInt8Gops, c.int8Spread) = (int8.best, int8.spread)
            return c
        }
        info.calibratedAt = ISO8601DateFormatter().string(from: Date())
        info.calibrationVersion = calibrationVersion
        problems += contention(info.ceilings, physicalCores: physicalCores(info.cores))
        return (info, problems)
    }

    /// What in a set of ceilings shows that the machine was shared while they were measured:
    /// repeats that spread, all-thread figures at or below the one-thread ones, FMA that does
    /// not scale over physical cores.
    public static func contention(_ ceilings: [Ceiling], physicalCores: Int) -> [String] {
        var out: [String] = []
        for c in ceilings {
            if let s = c.peakSpread, s > Limits.peakSpread {
                out.append(String(format: "FMA probe repeats spread %.1f%% at %d threads", s * 100, c.threads))
            }
        }
        guard let one = ceilings.first(where: { $0.threads == 1 }), let all = ceilings.max(by: { $0.threads < $1.threads }),
            all.threads > 1
        else { return out }
        let expected = Double(min(all.threads, physicalCores)) * Limits.fmaScaling
        if all.peakGflops < one.peakGflops * max(1, expected) {
            out.append(
                String(
                    format: "FMA peak at %d threads (%.0f GFLOP/s) is not %.2f× the 1-thread peak (%.0f)", all.threads, all.peakGflops,
                    max(1, expected), one.peakGflops))
        }
        if let r1 = one.readGBps, let rn = all.readGBps, rn < r1 {
            out.append(String(format: "DRAM read at %d threads (%.1f GB/s) is below 1 thread's (%.1f)", all.threads, rn, r1))
        }
        return out
    }

    /// Best and spread of 7 runs of independent SIMD16 FMA chains per thread: 12 with
    /// AVX-512 (zmm), 6 on AVX2, where each is two ymm chains — 12 either way, ≥ 3 per FMA
    /// latency × 2 pipes, so the FMA units, not the dependency chains, set the rate. Twelve
    /// SIMD16 chains on AVX2 need 24 of its 16 ymm registers: they spilled and measured half
    /// the peak (OpenBLAS then ran at 133 % of it).
    public static func peakGflops(threads: Int, iterations: Int = 4_000_000, runs: Int = 7) -> (best: Double, spread: Double) {
        let chains = VectorMath.liveVectors
        let times = timings(runs: runs) {
            Parallel.forEach(threads, threads: threads) { _ in
                let s = chains == 12 ? fmaProbe(iterations) : fmaProbe6(2 * iterations)
                if s == 42 { print("") }  // keeps the result alive
            }
        }
        return rate(Double(threads) * Double(iterations) * 12 * 16 * 2 / 1e9, times)
    }

    /// Best and spread of 7 runs of 12 independent `vpdpbusd` chains per thread (each
    /// instruction 64 byte multiply-adds, counted as 128 operations), the integer-dot
    /// variants' compute roof. Without AVX-512 VNNI the dot product is the portable loop of
    /// `opbench_dot_u8s8`, and this measures that loop: the roof those variants really have.
    public static func peakInt8Gops(threads: Int, iterations: Int = 2_000_000, runs: Int = 7) -> (best: Double, spread: Double) {
        let n = VectorMath.hasInt8Dot ? iterations : iterations / 64
        let times = timings(runs: runs) {
            Parallel.forEach(threads, threads: threads) { _ in
                if VectorMath.int8DotProbe(n) == 42 { print("") }  // keeps the result alive
            }
        }
        return rate(Double(threads) * Double(n) * 12 * 64 * 2 / 1e9, times)
    }

    /// Six SIMD16 chains (AVX2: twelve ymm chains in 12 of the 16 registers).
    @inline(never)
    static func fmaProbe6(_ n: Int) -> Float {
        let b = Vec(repeating: 0.999_999), c = Vec(repeating: 1e-7)
        var a0 = Vec(repeating: 1), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0
        for _ in 0..<n {
            a0 = c.addingProduct(a0, b); a1 = c.addingProduct(a1, b); a2 = c.addingProduct(a2, b)
            a3 = c.addingProduct(a3, b); a4 = c.addingProduct(a4, b); a5 = c.addingProduct(a5, b)
        }
        return VectorMath.sum(a0 + a1 + a2 + a3 + a4 + a5)
    }

    /// `runs` timings of `body`, seconds.
    static func timings(runs: Int, _ body: () -> Void) -> [Double] {
        (0..<runs).map { _ in
            let t0 = now()
            body()
            return now() - t0
        }
    }

    /// The best rate of `amount` per timing and the spread of the timings ((median − best) / best).
    static func rate(_ amount: Double, _ times: [Double]) -> (best: Double, spread: Double) {
        let best = times.min() ?? .nan
        return (amount / best, Statistics.median(times) / best - 1)
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

    /// Read and copy probes of L1, L2, L3 and DRAM for `threads`. Each thread works on a
    /// slice of its own; in-cache probes repeat passes over it so each timing moves 256 MiB
    /// per thread. Working sets: half of L1 and L2 per thread, a quarter of the L3 this VM
    /// really gets (`effectiveL3`, at least twice the L2s), and 4 × the L3 sysfs gives (at least
    /// 64 MiB) for DRAM, so each lives where it is named. Also returns the streaming-store copy
    /// the DRAM copy figure is the faster of.
    public static func levelProbes(
        threads: Int, caches: (l1: Double, l2: Double, l3: Double), runs: Int = 7
    ) -> (levels: [LevelBandwidth], streamingCopyGBps: Double) {
        let t = Double(threads)
        // From DRAM a kernel can do better than a plain loop: software prefetch into L2 ahead
        // of the loads (`dramRead`), and stores that skip the write-allocate read. A ceiling must
        // not be lower than what a kernel reaches, so DRAM keeps the faster of each.
        let dramBytes = max(67_108_864, caches.l3 * 4)
        let dram = dramRead(totalBytes: dramBytes, threads: threads, runs: runs)
        let l3 = effectiveL3(threads: threads, caches: caches, dramReadGBps: dram.best)
        let plan: [(String, Double?, Double)] = [
            ("L1", caches.l1 * t, caches.l1 / 2 * t),
            ("L2", caches.l2 * t, caches.l2 / 2 * t),
            ("L3", l3, max(caches.l2 * t * 2, l3 / 4)),
            ("DRAM", nil, dramBytes),
        ]
        let streaming = streamingCopyBandwidth(threads: threads)
        let levels = plan.map { level, capacity, ws in
            let isDram = capacity == nil
            let read = isDram ? dram : streamProbe(totalBytes: ws, threads: threads, copy: false, runs: runs)
            var copy = streamProbe(totalBytes: ws, threads: threads, copy: true, runs: runs)
            if isDram && streaming > copy.best { copy.best = streaming }
            return LevelBandwidth(
                level: level, capacityBytes: capacity, probeBytes: ws, readGBps: read.best, copyGBps: copy.best, readSpread: read.spread,
                copySpread: copy.spread)
        }
        return (levels, streaming)
    }

    /// The share of the L3 these threads really get: the largest working set, doubling from
    /// twice the private L2s up to the size sysfs gives, that still reads at least
    /// `Limits.l3OverDram` × the DRAM read rate (twice the L2s when none does). A VM reports its
    /// host's whole L3 (300 MiB on the Intel Xeon here) while other tenants hold most of it: a
    /// 75 MiB probe there read at 11.6 GB/s against DRAM's 13.2, so every working set between
    /// 2 and 300 MiB was measured against DRAM's speed under the name L3.
    public static func effectiveL3(threads: Int, caches: (l1: Double, l2: Double, l3: Double), dramReadGBps: Double) -> Double {
        let smallest = caches.l2 * Double(threads) * 2
        var size = smallest, capacity = smallest
        while size <= caches.l3 {
            guard streamProbe(totalBytes: size, threads: threads, copy: false, runs: 3).best >= Limits.l3OverDram * dramReadGBps
            else { break }
            capacity = size
            size *= 2
        }
        return capacity
    }

    /// The DRAM read figure: the faster of a plain and an L2-prefetched read (the calibration
    /// and the spot check both measure it this way, so they compare like with like).
    static func dramRead(totalBytes: Double, threads: Int, runs: Int) -> (best: Double, spread: Double) {
        let plain = streamProbe(totalBytes: totalBytes, threads: threads, copy: false, runs: runs)
        let prefetched = streamProbe(totalBytes: totalBytes, threads: threads, copy: false, runs: runs, prefetchL2: true)
        return prefetched.best > plain.best ? prefetched : plain
    }

    /// One bandwidth probe over `totalBytes` split into per-thread slices (multiples of 4 KiB).
    /// Read: four SIMD16 accumulators, 256 bytes a step (eight, 512 bytes a step, read DRAM at
    /// half the rate here: docs/optimization-log.md), optionally prefetching each line into L2
    /// 16 KB ahead; copy: the first half of each slice into the second, counting bytes read +
    /// written.
    static func streamProbe(
        totalBytes: Double, threads: Int, copy: Bool, runs: Int, prefetchL2: Bool = false
    ) -> (best: Double, spread: Double) {
        let perThread = max(4096, Int(totalBytes) / threads / 4096 * 4096) / 4  // floats
        let buffer = AlignedBuffer(count: perThread * threads)
        for i in 0..<buffer.count { buffer.pointer[i] = Float(i & 1023) }
        let passes = max(1, (256 << 20) / (perThread * 4))
        let times = timings(runs: runs) {
            Parallel.forEach(threads, threads: threads) { r in
                let base = UnsafeMutableRawPointer(buffer.pointer + r.lowerBound * perThread)
                if copy {
                    let half = perThread / 2 * 4
                    for _ in 0..<passes {
                        var o = 0
                        while o < half {
                            base.storeBytes(of: base.load(fromByteOffset: o, as: Vec.self), toByteOffset: half + o, as: Vec.self)
                            base.storeBytes(of: base.load(fromByteOffset: o + 64, as: Vec.self), toByteOffset: half + o + 64, as: Vec.self)
                            o += 128
                        }
                    }
                    return
                }
                var a0 = Vec(), a1 = Vec(), a2 = Vec(), a3 = Vec()
                let bytes = perThread * 4
                for _ in 0..<passes {
                    var o = 0
                    while o < bytes {
                        // 16 KB ahead, the distance the int4 GEMV's L2 prefetch uses (optimization log).
                        if prefetchL2 {
                            let ahead = UnsafeRawPointer(base) + min(o + 16_384, bytes - 256)
                            CacheControl.prefetchL2(ahead); CacheControl.prefetchL2(ahead + 64)
                            CacheControl.prefetchL2(ahead + 128); CacheControl.prefetchL2(ahead + 192)
                        }
                        a0 += base.load(fromByteOffset: o, as: Vec.self); a1 += base.load(fromByteOffset: o + 64, as: Vec.self)
                        a2 += base.load(fromByteOffset: o + 128, as: Vec.self); a3 += base.load(fromByteOffset: o + 192, as: Vec.self)
                        o += 256
                    }
                }
                if VectorMath.sum((a0 + a1) + (a2 + a3)) == 42 { print("") }  // keeps the sums alive
            }
        }
        let moved = Double(perThread * threads * 4) * Double(passes)
        return rate(moved / 1e9, times)
    }

    /// Best of 6 copies of a 64 MiB array into another with streaming (non-temporal) stores,
    /// split over threads; GB/s counts bytes read plus bytes written.
    public static func streamingCopyBandwidth(threads: Int) -> Double {
        let count = 16 << 20
        let src = AlignedBuffer(count: count), dst = AlignedBuffer(count: count)
        for i in 0..<count { src.pointer[i] = Float(i & 1023) }
        let times = timings(runs: 6) {
            Parallel.forEach(count, threads: threads, granule: 4096) { r in
                let s = UnsafeRawPointer(src.pointer)
                var i = r.lowerBound
                while i < r.upperBound {
                    CacheControl.streamStore(s.load(fromByteOffset: i * 4, as: Vec.self), dst.pointer + i)
                    i += 16
                }
                CacheControl.streamFence()
            }
        }
        return 2 * Double(count) * 4 / (times.min() ?? .nan) / 1e9
    }

    // MARK: - the cache

    /// Where calibrations are cached: $OPBENCH_CACHE_DIR, else ~/.cache/opbench.
    public static var cacheFile: String {
        let env = ProcessInfo.processInfo.environment
        let dir = env["OPBENCH_CACHE_DIR"] ?? ((env["XDG_CACHE_HOME"] ?? (NSHomeDirectory() + "/.cache")) + "/opbench")
        return dir + "/machine.json"
    }

    /// The cached calibration when it matches this machine and has every figure a roofline needs.
    static func cached(matching fresh: MachineInfo) -> MachineInfo? {
        guard let data = try? Data(contentsOf: URL(fileURLWithPath: cacheFile)),
            let cached = try? JSONDecoder().decode(MachineInfo.self, from: data), cached.sameFingerprint(fresh), !cached.ceilings.isEmpty,
            cached.calibrationVersion == calibrationVersion,
            cached.ceilings.allSatisfy({ $0.levels?.count == 4 && $0.readGBps != nil && $0.peakInt8Gops != nil })
        else { return nil }
        return cached
    }

    static func store(_ info: MachineInfo) {
        let path = cacheFile
        let dir = URL(fileURLWithPath: path).deletingLastPathComponent().path
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        if let data = try? e.encode(info) { try? FileIO.writeAtomically(data, to: path) }
    }

    /// The state probe (`stateProbe`, about 0.5 s) against `cached`: what measured above the
    /// cache by more than `Limits` (`higher`: the cache is low, recalibrate) and what measured
    /// below it (`lower`: the machine is busier now; a recalibration, which only raises figures,
    /// would change nothing, so this only warns). The probe is kept as the run's first state.
    static func spotCheck(_ cached: MachineInfo) -> (higher: [String], lower: [String], state: MachineState) {
        let one = cached.ceiling(threads: 1)
        let state = stateProbe(dramBytes: stateProbeBytes(cached))
        var figures = [("FMA", state.fmaGflops, one.peakGflops, Limits.spotFma, "GFLOP/s")]
        if let dram = one.levels?.last { figures.append(("DRAM read", state.dramReadGBps, dram.readGBps, Limits.spotRead, "GB/s")) }
        var out: (higher: [String], lower: [String], state: MachineState) = ([], [], state)
        for (name, now, was, limit, unit) in figures where abs(now / was - 1) > limit {
            let text = String(format: "%@ %.1f %@ now, %.1f cached", name, now, unit, was)
            if now > was { out.higher.append(text) } else { out.lower.append(text) }
        }
        return out
    }

    /// The fingerprint with ceilings. A cached calibration of this machine is used unless a spot
    /// probe beats it (a probe below it only warns); otherwise (or with `recalibrate`) the
    /// machine is calibrated, and
    /// the new figures are cached only when nothing showed contention. A calibration that was
    /// refused is still used for this run when there is no cached one to fall back on. Every
    /// doubt goes to stderr and into `calibrationWarnings`.
    public static func current(recalibrate: Bool = false, spotCheck check: Bool = true) -> MachineInfo {
        let fresh = fingerprint()
        var warnings: [String] = []
        let previous = cached(matching: fresh)
        if !recalibrate, let c = previous {
            guard check else { return finish(c, fresh: fresh, warnings: []) }
            let spot = spotCheck(c)
            if !spot.lower.isEmpty {
                warnings.append("this machine is slower now than calibrated (\(spot.lower.joined(separator: "; "))): busy?")
            }
            guard !spot.higher.isEmpty else {
                var info = finish(c, fresh: fresh, warnings: warnings)
                info.stateProbes = [spot.state]
                return info
            }
            warnings.append("spot check beats the cached calibration (\(spot.higher.joined(separator: "; "))): recalibrating")
        }
        var (measured, problems) = calibrate(fresh)
        if problems.isEmpty {
            if !recalibrate, let p = previous { measured = raised(p, by: measured) }
            store(measured)
            return finish(measured, fresh: fresh, warnings: warnings)
        }
        let why = problems.joined(separator: "; ")
        if let p = previous {
            warnings.append(
                "calibration not cached, the machine looks busy (\(why)): using the cached one of \(p.calibratedAt ?? "earlier")")
            return finish(p, fresh: fresh, warnings: warnings)
        }
        warnings.append("calibration not cached, the machine looks busy (\(why)): this run's ceilings may be low")
        return finish(measured, fresh: fresh, warnings: warnings)
    }

    /// `old` with every ceiling raised to `new`'s where `new` measured more and its repeats
    /// agreed (spread at most `Limits.raiseSpread`: one lucky repeat among slow ones is not the
    /// machine's figure). A ceiling is the most the machine does; on a VM whose neighbours take
    /// memory bandwidth by the minute, a calibration in a busy minute reads low and a kernel in
    /// a quiet one then beats it, so automatic recalibrations keep the best figure seen
    /// (`--recalibrate` starts afresh).
    public static func raised(_ old: MachineInfo, by new: MachineInfo) -> MachineInfo {
        var out = new
        for (i, c) in out.ceilings.enumerated() {
            guard let o = old.ceilings.first(where: { $0.threads == c.threads }) else { continue }
            out.ceilings[i].peakGflops = max(c.peakGflops, o.peakGflops)
            if let a = c.peakInt8Gops, let b = o.peakInt8Gops { out.ceilings[i].peakInt8Gops = max(a, b) }
            out.ceilings[i].bandwidthGBps = max(c.bandwidthGBps, o.bandwidthGBps)
            if let a = c.readGBps, let b = o.readGBps { out.ceilings[i].readGBps = max(a, b) }
            if let a = c.streamingCopyGBps, let b = o.streamingCopyGBps { out.ceilings[i].streamingCopyGBps = max(a, b) }
            guard var levels = c.levels, let oldLevels = o.levels, oldLevels.map(\.level) == levels.map(\.level) else { continue }
            for j in levels.indices {
                let o = oldLevels[j]
                if levels[j].readGBps < o.readGBps || levels[j].readSpread > Limits.raiseSpread {
                    (levels[j].readGBps, levels[j].readSpread) = (o.readGBps, o.readSpread)
                }
                if levels[j].copyGBps < o.copyGBps || levels[j].copySpread > Limits.raiseSpread {
                    (levels[j].copyGBps, levels[j].copySpread) = (o.copyGBps, o.copySpread)
                }
            }
            out.ceilings[i].levels = levels
        }
        return out
    }

    static func finish(_ info: MachineInfo, fresh: MachineInfo, warnings: [String]) -> MachineInfo {
        var info = info
        info.opbenchCommit = fresh.opbenchCommit
        info.swiftVersion = fresh.swiftVersion
        info.openblasDetectedCore = fresh.openblasDetectedCore
        info.calibrationWarnings = warnings
        info.stateProbes = nil
        for w in warnings { FileHandle.standardError.write(Data("warning: \(w)\n".utf8)) }
        return info
    }
}
