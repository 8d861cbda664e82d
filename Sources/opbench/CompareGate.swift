import ArgumentParser
import Foundation
import Harness
import Kernels

/// Parses "5%" or "0.05".
func parseFraction(_ text: String, option: String) throws -> Double {
    let t = text.trimmingCharacters(in: .whitespaces)
    let value = t.hasSuffix("%") ? Double(t.dropLast()).map { $0 / 100 } : Double(t)
    guard let v = value, v >= 0, v < 10 else { throw CLIError("\(option) '\(text)' must be a fraction like 5% or 0.05") }
    return v
}

struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Compare two result files case by case: ratio of medians, 95% CI, U test, verdict, accuracy.")

    @Argument(help: "Results A (before).") var a: String
    @Argument(help: "Results B (after).") var b: String
    @Option(help: "Smallest change that counts (e.g. 5% or 0.05).") var threshold: String = "5%"
    @Option(help: "Significance level of the U test.") var alpha: Double = 0.05
    @Flag(help: "Compare times normalized by each case's peer (as the gate does) instead of raw times.") var normalized = false
    @Option(help: "table or md") var format: String = "table"

    func run() throws {
        guard ["table", "md"].contains(format) else { throw CLIError("--format '\(format)' must be table or md") }
        guard alpha > 0, alpha < 1 else { throw CLIError("--alpha \(alpha) must be between 0 and 1") }
        let th = try parseFraction(threshold, option: "--threshold")
        let da = try ResultDocument.read(a), db = try ResultDocument.read(b)
        let rows = Compare.cases(da, db, threshold: th, alpha: alpha, normalized: normalized)
        let t = Compare.table(rows)
        print(format == "md" ? t.markdown : t.terminal, terminator: "")
        let counts = Dictionary(grouping: rows, by: \.verdict.rawValue).mapValues(\.count)
        print(counts.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", "))
    }
}

