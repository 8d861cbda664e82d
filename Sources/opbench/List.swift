import ArgumentParser
import Kernels

struct List: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List every registered variant id.")

    @Flag(name: .long, help: "Show a table with each variant's summary.")
    var verbose = false

    func run() throws {
        if !verbose {
            for id in Registry.all { print(id) }
            return
        }
        let width = Registry.all.map { $0.description.count }.max() ?? 0
        for id in Registry.all {
            print(id.description.padding(toLength: width + 2, withPad: " ", startingAt: 0) + Registry.summary(id))
        }
    }
}
