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
    @Flag(
        help: ArgumentHelp(
            "Run each plugin variant in an opbench process of its own: a kernel that crashes fails its cases (CRASH) instead "
                + "of ending opbench."))
    var isolate = false

    func run() throws {
        guard ["table", "md", "csv"].contains(format) else { throw CLIError("--format '\(format)' must be table, md or csv") }
        let filter = try selection.variantFilter()
        var table = TextTable(
            headers: ["case", "shape", "threads", "max abs", "max rel", "NMSE", "tolerance", "err/tol", "result"],
            rightAligned: [2, 3, 4, 5, 6, 7])
        var failures = 0
        let threadList = try selection.threads.isEmpty ? [1, 2] : selection.threadCounts()
        for spec in try selection.selectedOps() {
            var ids = Operators.variantIDs.filter { $0.op == spec.op && filter($0) }
            if isolate {
                for id in ids.filter(Isolated.isPlugin) { failures += try verifyIsolated(id, into: &table) }
                ids.removeAll(where: Isolated.isPlugin)
            }
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

    /// Verifies plugin variant `id` in a process of its own and adds its rows to `table`; a
    /// crash is one CRASH row. Returns the failures.
    func verifyIsolated(_ id: VariantID, into table: inout TextTable) throws -> Int {
        var args = ["verify", "--op", id.op.rawValue, "--variant", id.description, "--format", "csv"]
        for t in selection.threads { args += ["--threads", t] }
        let o = try Isolated.run(args, for: id)
        if let signal = o.signal {
            table.rows.append([
                id.description, "(its verify shapes)", "–", "–", "–", "–", "–", "–",
                "CRASH (\(Isolated.describe(signal: signal)))",
            ])
            return 1
        }
        guard o.status == 0 || o.status == 1 else { throw CLIError("\(id) (isolated): \(Isolated.lastLine(o))") }
        let rows = Isolated.csvRows(o.stdout).dropFirst().filter { $0.count == table.headers.count }
        table.rows += rows
        return rows.filter { $0.last == "FAIL" }.count
    }
}
