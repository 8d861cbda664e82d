import Foundation
import Harness
import Testing
import TestSupport

/// Google Benchmark JSON written by OpBench, read back, and held against files Google Benchmark
/// wrote itself (`Fixtures/make_gbench_fixture.py`, Google Benchmark 1.9.5's JSON reporter).
@Suite struct GoogleBenchmarkTests {
    static func fixture(_ name: String) throws -> (data: Data, path: String) {
        let path = Bundle.module.url(forResource: "Fixtures/\(name)", withExtension: nil)!.path
        return (try Data(contentsOf: URL(fileURLWithPath: path)), path)
    }

    static func entries(_ data: Data) throws -> (context: [String: Any], benchmarks: [[String: Any]]) {
        let object = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        return (object["context"] as! [String: Any], object["benchmarks"] as! [[String: Any]])
    }

    /// One case with CPU time twice the wall time (two busy threads), four samples.
    static func doc() -> ResultDocument {
        var c = Synthetic.result("matmul.simd", samples: [1e-3, 2e-3, 4e-3, 3e-3])
        c.cpuSamplesSeconds = c.samplesSeconds.map { 2 * $0 }
        return Synthetic.doc([c])
    }

    @Test func summaryIsOneEntryPerCaseWithMeasuredCPUTime() throws {
        let (context, b) = try Self.entries(GoogleBenchmark.encode(Self.doc(), mode: .summary))
        #expect(b.count == 1)
        #expect(b[0]["name"] as? String == "matmul.simd/8x8x8/threads:1" && b[0]["run_type"] as? String == "iteration")
        #expect(abs((b[0]["real_time"] as! Double) - 2.5e6) < 1e-3, "the median, in ns")
        #expect(abs((b[0]["cpu_time"] as! Double) - 5e6) < 1e-3, "the CPU time, not a copy of real_time")
        #expect(context["json_schema_version"] as? Int == 1 && (context["load_avg"] as! [Any]).count == 3)
        #expect((context["mhz_per_cpu"] as? Int ?? 0) > 0)
    }

    @Test func aggregatesOnlyHasMeanMedianStddevAndCV() throws {
        let (_, b) = try Self.entries(GoogleBenchmark.encode(Self.doc(), mode: .aggregates))
        #expect(b.map { $0["aggregate_name"] as? String } == ["mean", "median", "stddev", "cv"])
        #expect(b.allSatisfy { $0["run_type"] as? String == "aggregate" && $0["repetitions"] as? Int == 4 })
        let samples = [1e-3, 2e-3, 4e-3, 3e-3], mean = 2.5e-3
        let sd = (samples.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 3).squareRoot()
        #expect(abs((b[2]["real_time"] as! Double) - sd * 1e9) < 1e-3)
        #expect(b[3]["aggregate_unit"] as? String == "percentage" && abs((b[3]["real_time"] as! Double) - sd / mean) < 1e-12)
        #expect(b[0]["FLOPS"] != nil && b[2]["FLOPS"] == nil, "the mean carries the counters, the stddev does not")
        let (_, all) = try Self.entries(GoogleBenchmark.encode(Self.doc(), mode: .all))
        #expect(all.count == 4 + 4 && all.prefix(4).map { $0["repetition_index"] as? Int } == [0, 1, 2, 3])
    }

