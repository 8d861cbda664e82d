import Foundation
import Harness
import Kernels

/// `--isolate`: a plugin variant's cases run in an opbench process of their own, which loads
/// only that variant's plugin, so a kernel that crashes (a segfault, an illegal instruction)
/// or aborts fails its own cases instead of ending the command.
enum Isolated {
    /// How an isolated child ended.
    struct Outcome {
        let status: Int32
        /// The signal that ended the child, nil when it exited.
        let signal: Int32?
        let stdout: String
        let stderr: String
    }

    /// Whether `id` comes from a plugin (and so runs isolated under `--isolate`).
    static func isPlugin(_ id: VariantID) -> Bool { Plugins.info(op: id.op, variant: id.variant) != nil }

    /// Runs `opbench args` with only `id`'s plugin loaded (and this process's tuning file).
    static func run(_ args: [String], for id: VariantID) throws -> Outcome {
        guard let plugin = Plugins.info(op: id.op, variant: id.variant)?.path else { throw CLIError("\(id) is not a plugin variant") }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        p.arguments = args
        var env = ProcessInfo.processInfo.environment
        env["OPBENCH_PLUGIN"] = plugin
        p.environment = env
        // stdout through a pipe read to its end; stderr into a file, so neither can fill up
        // and stall the child while the other is read.
        let errURL = FileManager.default.temporaryDirectory.appendingPathComponent("opbench-isolated-\(UUID().uuidString).err")
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: errURL) }
        let out = Pipe(), err = try FileHandle(forWritingTo: errURL)
        defer { try? err.close() }
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let errData = (try? Data(contentsOf: errURL)) ?? Data()
        let signaled = p.terminationReason == .uncaughtSignal
        return Outcome(
            status: p.terminationStatus, signal: signaled ? p.terminationStatus : nil, stdout: String(decoding: outData, as: UTF8.self),
            stderr: String(decoding: errData, as: UTF8.self))
    }

    /// "signal 11 (SIGSEGV)".
    static func describe(signal: Int32) -> String {
        let names: [Int32: String] = [4: "SIGILL", 6: "SIGABRT", 7: "SIGBUS", 8: "SIGFPE", 9: "SIGKILL", 11: "SIGSEGV"]
        return "signal \(signal)" + (names[signal].map { " (\($0))" } ?? "")
    }

    /// The last line a child wrote on stderr (its one-line error), or its exit status.
    static func lastLine(_ o: Outcome) -> String {
        o.stderr.split(separator: "\n").last.map(String.init) ?? "exit status \(o.status)"
    }

    /// The fields of RFC 4180 CSV lines (`TextTable.csv`): commas inside quotes, doubled quotes.
    static func csvRows(_ text: String) -> [[String]] {
        text.split(separator: "\n").map { line in
            var fields: [String] = [], field = "", quoted = false
            var chars = Array(line)[...]
            while let c = chars.popFirst() {
                if quoted {
                    if c == "\"" {
                        if chars.first == "\"" { field.append("\""); chars.removeFirst() } else { quoted = false }
                    } else {
                        field.append(c)
                    }
                } else if c == "\"" {
                    quoted = true
                } else if c == "," {
                    fields.append(field); field = ""
                } else {
                    field.append(c)
                }
            }
            fields.append(field)
            return fields
        }
    }
}
