import Foundation
@testable import Harness
import TestSupport
import Testing

/// The HTML report's charts stay readable: no two series of a chart look alike, labels are
/// unique and whole, ceilings are drawn once per machine, thread axes have whole ticks, values
/// spanning decades get a log axis; and the winner table names the fastest passing variant.
@Suite struct ReportTests {
    /// Several runs on one machine, each with simd and blas at two thread counts.
    static func runs(_ n: Int) -> [(String, ResultDocument)] {
        (1...n).map { i in
            var cases: [CaseResult] = []
            for (variant, time) in [("simd", 1e-3), ("blas", 2e-3), ("naive", 0.5)] {
                for t in [1, 2] {
                    var c = Synthetic.result("matmul.\(variant)", shape: "\(64 * i)x64x64", samples: Synthetic.samples(time / Double(t)))
                    c.threads = t
                    cases.append(c)
                }
            }
            var failing = Synthetic.result("matmul.auto", shape: "\(64 * i)x64x64", samples: Synthetic.samples(1e-4), pass: false)
            failing.threads = 1
            cases.append(failing)
            return ("run\(i)", Synthetic.doc(cases))
        }
    }

    /// The `<svg>` elements of a page, by their title text.
    static func charts(_ html: String) -> [String: String] {
        var out: [String: String] = [:]
        for part in html.components(separatedBy: "<svg ").dropFirst() {
            let svg = part.components(separatedBy: "</svg>")[0]
            guard let t = svg.range(of: "class=\"t\">"), let end = svg[t.upperBound...].range(of: "</text>") else { continue }
            out[String(svg[t.upperBound..<end.lowerBound])] = svg
        }
        return out
    }

    @Test func seriesAreToldApartAndCeilingsDrawnOnce() throws {
        let runs = Self.runs(8)
        let charts = Self.charts(Report.html(runs))
        let roofline = try #require(charts["Roofline: every case against this machine's ceilings"])
        // 8 runs on one machine: its ceiling label once.
        #expect(
            roofline.components(separatedBy: "1 thread: 100 GFLOP/s, DRAM copy 25.0 GB/s</text>").count - 1 == 1, "ceilings drawn per run")
        // 8 runs × 4 variants: 32 series, each named in full in the legend, each its own style.
        let series = Set(runs.flatMap { name, d in d.cases.map { "\($0.variant) (\(name))" } })
        #expect(series.count == 32)
        for s in series { #expect(roofline.contains(">\(s)<"), "legend names \(s) in full") }
        let styles = SVG.styles(Array(series))
        #expect(Set(styles.values.map { "\($0.color) \($0.marker)" }).count == 32)
    }

    /// Each key gets a style no other key of the chart has, up to 100 keys.
    @Test func stylesNeverRepeatWithinAChart() {
        let keys = (0..<100).map { "series \($0)" }
        let styles = SVG.styles(keys)
        #expect(Set(styles.values.map { "\($0.color) \($0.marker)" }).count == 100)
        // One run's variants keep their colour whatever else is in the chart.
        let one = SVG.styles(["simd", "blas"]), other = SVG.styles(["naive", "simd", "blas", "act8"])
        #expect(one["simd"]?.color == other["simd"]?.color && one["blas"]?.color == other["blas"]?.color)
    }

    @Test func threadTicksAreWholeAndWideValuesGetALogAxis() throws {
        let html = Report.html(Self.runs(1))
        let charts = Self.charts(html)
        let scaling = try #require(charts["Thread scaling"])
        // Tick labels under the x axis: only whole thread counts.
        let ticks = scaling.components(separatedBy: "text-anchor=\"middle\">").dropFirst().map { String($0.prefix { $0 != "<" }) }
        let numbers = ticks.compactMap(Double.init)
        #expect(!numbers.isEmpty && numbers.allSatisfy { $0 == $0.rounded() }, "\(ticks)")
        // naive at 0.5 s beside simd at 1 ms: the bars' axis is logarithmic.
        let bars = try #require(charts.first { $0.key.hasPrefix("matmul:") }?.value)
        #expect(bars.contains("(log)"))
    }

    @Test func labelsAreUniqueAndWhole() {
        let svg = SVG.bars(
            title: "t", yTitle: "y",
            groups: [("same label", [("a", 1)]), ("same label", [("a", 2)]), (String(repeating: "x", count: 60) + " end", [("a", 3)])])
        #expect(svg.contains(">same label<") && svg.contains(">same label #2<"))
        // Long labels keep both ends, and the whole label stays in the hover title.
        #expect(svg.contains("…") && svg.contains(" end<") && svg.contains(String(repeating: "x", count: 60) + " end</title>"))
    }

    /// The winner is the fastest variant whose output passed its check (the failing, faster
    /// auto is not), with the runner-up and the factor over simd.
    @Test func winnersSkipFailedVariants() throws {
        let md = Report.markdown(Self.runs(1))
        let section = try #require(md.components(separatedBy: "## Winner per operator and shape").dropFirst().first)
        let row = try #require(section.split(separator: "\n").first { $0.contains("| 64x64x64 | 1 |") })
        #expect(row.contains("| simd |") && row.contains("| blas |") && row.contains("2.00×"), "\(row)")
        #expect(!row.contains("auto"))
    }
}
