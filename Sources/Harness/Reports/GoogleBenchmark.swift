import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Google Benchmark's JSON (`--benchmark_format=json`, schema version 1), written and read.
///
/// Written: one entry per case named `<op>.<variant>/<shape>/threads:<n>` with `real_time`
/// (wall time per execution) and `cpu_time` (the process's CPU time per execution, all threads
/// together, as Google Benchmark's `MeasureProcessCPUTime()` reports it), in ns, and the
/// counters `FLOPS`, `bytes_per_second`, `roofline_fraction`, `ceiling_error`, `max_abs_error`
/// and `accuracy_pass`. How repetitions appear (`Mode`):
/// - `summary` (the default): one `iteration` entry per case carrying the median sample, as a
///   run without repetitions gives — one series per case for github-action-benchmark, whose
///   Google Benchmark reader takes every entry as a series of its own.
/// - `aggregates` (`--benchmark_report_aggregates_only`): the `_mean`, `_median`, `_stddev` and
///   `_cv` aggregates only; mean and median carry the counters at that time.
/// - `all`: every repetition, then the aggregates (Google Benchmark's default with repetitions).
/// Model passes become `model/<preset>/<label>/prefill` and `/decode` entries whose time is
/// seconds per token, with a `tokens_per_second` counter.
///
/// Read back (`ResultDocument.decode` hands any document with `context` and `benchmarks` here),
/// so `compare`, `report` and `gate` take files from Google Benchmark itself: a run's samples
/// are its `iteration` entries (or, in an aggregates-only file, its median), its rates come
/// from the `FLOPS` and `bytes_per_second` counters when present, and accuracy from
/// `max_abs_error`/`accuracy_pass` when present (a file without them makes no accuracy claim:
/// its cases read as passing, with an unknown error).
public enum GoogleBenchmark {
    /// How repetitions are written.
    public enum Mode: String, Sendable, CaseIterable { case summary, aggregates, all }

    // MARK: - writing

    public static func encode(_ doc: ResultDocument, mode: Mode = .summary) throws -> Data {
        var benchmarks: [[String: Any]] = []
        for (family, c) in doc.cases.enumerated() {
            let name = "\(c.id)/\(c.shape)/threads:\(c.threads)"
            func counters(_ seconds: Double) -> [String: Any] {
                [
                    "FLOPS": c.flops / seconds, "bytes_per_second": c.bytes / seconds,
                    "roofline_fraction": c.rooflineFraction.isFinite ? c.rooflineFraction : -1,
                    "ceiling_error": c.ceilingError == true ? 1 : 0,
                    "max_abs_error": c.maxAbsError.isFinite ? c.maxAbsError : -1, "accuracy_pass": c.accuracyPass ? 1 : 0,
                ]
            }
            let cpu = c.cpuSamplesSeconds ?? c.samplesSeconds
            func entry(_ fields: [String: Any]) -> [String: Any] {
                var e: [String: Any] = [
                    "family_index": family, "per_family_instance_index": 0, "run_name": name, "threads": c.threads, "time_unit": "ns",
                ]
                for (k, v) in fields { e[k] = v }
                return e
            }
            switch mode {
            case .summary:
                var e = entry([
                    "name": name, "run_type": "iteration", "repetitions": 1, "repetition_index": 0,
                    "iterations": c.iterationsPerSample * c.samplesSeconds.count, "real_time": c.medianSeconds * 1e9,
                    "cpu_time": Statistics.median(cpu) * 1e9,
                ])
                for (k, v) in counters(c.medianSeconds) { e[k] = v }
                benchmarks.append(e)
                continue
            case .all:
                for (i, s) in c.samplesSeconds.enumerated() {
                    var e = entry([
                        "name": name, "run_type": "iteration", "repetitions": c.samplesSeconds.count, "repetition_index": i,
                        "iterations": c.iterationsPerSample, "real_time": s * 1e9, "cpu_time": cpu[min(i, cpu.count - 1)] * 1e9,
                    ])
                    for (k, v) in counters(s) { e[k] = v }
                    benchmarks.append(e)
                }
            case .aggregates: break
            }
            let n = c.samplesSeconds.count
            let aggregates: [(String, Double, Double, String)] = [
                ("mean", Statistics.mean(c.samplesSeconds), Statistics.mean(cpu), "time"),
                ("median", c.medianSeconds, Statistics.median(cpu), "time"),
                ("stddev", Statistics.stddev(c.samplesSeconds), Statistics.stddev(cpu), "time"),
                // Google Benchmark's cv: stddev / mean, a fraction, with aggregate_unit "percentage".
                (
                    "cv", Statistics.stddev(c.samplesSeconds) / Statistics.mean(c.samplesSeconds),
                    Statistics.stddev(cpu) / Statistics.mean(cpu),
                    "percentage"
                ),
            ]
            for (agg, real, cpuValue, unit) in aggregates {
                var e = entry([
                    "name": "\(name)_\(agg)", "run_type": "aggregate", "repetitions": n, "aggregate_name": agg, "aggregate_unit": unit,
                    "iterations": n, "real_time": unit == "time" ? real * 1e9 : real,
                    "cpu_time": unit == "time" ? cpuValue * 1e9 : cpuValue,
                ])
                if agg == "mean" || agg == "median" { for (k, v) in counters(real) { e[k] = v } }
                benchmarks.append(e)
            }
        }
        for m in doc.models {
            for (phase, rates) in [("prefill", m.prefillTokensPerSecond), ("decode", m.decodeTokensPerSecond)] where !rates.isEmpty {
                let median = Statistics.median(rates)
                var entry: [String: Any] = [
                    "name": "model/\(m.label.replacingOccurrences(of: " ", with: "/"))/\(phase)", "run_name": "model/\(m.label)/\(phase)",
                    "family_index": benchmarks.count, "per_family_instance_index": 0, "run_type": "iteration", "repetitions": 1,
                    "repetition_index": 0, "threads": m.threads, "iterations": rates.count, "time_unit": "ns",
                    "real_time": 1e9 / median, "cpu_time": 1e9 / median, "tokens_per_second": median,
                ]
                // Absent when the pass was not scored against fp64; -1 when not finite.
                if let e = m.maxAbsError { entry["max_abs_error"] = e.isFinite ? e : -1 }
                benchmarks.append(entry)
            }
        }
        return try JSONSerialization.data(
            withJSONObject: ["context": context(doc), "benchmarks": benchmarks], options: [.prettyPrinted, .sortedKeys])
    }

