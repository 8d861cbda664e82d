import ArgumentParser
import Foundation
import Harness
import Kernels

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure variants side by side: time, GFLOP/s, GB/s, roofline, speed-ups and accuracy.",
        discussion: """
            Shapes (one grammar per operator; 'opbench list --ops' prints them): \
            \(Operators.all.map { "\($0.op.rawValue) \($0.grammar)" }.joined(separator: "; ")). \
            Without --shape the suite's shapes are used.
            """)

    @OptionGroup var selection: Selection
    @Option(name: .customLong("shape"), help: "A shape (repeatable); applied to every selected operator whose shape grammar accepts it.")
    var shapes: [String] = []
    @Option(help: "quick (under 2 minutes) or full (size and thread sweeps).") var suite: String = "quick"
    @Option(name: .customLong("min-time"), help: "Measuring time per case, seconds (default: 0.4 quick, 1.0 full).") var minTime: Double?
    @Option(name: [.short, .long], help: "Samples per case (default 10 quick, 15 full).") var repetitions: Int?
    @Option(
        help: ArgumentHelp(
            "Only the cases whose key ('matmul.simd 64x64x64 t=1', as in results) matches this regular expression "
                + "(Google Benchmark's --benchmark_filter habit).", valueName: "regex"))
    var filter: String?
    @Option(
        name: .customLong("cases-from"), help: "Measure exactly the cases (id, shape, threads) of this results file instead of a suite.")
    var casesFrom: String?
    @Option(
        help: ArgumentHelp(
            "Independent rounds, each a fresh process measuring every case; samples are pooled and the spread of the per-round "
                + "figures is kept (a gate baseline wants several).")
    )
    var rounds: Int = 1
    @Option(
        help: ArgumentHelp(
            "warm: repeat on the same inputs (what fits stays cached); cold: rotate over copies of the inputs that exceed the "
                + "last-level cache 4 times, so every run reads them from DRAM, as a model decode reads each layer's weights."))
    var cache: String = "warm"
    @Option(
        help: ArgumentHelp(
            "table, json, csv, md, gbench (Google Benchmark JSON: one entry per case, the median), gh-bigger or gh-smaller "
                + "(github-action-benchmark's customBiggerIsBetter / customSmallerIsBetter).")
    )
    var format: String = "table"
    @Flag(
        name: .customLong("gbench-aggregates-only"),
        help: "With --format gbench: the _mean, _median, _stddev and _cv aggregates only (--benchmark_report_aggregates_only).")
    var gbenchAggregatesOnly = false
    @Flag(name: .customLong("gbench-repetitions"), help: "With --format gbench: every repetition, then the aggregates.")
    var gbenchRepetitions = false
    @Option(
        help: ArgumentHelp(
            "Run shard I of N (1-based) of the cases, split by shape and balanced by expected time; default from "
                + "OPBENCH_SHARD_INDEX/COUNT, GTEST_SHARD_INDEX/GTEST_TOTAL_SHARDS, SLURM_ARRAY_TASK_ID/COUNT or JOB_COMPLETION_INDEX."))
    var shard: String?
    @Flag(help: "The table with every column (GFLOP/s and GB/s, p10–p90, vs naive, max abs error, whole shapes); default: 120 columns.")
    var wide = false
    @Option(
        name: [.short, .long], help: "Write the results to FILE in --format (JSON results document when the format is table), atomically.")
    var output: String?
    @Flag(
        help: ArgumentHelp(
            "Measure each plugin variant in an opbench process of its own (not interleaved with the others): a kernel that crashes "
                + "stops the command with one line naming it, instead of ending opbench."))
    var isolate = false

    func run() throws {
        let formats = ["table", "json", "csv", "md", "gbench", "gh-bigger", "gh-smaller"]
        guard formats.contains(format) else { throw CLIError("--format '\(format)' must be one of \(formats.joined(separator: ", "))") }
        if gbenchAggregatesOnly && gbenchRepetitions {
            throw CLIError("--gbench-aggregates-only and --gbench-repetitions exclude each other")
        }
        if (gbenchAggregatesOnly || gbenchRepetitions) && format != "gbench" {
            throw CLIError("--gbench-aggregates-only and --gbench-repetitions go with --format gbench")
        }
        guard Suites.names.contains(suite) else { throw CLIError("--suite '\(suite)' must be quick or full") }
        if let minTime, !(minTime > 0 && minTime <= 600) { throw CLIError("--min-time \(minTime) must be between 0 and 600 seconds") }
        if let repetitions, !(1...1000).contains(repetitions) { throw CLIError("--repetitions \(repetitions) must be from 1 to 1000") }
        guard (1...100).contains(rounds) else { throw CLIError("--rounds \(rounds) must be from 1 to 100") }
        if isolate && rounds > 1 { throw CLIError("--isolate takes one round (each round is a process of its own already)") }
        if let output { try checkOutputDirectory(output) }
        guard let cacheMode = CacheMode(rawValue: cache) else { throw CLIError("--cache '\(cache)' must be warm or cold") }
        var options = BenchOptions()
        options.minTime = minTime ?? (suite == "quick" ? 0.4 : 1.0)
        let part: Shard?
        do { part = try shard.map(Shard.parse) ?? Shard.fromEnvironment() } catch let e as ShardError { throw CLIError(e.message) }
        var cases = try plan()
        if let part {
            cases = part.select(cases, minTime: options.minTime)
            if cases.isEmpty { FileHandle.standardError.write(Data("note: shard \(part) has no cases\n".utf8)) }
        }
        options.repetitions = repetitions ?? (suite == "quick" ? 10 : 15)
        options.cache = cacheMode
        options.plantedSlowdowns = try PlantedSlowdown.fromEnvironment()
        var machine = Machine.current()
        // The machine's state as the run starts (the spot check's probe, else a fresh one) and
        // as it ends: the gate judges speed only from runs made in the baseline's state.
        if machine.stateProbes == nil { machine.stateProbes = [Machine.stateProbe(dramBytes: Machine.stateProbeBytes(machine))] }
        if cacheMode == .cold {
            for s in Set(cases.map(\.shape)) { try Workloads.checkMemory(s, copies: Bench.coldCopies(s, machine: machine)) }
        }
        var doc: ResultDocument
        if rounds > 1 {
            doc = try runRounds(options: options, part: part)
        } else {
            let progress = ProgressBar()
            let isolated = isolate ? cases.filter { Isolated.isPlugin($0.variant) } : []
            var parts = [try Bench.run(cases.filter { !isolated.contains($0) }, options: options, machine: machine) { progress.update($0) }]
            progress.finish()
            for id in Set(isolated.map(\.variant)).sorted() {
                parts.append(try benchIsolated(id, isolated.filter { $0.variant == id }, options: options))
            }
            let results = Bench.combine(parts)
            let end = Machine.stateProbe(dramBytes: Machine.stateProbeBytes(machine))
            machine.stateProbes?.append(end)
            doc = ResultDocument(
                machine: machine,
                settings: RunSettings(
                    suite: shapes.isEmpty ? suite : "custom", minTimeSeconds: options.minTime,
                    repetitions: options.repetitions, command: CommandLine.arguments.dropFirst().joined(separator: " "),
                    cache: cacheMode.rawValue),
                cases: results)
        }
        doc.settings.shard = part?.description
        let results = doc.cases
        for c in results where c.ceilingError == true {
            FileHandle.standardError.write(
                Data(
                    String(
                        format: "warning: %@ reaches %.0f%% of its %@ ceiling: %@\n",
                        c.key, c.rooflineFraction * 100, c.ceiling ?? "roofline",
                        "a ceiling error (the ceiling is wrong, not the kernel fast), not a result"
                    ).utf8))
        }
        let rendered = try render(doc, format == "table" && output != nil ? "json" : format)
        if let output {
            try FileIO.writeAtomically(rendered, to: output)
            FileHandle.standardOutput.write(Data(table(results).terminal.utf8))
            FileHandle.standardError.write(Data("wrote \(output)\n".utf8))
        } else {
            FileHandle.standardOutput.write(rendered)
        }
        let failed = results.filter { !$0.accuracyPass }
        if !failed.isEmpty {
            FileHandle.standardError.write(Data("accuracy FAIL: \(failed.map(\.key).joined(separator: ", "))\n".utf8))
            throw ExitCode(1)
        }
    }

    /// Measures plugin variant `id`'s `cases` in a process of its own; a crash stops the
    /// command (nothing is written), naming the variant and the signal.
    func benchIsolated(_ id: VariantID, _ cases: [BenchCase], options: BenchOptions) throws -> [CaseResult] {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("opbench-isolated-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("r.json").path
        var args = [
            "bench", "--op", id.op.rawValue, "--variant", id.description, "--min-time", "\(options.minTime)", "--repetitions",
            "\(options.repetitions)", "--cache", options.cache.rawValue, "--format", "json", "--output", out,
        ]
        var shapes: [String] = [], threads: [Int] = []
        for c in cases {
            if !shapes.contains(c.shape.text) { shapes.append(c.shape.text) }
            if !threads.contains(c.threads) { threads.append(c.threads) }
        }
        for sh in shapes { args += ["--shape", sh] }
        args += ["--threads", threads.map(String.init).joined(separator: ",")]
        FileHandle.standardError.write(Data("\(id): measuring \(cases.count) case(s) in a process of its own (--isolate)\n".utf8))
        let o = try Isolated.run(args, for: id)
        if let signal = o.signal {
            throw CLIError("\(id) crashed (\(Isolated.describe(signal: signal))) in its isolated process; nothing written")
        }
        guard o.status == 0 || o.status == 1, FileManager.default.fileExists(atPath: out) else {
            throw CLIError("\(id) (isolated): \(Isolated.lastLine(o))")
        }
        let keys = Set(cases.map { "\($0.variant) \($0.shape.text) t=\($0.threads)" })
        return try ResultDocument.read(out).cases.filter { keys.contains($0.key) }
    }

    /// Runs `rounds` child processes of this command (one round each) and merges their results.
    func runRounds(options: BenchOptions, part: Shard?) throws -> ResultDocument {
        var args = [
            "bench", "--suite", suite, "--min-time", "\(options.minTime)", "--repetitions", "\(options.repetitions)", "--format", "json",
            "--cache", options.cache.rawValue,
        ]
        for o in selection.ops { args += ["--op", o] }
        for v in selection.variants { args += ["--variant", v] }
        for t in selection.threads { args += ["--threads", t] }
        for sh in shapes { args += ["--shape", sh] }
        if let part { args += ["--shard", part.description] }
        if let casesFrom { args += ["--cases-from", casesFrom] }
        if let filter { args += ["--filter", filter] }
        let docs = try runChildren(args, count: rounds, label: "round")
        var merged = Bench.merge(docs)
        merged.settings.command = CommandLine.arguments.dropFirst().joined(separator: " ")
        return merged
    }

    /// The terminal table: every column with --wide, else the compact one in the terminal's
    /// width (COLUMNS) or 120.
    func table(_ cases: [CaseResult]) -> TextTable {
        if wide { return CaseTables.bench(cases) }
        let columns = ProcessInfo.processInfo.environment["COLUMNS"].flatMap(Int.init).map { min(max($0, 80), 400) } ?? 120
        return CaseTables.compact(cases, width: columns)
    }

    func render(_ doc: ResultDocument, _ format: String) throws -> Data {
        switch format {
        case "json": return try doc.json()
        case "csv": return Data(CaseTables.csv(doc.cases).csv.utf8)
        case "md": return Data(CaseTables.bench(doc.cases).markdown.utf8)
        case "gbench":
            return try GoogleBenchmark.encode(doc, mode: gbenchAggregatesOnly ? .aggregates : gbenchRepetitions ? .all : .summary)
        case "gh-bigger", "gh-smaller": return try GoogleBenchmark.custom(doc, biggerIsBetter: format == "gh-bigger")
        default: return Data(table(doc.cases).terminal.utf8)
        }
    }

    /// The cases: selected ops × shapes × selected variants × threads; naive variants skip
    /// full-suite shapes above `Suites.naiveFlopLimit`.
    func plan() throws -> [BenchCase] {
        var regex: NSRegularExpression?
        if let filter {
            do { regex = try NSRegularExpression(pattern: filter) } catch {
                throw CLIError("--filter '\(filter)' is not a regular expression")
            }
        }
        func keep(_ c: BenchCase) -> Bool {
            guard let regex else { return true }
            let key = "\(c.variant) \(c.shape.text) t=\(c.threads)"
            return regex.firstMatch(in: key, range: NSRange(key.startIndex..., in: key)) != nil
        }
        if let casesFrom {
            let cases = try BenchCase.list(from: try ResultDocument.read(casesFrom), path: casesFrom).filter(keep)
            guard !cases.isEmpty else { throw CLIError("--filter '\(filter ?? "")' matches none of \(casesFrom)'s cases") }
            return cases
        }
        let ops = try selection.selectedOps()
        let filter = try selection.variantFilter()
        let threads = try selection.threadCounts()
        var out: [BenchCase] = []
        var accepted = Set<String>()
        var skipped: [String] = []
        for spec in ops {
            var opShapes: [CaseShape] = []
            if shapes.isEmpty {
                opShapes = try Suites.shapes(suite, spec: spec).map { try spec.shape($0) }
            } else {
                for s in shapes {
                    if let shape = try? spec.shape(s) { opShapes.append(shape); accepted.insert(s) }
                }
            }
            for shape in opShapes {
                for id in Operators.variantIDs where id.op == spec.op && filter(id) {
                    if id.variant == "naive" && shapes.isEmpty && shape.flops > Suites.naiveFlopLimit { continue }
                    for t in threads {
                        if let why = Operators.unsupported(id, shape, threads: t) {
                            skipped.append("\(id) \(shape.text) t\(t): \(why)")
                            continue
                        }
                        out.append(BenchCase(variant: id, shape: shape, threads: t))
                    }
                }
            }
        }
        for s in shapes where !accepted.contains(s) {
            // Report the parse error of the first selected operator.
            _ = try ops[0].shape(s)
            throw CLIError("--shape '\(s)' fits none of the selected operators")
        }
        if out.isEmpty, let first = skipped.first { throw CLIError("the selection has no case a variant runs (\(first))") }
        // An operator named by --op that no --shape fits would be dropped without a word.
        if !selection.ops.isEmpty && !shapes.isEmpty {
            for spec in ops where !out.contains(where: { $0.variant.op == spec.op }) {
                if let why = skipped.first(where: { $0.hasPrefix(spec.op.rawValue + ".") }) {
                    throw CLIError("--op \(spec.op.rawValue): no selected variant runs the shapes (\(why))")
                }
                throw CLIError(
                    "--op \(spec.op.rawValue) gets no shape: none of \(shapes.map { "'\($0)'" }.joined(separator: ", ")) is a "
                        + "\(spec.op.rawValue) shape (\(spec.grammar))")
            }
        }
        out = out.filter(keep)
        if out.isEmpty, let pattern = self.filter { throw CLIError("--filter '\(pattern)' matches none of the selected cases") }
        for s in Set(out.map(\.shape)) { try Workloads.checkMemory(s) }
        guard !out.isEmpty else { throw CLIError("the selection matches no variant") }
        if !skipped.isEmpty {
            let list = skipped.prefix(3).joined(separator: "; ") + (skipped.count > 3 ? "; …" : "")
            FileHandle.standardError.write(Data("note: left out \(skipped.count) case(s) a variant does not run: \(list)\n".utf8))
        }
        return out
    }
}

