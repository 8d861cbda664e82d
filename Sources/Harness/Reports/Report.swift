import Foundation
import Kernels

/// Merges result documents (from one or several machines) into a Markdown report and a
/// self-contained HTML page with inline SVG charts.
public enum Report {
    /// A case tagged with the run it came from (machine and threads told apart in charts).
    struct Tagged { let c: CaseResult; let source: String; let machine: MachineInfo }

    /// The operators present in `cases`: registered ones in registry order, then any other
    /// (from a results file of another build) in order of appearance.
    static func operators(_ cases: [Tagged]) -> [String] {
        let present = cases.map(\.c.op)
        var order = Operators.names.filter { present.contains($0) }
        for op in present where !order.contains(op) { order.append(op) }
        return order
    }

    static func tagged(_ docs: [(String, ResultDocument)]) -> [Tagged] {
        docs.flatMap { name, d in d.cases.map { Tagged(c: $0, source: name, machine: d.machine) } }
    }

    static func machineTable(_ docs: [(String, ResultDocument)]) -> TextTable {
        TextTable(
            headers: [
                "run", "machine", "cores", "FMA peak (1 / all threads)", "DRAM copy (1 / all)", "read L1 / L2 / L3 / DRAM (all threads)",
                "OpenBLAS", "OpBench", "when",
            ],
            rows: docs.map { name, d in
                let m = d.machine
                let peak = m.ceilings.map { Format.number($0.peakGflops, 3) }.joined(separator: " / ") + " GFLOP/s"
                let bw = m.ceilings.map { Format.number($0.bandwidthGBps, 3) }.joined(separator: " / ") + " GB/s"
                let levels = (m.ceilings.last?.levels ?? []).map { Format.number($0.readGBps, 3) }.joined(separator: " / ")
                let read = levels.isEmpty ? "–" : levels + " GB/s"
                return [name, m.cpuModel, "\(m.cores)", peak, bw, read, "\(m.openblasCore)", d.opbenchCommit, d.timestamp]
            })
    }

    /// The fastest variant of each operator, shape and thread count (per kind of machine when
    /// the runs come from several) among those whose output passed its fp64 check: its
    /// median, the runner-up and the factor between them, and its factor over simd.
    static func winners(_ docs: [(String, ResultDocument)]) -> TextTable {
        let all = tagged(docs)
        let several = Set(docs.map(\.1.machine.slug)).count > 1
        var keys: [String] = []
        var groups: [String: [Tagged]] = [:]
        for t in all {
            let key = "\(t.c.op) \(t.c.shape) \(t.c.threads)" + (several ? " \(t.machine.slug)" : "")
            if groups[key] == nil { keys.append(key) }
            groups[key, default: []].append(t)
        }
        var table = TextTable(
            headers: ["op", "shape", "thr"] + (several ? ["machine"] : []) + ["winner", "median", "runner-up", "winner ×", "vs simd"],
            rightAligned: several ? [2, 5, 7, 8] : [2, 4, 6, 7])
        for key in keys {
            let cases = groups[key]!.sorted { $0.c.medianSeconds < $1.c.medianSeconds }
            let passing = cases.filter(\.c.accuracyPass)
            let first = cases[0]
            var row = [first.c.op, first.c.shape, "\(first.c.threads)"] + (several ? [first.machine.cpuModel] : [])
            guard let win = passing.first else {
                table.rows.append(row + ["none passes its fp64 check", "–", "–", "–", "–"])
                continue
            }
            func name(_ t: Tagged) -> String { t.c.variant + (docs.count > 1 && !several ? " (\(t.source))" : "") }
            let second = passing.dropFirst().first
            let simd = passing.first { $0.c.variant == "simd" }
            row += [
                name(win), Format.seconds(win.c.medianSeconds), second.map(name) ?? "–",
                second.map { Format.ratio($0.c.medianSeconds / win.c.medianSeconds) } ?? "–",
                simd.map { Format.ratio($0.c.medianSeconds / win.c.medianSeconds) } ?? "–",
            ]
            table.rows.append(row)
        }
        return table
    }

