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
