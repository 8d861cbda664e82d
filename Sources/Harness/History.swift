import Foundation
import Kernels

/// OpBench's figures across commits (asv's job): one results file per commit in a directory
/// (`results/history/<date>-<commit>.json`, appended by `Benchmarks/scripts/history.sh` after a
/// clean-tree run), a series per case, and the steps in each series found automatically.
///
/// Step detection is a permutation test with binary segmentation. A series is the run medians
/// x₁ … xₙ in commit order (one value per run: runs differ by more than the samples within a
/// run, so the run, not the sample, is the unit of noise). The statistic is the largest
/// |mean(log x) left − mean(log x) right| over the splits with at least `minSegment` runs on
/// each side. Under "no change" the runs are exchangeable, so the statistic's distribution is
/// that over random orders of the same values: the step is reported when at most α of
/// `permutations` seeded shuffles reach it (p ≤ α, a false-positive rate of α per series and
/// segment tested; α = 0.01 by default) **and** the two sides' medians differ by at least
/// `threshold` (5 %). Found steps split the series and each side is tested again.
public enum History {
    /// One case's figure in one run.
    public struct Point: Sendable, Equatable {
        public let commit: String
        public let timestamp: String
        public let median: Double
        public let p10: Double
        public let p90: Double
    }

    /// A detected step: the first run after it, and the change of the median.
    public struct Step: Sendable, Equatable {
        /// Index of the first point after the step.
        public let index: Int
        public let commit: String
        /// Median after / median before (> 1: slower).
        public let ratio: Double
        public let pValue: Double
    }

    /// The series of every case key over the documents, in the documents' (commit) order.
    public static func series(_ docs: [ResultDocument]) -> [(key: String, points: [Point])] {
        var out: [String: [Point]] = [:]
        var order: [String] = []
        for d in docs {
            for c in d.cases {
                if out[c.key] == nil { order.append(c.key) }
                out[c.key, default: []].append(
                    Point(commit: d.opbenchCommit, timestamp: d.timestamp, median: c.medianSeconds, p10: c.p10Seconds, p90: c.p90Seconds))
            }
        }
        return order.map { ($0, out[$0]!) }
    }

