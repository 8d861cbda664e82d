import ArgumentParser
import Harness
import Kernels

struct List: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List every registered variant id.")

    @Flag(name: .long, help: "Show a table with each variant's summary.")
    var verbose = false

    @Flag(name: .long, help: "List the operators and their shape grammars instead.")
    var ops = false

    func run() throws {
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
            print(id.description.padding(toLength: width + 2, withPad: " ", startingAt: 0) + Operators.summary(id))
        }
    }
}