/// Progress on stderr. On a terminal, one line redrawn in place that fits the terminal's
/// width: a bar, cases done (fractional within the group being measured), the group, an ETA
/// at the pace so far and what runs. Elsewhere (a CI log, a pipe), one line per finished group,
/// as Google Benchmark prints a row per benchmark, so a log shows progress and a timeout shows
/// where it stopped.
final class ProgressBar {
    let tty = isatty(2) == 1
    private var lastDraw = 0.0

    /// Columns of the terminal on stderr (80 when unknown).
    static func columns() -> Int {
        var ws = winsize()
        if ioctl(2, UInt(TIOCGWINSZ), &ws) == 0, ws.ws_col > 0 { return Int(ws.ws_col) }
        return Int(ProcessInfo.processInfo.environment["COLUMNS"] ?? "") ?? 80
    }

    static func duration(_ s: Double) -> String {
        s < 60 ? String(format: "%.0f s", s) : String(format: "%dm%02ds", Int(s) / 60, Int(s) % 60)
    }

    func update(_ p: BenchProgress) {
        if let f = p.finished {
            guard !tty else { return }
            let eta = p.eta.map { ", ETA \(Self.duration($0))" } ?? ""
            let line = String(
                format: "[%d/%d] %@ %@: %d cases in %.1f s (%@ elapsed%@)\n", p.group, p.groups, f.op, f.shape, f.cases, f.seconds,
                Self.duration(p.elapsed), eta)
            FileHandle.standardError.write(Data(line.utf8))
            return
        }
        guard tty, p.total > 0 else { return }
        let now = Machine.now()
        guard now - lastDraw >= 0.1 else { return }
        lastDraw = now
        let width = 20, filled = min(width, Int(Double(width) * p.done / Double(p.total)))
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        let eta = p.eta.map { " ETA \(Self.duration($0))" } ?? ""
        var line = String(format: "[%@] %.1f/%d cases, group %d/%d%@  %@", bar, p.done, p.total, p.group + 1, p.groups, eta, p.current)
        let cols = Self.columns()
        if line.count > cols - 1 { line = String(line.prefix(max(0, cols - 1))) }
        FileHandle.standardError.write(Data("\r\u{1B}[K\(line)".utf8))
    }