    /// The `context` object: the machine, as Google Benchmark describes it, plus OpBench's own
    /// fingerprint fields (prefixed `opbench_`).
    static func context(_ doc: ResultDocument) -> [String: Any] {
        let m = doc.machine
        let caches: [[String: Any]] = m.caches.sorted { $0.key < $1.key }.map { k, v in
            let level = Int(k.dropFirst().prefix { $0.isNumber }) ?? 0
            let size = Int(v.dropLast()).map { v.hasSuffix("K") ? $0 * 1024 : (v.hasSuffix("M") ? $0 << 20 : $0) } ?? 0
            let type = k.hasSuffix("d") ? "Data" : k.hasSuffix("i") ? "Instruction" : "Unified"
            return ["type": type, "level": level, "size": size, "num_sharing": Machine.cacheSharing(level: level, type: type) ?? 0]
        }
        return [
            "date": doc.timestamp, "host_name": m.hostname, "executable": "opbench", "num_cpus": m.cores,
            "mhz_per_cpu": Machine.megahertz() ?? 0, "cpu_scaling_enabled": false, "caches": caches, "load_avg": Machine.loadAverage(),
            "library_build_type": "release", "library_version": "opbench \(doc.opbenchCommit)", "json_schema_version": 1,
            "aslr_enabled": (try? String(contentsOfFile: "/proc/sys/kernel/randomize_va_space", encoding: .utf8))
                .map { $0.trimmingCharacters(in: .whitespacesAndNewlines) != "0" } ?? false,
            "opbench_cpu_model": m.cpuModel, "opbench_openblas": m.openblasConfig, "opbench_simd": m.simdFeatures.joined(separator: " "),
        ]
    }

