import ArgumentParser
import Foundation
import Harness
import Kernels

struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check every selected variant against the fp64 reference on a fixed set of odd shapes.",
        discussion: "Exit status 1 when any variant exceeds its derived error bound.")

    @OptionGroup var selection: Selection
    @Option(help: "table, md or csv") var format: String = "table"

    func run() throws {
        guard ["table", "md", "csv"].contains(format) else { throw CLIError("--format '\(format)' must be table, md or csv") }
        let filter = try selection.variantFilter()
        var table = TextTable(
            headers: ["case", "shape", "threads", "max abs", "max rel", "NMSE", "tolerance", "err/tol", "result"],
            rightAligned: [2, 3, 4, 5, 6, 7])
        var failures = 0
        let threadList = try selection.threads.isEmpty ? [1, 2] : selection.threadCounts()
        for spec in try selection.selectedOps() {
            let ids = Operators.variantIDs.filter { $0.op == spec.op && filter($0) }
            for text in spec.shapes.verify {
                let shape = try spec.shape(text)
                let workload = try Workloads.make(shape)
                for id in ids {
                    for t in threadList where Operators.unsupported(id, shape, threads: t) == nil {
                        try workload.runner(variant: id.variant, threads: t)()
                        let v = workload.verify()
                        if !v.passed { failures += 1 }
                        table.rows.append([
                            id.description, text, "\(t)", Format.error(v.accuracy.maxAbs), Format.error(v.accuracy.maxRel),
                            Format.error(v.accuracy.nmse), Format.error(v.tolerance), Format.number(v.worstRatio, 2),
                            v.passed ? "PASS" : "FAIL",
                        ])
                    }
                }
            }
        }
        switch format {
        case "md": print(table.markdown, terminator: "")
        case "csv": print(table.csv, terminator: "")
        default: print(table.terminal, terminator: "")
        }
        print("\(table.rows.count - failures) passed, \(failures) failed")
        if failures > 0 { throw ExitCode(1) }
    }
}
