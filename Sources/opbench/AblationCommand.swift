import ArgumentParser
import Foundation
import Harness
import Kernels

struct AblationCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ablation",
        abstract: "Rebuild an optimized variant one optimization at a time and measure every step side by side in one run.",
        discussion: "Operators with a chain: \(Ablation.ops.map(\.rawValue).joined(separator: ", ")). Each step is checked against fp64 like a variant.")

    @Option(name: .customLong("op"), help: "Operators, comma-separated (default: all with a chain).") var ops: [String] = []
    @Option(name: .customLong("shape"), help: "Shape for the single --op given (default: matmul 512x512x512, softmax and layernorm 4096x4096, attention T=4096,H=12,D=64,causal,window=256,global=4, int4 1x4096x4096).")
    var shape: String?
    @Option(name: .customLong("min-time"), help: "Measuring time per step, seconds.") var minTime: Double = 0.5
    @Option(help: "Samples per step.") var repetitions: Int = 7
    @Option(help: "table or md.") var format: String = "table"
    @Option(help: "Also write the results document (JSON) here, atomically.") var output: String?

    static let defaultShapes: [Op: String] = [.matmul: "512x512x512", .softmax: "4096x4096", .layernorm: "4096x4096",
                                          .attention: "T=4096,H=12,D=64,causal,window=256,global=4", .int4: "1x4096x4096"]

    func run() throws {
        guard ["table", "md"].contains(format) else { throw CLIError("--format '\(format)' must be table or md") }
        guard minTime > 0 && minTime <= 600 else { throw CLIError("--min-time \(minTime) must be between 0 and 600 seconds") }
        guard (1...1000).contains(repetitions) else { throw CLIError("--repetitions \(repetitions) must be from 1 to 1000") }
        let names = ops.flatMap { $0.split(separator: ",").map(String.init) }
        let selected: [Op] = try names.isEmpty ? Ablation.ops : names.map { n in
            guard let op = Op(rawValue: n), Ablation.ops.contains(op) else {
                throw CLIError("--op '\(n)' has no ablation chain (operators with one: \(Ablation.ops.map(\.rawValue).joined(separator: ", ")))")
            }
            return op
        }
        if shape != nil && selected.count != 1 { throw CLIError("--shape needs exactly one --op") }
        if let output { try checkOutputDirectory(output) }
        var cases: [BenchCase] = []
        var steps: [Ablation.Step] = []
        for op in selected {
            let s = try CaseShape(op: op, shape ?? Self.defaultShapes[op]!)
            if op == .matmul && s.layout != .kn { throw CLIError("--shape '\(s.text)': the matmul chain takes B[K×N] shapes (no ,nk)") }
            try Workloads.checkMemory(s)
            for step in Ablation.steps(op) {
                cases.append(BenchCase(variant: VariantID(op: op, variant: step.variant), shape: s, threads: step.threads))
                steps.append(step)
            }
        }
        var options = BenchOptions()
        options.minTime = minTime
        options.repetitions = repetitions
        let machine = Machine.current()
        let progress = ProgressBar()
        let results = try Bench.run(cases, options: options, machine: machine) { progress.update($0, $1, $2) }
        progress.finish()
        let table = AblationTables.table(zip(steps, results).map { ($0.change, $1) })
        FileHandle.standardOutput.write(Data((format == "md" ? table.markdown : table.terminal).utf8))
        if let output {
            let doc = ResultDocument(machine: machine,
                                     settings: RunSettings(suite: "ablation", minTimeSeconds: minTime, repetitions: repetitions,
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