    /// github-action-benchmark's `customBiggerIsBetter` (GFLOP/s or GB/s per case, by its
    /// bound; tokens/s per model phase) or `customSmallerIsBetter` (ms per case, ms per token)
    /// format: `[{"name", "unit", "value", "range", "extra"}]`.
    public static func custom(_ doc: ResultDocument, biggerIsBetter: Bool) throws -> Data {
        var out: [[String: Any]] = []
        for c in doc.cases {
            let name = "\(c.id) \(c.shape) t=\(c.threads)"
            let accuracy = c.accuracyPass ? "accuracy ok" : "ACCURACY FAIL"
            let extra = "p10–p90 \(Format.seconds(c.p10Seconds))–\(Format.seconds(c.p90Seconds)); \(accuracy)"
            if biggerIsBetter {
                let memory = c.bound == "memory"
                out.append([
                    "name": name, "unit": memory ? "GB/s" : "GFLOP/s", "value": memory ? c.gbps : c.gflops, "extra": extra,
                ])
            } else {
                out.append([
                    "name": name, "unit": "ms", "value": c.medianSeconds * 1e3,
                    "range": String(format: "± %.4g", (c.p90Seconds - c.p10Seconds) * 500), "extra": extra,
                ])
            }
        }
        for m in doc.models {
            for (phase, rates) in [("prefill", m.prefillTokensPerSecond), ("decode", m.decodeTokensPerSecond)] where !rates.isEmpty {
                let median = Statistics.median(rates)
                out.append([
                    "name": "\(m.label) \(phase)", "unit": biggerIsBetter ? "tokens/s" : "ms/token",
                    "value": biggerIsBetter ? median : 1e3 / median,
                    "extra": m.cosine.map { "cosine \(String(format: "%.7f", $0))" } ?? "not scored",
                ])
            }
        }
        return try JSONSerialization.data(withJSONObject: out, options: [.prettyPrinted, .sortedKeys])
    }

    // MARK: - reading

    /// Whether a parsed JSON object is a Google Benchmark document.
    static func isGoogleBenchmark(_ object: [String: Any]) -> Bool {
        object["schema_version"] == nil && object["context"] is [String: Any] && object["benchmarks"] is [Any]
    }