    /// The what-if rows of `models`: each base (same preset, threads and plan as a swap's, no
    /// swap of its own) and the swaps; nil when there are none.
    static func whatIfTable(_ models: [ModelResult]) -> TextTable? {
        func baseKey(_ m: ModelResult) -> String { "\(m.preset) \(m.threads) \(m.whatIf?.basePlan ?? m.plan)" }
        let bases = Set(models.compactMap { $0.whatIf == nil ? nil : baseKey($0) })
        guard !bases.isEmpty else { return nil }
        return ModelTables.whatIf(models.filter { $0.whatIf != nil || bases.contains(baseKey($0)) })
    }

    /// Markdown: machines, the winners, then one table per operator, then model passes.
    public static func markdown(_ docs: [(String, ResultDocument)]) -> String {
        var md = "# OpBench report\n\n" + machineTable(docs).markdown + "\n"
        if docs.contains(where: { !$0.1.cases.isEmpty }) {
            md += "## Winner per operator and shape\n\n" + winners(docs).markdown + "\n"
        }
        let all = tagged(docs)
        for op in operators(all) {
            let cases = all.filter { $0.c.op == op }
            md += "## \(op)\n\n"
            var t = CaseTables.bench(cases.map(\.c))
            if docs.count > 1 {
                t.headers.insert("run", at: 0)
                t.rows = zip(t.rows, cases).map { [$1.source] + $0 }
                t.rightAligned = Set(t.rightAligned.map { $0 + 1 })
            }
            md += t.markdown + "\n"
        }
        let models = docs.flatMap { name, d in d.models.map { (name, $0) } }
        if !models.isEmpty { md += "## Model passes\n\n" + ModelTables.table(models.map(\.1)).markdown + "\n" }
        if let t = whatIfTable(models.map(\.1)) { md += "## What if\n\n" + t.markdown + "\n" }
        return md
    }

