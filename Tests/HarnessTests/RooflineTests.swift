import Foundation
import Harness
import TestSupport
import Testing

@Suite struct RooflineTests {
    /// A calibration with round numbers: L1 32 KiB, L2 1 MiB per core, L3 32 MiB, and read /
    /// copy bandwidths that make each expectation below exact.
    static let ceiling = Ceiling(
        threads: 1, peakGflops: 100, bandwidthGBps: 20, readGBps: 25,
        levels: [
            LevelBandwidth(level: "L1", capacityBytes: 32_768, probeBytes: 16_384, readGBps: 200, copyGBps: 200),
            LevelBandwidth(level: "L2", capacityBytes: 1_048_576, probeBytes: 524_288, readGBps: 100, copyGBps: 80),
            LevelBandwidth(level: "L3", capacityBytes: 33_554_432, probeBytes: 8_388_608, readGBps: 50, copyGBps: 40),
            LevelBandwidth(level: "DRAM", capacityBytes: nil, probeBytes: 134_217_728, readGBps: 25, copyGBps: 20),
        ])

    /// Each level serves what fits in it and the faster levels did not; the shares sum to 1;
    /// cold caches put everything in DRAM.
    @Test func sharesFollowCapacities() {
        let levels = Self.ceiling.levels!
        let inL2 = Roofline.shares(bytes: 524_288, levels: levels, cache: .warm)
        let l1: Double = 32_768.0 / 524_288
        let expected: [Double] = [l1, 1 - l1, 0, 0]
        #expect(inL2 == expected)
        let huge = Roofline.shares(bytes: 1e9, levels: levels, cache: .warm)
        #expect(abs(huge.reduce(0, +) - 1) < 1e-12 && huge[3] > 0.96)
        #expect(Roofline.shares(bytes: 4096, levels: levels, cache: .cold) == [0, 0, 0, 1])
        #expect(Roofline.shares(bytes: 4096, levels: levels, cache: .warm) == [1, 0, 0, 0])
    }

    /// A read-only working set meets the read ceiling of its level, one that writes as much
    /// as it reads the copy ceiling; the ceiling is named after the level and the kind.
    @Test func placesByLevelAndAccessKind() {
        // 16 MiB read-only, 1 FLOP per 8 bytes: L3 (with small L1/L2 shares below 10 %).
        let gemv = Roofline.place(flops: 2_097_152, bytes: 16_777_216, written: 0, ceiling: Self.ceiling, cache: .warm)
        #expect(gemv.ceiling == "L3-read" && gemv.bound == "memory")
        #expect(gemv.bandwidthGBps > 50 && gemv.bandwidthGBps < 50 * 1.1, "L3 read plus a little L1/L2: \(gemv.bandwidthGBps)")
        // The same cold: DRAM read, exactly.
        let cold = Roofline.place(flops: 2_097_152, bytes: 16_777_216, written: 0, ceiling: Self.ceiling, cache: .cold)
        #expect(cold.ceiling == "DRAM-read" && abs(cold.bandwidthGBps - 25) < 1e-9)
        // Read as much as written, cold: the DRAM copy figure, exactly.
        let copy = Roofline.place(flops: 1e6, bytes: 1e8, written: 5e7, ceiling: Self.ceiling, cache: .cold)
        #expect(copy.ceiling == "DRAM-rw" && abs(copy.bandwidthGBps - 20) < 1e-9)
        // Between the two: 3 parts read, 1 written (time 0.75/25 + 0.25 · (2/20 − 1/25)).
        let mixed = Roofline.place(flops: 1e6, bytes: 1e8, written: 2.5e7, ceiling: Self.ceiling, cache: .cold)
        #expect(abs(mixed.bandwidthGBps - 1 / (0.75 / 25 + 0.25 * (2.0 / 20 - 1.0 / 25))) < 1e-9)
        // Compute-bound: the FMA peak.
        let gemm = Roofline.place(flops: 1e10, bytes: 1e6, written: 1e5, ceiling: Self.ceiling, cache: .warm)
        #expect(gemm.ceiling == "fma" && gemm.gflops == 100 && gemm.bound == "compute")
        // A working set astride L3 and DRAM names both.
        let astride = Roofline.place(flops: 1e6, bytes: 5e7, written: 0, ceiling: Self.ceiling, cache: .warm)
        #expect(astride.ceiling == "L3+DRAM-read", "\(astride.ceiling)")
        // Calibrations without levels keep the DRAM copy figure.
        let old = Roofline.place(
            flops: 1e6, bytes: 1e8, written: 0, ceiling: Ceiling(threads: 1, peakGflops: 100, bandwidthGBps: 20), cache: .warm)
        #expect(old.ceiling == "DRAM-copy" && old.bandwidthGBps == 20)
    }