    func finish() { if tty { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) } }
}

/// Runs `opbench <args> --output FILE` `count` times, each in a fresh process, and reads
/// the results. Separate processes see different memory placement and start-up state, which
/// is exactly the run-to-run variation a baseline or a gate must account for.
/// With `attempts` > `count`, runs go on until `count` of them satisfy `counts` or `attempts`
/// ran; `before` runs before each one.
func runChildren(
    _ args: [String], count: Int, label: String, attempts: Int? = nil, before: (Int) -> Void = { _ in },
    counts: (ResultDocument) -> Bool = { _ in true }
) throws -> [ResultDocument] {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("opbench-\(label)s-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    var docs: [ResultDocument] = []
    for i in 1...max(count, attempts ?? count) where docs.filter(counts).count < count {
        before(i)
        let of = attempts.map { "\(i) (at most \(max(count, $0)))" } ?? "\(i)/\(count)"
        FileHandle.standardError.write(Data("\(label) \(of)\n".utf8))
        let out = dir.appendingPathComponent("\(label)\(i).json").path
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        p.arguments = args + ["--output", out]
        p.standardOutput = FileHandle.nullDevice
        let err = Pipe()
        p.standardError = err
        try p.run()
        let message = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw CLIError(
                "\(label) \(i) failed: \(message.split(separator: "\n").last.map(String.init) ?? "exit status \(p.terminationStatus)")")
        }
        docs.append(try ResultDocument.read(out))
    }
    return docs
}
