import ArgumentParser
import Foundation
import Harness
import Kernels
import Model

@main
struct OpBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "opbench",
        abstract: "Measure and verify the operators that dominate LLM inference.",
        subcommands: [
            List.self, MachineCommand.self, Verify.self, BenchCommand.self, AblationCommand.self, CompareCommand.self, Gate.self,
            MergeCommand.self, HistoryCommand.self, ModelCommand.self, Report.self, Quant.self, Dequant.self,
        ]
    )

    /// Runs the command; any error becomes one line on stderr and exit code 2 (1 is kept
    /// for "ran fine, but a check failed": verify failures and gate regressions).
    static func main() {
        do {
            try refuseNegativeValues(Array(CommandLine.arguments.dropFirst()))
            var command = try parseAsRoot()
            try command.run()
        } catch let code as ExitCode {
            Foundation.exit(code.rawValue)
        } catch {
            // --help and --version: ArgumentParser prints them and exits 0.
            if exitCode(for: error) == .success { exit(withError: error) }
            let message =
                error is KernelError || error is FileError || error is CLIError || error is ShapeError || error is ModelError
                ? "\(error)" : cleaned(fullMessage(for: error))
            FileHandle.standardError.write(Data("opbench: error: \(oneLine(message))\n".utf8))
            Foundation.exit(2)
        }
    }
}

/// An error message as one line of bounded length: newlines (from a value the user gave)
/// shown as `\n`, and anything past 400 characters cut, so a 200 kB input is not echoed.
func oneLine(_ message: String) -> String {
    let flat = message.replacingOccurrences(of: "\r", with: "\\r").replacingOccurrences(of: "\n", with: "\\n")
    return flat.count <= 400 ? flat : String(flat.prefix(400)) + "… (\(flat.count) characters)"
}

/// `--threads -1` would reach ArgumentParser as an unknown flag `-1` ("Missing value"): say
/// what is wrong instead. Every numeric option of opbench takes positive values only.
func refuseNegativeValues(_ args: [String]) throws {
    for (option, value) in zip(args, args.dropFirst()) where option.hasPrefix("--") && !option.contains("=") {
        if value.count > 1, value.hasPrefix("-"), value.dropFirst().first.map({ $0.isNumber || $0 == "." }) == true {
            throw CLIError("\(option) \(value): negative values are not accepted")
        }
    }
}

/// The first line of an ArgumentParser message, without its own "Error: " prefix.
func cleaned(_ message: String) -> String {
    let line = message.split(separator: "\n").first.map(String.init) ?? message
    return line.hasPrefix("Error: ") ? String(line.dropFirst(7)) : line
}

/// Throws unless the directory `path` would be written into exists (checked before any work).
func checkOutputDirectory(_ path: String) throws {
    let dir = URL(fileURLWithPath: path).deletingLastPathComponent().path
    var isDir: ObjCBool = false
    guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
        throw CLIError("\(path): directory \(dir) does not exist")
    }
}

/// A command-line mistake the library does not know about (bad combination of options).
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