    /// Nanoseconds per unit of Google Benchmark's `time_unit`.
    static let units: [String: Double] = ["ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1]

    /// The document a Google Benchmark file holds; a `FileError` names the entry and field at fault.
    static func decode(_ object: [String: Any], path: String) throws -> ResultDocument {
        let context = object["context"] as? [String: Any] ?? [:]
        guard let entries = object["benchmarks"] as? [Any] else { throw FileError(path, "benchmarks is not an array") }
        guard entries.count <= 1 << 20 else { throw FileError(path, "\(entries.count) benchmarks are more than 2^20") }
        struct Run {
            var iterations: [(Int, Double, Double)] = []; var aggregates: [String: (Double, Double)] = [:]; var fields: [String: Any] = [:]
        }
        var runs: [String: Run] = [:]
        var order: [String] = []
        for (i, raw) in entries.enumerated() {
            let at = "benchmarks[\(i)]"
            guard let e = raw as? [String: Any] else { throw FileError(path, "\(at) is not an object") }
            guard let name = e["name"] as? String, !name.isEmpty else { throw FileError(path, "\(at): no name") }
            if e["error_occurred"] as? Bool == true {
                throw FileError(path, "\(at) (\(name)): the benchmark reported an error: \(e["error_message"] as? String ?? "no message")")
            }
            func number(_ key: String) throws -> Double {
                guard let v = (e[key] as? NSNumber)?.doubleValue else { throw FileError(path, "\(at) (\(name)): \(key) is not a number") }
                return v
            }
            let unit = e["time_unit"] as? String ?? "ns"
            guard let scale = units[unit] else { throw FileError(path, "\(at) (\(name)): time_unit '\(unit)' is not ns, us, ms or s") }
            let runName = e["run_name"] as? String ?? name
            if runs[runName] == nil { order.append(runName) }
            var run = runs[runName] ?? Run()
            let type = e["run_type"] as? String ?? "iteration"
            if type == "aggregate" {
                let agg = e["aggregate_name"] as? String ?? ""
                let isTime = (e["aggregate_unit"] as? String ?? "time") == "time"
                run.aggregates[agg] = (try number("real_time") * (isTime ? scale : 1), try number("cpu_time") * (isTime ? scale : 1))
                if agg == "median" || run.fields.isEmpty { for (k, v) in e { run.fields[k] = v } }
            } else {
                let real = try number("real_time") * scale, cpu = try number("cpu_time") * scale
                guard real.isFinite, real > 0 else { throw FileError(path, "\(at) (\(name)): real_time \(real) s is not a positive time") }
                run.iterations.append((e["repetition_index"] as? Int ?? run.iterations.count, real, cpu))
                for (k, v) in e { run.fields[k] = v }
            }
            runs[runName] = run
        }
        var cases: [CaseResult] = []
        for runName in order {
            let run = runs[runName]!, f = run.fields
            var samples = run.iterations.sorted { $0.0 < $1.0 }.map(\.1)
            var cpu = run.iterations.sorted { $0.0 < $1.0 }.map(\.2)
            if samples.isEmpty, let median = run.aggregates["median"] ?? run.aggregates["mean"] {
                samples = [median.0]; cpu = [median.1]
            }
            guard !samples.isEmpty else { throw FileError(path, "'\(runName)': no iteration entry and no mean or median aggregate") }
            if let bad = samples.first(where: { !($0.isFinite && $0 > 0) }) {
                throw FileError(path, "'\(runName)': a sample of \(bad) s is not a positive time")
            }
            do {
                let (op, variant, shape, threads) = Self.parseName(runName, threads: f["threads"] as? Int ?? 1)
                let median = Statistics.median(samples)
                let flopsRate = (f["FLOPS"] as? NSNumber)?.doubleValue ?? 0,
                    byteRate = (f["bytes_per_second"] as? NSNumber)?.doubleValue ?? 0
                let maxAbs = (f["max_abs_error"] as? NSNumber)?.doubleValue ?? .nan
                let pass = ((f["accuracy_pass"] as? NSNumber)?.intValue ?? 1) == 1
                let roof = (f["roofline_fraction"] as? NSNumber)?.doubleValue ?? -1
                var c = CaseResult(
                    id: variant.isEmpty ? op : "\(op).\(variant)", op: op, variant: variant, shape: shape, threads: threads,
                    samplesSeconds: samples, iterationsPerSample: max(1, (f["iterations"] as? Int) ?? 1), medianSeconds: .nan,
                    p10Seconds: .nan, p90Seconds: .nan, madSeconds: .nan, minSeconds: .nan, flops: flopsRate * median,
                    bytes: byteRate * median, gflops: .nan, gbps: .nan, arithmeticIntensity: byteRate > 0 ? flopsRate / byteRate : 0,
                    rooflineGflops: roof > 0 ? flopsRate / 1e9 / roof : .nan, rooflineFraction: .nan,
                    bound: flopsRate > 0 || byteRate == 0 ? "compute" : "memory", maxAbsError: maxAbs < 0 ? .nan : maxAbs,
                    maxRelError: .nan, nmse: .nan, tolerance: .nan, errorToTolerance: .nan, accuracyPass: pass, rowsChecked: 0)
                if cpu.allSatisfy({ $0.isFinite && $0 > 0 }) { c.cpuSamplesSeconds = cpu }
                c.recomputeStatistics()
                cases.append(c)
            }
        }
        let commit = (context["library_version"] as? String).map { $0.hasPrefix("opbench ") ? String($0.dropFirst(8)) : $0 } ?? "unknown"
        let caches = (context["caches"] as? [[String: Any]] ?? []).reduce(into: [String: String]()) { out, c in
            let level = c["level"] as? Int ?? 0, type = c["type"] as? String ?? "Unified", size = c["size"] as? Int ?? 0
            out["L\(level)\(type == "Data" ? "d" : type == "Instruction" ? "i" : "")"] =
                size % (1 << 20) == 0 ? "\(size >> 20)M" : "\(size >> 10)K"
        }
        let machine = MachineInfo(
            cpuModel: context["opbench_cpu_model"] as? String ?? "unknown (Google Benchmark file)", cores: context["num_cpus"] as? Int ?? 0,
            simdFeatures: (context["opbench_simd"] as? String)?.split(separator: " ").map(String.init) ?? [], caches: caches, os: "",
            kernel: "", hostname: context["host_name"] as? String ?? "", swiftVersion: "",
            openblasConfig: context["opbench_openblas"] as? String ?? "",
            openblasCore: "", opbenchCommit: commit, ceilings: [])
        var doc = ResultDocument(
            machine: machine,
            settings: RunSettings(
                suite: "gbench", minTimeSeconds: 0, repetitions: cases.map(\.samplesSeconds.count).max() ?? 0,
                command: "Google Benchmark JSON \(URL(fileURLWithPath: path).lastPathComponent)"),
            cases: cases)
        if let date = context["date"] as? String { doc.timestamp = date }
        try doc.validate(path: path)
        return doc
    }

    /// `<op>.<variant>/<shape>/threads:<n>` (OpBench's names) into its parts; any other name
    /// (another program's benchmark) is its own operator with no variant, the rest its shape.
    static func parseName(_ name: String, threads: Int) -> (String, String, String, Int) {
        var parts = name.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        var t = threads
        if let last = parts.last, last.hasPrefix("threads:"), let n = Int(last.dropFirst(8)), n >= 1 {
            t = n
            parts.removeLast()
        }
        let head = parts.first ?? name, shape = parts.dropFirst().joined(separator: "/")
        let dot = head.split(separator: ".", maxSplits: 1).map(String.init)
        if dot.count == 2, parts.count >= 2 { return (dot[0], dot[1], shape, t) }
        return (head, "", shape, t)
    }
}