struct Gate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fail (exit 1) on a significant slowdown or an accuracy failure against a baseline.",
        discussion: """
            Runs the baseline's cases again in --runs fresh processes (or reads --candidate) and compares each case's time \
            normalized by a peer measured in the same rounds, which cancels most of a shared machine's drift. The peer is \
            the other variant of the same op, shape and threads by which the case's baseline rounds vary least; when that \
            peer itself moved the other way, the next peer that did not move, or the raw round minima when every peer \
            moved. With n the case's round-to-round deviation in the baseline, or the spread between the candidate runs \
            when larger (at least 0.5%), a case fails when the \
            normalized figure grew by more than its band, max(3n, --threshold − 2n), with U-test p < --alpha, in every run; \
            the summary gives each case's smallest reliably caught slowdown, max(--threshold, 5n), and lists the cases \
            that cannot resolve --threshold. Prints a Markdown summary for a pull-request comment (method and measured \
            reliability: docs/gate.md).
            """)

    @Option(
        help: ArgumentHelp(
            "Baseline results file (repeatable: one per kind of machine; the first recorded on a machine like the candidate's is used).",
            valueName: "file"))
    var baseline: [String] = []
    @Flag(
        name: .customLong("require-machine"),
        help: "Exit 2 when no baseline comes from a machine like the candidate's (default: judge accuracy only and say why).")
    var requireMachine = false
    @Option(help: "Candidate results file (default: run the baseline's cases now).") var candidate: String?
    @Option(help: "Slowdown that fails the gate (e.g. 5% or 0.05).") var threshold: String = "5%"
    @Option(help: "Significance level of the U test.") var alpha: Double = 0.01
    @Option(help: "Also write the Markdown summary to FILE.") var summary: String?
    @Option(name: [.short, .long], help: "Write the candidate's results (all runs pooled) to FILE.") var output: String?
    @Option(help: "Candidate runs, each a fresh process; a case fails only when every run finds it slower.") var runs: Int = 2
    @Option(
        name: .customLong("state-wait"),
        help: ArgumentHelp(
            "Before each candidate run, wait up to this many seconds for the machine to reach the baseline's state.",
            valueName: "seconds"))
    var stateWait: Double = 60
    @Flag(
        name: .customLong("gate-naive"),
        help: "Also fail on slower naive variants (by default their accuracy is gated, their speed only reported).")
    var gateNaive = false

    func run() throws {
        let th = try parseFraction(threshold, option: "--threshold")
        guard alpha > 0, alpha < 1 else { throw CLIError("--alpha \(alpha) must be between 0 and 1") }
        guard !self.baseline.isEmpty else { throw CLIError("give a --baseline results file") }
        let bases = try self.baseline.map { ($0, try ResultDocument.read($0)) }
        let given = try candidate.map { try ResultDocument.read($0) }
        // Speed ratios only compare across like machines (the SIMD features pick code paths):
        // the candidate's machine when it is a file, else this one.
        let here = given?.machine ?? Machine.fingerprint()
        let match = bases.first { here.speedDifference($0.1.machine) == nil }
        let (baseline, base) = match ?? bases[0]
        var machineNote = ""
        if match == nil {
            let why = bases.map { "`\($0.0)`: \(here.speedDifference($0.1.machine)!)" }.joined(separator: "; ")
            if requireMachine { throw CLIError("no baseline from a machine like the candidate's (\(why))") }
            machineNote =
                "**Speed not judged**: no baseline was recorded on a machine like the candidate's (\(why); the candidate's values first); "
                + "accuracy is judged against `\(baseline)`. Record one here with Benchmarks/scripts/baseline.sh."
        }
        guard stateWait.isFinite, (0...3600).contains(stateWait) else {
            throw CLIError("--state-wait \(stateWait) must be from 0 to 3600 seconds")
        }
        var candidates: [ResultDocument]
        let reference = match == nil ? nil : MachineState.reference(of: base.machine)
        if let given {
            candidates = [given]
        } else {
            guard (1...10).contains(runs) else { throw CLIError("--runs \(runs) must be from 1 to 10") }
            _ = try BenchCase.list(from: base, path: baseline)
            // The candidate runs with the tuning file the baseline ran with (none unless it says).
            // A run made in another machine state than the baseline's is not judged: up to as
            // many runs again replace such runs, each after waiting for the state.
            candidates = try runChildren(
                [
                    "--tuning", base.settings.tuning ?? "none", "bench", "--cases-from", baseline, "--min-time",
                    "\(base.settings.minTimeSeconds)",
                    "--repetitions", "\(base.settings.repetitions)", "--format", "json", "--cache", base.settings.cache ?? "warm",
                ], count: runs, label: "run", attempts: reference == nil ? runs : 2 * runs,
                before: { _ in if let reference { waitForState(reference) } },
                counts: { !GateStateSelection(baseline: base.machine, runs: [$0.machine]).judged.isEmpty })
            if let output { try Bench.merge(candidates).write(to: output) }
        }
        let states = GateStateSelection(baseline: base.machine, runs: candidates.map(\.machine))
        var stateNote = match == nil ? "" : states.notes.joined(separator: "\n")
        if match != nil && states.noneJudged {
            let why = "every candidate run measured this machine in another state than the baseline's"
            if requireMachine { throw CLIError("speed cannot be judged: \(why)") }
            stateNote =
                "**Speed not judged**: \(why) (below), and such a state slows kernels unevenly, so no peer cancels it; "
                + "accuracy is judged. Run the gate again when the machine is quiet.\n\n" + stateNote
            FileHandle.standardError.write(Data("warning: \(why); speed not judged\n".utf8))
        }
        let judged = match == nil || states.noneJudged ? Array(candidates.indices) : states.judged
        var rows = Compare.gateAcrossRuns(
            judged.map { Compare.gateCases(base, candidates[$0], threshold: th, alpha: alpha) }, threshold: th)
        if !gateNaive { rows = Compare.speedUngated(rows) { $0.variant == "naive" } }
        if match == nil || states.noneJudged { rows = Compare.speedUngated(rows) { _ in true } }
        var (pass, md) = Compare.gate(rows, threshold: th, alpha: alpha)
        if let end = md.firstIndex(of: "\n") {
            let notes = [machineNote, stateNote].filter { !$0.isEmpty }.joined(separator: "\n\n")
            if !notes.isEmpty { md.insert(contentsOf: "\n" + notes + "\n", at: md.index(after: end)) }
        }
        if !machineNote.isEmpty {
            FileHandle.standardError.write(Data("warning: no baseline from a machine like the candidate's; speed not judged\n".utf8))
        }
        if let summary { try FileIO.writeAtomically(md, to: summary) }
        print(md, terminator: "")
        if !pass { throw ExitCode(1) }
    }

    /// Probes the machine every 10 s until its state matches `reference` or `stateWait`
    /// seconds passed (the run then goes ahead, and its own probes decide whether it counts).
    func waitForState(_ reference: MachineState.Reference) {
        let start = Date()
        while true {
            let now = Machine.stateProbe(dramBytes: reference.dramProbeBytes)
            guard let c = MachineState.check([now], against: reference), !c.matches else { return }
            let waited = Date().timeIntervalSince(start)
            guard waited + 10 <= stateWait else { return }
            FileHandle.standardError.write(Data("machine in another state than the baseline's (\(c.text)): waiting 10 s\n".utf8))
            Thread.sleep(forTimeInterval: 10)
        }
    }
}

struct MergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Merge the shards of one run (bench --shard I/N, from one or many machines) into one results file.",
        discussion: """
            Refuses files of different commits, shards of different splits or suites, the same shard twice and a case in two \
            shards; keeps every shard's machine fingerprint (shard_machines). compare, gate and report then read the merged file.
            """)

    @Argument(help: "The shards' results files.") var files: [String]
    @Option(name: [.short, .long], help: "Write the merged results here, atomically.") var output: String

    func run() throws {
        guard !files.isEmpty else { throw CLIError("give the shards' results files") }
        try checkOutputDirectory(output)
        let docs = try files.map { try ResultDocument.read($0) }
        let merged: ResultDocument
        do { merged = try Shard.merge(docs, paths: files) } catch let e as ShardError { throw CLIError(e.message) }
        try merged.write(to: output)
        let machines = Set(docs.map { $0.machine.hostname }).sorted()
        FileHandle.standardError.write(
            Data("wrote \(output): \(merged.cases.count) cases from \(files.count) files (\(machines.joined(separator: ", ")))\n".utf8))
    }
}
