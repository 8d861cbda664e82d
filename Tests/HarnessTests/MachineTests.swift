import Harness
import Testing

@Suite struct MachineTests {
    /// The bandwidth probes time real memory traffic: a loop the compiler dropped (its result
    /// unused) would take ~0 s and report an absurd figure. Bounds: 0.1 GB/s is below any
    /// machine this runs on; 10 000 GB/s is above any memory system a CPU thread reaches; and
    /// L1 (tens of KiB) serves reads faster than DRAM on every CPU.
    @Test func bandwidthProbesTimeMemoryTraffic() {
        let (levels, streaming) = Machine.levelProbes(threads: 1, caches: Machine.cacheBytes(Machine.fingerprint()), runs: 3)
        #expect(levels.map(\.level) == ["L1", "L2", "L3", "DRAM"])
        for l in levels {
            for (kind, gbps) in [("read", l.readGBps), ("copy", l.copyGBps)] {
                #expect(gbps.isFinite && gbps > 0.1 && gbps < 10_000, "\(l.level) \(kind) probe: \(gbps) GB/s")
            }
        }
        #expect(levels[0].readGBps > levels[3].readGBps)
        #expect(streaming.isFinite && streaming > 0.1 && streaming < 10_000, "streaming copy probe: \(streaming) GB/s")
    }
}
