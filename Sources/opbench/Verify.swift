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

    /// Sizes that are multiples of no tile or vector width, plus the decode (M=1) paths.
    static func shapes(_ op: Op) -> [String] {
        switch op {
        case .matmul: return ["1x1000x17", "17x33x129", "129x257x65", "7x1030x300"]
        case .softmax: return ["33x1000", "5x4099"]
        case .layernorm: return ["17x4096", "33x129"]
        case .attention: return ["T=129,H=2,D=64,causal,window=16,global=2", "T=70,H=3,D=17", "T=200,H=2,D=32,block=16,density=0.3"]
        case .int4: return ["1x1056x129", "17x1024x65", "70x160x200,q4_1"]
        }
    }

    func run() throws {
        guard ["table", "md", "csv"].contains(format) else { throw CLIError("--format '\(format)' must be table, md or csv") }
        let filter = try selection.variantFilter()
        var table = TextTable(headers: ["case", "shape", "threads", "max abs", "max rel", "NMSE", "tolerance", "err/tol", "result"],
                              rightAligned: [2, 3, 4, 5, 6, 7])
        var failures = 0
        let threadList = try selection.threads.isEmpty ? [1, 2] : selection.threadCounts()
        for op in try selection.selectedOps() {
            let ids = Registry.all.filter { $0.op == op && filter($0) }
            for text in Self.shapes(op) {
                let workload = try Workloads.make(try CaseShape(op: op, text))
                for id in ids {
                    for t in threadList {
                        try workload.runner(variant: id.variant, threads: t)()
                        let v = workload.verify()
                        if !v.passed { failures += 1 }
                        table.rows.append([id.description, text, "\(t)", Format.error(v.accuracy.maxAbs), Format.error(v.accuracy.maxRel),
                                           Format.error(v.accuracy.nmse), Format.error(v.tolerance), Format.number(v.worstRatio, 2),
                                           v.passed ? "PASS" : "FAIL"])
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
