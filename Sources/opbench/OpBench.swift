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
        discussion: """
            --plugin PATH.so (repeatable, before or after the subcommand; or OPBENCH_PLUGIN=a.so:b.so) loads external \
            kernels built against include/opbench_plugin.h: their variants, <op>.<plugin>.<name>, join every command. \
            --tuning FILE|none (or OPBENCH_TUNING) picks the tuning file the auto variants follow (default: \
            results/tuning/<machine>.json when it exists; 'opbench tune' writes it).
            """,
        subcommands: [
            List.self, MachineCommand.self, Verify.self, BenchCommand.self, AblationCommand.self, CompareCommand.self, Gate.self,
            MergeCommand.self, HistoryCommand.self, ModelCommand.self, TuneCommand.self, Report.self, Quant.self, Dequant.self,
        ]
    )

    /// Runs the command; any error becomes one line on stderr and exit code 2 (1 is kept
    /// for "ran fine, but a check failed": verify failures and gate regressions).
    static func main() {
        configureOpenBLAS()
        returnFreedMemory()
        do {
            let args = try loadTuning(try loadPlugins(Array(CommandLine.arguments.dropFirst())))
            try refuseNegativeValues(args)
            var command = try parseAsRoot(args)
            try command.run()
        } catch let code as ExitCode {
            Foundation.exit(code.rawValue)
        } catch {
            // --help and --version: ArgumentParser prints them and exits 0.
            if exitCode(for: error) == .success { exit(withError: error) }
            let message =
                error is KernelError || error is PluginError || error is FileError || error is CLIError || error is ShapeError
                    || error is ModelError
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

/// Sets OpenBLAS's environment, which it reads once when it loads, and re-executes opbench
/// once so that it applies (a value the user set is kept):
/// - `OPENBLAS_THREAD_TIMEOUT=22`: OpenBLAS's worker threads spin for 2^28 cycles (0.13 s at
///   this machine's 2 GHz TSC) after each threaded call before they sleep. In a benchmark that
///   interleaves variants, the case measured after a threaded `blas` sample shared its cores with
///   those spinners: a C plugin's 2-thread SGEMM measured 29.5 ms after blas and 15.9 ms with the
///   spin cut to 2^22 cycles (2 ms), while blas's own back-to-back calls never wait that long.
/// - `OPENBLAS_CORETYPE`, when OpenBLAS's detection fell back to kernels older than the CPU's
///   instructions (`Machine.betterOpenBLASCore`): the peer every `vs blas` ratio divides by must
///   run the best kernels the library has for this CPU. The detected core is passed on in
///   `OPBENCH_OPENBLAS_DETECTED` and recorded in the machine fingerprint.
func configureOpenBLAS() {
    #if os(Linux)
        var changed = false
        if getenv("OPENBLAS_THREAD_TIMEOUT") == nil {
            setenv("OPENBLAS_THREAD_TIMEOUT", "22", 1)
            changed = true
        }
        if getenv("OPENBLAS_CORETYPE") == nil, getenv(Machine.openBLASDetectedVariable) == nil {
            let detected = Machine.openBLASCore
            if let better = Machine.betterOpenBLASCore(detected: detected, flags: Machine.cpuFlags()) {
                setenv("OPENBLAS_CORETYPE", better, 1)
                setenv(Machine.openBLASDetectedVariable, detected, 1)
                changed = true
            }
        }
        guard changed else { return }
        execv("/proc/self/exe", CommandLine.unsafeArgv)
    // execv returns only on failure: carry on with OpenBLAS's defaults.
    #endif
}

/// Loads the plugins named by `--plugin PATH` (anywhere on the command line, repeatable) and
/// by `OPBENCH_PLUGIN` (paths separated by `:`), before any command parses its options, so
/// their variants are known to every command (plans, filters, results files). Returns the
/// arguments without the `--plugin` options.
func loadPlugins(_ args: [String]) throws -> [String] {
    var paths: [String] = []
    if let env = ProcessInfo.processInfo.environment["OPBENCH_PLUGIN"], !env.isEmpty {
        for item in env.split(separator: ":", omittingEmptySubsequences: false) {
            guard !item.isEmpty else { throw CLIError("OPBENCH_PLUGIN '\(env)' has an empty item") }
            paths.append(String(item))
        }
    }
    var rest: [String] = []
    var i = 0
    while i < args.count {
        let a = args[i]
        if a == "--" { rest += args[i...]; break }
        if a == "--plugin" {
            guard i + 1 < args.count, !args[i + 1].hasPrefix("-") else { throw CLIError("--plugin needs a path to a shared library") }
            paths.append(args[i + 1]); i += 2; continue
        }
        if a.hasPrefix("--plugin=") {
            let path = String(a.dropFirst("--plugin=".count))
            guard !path.isEmpty else { throw CLIError("--plugin needs a path to a shared library") }
            paths.append(path); i += 1; continue
        }
        rest.append(a); i += 1
    }
    var seen = Set<String>()
    for path in paths where seen.insert(path).inserted {
        // dlopen searches the library path for a bare name; a plugin is named by its file.
        let file = path.contains("/") ? path : "./" + path
        guard FileManager.default.fileExists(atPath: file) else { throw PluginError(path, "no such file") }
        try Plugins.load(file)
    }
    return rest
}

/// Makes glibc give freed buffers of 256 KiB and more back to the system. Its default raises
/// the size from which it maps memory to the largest block freed so far (up to 32 MiB), after
/// which such blocks come from the heap and stay resident when freed: `model --what-if`, which
/// makes and frees many models' and cold-cache cases' buffers in turn, grew to 12.7 GB.
func returnFreedMemory() { Workspace.returnFreedMemory() }

/// Installs the tuning file the `auto` variants follow (`TuningFile.install`), named by
/// `--tuning FILE` (anywhere on the command line; `none` for no file), else by `OPBENCH_TUNING`,
/// else this machine's file (`results/tuning/<machine>.json`) when it exists. The choice is
/// passed on in `OPBENCH_TUNING`, so the processes a command starts (bench rounds, the gate's
/// runs) follow the same file. `list --tuning` (a flag, no value) is left to `list`. Returns the
/// arguments without the option.
func loadTuning(_ args: [String]) throws -> [String] {
    var given: String?
    var rest: [String] = []
    var i = 0
    while i < args.count {
        let a = args[i]
        if a == "--" { rest += args[i...]; break }
        if a == "--tuning", i + 1 < args.count, !args[i + 1].hasPrefix("-") {
            given = args[i + 1]; i += 2; continue
        }
        if a.hasPrefix("--tuning=") {
            given = String(a.dropFirst("--tuning=".count))
            guard !given!.isEmpty else { throw CLIError("--tuning needs a tuning file or none") }
            i += 1; continue
        }
        rest.append(a); i += 1
    }
    let env = ProcessInfo.processInfo.environment["OPBENCH_TUNING"].flatMap { $0.isEmpty ? nil : $0 }
    let explicit = given ?? env
    let path: String
    if let explicit {
        guard explicit != "none" else { setenv("OPBENCH_TUNING", "none", 1); return rest }
        path = explicit
    } else {
        path = TuningFile.defaultPath(for: Machine.fingerprint(toolchain: false))
        guard FileManager.default.fileExists(atPath: path) else { return rest }
    }
    let file = try TuningFile.read(path)
    if let why = Machine.fingerprint(toolchain: false).speedDifference(file.machine) {
        FileHandle.standardError.write(Data("warning: tuning file \(path) was made on another kind of machine (\(why))\n".utf8))
    }
    for line in try file.install(from: path) { FileHandle.standardError.write(Data("warning: \(path): \(line)\n".utf8)) }
    setenv("OPBENCH_TUNING", path, 1)
    return rest
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
