import Harness
import Testing

@Suite struct MachineTests {
    /// The bandwidth probes time real memory traffic: a loop the compiler dropped (its result
    /// unused) would take ~0 s and report an absurd figure. Bounds: 0.1 GB/s is below any
    /// machine this runs on; 10 000 GB/s is above any memory system a CPU thread reaches; and
    /// L1 (tens of KiB) serves reads faster than DRAM on every CPU.
    @Test func bandwidthProbesTimeMemoryTraffic() {
        let caches = Machine.cacheBytes(Machine.fingerprint())
        let (levels, streaming) = Machine.levelProbes(threads: 1, caches: caches, runs: 3)
        #expect(levels.map(\.level) == ["L1", "L2", "L3", "DRAM"])
        // The L3 share measured is a power-of-two multiple of the L2 from 2× up to what sysfs says.
        let l3 = levels[2].capacityBytes ?? 0, multiple = l3 / (2 * caches.l2)
        #expect(l3 >= 2 * caches.l2 && l3 <= max(2 * caches.l2, caches.l3), "L3 capacity \(l3)")
        #expect(multiple == multiple.rounded() && Int(multiple).nonzeroBitCount == 1, "L3 capacity \(l3)")
        for l in levels {
            for (kind, gbps) in [("read", l.readGBps), ("copy", l.copyGBps)] {
                #expect(gbps.isFinite && gbps > 0.1 && gbps < 10_000, "\(l.level) \(kind) probe: \(gbps) GB/s")
            }
        }
        #expect(levels[0].readGBps > levels[3].readGBps)
        #expect(streaming.isFinite && streaming > 0.1 && streaming < 10_000, "streaming copy probe: \(streaming) GB/s")
    }

    /// OpenBLAS's fallback cores are replaced by the best core of the CPU's instructions; its
    /// own good choices, cores of other architectures and CPUs without AVX2 are left alone.
    @Test func openBLASFallbackCoresAreReplaced() {
        let avx512: Set<String> = ["avx2", "fma", "avx512f", "avx512bw", "avx512dq", "avx512vl"]
        #expect(Machine.betterOpenBLASCore(detected: "Prescott", flags: avx512.union(["avx512_bf16"])) == "Cooperlake")
        #expect(Machine.betterOpenBLASCore(detected: "Prescott", flags: avx512) == "SkylakeX")
        #expect(Machine.betterOpenBLASCore(detected: "Sandybridge", flags: ["avx", "avx2", "fma"]) == "Haswell")
        #expect(Machine.betterOpenBLASCore(detected: "Haswell", flags: avx512) == "SkylakeX")
        #expect(Machine.betterOpenBLASCore(detected: "Cooperlake", flags: avx512.union(["avx512_bf16"])) == nil)
        #expect(Machine.betterOpenBLASCore(detected: "SkylakeX", flags: avx512) == nil)
        #expect(Machine.betterOpenBLASCore(detected: "Zen", flags: ["avx2", "fma"]) == nil)
        #expect(Machine.betterOpenBLASCore(detected: "Prescott", flags: ["sse4_2", "avx"]) == nil)
        #expect(Machine.betterOpenBLASCore(detected: "NEOVERSEN1", flags: avx512) == nil)
        #expect(Machine.betterOpenBLASCore(detected: "Prescott", flags: ["avx512f", "avx2", "fma"]) == "Haswell")
    }
}