    /// The HTML page: machines, charts, then the same tables as the Markdown.
    public static func html(_ docs: [(String, ResultDocument)]) -> String {
        let all = tagged(docs)
        let multi = docs.count > 1
        func series(_ t: Tagged) -> String { multi ? "\(t.c.variant) (\(t.source))" : t.c.variant }
        var charts: [String] = []
        for op in operators(all) {
            let cases = all.filter { $0.c.op == op }
            let memory = cases.filter { $0.c.bound == "memory" }.count * 2 > cases.count
            var groups: [(label: String, values: [(key: String, value: Double)])] = []
            for t in cases {
                let label = "\(t.c.shape) t=\(t.c.threads)" + (multi ? " [\(t.source)]" : "")
                let v = memory ? t.c.gbps : t.c.gflops
                if let i = groups.firstIndex(where: { $0.label == label }) {
                    groups[i].values.append((t.c.variant, v))
                } else {
                    groups.append((label, [(t.c.variant, v)]))
                }
            }
            charts.append(
                SVG.bars(title: "\(op): \(memory ? "GB/s" : "GFLOP/s") by variant", yTitle: memory ? "GB/s" : "GFLOP/s", groups: groups))
        }
        if !all.isEmpty {
            var roofs: [SVG.Roof] = []
            // One set of ceilings per kind of machine (the first run's calibration of it),
            // named by the machine when the runs come from several.
            var machines: [(name: String, machine: MachineInfo)] = []
            for (_, d) in docs where !machines.contains(where: { $0.machine.slug == d.machine.slug }) {
                machines.append((d.machine.cpuModel, d.machine))
            }
            let several = machines.count > 1
            for (name, m) in machines {
                for c in m.ceilings {
                    roofs.append(
                        SVG.Roof(
                            peak: c.peakGflops, bandwidth: c.bandwidthGBps,
                            label:
                                "\(several ? name + " " : "")\(c.threads) thread\(c.threads > 1 ? "s" : ""): "
                                + "\(Format.number(c.peakGflops)) GFLOP/s, DRAM copy \(Format.number(c.bandwidthGBps)) GB/s"
                        ))
                    // The cache-aware ceilings: every level's read bandwidth at the largest thread count.
                    guard c.threads == m.ceilings.map(\.threads).max() else { continue }
                    for l in c.levels ?? [] {
                        roofs.append(
                            SVG.Roof(
                                peak: c.peakGflops, bandwidth: l.readGBps,
                                label: "\(several ? name + " " : "")\(l.level) read \(Format.number(l.readGBps)) GB/s, t=\(c.threads)",
                                labelSlope: true))
                    }
                }
            }
            charts.append(
                SVG.scatter(
                    title: several
                        ? "Roofline: every case against its machine's ceilings" : "Roofline: every case against this machine's ceilings",
                    xTitle: "arithmetic intensity (FLOP/byte)",
                    yTitle: "GFLOP/s",
                    points: all.map {
                        SVG.Point(
                            x: $0.c.arithmeticIntensity, y: $0.c.gflops, series: series($0),
                            label:
                                "\($0.c.id) \($0.c.shape) t=\($0.c.threads): \(Format.number($0.c.gflops)) GFLOP/s, "
                                + "roofline \($0.c.rooflineText)"
                        )
                    },
                    xLog: true, yLog: true, roofs: roofs))
            let threadCounts = Set(all.map(\.c.threads))
            if threadCounts.count > 1 {
                let pts = all.map {
                    SVG.Point(
                        x: Double($0.c.threads), y: $0.c.gflops, series: "\($0.c.id) \($0.c.shape)" + (multi ? " [\($0.source)]" : ""),
                        label: "\($0.c.id) \($0.c.shape) t=\($0.c.threads): \(Format.number($0.c.gflops)) GFLOP/s")
                }
                let multiThread = Set(pts.map(\.series)).filter { s in Set(pts.filter { $0.series == s }.map(\.x)).count > 1 }
                charts.append(
                    SVG.scatter(
                        title: "Thread scaling", xTitle: "threads", yTitle: "GFLOP/s",
                        points: pts.filter { multiThread.contains($0.series) }, xLog: false, yLog: true, lines: true, xInteger: true))
            }
            charts.append(
                SVG.scatter(
                    title: "Speed vs accuracy (error relative to each case's derived tolerance)", xTitle: "GFLOP/s",
                    yTitle: "max error / tolerance",
                    points: all.map {
                        SVG.Point(
                            x: $0.c.gflops, y: max($0.c.errorToTolerance, 1e-6), series: series($0),
                            label:
                                "\($0.c.id) \($0.c.shape) t=\($0.c.threads): max abs err \(Format.error($0.c.maxAbsError)), err/tol "
                                + "\(Format.number($0.c.errorToTolerance))"
                        )
                    },
                    xLog: true, yLog: true))
        }
        let models = docs.flatMap { $0.1.models }
        // model --what-if: each swap's predicted and measured tokens/s, prefill and decode.
        for (phase, predicted, measured) in [
            ("prefill", \WhatIfRecord.predictedPrefillTokensPerSecond, \ModelResult.prefillTokensPerSecond),
            ("decode", \WhatIfRecord.predictedDecodeTokensPerSecond, \ModelResult.decodeTokensPerSecond),
        ] {
            let groups = models.compactMap { m -> (label: String, values: [(key: String, value: Double)])? in
                guard let w = m.whatIf, let p = w[keyPath: predicted], !m[keyPath: measured].isEmpty else { return nil }
                return ("\(m.preset) \(w.swap) t=\(m.threads)", [("predicted", p), ("measured", Statistics.median(m[keyPath: measured]))])
            }
            if !groups.isEmpty {
                charts.append(
                    SVG.bars(title: "What if: \(phase) tokens/s of each swap, predicted vs measured", yTitle: "tokens/s", groups: groups))
            }
        }
        if !models.isEmpty {
            // One chart per preset: a model's passes next to each other on their own axis, so a
            // small model's bars do not vanish beside a large one's.
            var presets: [String] = []
            for m in models where !presets.contains(m.preset) { presets.append(m.preset) }
            for preset in presets {
                charts.append(
                    SVG.stacked(
                        title: "\(preset): time per operator", xTitle: "seconds per pass (prefill + decode)",
                        rows: models.filter { $0.preset == preset }.map {
                            ($0.label, $0.opSeconds.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
                        }))
            }
            charts.append(
                SVG.scatter(
                    title: "Model pass: accuracy vs speed", xTitle: "tokens/s (decode; prefill for encoders)",
                    yTitle: "1 − cosine vs fp64",
                    points: models.compactMap { m in
                        // Passes run without the fp64 reference have no accuracy to plot.
                        guard let cosine = m.cosine else { return nil }
                        let speed = m.decodeTokensPerSecond.isEmpty ? m.prefillTokensPerSecond : m.decodeTokensPerSecond
                        return SVG.Point(
                            x: Statistics.median(speed), y: max(1 - cosine, 1e-12), series: m.preset,
                            label: "\(m.label): cosine \(cosine)")
                    }, xLog: true, yLog: true))
        }
        let md = markdown(docs)
        return """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8">
            <meta name="generator" content="opbench report (generated; do not edit)"><title>OpBench report</title>
            <style>
            body{font-family:sans-serif;margin:24px;color:#222;max-width:1400px}
            table{border-collapse:collapse;font-size:12px;margin:8px 0 24px}
            th,td{border:1px solid #ddd;padding:3px 6px;text-align:right}
            th{background:#f4f4f4}td:first-child,td:nth-child(2),th:first-child,th:nth-child(2){text-align:left}
            .charts{display:flex;flex-wrap:wrap;gap:16px}.charts svg{border:1px solid #eee;background:#fff}
            .fail{color:#c00;font-weight:bold}.wide{overflow-x:auto;max-width:100%}
            </style></head><body>
            <h1>OpBench report</h1>
            \(tableHTML(machineTable(docs)))
            \(all.isEmpty ? "" : "<h2>Winner per operator and shape</h2>" + tableHTML(winners(docs)))
            <h2>Charts</h2><div class="charts">\(charts.joined(separator: "\n"))</div>
            \(tablesHTML(all, multi: multi))
            \(models.isEmpty ? "" : "<h2>Model passes</h2>" + tableHTML(ModelTables.table(models)))
            \(whatIfTable(models).map { "<h2>What if</h2>" + tableHTML($0) } ?? "")
            <details><summary>Markdown</summary><pre>\(SVG.esc(md))</pre></details>
            </body></html>
            """
    }

    static func tablesHTML(_ all: [Tagged], multi: Bool) -> String {
        operators(all).map { op -> String in
            let cases = all.filter { $0.c.op == op }
            var t = CaseTables.bench(cases.map(\.c))
            if multi { t.headers.insert("run", at: 0); t.rows = zip(t.rows, cases).map { [$1.source] + $0 } }
            return "<h2>\(op)</h2>" + tableHTML(t)
        }.joined(separator: "\n")
    }

    /// A table, scrolled sideways inside its own box on a page narrower than it.
    static func tableHTML(_ t: TextTable) -> String {
        "<div class=\"wide\"><table><tr>" + t.headers.map { "<th>\(SVG.esc($0))</th>" }.joined() + "</tr>"
            + t.rows.map {
                "<tr>" + $0.map { $0 == "FAIL" ? "<td class=\"fail\">FAIL</td>" : "<td>\(SVG.esc($0))</td>" }.joined() + "</tr>"
            }.joined()
            + "</table></div>"
    }
}

/// The tables of model-pass results: speed and accuracy side by side, and time per operator.
public enum ModelTables {
    /// One row per plan: throughput (median and range over repetitions), the linear layers'
    /// GFLOP/s in prefill, the weight bandwidth in decode, and accuracy against fp64.
    public static func table(_ models: [ModelResult]) -> TextTable {
        TextTable(
            headers: [
                "preset", "plan", "pattern", "thr", "prefill tok/s", "decode tok/s", "prefill GFLOP/s", "decode GB/s",
                "max abs err", "cosine", "min tok cos", "pooled cos", "top-1 agree", "mean KL",
            ],
            rows: models.map { m in
                func spread(_ xs: [Double]) -> String {
                    xs.isEmpty ? "–" : "\(Format.number(Statistics.median(xs))) (\(Format.number(xs.min()))–\(Format.number(xs.max())))"
                }
                return [
                    m.preset, m.plan, m.pattern, "\(m.threads)", spread(m.prefillTokensPerSecond), spread(m.decodeTokensPerSecond),
                    Format.number(m.prefillLinearGflops), m.decodeTokensPerSecond.isEmpty ? "–" : Format.number(m.decodeWeightGBps),
                    m.maxAbsError.map(Format.error) ?? "–", Format.cosine(m.cosine), Format.cosine(m.minTokenCosine),
                    m.pooledCosine.map { String(format: "%.7f", $0) } ?? "–", m.top1Agreement.map { Format.percent($0) } ?? "–",
                    m.meanKL.map { Format.error($0) } ?? "–",
                ]
            }, rightAligned: Set(3...13))
    }