    /// A fraction above 1.05 of its ceiling is flagged and never shown as a number.
    @Test func fractionAboveTheCeilingIsAnError() {
        var c = Synthetic.result("matmul.simd", samples: [1e-6, 1e-6, 1e-6])
        c.ceiling = "L2-rw"
        c.rooflineGflops = c.flops / 1e-6 / 1e9 / 1.2  // the case runs at 120 % of it
        c.recomputeStatistics()
        #expect(c.ceilingError == true && c.rooflineText == "ceiling error")
        c.rooflineGflops = c.flops / 1e-6 / 1e9 / 0.83
        c.recomputeStatistics()
        #expect(c.ceilingError == false && c.rooflineText == "83% L2-rw")
        let table = CaseTables.bench([c]).terminal
        #expect(table.contains("83% L2-rw"))
    }

    /// Contention shows in the figures themselves: repeats that spread, all-thread figures
    /// that do not scale over the one-thread ones.
    @Test func calibrationChecksNoticeContention() {
        func pair(peak2: Double, spread: Double = 0.01, read2: Double = 30) -> [Ceiling] {
            [
                Ceiling(threads: 1, peakGflops: 110, bandwidthGBps: 20, readGBps: 20, peakSpread: spread),
                Ceiling(threads: 2, peakGflops: peak2, bandwidthGBps: 28, readGBps: read2, peakSpread: 0.01),
            ]
        }
        #expect(Machine.contention(pair(peak2: 218), physicalCores: 2).isEmpty)
        #expect(!Machine.contention(pair(peak2: 111), physicalCores: 2).isEmpty, "2 threads no faster than 1: a busy core")
        #expect(Machine.contention(pair(peak2: 111), physicalCores: 1).isEmpty, "SMT siblings share the FMA units")
        #expect(!Machine.contention(pair(peak2: 218, spread: 0.09), physicalCores: 2).isEmpty)
        #expect(!Machine.contention(pair(peak2: 218, read2: 15), physicalCores: 2).isEmpty)
    }

    /// Automatic recalibrations keep the best figure of each ceiling.
    @Test func recalibrationKeepsTheBestFigures() {
        var old = Synthetic.machine, new = Synthetic.machine
        old.ceilings = [Self.ceiling]
        var lower = Self.ceiling
        lower.peakGflops = 90
        lower.levels![3].readGBps = 30  // DRAM read measured higher this time
        lower.levels![0].readGBps = 150  // L1 lower
        new.ceilings = [lower]
        let merged = Machine.raised(old, by: new).ceilings[0]
        #expect(merged.peakGflops == 100 && merged.levels![3].readGBps == 30 && merged.levels![0].readGBps == 200)
        // A higher figure whose repeats spread widely is one lucky repeat, not the machine's.
        lower.levels![2].copyGBps = 90
        lower.levels![2].copySpread = 0.3
        new.ceilings = [lower]
        #expect(Machine.raised(old, by: new).ceilings[0].levels![2].copyGBps == 40)
    }

    /// A calibration made while sibling processes keep every core busy is refused.
    @Test func calibrationRefusesABusyMachine() throws {
        let siblings = try BusySiblings()
        defer { siblings.stop() }
        let busy = Machine.busyCores() ?? 0
        #expect(busy > Machine.Limits.busyCores, "\(busy) cores busy")
        let (_, problems) = Machine.calibrate(Machine.fingerprint())
        #expect(problems.contains { $0.contains("busy") }, "\(problems)")
    }

    /// The planted-slowdown grammar: several variants, a mode each, every malformed form refused.
    @Test func plantedSlowdownGrammar() throws {
        let p = try PlantedSlowdown.parse("matmul.simd:0.05,softmax.simd:0.05:work,attention.simd:0.1:spin")
        #expect(p.map(\.id.description) == ["matmul.simd", "softmax.simd", "attention.simd"])
        #expect(p.map(\.mode) == [.spin, .work, .spin] && p.map(\.fraction) == [0.05, 0.05, 0.1])
        for bad in [
            "", "matmul.simd", "matmul.simd:x", "matmul.simd:-1", "matmul.simd:0.1:burn", "nope.simd:0.1", "matmul.simd:0.1,",
            "matmul.simd:0.1,matmul.simd:0.2", "matmul.simd:nan", "matmul.simd:inf",
        ] {
            #expect(throws: CLIUsageError.self, "\(bad)") { try PlantedSlowdown.parse(bad) }
        }
    }
}
