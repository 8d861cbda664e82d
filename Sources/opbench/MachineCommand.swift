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
        let facts: [(String, String)] = [
            ("CPU", m.cpuModel), ("cores", "\(m.cores)"), ("SIMD", m.simdFeatures.joined(separator: " ")),
            ("caches", m.caches.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")),
            ("OS", "\(m.os), \(m.kernel)"), ("Swift", m.swiftVersion), ("OpenBLAS", "\(m.openblasConfig) (core \(m.openblasCore))"),
            ("OpBench", m.opbenchCommit), ("cache file", Machine.cacheFile),
        ]
        for (k, v) in facts { print(k.padding(toLength: 11, withPad: " ", startingAt: 0) + v) }
        print("")
        let t = TextTable(
            headers: [
                "threads", "FMA peak GFLOP/s", "copy bandwidth GB/s", "copy, streaming stores GB/s", "read GB/s",
                "ridge FLOP/byte",
            ],
            rows: m.ceilings.map {
                [
                    "\($0.threads)", Format.number($0.peakGflops, 4), Format.number($0.bandwidthGBps, 3),
                    $0.streamingCopyGBps.map { Format.number($0, 3) } ?? "–",
                    $0.readGBps.map { Format.number($0, 3) } ?? "–",
                    Format.number($0.peakGflops / $0.bandwidthGBps, 3),
                ]
            },
            rightAligned: [0, 1, 2, 3, 4, 5])
        print(t.terminal, terminator: "")
    }
}
