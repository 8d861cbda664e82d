import Foundation
import Harness
import Kernels
import Testing
import TestSupport

@Suite struct HistoryTests {
    /// `n` run medians around 1 ms with relative noise `noise` (uniform), ×`factor` from `at` on.
    static func series(_ n: Int, noise: Double, step at: Int? = nil, factor: Double = 1, seed: UInt64) -> [Double] {
        var rng = SplitMix64(seed: seed)
        return (0..<n).map { i in
            let u = Double(rng.next() >> 11) / Double(1 << 53) * 2 - 1
            return 1e-3 * (1 + noise * u) * (at.map { i >= $0 ? factor : 1 } ?? 1)
        }
    }
    static func commits(_ n: Int) -> [String] { (0..<n).map { "c\($0)" } }

    /// A planted 30 % slowdown at run 7 of 14 (3 % noise) is found at exactly that run, named
    /// by its commit; a staircase (30 % at run 6, 30 % more at run 11) gives both steps. (A
    /// slowdown later undone is a weaker case for binary segmentation: the whole series' best
    /// single split explains it poorly.)
    @Test func plantedStepsAreFoundAtTheirCommit() {
        let one = Self.series(14, noise: 0.03, step: 7, factor: 1.3, seed: 5)
        let found = History.steps(one, commits: Self.commits(14))
        #expect(found.map(\.index) == [7] && found[0].commit == "c7" && abs(found[0].ratio - 1.3) < 0.05, "\(found)")
        var two = Self.series(16, noise: 0.02, step: 6, factor: 1.3, seed: 9)
        for i in 11..<16 { two[i] *= 1.3 }
        let both = History.steps(two, commits: Self.commits(16))
        #expect(both.map(\.index) == [6, 11], "\(both)")
        #expect(both.allSatisfy { $0.ratio > 1.2 })
    }

    /// With no step, the rate of series reported as having one stays at α: over 300 seeded
    /// series of 12 runs, at α = 0.05 the expected count is 15; a binomial(300, 0.05) count
    /// exceeds 27 with probability below 0.1 %, so more than 27 means the test is not at α.
    @Test func falsePositiveRateIsAlpha() {
        var flagged = 0
        for seed in 0..<300 {
            let x = Self.series(12, noise: 0.05, seed: UInt64(1000 + seed))
            if !History.steps(x, commits: Self.commits(12), alpha: 0.05, threshold: 0, permutations: 199, seed: UInt64(seed)).isEmpty {
                flagged += 1
            }
        }
        #expect(flagged <= 27, "\(flagged) of 300 null series flagged at alpha 0.05")
        #expect(flagged >= 3, "\(flagged): the test never fires, so it cannot be at alpha either")
    }

    /// A change smaller than the threshold is not a step however clear; too short a series is
    /// never tested.
    @Test func thresholdAndLength() {
        let small = Self.series(20, noise: 0.001, step: 10, factor: 1.02, seed: 3)
        #expect(History.steps(small, commits: Self.commits(20)).isEmpty)
        #expect(!History.steps(small, commits: Self.commits(20), threshold: 0.01).isEmpty)
        #expect(History.steps([1, 2, 3], commits: Self.commits(3)).isEmpty)
        // Four runs can never reach p ≤ 0.01 (2 of C(4, 2) = 6 orders: p ≥ 1/3), and the
        // Markdown says so rather than "no steps" alone.
        #expect(History.steps([1, 1, 2, 2], commits: Self.commits(4)).isEmpty)
        #expect(History.reach(4, alpha: 0.01).contains("0.333") && History.reach(12, alpha: 0.01).contains("0.00216"))
    }

    /// The directory reader and the CLI-facing outputs: files sorted by timestamp, series per
    /// case key, the step named in Markdown and drawn in HTML.
    @Test func directoryOfRunsToTrendPage() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("opbench-history-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        // 12 runs, a step at run 6: under no change that exact split would come up in 2 of the
        // C(12, 6) = 924 orders, well below α = 0.01.
        let medians = Self.series(12, noise: 0.02, step: 6, factor: 1.4, seed: 2)
        for (i, m) in medians.enumerated() {
            var doc = Synthetic.doc([Synthetic.result("matmul.simd", samples: [m * 0.99, m, m * 1.01])])
            doc.opbenchCommit = String(format: "%07x", 0xabc000 + i)
            // Run times in reverse (a backfill runs old commits last): the names, which
            // history.sh makes the commit dates, give the order.
            doc.timestamp = String(format: "2026-12-%02dT00:00:00Z", 12 - i)
            try doc.write(to: dir.appendingPathComponent(String(format: "202611%02d000000-%@.json", i + 1, doc.opbenchCommit)).path)
        }
        let docs = try History.load(dir.path)
        #expect(docs.map(\.opbenchCommit).first == "0abc000" && docs.count == 12)
        let md = History.markdown(History.analyze(docs))
        #expect(md.contains("0abc006") && md.contains("slower"), "\(md)")
        let html = History.html(History.analyze(docs))
        #expect(html.contains("<svg") && html.contains("stroke-dasharray") && html.contains("0abc006"))
        #expect(throws: FileError.self) { try History.load(dir.appendingPathComponent("none").path) }
        // A run from another kind of machine in the same directory is refused, by name.
        var foreign = Synthetic.doc([Synthetic.result("matmul.simd", samples: [1, 1, 1])])
        foreign.machine.cpuModel = "Another CPU"
        let name = "20261231000000-fffffff.json"
        try foreign.write(to: dir.appendingPathComponent(name).path)
        #expect { try History.load(dir.path) } throws: {
            let text = "\($0)"
            return text.contains(name) && text.contains("another kind of machine") && text.contains("Another CPU")
        }
    }
}