    /// Every field Google Benchmark writes for an iteration and an aggregate entry, and in the
    /// context, OpBench writes too, with the same JSON type (counters, which are per program, aside).
    @Test func fieldsMatchGoogleBenchmarksOwnOutput() throws {
        let (realContext, real) = try Self.entries(Self.fixture("gbench_repetitions.json").data)
        let (ours, oursAll) = try Self.entries(GoogleBenchmark.encode(Self.doc(), mode: .all))
        func kind(_ v: Any) -> String {
            if v is NSNumber { return "number" }  // bools too: JSONSerialization reads both as NSNumber on Linux
            return v is String ? "string" : v is [Any] ? "array" : "object"
        }
        let counters: Set<String> = ["items"]
        for type in ["iteration", "aggregate"] {
            let theirs = real.first { $0["run_type"] as? String == type }!, mine = oursAll.first { $0["run_type"] as? String == type }!
            for (key, value) in theirs where !counters.contains(key) {
                #expect(mine[key] != nil, "\(type) entry lacks '\(key)'")
                if let m = mine[key] { #expect(kind(m) == kind(value), "\(type) '\(key)': \(kind(m)) vs \(kind(value))") }
            }
        }
        for (key, value) in realContext {
            #expect(ours[key] != nil, "context lacks '\(key)'")
            if let m = ours[key] { #expect(kind(m) == kind(value), "context '\(key)'") }
        }
    }

    /// OpBench's own files come back as they were written: ids, samples, CPU times, rates.
    @Test(arguments: GoogleBenchmark.Mode.allCases)
    func readsItsOwnOutputBack(mode: GoogleBenchmark.Mode) throws {
        let doc = Self.doc()
        let back = try ResultDocument.decode(try GoogleBenchmark.encode(doc, mode: mode), path: "own.json")
        #expect(back.cases.count == 1)
        let (a, b) = (back.cases[0], doc.cases[0])
        #expect(a.id == b.id && a.op == b.op && a.variant == b.variant && a.shape == b.shape && a.threads == b.threads)
        let expected = mode == .all ? b.samplesSeconds : [b.medianSeconds]
        #expect(zip(a.samplesSeconds, expected).allSatisfy { abs($0 - $1) <= 1e-12 * $1 } && a.samplesSeconds.count == expected.count)
        #expect(abs(a.flops - b.flops) <= 1e-9 * b.flops && a.accuracyPass == b.accuracyPass)
        #expect(a.cpuSamplesSeconds?.first.map { abs($0 - 2 * expected[0]) <= 1e-9 } == true)
    }

    /// Files from Google Benchmark itself: every repetition, or aggregates only, in µs and ns;
    /// compared with the same statistics as OpBench's own runs.
    @Test func readsGoogleBenchmarksOwnFilesAndComparesThem() throws {
        let (data, path) = try Self.fixture("gbench_repetitions.json")
        let reps = try ResultDocument.decode(data, path: path)
        #expect(reps.cases.map(\.id) == ["BM_sum", "BM_sorted"] && reps.cases.allSatisfy { $0.samplesSeconds.count == 3 })
        let (_, raw) = try Self.entries(data)
        let first = raw[0]["real_time"] as! Double  // µs
        #expect(abs(reps.cases[0].samplesSeconds[0] - first * 1e-6) < 1e-15)
        #expect(reps.cases[1].medianSeconds < 1e-3 && reps.cases[1].medianSeconds > 1e-7, "ns read as ns")
        let (aggData, aggPath) = try Self.fixture("gbench_aggregates.json")
        let agg = try ResultDocument.decode(aggData, path: aggPath)
        #expect(agg.cases.count == 2 && agg.cases.allSatisfy { $0.samplesSeconds.count == 1 })
        let rows = Compare.cases(reps, reps, threshold: 0.05, alpha: 0.05, normalized: false)
        #expect(rows.count == 2 && rows.allSatisfy { $0.verdict == .noChange })
    }

    @Test func malformedFilesAreRefusedByEntry() throws {
        func refuse(_ text: String, _ fragment: String) {
            #expect { try ResultDocument.decode(Data(text.utf8), path: "g.json") } throws: { "\($0)".contains(fragment) }
        }
        let ctx = "\"context\": {}"
        refuse("{\(ctx), \"benchmarks\": [1]}", "benchmarks[0] is not an object")
        refuse("{\(ctx), \"benchmarks\": [{\"real_time\": 1}]}", "benchmarks[0]: no name")
        refuse("{\(ctx), \"benchmarks\": [{\"name\": \"a\", \"real_time\": \"1\", \"cpu_time\": 1}]}", "real_time is not a number")
        refuse(
            "{\(ctx), \"benchmarks\": [{\"name\": \"a\", \"real_time\": 1, \"cpu_time\": 1, \"time_unit\": \"min\"}]}", "time_unit 'min'")
        refuse("{\(ctx), \"benchmarks\": [{\"name\": \"a\", \"real_time\": -1, \"cpu_time\": 1}]}", "not a positive time")
        refuse("{\(ctx), \"benchmarks\": [{\"name\": \"a\", \"error_occurred\": true, \"error_message\": \"boom\"}]}", "boom")
        refuse(
            "{\(ctx), \"benchmarks\": [{\"name\": \"a\", \"run_type\": \"aggregate\", \"aggregate_name\": \"stddev\", \"real_time\": 1, "
                + "\"cpu_time\": 1}]}", "no iteration entry")
        refuse("{\"benchmarks\": []}", "not an opbench results file")
    }

    /// github-action-benchmark's custom formats: name, unit, value per case.
    @Test func customFormats() throws {
        for bigger in [true, false] {
            let list =
                try JSONSerialization.jsonObject(with: GoogleBenchmark.custom(Self.doc(), biggerIsBetter: bigger)) as! [[String: Any]]
            #expect(list.count == 1 && list[0]["name"] as? String == "matmul.simd 8x8x8 t=1")
            let rate = Self.doc().cases[0].bound == "memory" ? "GB/s" : "GFLOP/s"
            #expect(list[0]["unit"] as? String == (bigger ? rate : "ms") && (list[0]["value"] as? Double ?? -1) > 0, "\(list[0])")
        }
    }
}
