import Harness
import TestSupport
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

    /// The gate's state check: a baseline's reference is the range of its probes (else its
    /// calibrated 1-thread ceilings); a run matches only when every probe lies within that range
    /// widened by the spot check's limits, in either direction; runs without probes are judged
    /// as before, and a run in another state is named and left out.
    @Test func machineStateDecidesWhichRunsAreJudged() throws {
        func state(_ f: Double, _ r: Double) -> MachineState { MachineState(fmaGflops: f, dramReadGBps: r) }
        var base = Synthetic.machine
        base.stateProbes = [state(170, 16), state(178, 17), state(175, 16.5), state(176, 16.4)]
        let ref = try #require(MachineState.reference(of: base))
        #expect(ref.low == state(170, 16) && ref.high == state(178, 17))
        #expect(ref.fmaLimit == Machine.Limits.spotFma && ref.readLimit == Machine.Limits.spotRead)
        #expect(MachineState.check([state(176, 16.8), state(168, 15.0)], against: ref)?.matches == true)
        let busy = try #require(MachineState.check([state(176, 16.8), state(150, 16.5)], against: ref))
        #expect(!busy.matches && busy.worst.fmaGflops == 150)
        #expect(busy.text.contains("FMA 150.0 GFLOP/s against 170.0–178.0 (-12%, limit ±6%)"), "\(busy.text)")
        #expect(MachineState.check([state(176, 12)], against: ref)?.matches == false)
        #expect(MachineState.check([state(.nan, 16.5)], against: ref)?.matches == false)
        #expect(MachineState.check([], against: ref) == nil)
        // A quieter state than any of the baseline's rounds is another state too.
        #expect(MachineState.check([state(178, 19.5)], against: ref)?.matches == false)
        // Within a wide baseline range anything goes: its rounds met those states, its band covers them.
        var noisy = Synthetic.machine
        noisy.stateProbes = [state(100, 16), state(140, 16)]
        let wide = try #require(MachineState.reference(of: noisy))
        #expect(MachineState.check([state(120, 16)], against: wide)?.matches == true)
        #expect(MachineState.check([state(150, 16)], against: wide)?.matches == false)
        // No probes: the calibrated 1-thread FMA peak and DRAM read rate; no DRAM figure: no state.
        #expect(MachineState.reference(of: Synthetic.machine) == nil)
        var calibrated = Synthetic.machine
        calibrated.ceilings[0].levels = [LevelBandwidth(level: "DRAM", capacityBytes: nil, probeBytes: 1e9, readGBps: 15, copyGBps: 30)]
        let best = try #require(MachineState.reference(of: calibrated))
        #expect(best.low == state(100, 15) && best.high == state(100, 15) && best.dramProbeBytes == 1e9)

        var quiet = Synthetic.machine, loaded = Synthetic.machine, old = Synthetic.machine
        quiet.stateProbes = [state(174, 16.2), state(177, 16.9)]
        loaded.stateProbes = [state(174, 16.2), state(120, 12)]
        old.stateProbes = nil
        let sel = GateStateSelection(baseline: base, runs: [quiet, loaded, old])
        #expect(sel.judged == [0, 2] && !sel.noneJudged)
        let notes = sel.notes.joined(separator: "\n")
        #expect(notes.contains("run 1: matches") && notes.contains("run 2: **another state**") && notes.contains("run 3: no state probes"))
        #expect(GateStateSelection(baseline: base, runs: [loaded, loaded]).noneJudged)
        #expect(GateStateSelection(baseline: Synthetic.machine, runs: [loaded]).judged == [0])
    }

    /// A results file's state probes must be finite positive rates.
    @Test func stateProbesAreValidated() throws {
        for bad in [Double.nan, 0, -1, .infinity, 1e12] {
            var doc = Synthetic.doc([Synthetic.result("matmul.simd", samples: [1e-3])])
            doc.machine.stateProbes = [MachineState(fmaGflops: 170, dramReadGBps: 16), MachineState(fmaGflops: bad, dramReadGBps: 16)]
            #expect(throws: FileError.self) { try doc.validate(path: "r.json") }
            do { try doc.validate(path: "r.json") } catch let e as FileError {
                #expect("\(e)".contains("state_probes[1]") && "\(e)".contains("fma_gflops"), "\(e)")
            }
        }
    }
}
