import ArgumentParser
import Foundation
import Harness
import Kernels

struct AblationCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ablation",
        abstract: "Rebuild an optimized variant one optimization at a time and measure every step side by side in one run.",
        discussion: """
            Operators with a chain: \(chained.map(\.op.rawValue).joined(separator: ", ")). Each step is checked against fp64 like a \
            variant. Default shapes: \(chained.map { "\($0.op.rawValue) \($0.shapes.ablation)" }.joined(separator: ", ")).
            """)

    /// The operators with an ablation chain, in registry order.
    static var chained: [any OperatorSpec] { Operators.all.filter { !$0.ablation.isEmpty } }

    @Option(name: .customLong("op"), help: "Operators, comma-separated (default: all with a chain).") var ops: [String] = []
    @Option(name: .customLong("shape"), help: "Shape for the single --op given (default: the operator's ablation shape, below).")
    var shape: String?
    @Option(name: .customLong("min-time"), help: "Measuring time per step, seconds.") var minTime: Double = 0.5
    @Option(help: "Samples per step.") var repetitions: Int = 7
    @Option(help: "table or md.") var format: String = "table"
    @Option(name: [.short, .long], help: "Also write the results document (JSON) here, atomically.") var output: String?

    func run() throws {
        guard ["table", "md"].contains(format) else { throw CLIError("--format '\(format)' must be table or md") }
        guard minTime > 0 && minTime <= 600 else { throw CLIError("--min-time \(minTime) must be between 0 and 600 seconds") }
        guard (1...1000).contains(repetitions) else { throw CLIError("--repetitions \(repetitions) must be from 1 to 1000") }
        let names = try listItems(ops, option: "--op")
        let selected: [any OperatorSpec] =
            try names.isEmpty
            ? Self.chained
            : names.map { n in
                let spec = try Operators.named(n)
                guard !spec.ablation.isEmpty else {
                    throw CLIError(
                        "--op '\(n)' has no ablation chain (operators with one: \(Self.chained.map(\.op.rawValue).joined(separator: ", ")))"
                    )
                }
                return spec
            }
        if shape != nil && selected.count != 1 { throw CLIError("--shape needs exactly one --op") }
        if let output { try checkOutputDirectory(output) }
        var cases: [BenchCase] = []
        var steps: [Ablation.Step] = []
        for spec in selected {
            let s = try spec.shape(shape ?? spec.shapes.ablation)
            if let refusal = s.ablationRefusal { throw CLIError("--shape '\(s.text)': \(refusal)") }
            try Workloads.checkMemory(s)
            for step in s.ablationSteps {
                cases.append(BenchCase(variant: VariantID(op: spec.op, variant: step.variant), shape: s, threads: step.threads))
                steps.append(step)
            }
        }
        var options = BenchOptions()
        options.minTime = minTime
        options.repetitions = repetitions
        let machine = Machine.current()
        let progress = ProgressBar()
        let results = try Bench.run(cases, options: options, machine: machine) { progress.update($0) }
        progress.finish()
        let table = AblationTables.table(zip(steps, results).map { ($0.change, $1) })
        FileHandle.standardOutput.write(Data((format == "md" ? table.markdown : table.terminal).utf8))
        if let output {
            let doc = ResultDocument(
                machine: machine,
                settings: RunSettings(
                    suite: "ablation", minTimeSeconds: minTime, repetitions: repetitions,
                    command: CommandLine.arguments.dropFirst().joined(separator: " ")),
                cases: results)
            try doc.write(to: output)
            FileHandle.standardError.write(Data("wrote \(output)\n".utf8))
        }
        if results.contains(where: { !$0.accuracyPass }) {
            FileHandle.standardError.write(Data("accuracy FAIL in an ablation step\n".utf8))
            throw ExitCode(1)
        }
    }
}
