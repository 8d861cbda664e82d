import ArgumentParser
import Foundation
import Harness
import Kernels

struct TuneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tune",
        abstract: "Search each shape's best variant and blocking constants within a time budget; write the tuning file auto follows.",
        discussion: """
            Per operator, shape and thread count: every selected variant at its defaults and seeded random settings of the \
            constants each tunable variant reads ('opbench list --tuning'; ladders around the defaults) are checked against \
            fp64 (a candidate that fails can never win), then raced by successive halving with interleaved samples; the \
            winner and the default (simd at its defaults) are measured side by side in the final rounds, and the winner is \
            kept only when it is faster by a one-sided U test at --alpha and by at least --min-gain. Entries are merged into \
            --output (default \
            results/tuning/<machine>.json, which every command then installs for the auto variants: bench --variant auto, \
            model --plan auto).
            """)

    @OptionGroup var selection: Selection
    @Option(name: .customLong("shape"), help: "A shape (repeatable), as bench takes it; default: each operator's representative shape.")
    var shapes: [String] = []
    @Option(help: ArgumentHelp("Time for the whole search, e.g. 60s, 2m or 90 (seconds), split evenly over the shapes and threads."))
    var budget: String = "60s"
    @Option(help: "Random settings drawn per tunable variant, at most (the budget may allow fewer).") var settings: Int = 96
    @Option(help: "Seed of the draws.") var seed: UInt64 = 1
    @Option(help: "Significance the choice must reach against the default in the final rounds.") var alpha: Double = 0.05
    @Option(name: .customLong("min-gain"), help: "Least speed-up over the default worth an entry (e.g. 1% or 0.01).")
    var minGain: String = "1%"
    @Option(name: [.short, .long], help: "The tuning file to merge the entries into (default: results/tuning/<machine>.json).")
    var output: String?
    @Option(help: "table or md") var format: String = "table"

    /// Parses `60s`, `2m`, `90`.
    static func seconds(_ text: String) throws -> Double {
        let t = text.trimmingCharacters(in: .whitespaces)
        let (digits, scale): (Substring, Double) =
            t.hasSuffix("ms")
            ? (t.dropLast(2), 1e-3) : t.hasSuffix("s") ? (t.dropLast(), 1) : t.hasSuffix("m") ? (t.dropLast(), 60) : (t[...], 1)
        guard let v = Double(digits), v.isFinite, v * scale >= 1, v * scale <= 86_400 else {
            throw CLIError("--budget '\(text)' must be a time from 1 s to 24 h, like 60s, 2m or 90")
        }
        return v * scale
    }

    func run() throws {
        guard ["table", "md"].contains(format) else { throw CLIError("--format '\(format)' must be table or md") }
        guard alpha > 0, alpha < 1 else { throw CLIError("--alpha \(alpha) must be between 0 and 1") }
        guard (0...1000).contains(settings) else { throw CLIError("--settings \(settings) must be from 0 to 1000") }
        let total = try Self.seconds(budget)
        let gain = try parseFraction(minGain, option: "--min-gain")
        guard !selection.ops.isEmpty else { throw CLIError("give the operators to tune with --op (e.g. --op matmul)") }
        let specs = try selection.selectedOps()
        let threadCounts = try selection.threadCounts()
        let asked = try listItems(selection.variants, option: "--variant")
        var tasks: [(CaseShape, Int, [String])] = []
        for spec in specs {
            let names = spec.kernels.filter(\.runsByDefault).map(\.name)
            var chosen = Tuner.defaultVariants(spec)
            if !asked.isEmpty {
                chosen = []
                for a in asked {
                    let name = a.hasPrefix(spec.op.rawValue + ".") ? String(a.dropFirst(spec.op.rawValue.count + 1)) : a
                    if name == "auto" { throw CLIError("--variant auto: tune races the variants auto chooses from") }
                    if names.contains(name) { chosen.append(name) }
                }
                guard !chosen.isEmpty else {
                    throw CLIError(
                        "--variant \(asked.joined(separator: ",")): none is a variant of \(spec.op) "
                            + "(known: \(names.joined(separator: ", ")))"
                    )
                }
            }
            let texts = shapes.isEmpty ? [spec.shapes.representative] : shapes
            var any = false
            for text in texts {
                guard let shape = try? spec.shape(text) else { continue }
                any = true
                try Workloads.checkMemory(shape)
                for t in threadCounts { tasks.append((shape, t, chosen)) }
            }
            if !any {
                _ = try spec.shape(texts[0])  // the parse error of the first shape
                throw CLIError("--op \(spec.op) gets no shape")
            }
        }
        // The file keeps the fingerprint only (the ceilings play no part in tuning).
        let machine = Machine.fingerprint()
        let path = output ?? TuningFile.defaultPath(for: machine)
        if output == nil {
            try FileManager.default.createDirectory(
                atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path, withIntermediateDirectories: true)
        }
        try checkOutputDirectory(path)
        // An existing file must be readable before any time is spent: its entries are kept.
        let existing = FileManager.default.fileExists(atPath: path) ? try TuningFile.read(path) : nil
        let each = total / Double(tasks.count)
        let bar = ProgressBar()
        let start = Machine.now()
        var entries: [TuningEntry] = []
        var notes: [String] = []
        for (i, (shape, t, names)) in tasks.enumerated() {
            var options = Tuner.Options(variants: names)
            options.budgetSeconds = each
            options.maxSettings = settings
            options.seed = seed
            options.alpha = alpha
            options.minGain = gain
            let outcome = try Tuner.tune(shape, threads: t, options: options) { what, fraction in
                bar.update(
                    BenchProgress(
                        done: Double(i) + min(fraction, 1), total: tasks.count, group: i, groups: tasks.count, current: what,
                        elapsed: Machine.now() - start, finished: nil))
            }
            bar.update(
                BenchProgress(
                    done: Double(i + 1), total: tasks.count, group: i + 1, groups: tasks.count, current: "",
                    elapsed: Machine.now() - start,
                    finished: .init(
                        op: shape.op.rawValue, shape: "\(shape.text) t=\(t)", cases: outcome.entry.candidates,
                        seconds: outcome.entry.elapsedSeconds)))
            entries.append(outcome.entry)
            for r in outcome.rejected { notes.append("\(outcome.entry.key): \(r.candidate) refused: \(r.why)") }
            if let note = outcome.note { notes.append("\(outcome.entry.key): \(note)") }
        }
        bar.finish()
        let file = (existing ?? TuningFile(machine: machine, entries: [])).merging(entries, machine: machine)
        try file.write(to: path)
        let table = Self.table(entries)
        print(format == "md" ? table.markdown : table.terminal, terminator: "")
        for n in notes { FileHandle.standardError.write(Data("note: \(n)\n".utf8)) }
        FileHandle.standardError.write(Data("wrote \(path): \(file.entries.count) entries (\(entries.count) from this run)\n".utf8))
    }

    /// Default vs tuned per shape, measured side by side in the final rounds.
    static func table(_ entries: [TuningEntry]) -> TextTable {
        TextTable(
            headers: ["op", "shape", "thr", "default", "choice", "tuned", "speed-up", "p", "candidates", "verdict"],
            rows: entries.map { e in
                [
                    e.op, e.shape, "\(e.threads)", Format.seconds(e.defaultMedianSeconds), e.choice, Format.seconds(e.tunedMedianSeconds),
                    Format.ratio(e.speedup), Format.number(e.pValue, 2), "\(e.candidates) (\(e.rejected) failed fp64)",
                    e.tunedMedianSeconds == e.defaultMedianSeconds ? "default kept" : "tuned",
                ]
            }, rightAligned: [2, 3, 5, 6, 7])
    }
}