    /// Reads every `.json` results file of `directory` in the order of their names, which
    /// `history.sh` makes the commits' order (`<commit date>-<commit>.json`): a commit run
    /// later (a backfill) still takes its place in the history. Every file must come from one
    /// kind of machine (`MachineInfo.speedDifference`): a step between two machines is not a
    /// step of the code, so `history.sh` keeps one directory per kind (`results/history/<kind>/`).
    public static func load(_ directory: String) throws -> [ResultDocument] {
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: directory) } catch {
            throw FileError(directory, "not a readable directory")
        }
        let files = names.filter { $0.hasSuffix(".json") }.sorted()
        guard !files.isEmpty else { throw FileError(directory, "holds no .json results files") }
        let docs = try files.map { try ResultDocument.read((directory as NSString).appendingPathComponent($0)) }
        for (file, doc) in zip(files, docs).dropFirst() {
            if let why = doc.machine.speedDifference(docs[0].machine) {
                throw FileError(
                    (directory as NSString).appendingPathComponent(file),
                    "comes from another kind of machine than \(files[0]) (\(why)); keep one directory per kind")
            }
        }
        return docs
    }

    /// The steps of a series of run medians (seconds), earliest first.
    public static func steps(
        _ values: [Double], commits: [String], alpha: Double = 0.01, threshold: Double = 0.05, minSegment: Int = 2,
        permutations: Int = 999, seed: UInt64 = 1
    ) -> [Step] {
        let logs = values.map { Foundation.log($0) }
        var found: [Step] = []
        var rng = SplitMix64(seed: seed)
        func search(_ range: Range<Int>) {
            guard range.count >= 2 * minSegment else { return }
            let segment = Array(logs[range])
            guard let (split, stat) = best(segment, minSegment: minSegment) else { return }
            var reach = 0, shuffled = segment
            for _ in 0..<permutations {
                for i in stride(from: shuffled.count - 1, to: 0, by: -1) {
                    let j = Int(rng.next() % UInt64(i + 1))
                    shuffled.swapAt(i, j)
                }
                if let (_, s) = best(shuffled, minSegment: minSegment), s >= stat - 1e-12 { reach += 1 }
            }
            let p = Double(reach + 1) / Double(permutations + 1)
            let before = Statistics.median(Array(values[range.lowerBound..<(range.lowerBound + split)]))
            let after = Statistics.median(Array(values[(range.lowerBound + split)..<range.upperBound]))
            let ratio = after / before
            guard p <= alpha, abs(ratio - 1) >= threshold else { return }
            let at = range.lowerBound + split
            found.append(Step(index: at, commit: commits[at], ratio: ratio, pValue: p))
            search(range.lowerBound..<at)
            search(at..<range.upperBound)
        }
        search(0..<values.count)
        return found.sorted { $0.index < $1.index }
    }

    /// The split (first index of the right side) with the largest |mean difference|, and it.
    static func best(_ x: [Double], minSegment: Int) -> (Int, Double)? {
        guard x.count >= 2 * minSegment else { return nil }
        let total = x.reduce(0, +)
        var left = 0.0, bestSplit = -1, bestStat = -1.0
        for k in 1..<x.count {
            left += x[k - 1]
            guard k >= minSegment, x.count - k >= minSegment else { continue }
            let stat = abs(left / Double(k) - (total - left) / Double(x.count - k))
            if stat > bestStat { bestStat = stat; bestSplit = k }
        }
        return bestSplit < 0 ? nil : (bestSplit, bestStat)
    }

    /// Every case's series with its steps, found once for every printer.
    public struct Analysis: Sendable {
        public let runs: Int
        public let alpha: Double
        public let threshold: Double
        public let cases: [(key: String, points: [Point], steps: [Step])]
    }

    public static func analyze(_ docs: [ResultDocument], alpha: Double = 0.01, threshold: Double = 0.05) -> Analysis {
        Analysis(
            runs: docs.count, alpha: alpha, threshold: threshold,
            cases: series(docs).map { key, points in
                (key, points, steps(points.map(\.median), commits: points.map(\.commit), alpha: alpha, threshold: threshold))
            })
    }

    /// The trend page: per case, median and p10–p90 against commit, steps marked; a table of
    /// every step found first.
    public static func html(_ analysis: Analysis) -> String {
        let alpha = analysis.alpha, threshold = analysis.threshold
        var table = ""
        var charts = ""
        for (key, points, steps) in analysis.cases {
            for s in steps {
                table +=
                    "<tr><td>\(SVG.esc(key))</td><td>\(SVG.esc(s.commit))</td><td>\(String(format: "%.3f×", s.ratio))</td>"
                    + "<td>\(s.ratio > 1 ? "slower" : "faster")</td><td>\(String(format: "%.3f", s.pValue))</td></tr>"
            }
            charts += SVG.trend(title: key, points: points, steps: steps.map(\.index))
        }
        let header = "<tr><th>case</th><th>first commit after the step</th><th>after / before</th><th></th><th>p</th></tr>"
        return """
            <!doctype html><html><head><meta charset="utf-8"><title>OpBench history</title>
            <style>body{font-family:sans-serif;margin:24px}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px}
            svg{margin:8px 8px 0 0}</style></head><body>
            <h1>OpBench history: \(analysis.runs) runs, \(analysis.cases.count) cases</h1>
            <p>Steps: a permutation test on the run medians (p ≤ \(alpha), \(permutationsNote)) and a change of at least
            \(Int(threshold * 100)) %, with binary segmentation.</p>
            <table>\(header)\(table.isEmpty ? "<tr><td colspan=5>no steps</td></tr>" : table)</table>
            \(charts)</body></html>
            """
    }

    static let permutationsNote = "999 seeded shuffles"

    /// Markdown: every step found, per case.
    public static func markdown(_ analysis: Analysis) -> String {
        var rows: [[String]] = []
        for (key, _, steps) in analysis.cases {
            for s in steps {
                rows.append([
                    key, s.commit, String(format: "%.3f×", s.ratio), s.ratio > 1 ? "slower" : "faster", String(format: "%.3f", s.pValue),
                ])
            }
        }
        let t = TextTable(headers: ["case", "first commit after the step", "after / before", "", "p"], rows: rows)
        let longest = analysis.cases.map(\.points.count).max() ?? 0
        return "# OpBench history: \(analysis.runs) runs\n\n"
            + (rows.isEmpty ? "No steps. " + reach(longest, alpha: analysis.alpha) + "\n" : t.markdown)
    }

    /// What a series of `n` runs can show: the smallest p-value a split can have is that of
    /// the most extreme split, 2 of the C(n, n/2) orders of its values (two-sided).
    public static func reach(_ n: Int, alpha: Double) -> String {
        guard n >= 4 else { return "With \(n) runs no split has two runs a side: no step can be tested." }
        var orders = 1.0
        for i in 0..<(n / 2) { orders = orders * Double(n - i) / Double(i + 1) }
        let smallest = Swift.min(1, 2 / orders)
        return smallest > alpha
            ? String(
                format: "With %d runs the smallest p a step can reach is %.3g, above alpha = %g: more runs are needed.", n, smallest, alpha)
            : String(format: "With %d runs a step can reach p = %.3g (alpha = %g).", n, smallest, alpha)
    }
}

extension SVG {
    /// One case's trend: median per run (points joined), p10–p90 as a bar, steps as dashed lines.
    static func trend(title: String, points: [History.Point], steps: [Int]) -> String {
        let w = 460.0, h = 200.0
        let x = Axis(points.indices.map(Double.init), log: false, p0: 56, p1: w - 12)
        let y = Axis(points.flatMap { [$0.p10, $0.p90, $0.median] }.map { $0 * 1e3 }, log: false, p0: h - 30, p1: 26)
        var s = frame(w: w, h: h, x: x, y: y, xTitle: "run (commit order)", yTitle: "ms", title: title, xTickLabels: false)
        var path = ""
        for (i, p) in points.enumerated() {
            let px = x.map(Double(i))
            s +=
                "<line x1=\"\(px)\" x2=\"\(px)\" y1=\"\(y.map(p.p10 * 1e3))\" y2=\"\(y.map(p.p90 * 1e3))\" stroke=\"#9ab\"/>"
                + "<circle cx=\"\(px)\" cy=\"\(y.map(p.median * 1e3))\" r=\"3\" fill=\"#4e79a7\"><title>\(esc(p.commit)) "
                + "\(esc(p.timestamp)): \(String(format: "%.4g", p.median * 1e3)) ms</title></circle>"
            path += (i == 0 ? "M" : "L") + "\(px) \(y.map(p.median * 1e3))"
        }
        s += "<path d=\"\(path)\" fill=\"none\" stroke=\"#4e79a7\"/>"
        for i in steps {
            let px = (x.map(Double(i - 1)) + x.map(Double(i))) / 2
            s += "<line x1=\"\(px)\" x2=\"\(px)\" y1=\"\(y.p1)\" y2=\"\(y.p0)\" stroke=\"#e15759\" stroke-dasharray=\"4 3\"/>"
            s += "<text x=\"\(px + 3)\" y=\"\(y.p1 + 10)\" fill=\"#e15759\">\(esc(points[i].commit))</text>"
        }
        return wrap(w, h, s)
    }
}
