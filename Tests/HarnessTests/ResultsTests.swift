import Foundation
import Harness
import TestSupport
import Testing

@Suite struct ResultsTests {
    @Test func jsonRoundTripAndAtomicWrite() throws {
        let doc = Synthetic.doc([Synthetic.result("matmul.simd", samples: [1e-3, 2e-3, 1.5e-3], peerSamples: [1e-3, 1e-3, 1e-3])])
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("res-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let path = dir.appendingPathComponent("r.json").path
        try doc.write(to: path)
        #expect(try ResultDocument.read(path) == doc)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["r.json"])
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any]
        #expect(object["schema_version"] as? Int == 1)
        let c = (object["cases"] as! [[String: Any]])[0]
        for key in [
            "id", "op", "variant", "shape", "threads", "median_seconds", "gflops", "gbps", "roofline_fraction", "max_abs_error",
            "samples_seconds",
        ] {
            #expect(c[key] != nil, "case field \(key)")
        }
    }

    @Test func refusesForeignAndOtherVersions() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("res-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        func write(_ text: String) throws -> String {
            let p = dir.appendingPathComponent("\(UUID().uuidString).json").path
            try text.write(toFile: p, atomically: true, encoding: .utf8)
            return p
        }
        var json = String(decoding: try Synthetic.doc([]).json(), as: UTF8.self)
        json = json.replacingOccurrences(of: "\"schema_version\" : 1", with: "\"schema_version\" : 99")
        let cases: [(String, String)] = [
            (try write("{\"benchmarks\": []}"), "not an opbench results file"),
            (try write("not json"), "not valid JSON"),
            (try write(json), "schema_version 99 is not supported"),
            (try write("{\"schema_version\": 1, \"cases\": []}"), "missing field"),
        ]
        for (path, fragment) in cases {
            #expect { try ResultDocument.read(path) } throws: { "\($0)".contains(fragment) }
        }
    }

    @Test func compareVerdicts() {
        let base = Synthetic.doc([
            Synthetic.result("matmul.simd", samples: Synthetic.samples(1.0e-3, seed: 1), peerSamples: Synthetic.samples(1e-3, seed: 2)),
            Synthetic.result(
                "softmax.simd", shape: "4x4", samples: Synthetic.samples(2.0e-3, seed: 3), peerSamples: Synthetic.samples(2e-3, seed: 4)),
            Synthetic.result(
                "layernorm.simd", shape: "4x4", samples: Synthetic.samples(2.0e-3, seed: 5), peerSamples: Synthetic.samples(2e-3, seed: 6)),
            Synthetic.result("int4.simd", shape: "1x32x4", samples: Synthetic.samples(1e-3, seed: 7)),
        ])
        let cand = Synthetic.doc([
            // 20% slower
            Synthetic.result("matmul.simd", samples: Synthetic.samples(1.2e-3, seed: 11), peerSamples: Synthetic.samples(1e-3, seed: 12)),
            // faster
            Synthetic.result(
                "softmax.simd", shape: "4x4", samples: Synthetic.samples(1.5e-3, seed: 13), peerSamples: Synthetic.samples(2e-3, seed: 14)),
            // Everything 30% slower, peer included: the machine, not the code → no change when normalized.
            Synthetic.result(
                "layernorm.simd", shape: "4x4", samples: Synthetic.samples(2.6e-3, seed: 15),
                peerSamples: Synthetic.samples(2.6e-3, seed: 16)),
            Synthetic.result("attention.simd", shape: "T=4,H=1,D=4", samples: [1e-3]),
        ])
        let rows = Compare.cases(base, cand, threshold: 0.05, alpha: 0.01, normalized: true)
        let verdict = Dictionary(uniqueKeysWithValues: rows.map { ($0.key.split(separator: " ")[0], $0.verdict) })
        #expect(verdict["matmul.simd"] == .slower)
        #expect(verdict["softmax.simd"] == .faster)
        #expect(verdict["layernorm.simd"] == .noChange)
        #expect(verdict["int4.simd"] == .onlyInA)
        #expect(verdict["attention.simd"] == .onlyInB)
        // Raw times see the machine slow-down as a regression.
        let raw = Compare.cases(base, cand, threshold: 0.05, alpha: 0.01, normalized: false)
        #expect(raw.first { $0.key.hasPrefix("layernorm") }?.verdict == .slower)
        let gate = Compare.gate(rows, threshold: 0.05, alpha: 0.01)
        #expect(!gate.pass)
        #expect(gate.markdown.contains("**slower** `matmul.simd 8x8x8 t=1`"))
        #expect(gate.markdown.contains("**missing** `int4.simd"))
        // Within the threshold (2% slower, significant) is not a regression.
        let small = Synthetic.doc([
            Synthetic.result(
                "matmul.simd", samples: Synthetic.samples(1.02e-3, spread: 0.001, seed: 21),
                peerSamples: Synthetic.samples(1e-3, spread: 0.001, seed: 22))
        ])
        let base2 = Synthetic.doc([
            Synthetic.result(
                "matmul.simd", samples: Synthetic.samples(1e-3, spread: 0.001, seed: 23),
                peerSamples: Synthetic.samples(1e-3, spread: 0.001, seed: 24))
        ])
        #expect(
            Compare.gate(Compare.cases(base2, small, threshold: 0.05, alpha: 0.01, normalized: true), threshold: 0.05, alpha: 0.01).pass)
        // Accuracy failure fails the gate even when speed is unchanged.
        let bad = Synthetic.doc([
            Synthetic.result(
                "matmul.simd", samples: Synthetic.samples(1e-3, spread: 0.001, seed: 23),
                peerSamples: Synthetic.samples(1e-3, spread: 0.001, seed: 24), pass: false)
        ])
        let g = Compare.gate(Compare.cases(base2, bad, threshold: 0.05, alpha: 0.01, normalized: true), threshold: 0.05, alpha: 0.01)
        #expect(!g.pass && g.markdown.contains("**accuracy**"))
    }

    @Test func gateNeedsEveryRunToAgree() {
        let base = Synthetic.doc(
            Synthetic.pair("matmul.simd", samples: Synthetic.samples(1e-3, seed: 1), peerSamples: Synthetic.samples(1e-3, seed: 2)))
        let slowA = Synthetic.doc(
            Synthetic.pair("matmul.simd", samples: Synthetic.samples(1.3e-3, seed: 3), peerSamples: Synthetic.samples(1e-3, seed: 4)))
        let slowB = Synthetic.doc(
            Synthetic.pair("matmul.simd", samples: Synthetic.samples(1.2e-3, seed: 5), peerSamples: Synthetic.samples(1e-3, seed: 6)))
        let fine = Synthetic.doc(
            Synthetic.pair("matmul.simd", samples: Synthetic.samples(1e-3, seed: 7), peerSamples: Synthetic.samples(1e-3, seed: 8)))
        func combined(_ docs: [ResultDocument]) -> CaseComparison {
            Compare.gateAcrossRuns(docs.map { Compare.gateCases(base, $0, threshold: 0.05, alpha: 0.01) })[0]
        }
        let both = combined([slowA, slowB])
        #expect(both.verdict == .slower)
        #expect(abs(both.ratio - 1.2) < 0.05, "reports the weaker of the two: \(both.ratio)")
        #expect(combined([slowA, fine]).verdict == .noChange)
        // Speed-ungated cases (the gate's default for naive variants) keep only the accuracy check.
        let ungated = Compare.speedUngated(Compare.gateCases(base, slowA, threshold: 0.05, alpha: 0.01)) { $0.id == "matmul.simd" }
        #expect(ungated[0].verdict == .noChange && ungated[0].band == nil)
        #expect(combined([fine]).verdict == .noChange)
        // Runs that disagree by more than the baseline's noise widen the band: 30 % and 20 %
        // slower runs put n at 0.1 / 1.25 = 8 %, band 24 %, and neither run clears it.
        let wide = Compare.gateAcrossRuns(
            [slowA, slowB].map { Compare.gateCases(base, $0, threshold: 0.05, alpha: 0.01) }, threshold: 0.05)[0]
        #expect(wide.verdict == .noChange && abs((wide.noise ?? 0) - 0.08) < 0.01, "noise \(wide.noise ?? .nan)")
        // The band widens with the baseline's own round-to-round spread.
        var jumpy = Synthetic.pair("matmul.simd", samples: Synthetic.samples(1e-3, seed: 1), peerSamples: Synthetic.samples(1e-3, seed: 2))
        let peerMin = jumpy[1].roundMinSeconds![0]
        jumpy[0].roundMinSeconds = [1.0, 1.1, 0.95, 1.0, 1.0].map { $0 * peerMin }
        jumpy[1].roundMinSeconds = [Double](repeating: peerMin, count: 5)
        let rows = Compare.gateCases(Synthetic.doc(jumpy), slowB, threshold: 0.05, alpha: 0.01)
        #expect(abs((rows[0].band ?? 0) - 0.3) < 1e-9)
        #expect(abs((rows[0].minDetectable ?? 0) - 0.5) < 1e-9)
        #expect(rows[0].verdict == .noChange, "a 20% change is within a jumpy case's 30% band")
        let md = Compare.gate(rows, threshold: 0.05, alpha: 0.01).markdown
        #expect(md.contains("Cases too noisy to resolve 5%") && md.contains("`matmul.simd 8x8x8 t=1`: catches slowdowns from 50.0%"))
        #expect(md.contains("0 of 2 speed-gated cases resolve a 5% slowdown"), "\(md)")
    }

    /// The band and the smallest reliably caught slowdown follow from the measured noise n:
    /// band = max(3n, T − 2n), caught from max(T, 5n); n is at least 0.5 %.
    @Test func gateNoiseSetsBandAndSensitivity() {
        let quiet = Compare.GateNoise(noise: 0.002, threshold: 0.05)
        #expect(quiet.noise == 0.005 && abs(quiet.band - 0.04) < 1e-12 && quiet.minDetectable == 0.05 && quiet.resolvesThreshold)
        let edge = Compare.GateNoise(noise: 0.01, threshold: 0.05)
        #expect(abs(edge.band - 0.03) < 1e-12 && abs(edge.minDetectable - 0.05) < 1e-12 && edge.resolvesThreshold)
        let noisy = Compare.GateNoise(noise: 0.02, threshold: 0.05)
        #expect(abs(noisy.band - 0.06) < 1e-12 && abs(noisy.minDetectable - 0.10) < 1e-12 && !noisy.resolvesThreshold)
    }

    /// The gate normalizes by the peer the case's baseline rounds vary least against: here
    /// simd and naive drift together round by round while blas jitters on its own.
    @Test func gatePicksTheLeastNoisyPeer() {
        let drift = [1.0, 1.08, 0.97, 1.04, 1.0]
        let jitter = [1.0, 0.99, 1.015, 0.995, 1.01]
        func doc(_ simdScale: Double, seed: UInt64) -> ResultDocument {
            var cases = [
                Synthetic.result("matmul.simd", samples: Synthetic.samples(1e-3 * simdScale, spread: 0.005, seed: seed)),
                Synthetic.result("matmul.blas", samples: Synthetic.samples(1.1e-3, spread: 0.005, seed: seed + 1)),
                Synthetic.result("matmul.naive", samples: Synthetic.samples(5e-3, spread: 0.005, seed: seed + 2)),
            ]
            cases[0].roundMinSeconds = drift.map { $0 * 1e-3 * simdScale }
            cases[1].roundMinSeconds = zip(drift, jitter).map { $0 * $1 * 1.1e-3 }
            cases[2].roundMinSeconds = drift.map { $0 * 5e-3 }
            return Synthetic.doc(cases)
        }
        let rows = Compare.gateCases(doc(1, seed: 1), doc(1, seed: 11), threshold: 0.05, alpha: 0.01)
        let simd = rows.first { $0.b!.id == "matmul.simd" }!
        #expect(simd.gatePeer == "matmul.naive", "peer \(simd.gatePeer ?? "raw")")
        #expect(abs((simd.band ?? 0) - 0.04) < 1e-9, "noise floor 0.5 %: band 5 % − 1 %")
        #expect(simd.verdict == .noChange)
        // A 6 % slowdown: naive then looks faster against simd, so both are judged again
        // against blas (noise 1.5 %, band 4.5 %), which still catches it.
        let slow = Compare.gateCases(doc(1, seed: 1), doc(1.06, seed: 11), threshold: 0.05, alpha: 0.01)
        let slowSimd = slow.first { $0.b!.id == "matmul.simd" }!
        #expect(
            slowSimd.verdict == .slower && slowSimd.gatePeer == "matmul.blas", "ratio \(slowSimd.ratio) by \(slowSimd.gatePeer ?? "raw")")
    }

    /// A peer that got faster is no yardstick: its neighbour, unchanged in its own time, is
    /// judged again against a peer that did not move (or raw when none is left).
    @Test func gateDoesNotBlameTheNeighbourOfAnImprovedPeer() {
        func doc(_ simd: Double, _ blas: Double, _ naive: Double, seed: UInt64) -> ResultDocument {
            Synthetic.doc([
                Synthetic.result("matmul.simd", samples: Synthetic.samples(simd, spread: 0.01, seed: seed)),
                Synthetic.result("matmul.blas", samples: Synthetic.samples(blas, spread: 0.01, seed: seed + 1)),
                Synthetic.result("matmul.naive", samples: Synthetic.samples(naive, spread: 0.01, seed: seed + 2)),
            ])
        }
        let rows = Compare.gateCases(doc(1e-3, 1.1e-3, 5e-3, seed: 1), doc(0.8e-3, 1.1e-3, 5e-3, seed: 11), threshold: 0.05, alpha: 0.01)
        let verdicts = Dictionary(uniqueKeysWithValues: rows.map { ($0.b!.id, $0) })
        #expect(verdicts["matmul.simd"]!.verdict == .faster && verdicts["matmul.simd"]!.gatePeer == "matmul.naive")
        #expect(
            verdicts["matmul.blas"]!.verdict == .noChange,
            "blas ratio \(verdicts["matmul.blas"]!.ratio) against \(verdicts["matmul.blas"]!.gatePeer ?? "raw")")
        // A real regression next to an improvement is still caught.
        let both = Compare.gateCases(doc(1e-3, 1.1e-3, 5e-3, seed: 1), doc(0.8e-3, 1.4e-3, 5e-3, seed: 21), threshold: 0.05, alpha: 0.01)
        #expect(both.first { $0.b!.id == "matmul.blas" }!.verdict == .slower)
        // Two variants only: the unchanged one falls back to its raw time.
        let two = Compare.gateCases(
            Synthetic.doc(Array(doc(1e-3, 1.1e-3, 5e-3, seed: 1).cases.prefix(2))),
            Synthetic.doc(Array(doc(0.8e-3, 1.1e-3, 5e-3, seed: 11).cases.prefix(2))), threshold: 0.05, alpha: 0.01)
        let blas = two.first { $0.b!.id == "matmul.blas" }!
        #expect(blas.verdict == .noChange && blas.gatePeer == nil && !blas.normalized)
    }

    @Test func reportIsSelfContained() {
        let doc = Synthetic.doc([
            Synthetic.result("matmul.simd", samples: [1e-3, 2e-3]), Synthetic.result("matmul.blas", samples: [1e-3, 1.1e-3]),
        ])
        let html = Report.html([("a", doc), ("b", doc)])
        #expect(html.contains("<svg"))
        #expect(html.contains("Roofline"))
        #expect(
            !html.contains("http://") || html.replacingOccurrences(of: "http://www.w3.org/2000/svg", with: "").contains("http://") == false)
        #expect(!html.contains("https://"))
        #expect(!html.contains("<script"))
        let md = Report.markdown([("a", doc)])
        #expect(md.contains("| matmul.simd | 8x8x8 |"))
    }
}
