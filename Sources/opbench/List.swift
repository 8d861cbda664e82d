import ArgumentParser
import Harness
import Kernels

struct List: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List every registered variant id (built-in, then those of loaded plugins).")

    @Flag(name: .long, help: "Show a table with each variant's summary.")
    var verbose = false

    @Flag(name: .long, help: "List the operators and their shape grammars instead.")
    var ops = false

    @Flag(
        name: .long,
        help: ArgumentHelp(
            "List every kernel family's tuning table (constant, default, legal range, the variants that read it) and the "
                + "entries of the installed tuning file instead."))
    var tuning = false

    func run() throws {
        if tuning {
            var table = TextTable(
                headers: ["family", "parameter", "value", "legal values", "read by", "controls"], rightAligned: [2])
            for (family, t) in Tuning.tables {
                for p in t.parameters {
                    let legal = "\(p.range.lowerBound)…\(p.range.upperBound)" + (p.multiple > 1 ? ", multiple of \(p.multiple)" : "")
                    let readers = Operators.variantIDs.filter { Operators.kernel($0)?.tunables.contains(p.name) == true }
                        .filter { family.hasPrefix($0.op.rawValue) }.map(\.description)
                    table.rows.append([
                        family, p.name, "\(p.value)", legal, readers.isEmpty ? "–" : readers.joined(separator: ", "), p.controls,
                    ])
                }
            }
            print(table.terminal, terminator: "")
            if let path = TuningFile.applied {
                let file = try TuningFile.read(path)
                print("\ntuning file \(path) (\(file.entries.count) entries; the auto variants follow it):")
                print(TuneCommand.table(file.entries).terminal, terminator: "")
            } else {
                print("\nno tuning file installed: the auto variants run simd ('opbench tune' writes one)")
            }
            return
        }
        if ops {
            let width = Operators.names.map(\.count).max() ?? 0
            for spec in Operators.all {
                print(spec.op.rawValue.padding(toLength: width + 2, withPad: " ", startingAt: 0) + spec.grammar)
            }
            return
        }
        let ids = Operators.variantIDs
        if !verbose {
            for id in ids { print(id) }
            return
        }
        let width = ids.map { $0.description.count }.max() ?? 0
        for id in ids {
            let source = Plugins.info(op: id.op, variant: id.variant).map { " [plugin \($0.path)]" } ?? ""
            print(id.description.padding(toLength: width + 2, withPad: " ", startingAt: 0) + Operators.summary(id) + source)
        }
    }
}
