import Foundation

/// The tables and flat exports of benchmark cases.
public enum CaseTables {
    /// The main results table: speed, roofline position, speed-ups and accuracy side by side.
    public static func bench(_ cases: [CaseResult]) -> TextTable {
        TextTable(
            headers: [
                "case", "shape", "threads", "median", "p10–p90", "GFLOP/s", "GB/s", "roofline", "vs naive", "vs blas", "max abs err",
                "accuracy",
            ],
            rows: cases.map { c in
                [
                    c.id, c.shape, "\(c.threads)", Format.seconds(c.medianSeconds),
                    "\(Format.seconds(c.p10Seconds))–\(Format.seconds(c.p90Seconds))",
                    Format.number(c.gflops), Format.number(c.gbps),
                    c.rooflineText,
                    Format.ratio(c.speedupVsNaive), Format.ratio(c.speedupVsBlas), Format.error(c.maxAbsError),
                    c.accuracyPass ? "ok" : "FAIL",
                ]
            },
            rightAligned: [2, 3, 4, 5, 6, 7, 8, 9, 10])
    }

    /// One row per case with every scalar field, for spreadsheets.
    public static func csv(_ cases: [CaseResult]) -> TextTable {
        TextTable(
            headers: [
                "id", "op", "variant", "shape", "threads", "median_seconds", "p10_seconds", "p90_seconds", "mad_seconds", "min_seconds",
                "samples", "iterations_per_sample", "flops", "bytes", "gflops", "gbps", "arithmetic_intensity", "roofline_gflops",
                "roofline_fraction", "bound", "ceiling", "ceiling_error", "cache", "speedup_vs_naive", "speedup_vs_blas", "max_abs_error",
                "max_rel_error", "nmse",
                "tolerance", "error_to_tolerance", "accuracy_pass",
            ],
            rows: cases.map { c in
                func d(_ x: Double?) -> String { x.map { "\($0)" } ?? "" }
                return [
                    c.id, c.op, c.variant, c.shape, "\(c.threads)", d(c.medianSeconds), d(c.p10Seconds), d(c.p90Seconds), d(c.madSeconds),
                    d(c.minSeconds), "\(c.samplesSeconds.count)", "\(c.iterationsPerSample)", d(c.flops), d(c.bytes), d(c.gflops),
                    d(c.gbps),
                    d(c.arithmeticIntensity), d(c.rooflineGflops), d(c.rooflineFraction), c.bound, c.ceiling ?? "",
                    c.ceilingError.map { $0 ? "true" : "false" } ?? "", c.cache ?? "", d(c.speedupVsNaive), d(c.speedupVsBlas),
                    d(c.maxAbsError), d(c.maxRelError), d(c.nmse), d(c.tolerance), d(c.errorToTolerance), c.accuracyPass ? "true" : "false",
                ]
            })
    }

    /// Google Benchmark's JSON format (context + one "iteration" entry per sample + median,
    /// mean and stddev aggregates), so compare.py and CI benchmark actions read OpBench runs.
    public static func googleBenchmark(_ doc: ResultDocument) throws -> Data {
        var benchmarks: [[String: Any]] = []
        for (family, c) in doc.cases.enumerated() {
            let name = "\(c.id)/\(c.shape)/threads:\(c.threads)"
            let counters: [String: Any] = [
                "FLOPS": c.flops / c.medianSeconds, "bytes_per_second": c.bytes / c.medianSeconds,
                "roofline_fraction": c.rooflineFraction, "ceiling_error": c.ceilingError == true ? 1 : 0,
                "max_abs_error": c.maxAbsError.isFinite ? c.maxAbsError : -1,
            ]
            for (i, s) in c.samplesSeconds.enumerated() {
                var e: [String: Any] = [
                    "name": name, "family_index": family, "per_family_instance_index": 0, "run_name": name,
                    "run_type": "iteration", "repetitions": c.samplesSeconds.count, "repetition_index": i,
                    "threads": c.threads, "iterations": c.iterationsPerSample,
                    "real_time": s * 1e9, "cpu_time": s * 1e9, "time_unit": "ns",
                ]
                e["FLOPS"] = c.flops / s; e["bytes_per_second"] = c.bytes / s
                benchmarks.append(e)
            }
            let mean = Statistics.mean(c.samplesSeconds)
            let sd = (c.samplesSeconds.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(max(1, c.samplesSeconds.count - 1)))
                .squareRoot()
            for (agg, value) in [("mean", mean), ("median", c.medianSeconds), ("stddev", sd)] {
                var e: [String: Any] = [
                    "name": "\(name)_\(agg)", "family_index": family, "per_family_instance_index": 0, "run_name": name,
                    "run_type": "aggregate", "repetitions": c.samplesSeconds.count, "threads": c.threads,
                    "aggregate_name": agg, "aggregate_unit": "time", "iterations": c.samplesSeconds.count,
                    "real_time": value * 1e9, "cpu_time": value * 1e9, "time_unit": "ns",
                ]
                if agg != "stddev" { for (k, v) in counters { e[k] = v } }
                benchmarks.append(e)
            }
        }
        let m = doc.machine
        let caches: [[String: Any]] = m.caches.sorted { $0.key < $1.key }.map { k, v in
            let level = Int(k.dropFirst().prefix { $0.isNumber }) ?? 0
            let size = Int(v.dropLast()).map { v.hasSuffix("K") ? $0 * 1024 : (v.hasSuffix("M") ? $0 << 20 : $0) } ?? 0
            return ["type": k.hasSuffix("d") ? "Data" : "Unified", "level": level, "size": size, "num_sharing": 0]
        }
        let context: [String: Any] = [
            "date": doc.timestamp, "host_name": m.hostname, "executable": "opbench", "num_cpus": m.cores,
            "mhz_per_cpu": 0, "cpu_scaling_enabled": false, "caches": caches, "load_avg": [Double](),
            "library_build_type": "release", "library_version": "opbench \(doc.opbenchCommit)",
            "opbench_cpu_model": m.cpuModel, "opbench_openblas": m.openblasConfig,
        ]
        return try JSONSerialization.data(
            withJSONObject: ["context": context, "benchmarks": benchmarks], options: [.prettyPrinted, .sortedKeys])
    }
}

/// The ablation table: one row per step, each against the previous step and the first.
public enum AblationTables {
    public static func table(_ steps: [(change: String, result: CaseResult)]) -> TextTable {
        var rows: [[String]] = []
        var previous: CaseResult?
        var first: [String: CaseResult] = [:]
        for (change, c) in steps {
            if let p = previous, p.op != c.op { previous = nil }
            let base = first[c.op] ?? c
            first[c.op] = base
            let memoryBound = c.bound == "memory"
            rows.append([
                c.op, c.shape, c.variant, "\(c.threads)", change, Format.seconds(c.medianSeconds),
                memoryBound ? "\(Format.number(c.gbps)) GB/s" : "\(Format.number(c.gflops)) GFLOP/s",
                c.rooflineText,
                previous.map { Format.number($0.medianSeconds / c.medianSeconds) + "×" } ?? "–",
                Format.number(base.medianSeconds / c.medianSeconds) + "×",
                c.accuracyPass ? "ok" : "FAIL",
            ])
            previous = c
        }
        return TextTable(
            headers: [
                "op", "shape", "variant", "thr", "step adds", "median", "throughput", "roofline", "vs previous", "vs first", "accuracy",
            ],
            rows: rows, rightAligned: [3, 5, 6, 7, 8, 9])
    }
}
