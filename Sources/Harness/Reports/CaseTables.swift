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

    /// The default terminal table, at most `width` columns (120 unless the terminal says
    /// otherwise): case, shape, threads, median, spread (half the p10–p90 range over the
    /// median), the rate that matters for the case's bound (GFLOP/s or GB/s), the fraction of
    /// its ceiling, the speed-up over blas, and accuracy. Shapes longer than the room left are
    /// cut with an ellipsis (results files and `--wide` keep them whole).
    public static func compact(_ cases: [CaseResult], width: Int = 120) -> TextTable {
        let headers = ["case", "shape", "thr", "median", "spread", "rate", "ceiling", "vs blas", "accuracy"]
        var rows = cases.map { c -> [String] in
            let spread = c.medianSeconds > 0 ? (c.p90Seconds - c.p10Seconds) / 2 / c.medianSeconds : .nan
            let rate = c.bound == "memory" ? "\(Format.number(c.gbps)) GB/s" : "\(Format.number(c.gflops)) GFLOP/s"
            return [
                c.id, c.shape, "\(c.threads)", Format.seconds(c.medianSeconds), spread.isFinite ? "±" + Format.percent(spread) : "–",
                rate, c.rooflineText, Format.ratio(c.speedupVsBlas), c.accuracyPass ? "ok" : "FAIL",
            ]
        }
        // The room the shape column has: the width less every other column and the separators.
        let others = headers.indices.filter { $0 != 1 }.map { c in ([headers[c]] + rows.map { $0[c] }).map(\.count).max() ?? 0 }
        let room = Swift.max(12, width - others.reduce(0, +) - 2 * (headers.count - 1))
        for i in rows.indices where rows[i][1].count > room { rows[i][1] = String(rows[i][1].prefix(room - 1)) + "…" }
        return TextTable(headers: headers, rows: rows, rightAligned: [2, 3, 4, 5, 6, 7])
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
