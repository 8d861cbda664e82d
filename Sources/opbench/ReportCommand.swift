import ArgumentParser
import Foundation
import Harness

struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Merge result files (also from different machines) into Markdown and a self-contained HTML page with SVG charts.")

    @Argument(help: "Result files (JSON from bench, gate --output or model).") var files: [String]
    @Option(help: "Write the HTML page here.") var html: String?
    @Option(help: "Write the Markdown report here (printed when neither --html nor --md is given).") var md: String?

    func run() throws {
        guard !files.isEmpty else { throw CLIError("report needs at least one results file") }
        var docs: [(String, ResultDocument)] = []
        for f in files {
            let name = URL(fileURLWithPath: f).deletingPathExtension().lastPathComponent
            docs.append((docs.contains { $0.0 == name } ? f : name, try ResultDocument.read(f)))
        }
        let markdown = Harness.Report.markdown(docs)
        var outputs: [(data: Data, path: String)] = []
        if let md { outputs.append((Data(markdown.utf8), md)) }
        if let html { outputs.append((Data(Harness.Report.html(docs).utf8), html)) }
        try FileIO.writeAllAtomically(outputs)
        if md == nil && html == nil { print(markdown, terminator: "") }
        for path in [md, html].compactMap({ $0 }) { FileHandle.standardError.write(Data("wrote \(path)\n".utf8)) }
    }
}

struct HistoryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "history",
        abstract: "Trends across commits: one results file per commit in a directory, steps detected per case.",
        discussion: """
            Reads every .json results file of DIR (results/history/, appended by Benchmarks/scripts/history.sh), oldest first, \
            and finds the steps in each case's run medians: a permutation test (p <= --alpha, the false-positive rate per \
            series) and a change of at least --threshold, with binary segmentation. Prints the steps; --html draws a trend \
            per case with the steps marked, --md writes the step table.
            """)

    @Argument(help: "The directory of results files, one per commit.") var directory: String
    @Option(help: "Write the trend page here.") var html: String?
    @Option(help: "Write the step table (Markdown) here.") var md: String?
    @Option(help: "False-positive rate per series of the step test.") var alpha: Double = 0.01
    @Option(help: "Smallest change reported as a step (e.g. 5% or 0.05).") var threshold: String = "5%"

    func run() throws {
        guard alpha > 0, alpha < 1 else { throw CLIError("--alpha \(alpha) must be between 0 and 1") }
        let th = try parseFraction(threshold, option: "--threshold")
        for path in [html, md].compactMap({ $0 }) { try checkOutputDirectory(path) }
        let docs = try History.load(directory)
        let analysis = History.analyze(docs, alpha: alpha, threshold: th)
        let markdown = History.markdown(analysis)
        var outputs: [(data: Data, path: String)] = []
        if let html { outputs.append((Data(History.html(analysis).utf8), html)) }
        if let md { outputs.append((Data(markdown.utf8), md)) }
        try FileIO.writeAllAtomically(outputs)
        print(markdown, terminator: "")
        for path in [html, md].compactMap({ $0 }) { FileHandle.standardError.write(Data("wrote \(path)\n".utf8)) }
    }
}
