import ArgumentParser
import Foundation
import Harness

struct MachineCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "machine",
        abstract: "Show the machine fingerprint and its calibrated FMA peak and memory bandwidth.",
        discussion: "Ceilings are measured by built-in probes and cached (see Machine.cacheFile); --recalibrate measures again.")

    @Flag(help: "Measure the ceilings again instead of using the cache.") var recalibrate = false
    @Option(help: "table or json") var format: String = "table"

    func run() throws {
        guard ["table", "json"].contains(format) else { throw CLIError("--format '\(format)' must be table or json") }
        let m = Machine.current(recalibrate: recalibrate)
        if format == "json" {
            let e = JSONEncoder(); e.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try e.encode(m), as: UTF8.self))
            return
        }
        let detected = m.openblasDetectedCore.map { "; OpenBLAS detected \($0), opbench set OPENBLAS_CORETYPE" } ?? ""
        let facts: [(String, String)] = [
            ("CPU", m.cpuModel), ("cores", "\(m.cores)"), ("SIMD", m.simdFeatures.joined(separator: " ")),
            ("caches", m.caches.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")),
            ("OS", "\(m.os), \(m.kernel)"), ("Swift", m.swiftVersion),
            ("OpenBLAS", "\(m.openblasConfig) (core \(m.openblasCore)\(detected))"),
            ("OpBench", m.opbenchCommit), ("kind", m.slug), ("cache file", Machine.cacheFile),
            ("tuning", TuningFile.applied.map { "\($0) (installed)" } ?? "\(TuningFile.defaultPath(for: m)) (none installed)"),
        ]
        for (k, v) in facts { print(k.padding(toLength: 11, withPad: " ", startingAt: 0) + v) }
        print("")
        func pct(_ x: Double?) -> String { x.map { "±" + Format.percent($0) } ?? "" }
        var rows: [[String]] = []
        for c in m.ceilings {
            rows.append(["\(c.threads)", "FMA", "", Format.number(c.peakGflops, 4) + " GFLOP/s", pct(c.peakSpread), "", ""])
            if let g = c.peakInt8Gops {
                rows.append(["\(c.threads)", "int8 dot", "", Format.number(g, 4) + " GOPS", pct(c.int8Spread), "", ""])
            }
            for l in c.levels ?? [] {
                rows.append([
                    "\(c.threads)", l.level, l.capacityBytes.map { Format.bytes($0) } ?? "–", Format.number(l.readGBps, 3) + " GB/s",
                    pct(l.readSpread), Format.number(l.copyGBps, 3) + " GB/s", pct(l.copySpread),
                ])
            }
            if let s = c.streamingCopyGBps {
                rows.append(["\(c.threads)", "DRAM, streaming stores", "", "", "", Format.number(s, 3) + " GB/s", ""])
            }
        }
        let t = TextTable(
            headers: ["threads", "ceiling", "capacity", "read (or FMA)", "spread", "copy", "spread"], rows: rows,
            rightAligned: [0, 2, 3, 4, 5, 6])
        print("calibrated \(m.calibratedAt ?? "(unknown)"); spread = (median − best) / best over the probe's repeats")
        print(t.terminal, terminator: "")
    }
}