    /// `model --what-if`: per swap, the predicted and the measured tokens/s (median) with the
    /// prediction's error, and the swap's accuracy beside the base's (the first row).
    public static func whatIf(_ models: [ModelResult]) -> TextTable {
        func rate(_ xs: [Double]) -> Double? { xs.isEmpty ? nil : Statistics.median(xs) }
        func error(_ predicted: Double?, _ measured: Double?) -> String {
            guard let p = predicted, let m = measured, m > 0 else { return "–" }
            return String(format: "%+.0f%%", (p / m - 1) * 100)
        }
        var t = TextTable(
            headers: [
                "swap", "prefill predicted", "prefill measured", "error", "decode predicted", "decode measured", "error", "cosine",
                "min tok cos", "top-1 agree", "mean KL",
            ], rightAligned: Set(1...10))
        for m in models {
            let w = m.whatIf
            let prefill = rate(m.prefillTokensPerSecond), decode = rate(m.decodeTokensPerSecond)
            t.rows.append([
                w?.swap ?? "base: \(m.plan)", Format.number(w?.predictedPrefillTokensPerSecond), Format.number(prefill),
                error(w?.predictedPrefillTokensPerSecond, prefill), Format.number(w?.predictedDecodeTokensPerSecond), Format.number(decode),
                error(w?.predictedDecodeTokensPerSecond, decode), Format.cosine(m.cosine), Format.cosine(m.minTokenCosine),
                m.top1Agreement.map { Format.percent($0) } ?? "–", m.meanKL.map { Format.error($0) } ?? "–",
            ])
        }
        return t
    }

    /// Seconds per pass (prefill + decode) and share of the total, per operator and plan.
    public static func breakdown(_ models: [ModelResult]) -> TextTable {
        let ops = Set(models.flatMap { $0.opSeconds.keys }).sorted { a, b in
            let ta = models.map { $0.opSeconds[a] ?? 0 }.reduce(0, +), tb = models.map { $0.opSeconds[b] ?? 0 }.reduce(0, +)
            return ta != tb ? ta > tb : a < b
        }
        return TextTable(
            headers: ["plan", "total s"] + ops,
            rows: models.map { m in
                let total = m.opSeconds.values.reduce(0, +)
                return [m.plan, Format.number(total)]
                    + ops.map { op in
                        m.opSeconds[op].map { "\(Format.number($0)) (\(Format.percent($0 / max(total, 1e-30))))" } ?? "–"
                    }
            }, rightAligned: Set(1...(ops.count + 1)))
    }
}
