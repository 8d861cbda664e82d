import Harness
import Testing

@Suite struct MachineTests {
    /// The bandwidth probes time real memory traffic: a loop the compiler dropped (its result
    /// unused) would take ~0 s and report an absurd figure. Bounds: 0.1 GB/s is below any
    /// machine this runs on; 10 000 GB/s is above any memory system a CPU thread reaches.
    @Test func bandwidthProbesTimeMemoryTraffic() {
        let probes = [
            ("read", Machine.readBandwidth(threads: 1)), ("copy", Machine.copyBandwidth(threads: 1)),
            ("streaming copy", Machine.copyBandwidth(threads: 1, streamingStores: true)),
        ]
        for (name, gbps) in probes {
            #expect(gbps.isFinite && gbps > 0.1 && gbps < 10_000, "\(name) probe: \(gbps) GB/s")
        }
    }
}
