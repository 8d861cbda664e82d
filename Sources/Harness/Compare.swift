import Foundation

/// One case of two runs, compared.
public struct CaseComparison: Sendable {
    public enum Verdict: String, Sendable { case faster, slower, noChange = "no change", onlyInA = "only in A", onlyInB = "only in B" }

    public var key: String
    public var a: CaseResult?
    public var b: CaseResult?
    /// median(B)/median(A) of the compared figures (time, or time normalized by the peer): > 1 is slower.
    public var ratio: Double
    public var ciLow: Double
    public var ciHigh: Double
    /// Two-sided Mann–Whitney U p-value of the two samples.
    public var p: Double
    public var verdict: Verdict
    /// Whether normalized figures (time / peer time) were compared.
    public var normalized: Bool
    /// B's accuracy failed its tolerance.
    public var accuracyFailed: Bool
    /// Gate only: the slowdown this case must exceed to count (`Compare.GateNoise.band`).
    public var band: Double? = nil
    /// Gate only: the smallest slowdown the gate catches reliably for this case, from its
    /// measured noise (`Compare.GateNoise.minDetectable`).
    public var minDetectable: Double? = nil
    /// Gate only: the noise n behind `band` and `minDetectable` (`Compare.GateNoise`).
    public var noise: Double? = nil
    /// Gate only: the variant this case was normalized by.
    public var gatePeer: String? = nil
}

/// Turns two result documents into per-case verdicts, and the gate's policy on top.
public enum Compare {
    /// A change counts when it exceeds `threshold` (e.g. 0.05) in the ratio of medians, the
    /// 95% bootstrap CI of that ratio lies beyond 1 on the same side, and the U test gives
    /// p < `alpha`. `normalized` compares each case's samples divided by its peer's samples
    /// of the same round (see `Bench.run`) instead of raw times.
    public static func cases(
        _ a: ResultDocument, _ b: ResultDocument, threshold: Double, alpha: Double,
        normalized: Bool
    ) -> [CaseComparison] {
        var out: [CaseComparison] = []
        let bByKey = Dictionary(b.cases.map { ($0.key, $0) }, uniquingKeysWith: { x, _ in x })
        let aKeys = Set(a.cases.map(\.key))
        for ca in a.cases {
            guard let cb = bByKey[ca.key] else {
                out.append(
                    CaseComparison(
                        key: ca.key, a: ca, b: nil, ratio: .nan, ciLow: .nan, ciHigh: .nan, p: .nan,
                        verdict: .onlyInA, normalized: false, accuracyFailed: false))
                continue
            }
            let useNorm =
                normalized && ca.normalizedSamples != nil && cb.normalizedSamples != nil && !(ca.normalizedSamples!.isEmpty)
                && !(cb.normalizedSamples!.isEmpty)
            let sa = useNorm ? ca.normalizedSamples! : ca.samplesSeconds
            let sb = useNorm ? cb.normalizedSamples! : cb.samplesSeconds
            let ratio = Statistics.median(sb) / Statistics.median(sa)
            let ci = Statistics.bootstrapRatioCI(sa, sb)
            let p = Statistics.mannWhitneyU(sa, sb).p
            var verdict = CaseComparison.Verdict.noChange
            if p < alpha {
                if ratio > 1 + threshold && ci.low > 1 { verdict = .slower }
                if ratio < 1 / (1 + threshold) && ci.high < 1 { verdict = .faster }
            }
            out.append(
                CaseComparison(
                    key: ca.key, a: ca, b: cb, ratio: ratio, ciLow: ci.low, ciHigh: ci.high, p: p,
                    verdict: verdict, normalized: useNorm, accuracyFailed: !cb.accuracyPass))
        }
        for cb in b.cases where !aKeys.contains(cb.key) {
            out.append(
                CaseComparison(
                    key: cb.key, a: nil, b: cb, ratio: .nan, ciLow: .nan, ciHigh: .nan, p: .nan,
                    verdict: .onlyInB, normalized: false, accuracyFailed: !cb.accuracyPass))
        }
        return out
    }

    /// How a case's measured noise sets the gate's decision for it. `noise` is the largest
    /// deviation of one baseline round's figure from the baseline figure (at least
    /// `noiseFloor`). A candidate run's figure is one round, so its error is of that size too:
    /// - a clean run exceeds 3 × noise almost never, so the band never goes below it;
    /// - a true slowdown of `threshold` lands above `threshold − 2 × noise` almost always,
    ///   so the band sits there when that is above 3 × noise.
    /// Together: band = max(3 n, T − 2 n), and the smallest slowdown caught reliably is
    /// max(T, 5 n): a case resolves the threshold only when its noise is at most T / 5.
    public struct GateNoise: Equatable, Sendable {
        public static let noiseFloor = 0.005
        public var noise: Double
        public var threshold: Double
        public init(noise: Double, threshold: Double) { self.noise = max(noise, Self.noiseFloor); self.threshold = threshold }
        public var band: Double { max(3 * noise, threshold - 2 * noise) }
        public var minDetectable: Double { max(threshold, 5 * noise) }
        public var resolvesThreshold: Bool { minDetectable <= threshold + 1e-12 }
    }

    /// The gate's comparison. Each case is normalized by a *gate peer*: the other variant of
    /// the same op, shape and threads by which the case's baseline round figures vary least
    /// (measured, so the peer shares the case's bottleneck and its drift); the same peer is
    /// used for the candidate. Figure per
    /// run: the median over rounds of (fastest sample of the case ÷ fastest sample of the
    /// peer in that round). A case is slower when the figure grew by more than its band
    /// (`GateNoise`) AND the U test on the per-sample normalized times gives p < `alpha`.
    public static func gateCases(_ base: ResultDocument, _ cand: ResultDocument, threshold: Double, alpha: Double) -> [CaseComparison] {
        var rows = cases(base, cand, threshold: threshold, alpha: alpha, normalized: false)
        func find(_ doc: ResultDocument, _ id: String, like c: CaseResult) -> CaseResult? {
            doc.cases.first { $0.id == id && $0.shape == c.shape && $0.threads == c.threads }
        }
        /// The baseline noise of `a`'s figure normalized by `peer` (nil: raw).
        func noise(_ a: CaseResult, by peer: CaseResult?) -> Double {
            guard let ra = a.roundMinSeconds, !ra.isEmpty else { return .infinity }
            var f = ra
            if let peer {
                guard let pa = peer.roundMinSeconds, pa.count == ra.count else { return .infinity }
                f = zip(ra, pa).map { $0 / $1 }
            }
            let g = Statistics.median(f)
            return f.map { abs($0 / g - 1) }.max() ?? .infinity
        }
        /// The ways to normalize `a`: its peers in the baseline, least noisy first, then raw
        /// times. A peer comes first even when raw times varied less within the baseline's
        /// rounds: those were measured minutes apart, a candidate may run days later, and only
        /// a peer cancels the machine's drift in between.
        func yardsticks(_ a: CaseResult) -> [CaseResult?] {
            let peers = base.cases.filter {
                $0.op == a.op && $0.shape == a.shape && $0.threads == a.threads && $0.id != a.id && find(cand, $0.id, like: a) != nil
            }
            // Ties (a one-round baseline has no noise to compare) go to the closest speed.
            func distance(_ p: CaseResult) -> Double { abs(log(p.medianSeconds / a.medianSeconds)) }
            return peers.map { ($0, noise(a, by: $0)) }.sorted { ($0.1, distance($0.0)) < ($1.1, distance($1.0)) }.map(\.0) + [nil]
        }
        /// Judges candidate `b` against baseline `a`, normalized by `peer` when it has round minima.
        func judge(_ i: Int, _ a: CaseResult, _ b: CaseResult, _ ra: [Double], _ rb: [Double], peer: CaseResult?) {
            var fa = ra, fb = rb, na = a.samplesSeconds, nb = b.samplesSeconds
            rows[i].normalized = false
            if let peer, let pa = peer.roundMinSeconds, let pc = find(cand, peer.id, like: a), let pb = pc.roundMinSeconds,
                pa.count == ra.count, pb.count == rb.count
            {
                fa = zip(ra, pa).map { $0 / $1 }
                fb = zip(rb, pb).map { $0 / $1 }
                na = zip(a.samplesSeconds, peer.samplesSeconds).map { $0 / $1 }
                nb = zip(b.samplesSeconds, pc.samplesSeconds).map { $0 / $1 }
                rows[i].normalized = true
            }
            let ga = Statistics.median(fa), gb = Statistics.median(fb)
            let gate = GateNoise(noise: fa.map { abs($0 / ga - 1) }.max() ?? 0, threshold: threshold)
            let band = gate.band
            let ratio = gb / ga
            let p = Statistics.mannWhitneyU(na, nb).p
            var verdict = CaseComparison.Verdict.noChange
            if p < alpha && ratio > 1 + band { verdict = .slower }
            if p < alpha && ratio < 1 / (1 + band) { verdict = .faster }
            rows[i].ratio = ratio
            (rows[i].ciLow, rows[i].ciHigh) = (.nan, .nan)  // the gate's figure has no bootstrap CI
            rows[i].p = p
            rows[i].verdict = verdict
            rows[i].band = band
            rows[i].minDetectable = gate.minDetectable
            rows[i].noise = gate.noise
            rows[i].gatePeer = rows[i].normalized ? peer?.id : nil
        }
        func inputs(_ i: Int) -> (CaseResult, CaseResult, [Double], [Double])? {
            guard let a = rows[i].a, let b = rows[i].b, let ra = a.roundMinSeconds, let rb = b.roundMinSeconds, !ra.isEmpty, !rb.isEmpty
            else { return nil }
            return (a, b, ra, rb)
        }
        // Pass 1: each case against its least noisy yardstick.
        for i in rows.indices {
            guard let (a, b, ra, rb) = inputs(i) else { continue }
            judge(i, a, b, ra, rb, peer: yardsticks(a).first ?? nil)
        }
        // Pass 2: a case and its peer that moved apart (one slower, the other faster against
        // it) cannot tell which of them moved (a faster int4.simd makes an unchanged int4.blas
        // look slower against it). Each is judged again against the least noisy other peer
        // that did not move when judged without the case, or on its raw round minima when
        // none is left.
        let first = rows
        func index(of id: String, like c: CaseResult) -> Int? {
            rows.indices.first { i in
                (rows[i].a ?? rows[i].b).map { $0.id == id && $0.shape == c.shape && $0.threads == c.threads } ?? false
            }
        }
        /// `y`'s verdict against its least noisy yardstick other than the case `x`.
        func verdict(of y: CaseResult, without x: String) -> CaseComparison.Verdict? {
            guard let j = index(of: y.id, like: y), let (ya, yb, yra, yrb) = inputs(j) else { return nil }
            let saved = rows[j]
            defer { rows[j] = saved }
            judge(j, ya, yb, yra, yrb, peer: yardsticks(ya).first { $0?.id != x } ?? nil)
            return rows[j].verdict
        }
        for i in rows.indices {
            guard let (a, b, ra, rb) = inputs(i), let peerID = first[i].gatePeer, let p = index(of: peerID, like: a) else { continue }
            let mine = first[i].verdict, theirs = first[p].verdict
            guard mine == .slower || mine == .faster, theirs == .slower || theirs == .faster, theirs != mine else { continue }
            var stable: CaseResult? = nil
            for y in yardsticks(a) {
                guard let y else { break }
                if y.id != peerID && verdict(of: y, without: a.id) == .noChange {
                    stable = y
                    break
                }
            }
            judge(i, a, b, ra, rb, peer: stable)
        }
        return rows
    }

    /// Combines the gate's comparisons of several candidate runs: a case is slower (or
    /// faster) only when every run says so — a regression in the code shows up in every
    /// process, while an unlucky process (memory placement, a noisy neighbour) rarely repeats.
    /// The row shown is the run with the smallest ratio (for slower, the weakest evidence).
    /// With `threshold`, a machine noisier now than when the baseline was recorded widens
    /// the band: n becomes the larger of the baseline's noise and the range of the runs'
    /// ratios over their median, and each run's verdict is judged against that band.
    public static func gateAcrossRuns(_ runs: [[CaseComparison]], threshold: Double? = nil) -> [CaseComparison] {
        guard var rows = runs.first else { return [] }
        for i in rows.indices {
            var all = runs.map { $0[i] }
            let ratios = all.map(\.ratio).filter(\.isFinite)
            if let threshold, ratios.count > 1, let baseNoise = all.compactMap(\.noise).max() {
                let range = (ratios.max()! - ratios.min()!) / Statistics.median(ratios)
                let gate = GateNoise(noise: max(baseNoise, range), threshold: threshold)
                for k in all.indices {
                    (all[k].noise, all[k].band, all[k].minDetectable) = (gate.noise, gate.band, gate.minDetectable)
                    if all[k].verdict == .slower && !(all[k].ratio > 1 + gate.band) { all[k].verdict = .noChange }
                    if all[k].verdict == .faster && !(all[k].ratio < 1 / (1 + gate.band)) { all[k].verdict = .noChange }
                }
            }
            let slower = all.allSatisfy { $0.verdict == .slower }, faster = all.allSatisfy { $0.verdict == .faster }
            var pick = all.min { ($0.ratio.isNaN ? .infinity : $0.ratio) < ($1.ratio.isNaN ? .infinity : $1.ratio) } ?? rows[i]
            if faster { pick = all.max { $0.ratio < $1.ratio } ?? pick }
            if !slower && !faster && (pick.verdict == .slower || pick.verdict == .faster) { pick.verdict = .noChange }
            if !slower && pick.verdict == .slower { pick.verdict = .noChange }
            pick.accuracyFailed = all.contains { $0.accuracyFailed }
            if all.contains(where: { $0.verdict == .onlyInA }) { pick.verdict = .onlyInA }
            rows[i] = pick
        }
        return rows
    }

    /// Keeps the accuracy check but drops the speed verdict of the cases `matching` (the gate
    /// does this for naive variants: they are the readable reference, not a speed claim, and
    /// their plain loops swing the most between runs).
    public static func speedUngated(_ rows: [CaseComparison], _ matching: (CaseResult) -> Bool) -> [CaseComparison] {
        rows.map { r in
            var r = r
            if let c = r.b ?? r.a, matching(c) {
                if r.verdict == .slower || r.verdict == .faster { r.verdict = .noChange }
                r.band = nil
                r.minDetectable = nil
            }
            return r
        }
    }

    /// The comparison as a table.
    public static func table(_ rows: [CaseComparison]) -> TextTable {
        TextTable(
            headers: [
                "case", "shape", "threads", "A median", "B median", "B/A", "95% CI", "p (U test)", "verdict", "max abs err A → B",
                "accuracy B",
            ],
            rows: rows.map { r in
                let c = r.b ?? r.a!
                return [
                    c.id, c.shape, "\(c.threads)", r.a.map { Format.seconds($0.medianSeconds) } ?? "–",
                    r.b.map { Format.seconds($0.medianSeconds) } ?? "–", Format.number(r.ratio, 3) + (r.normalized ? " (norm.)" : ""),
                    r.ciLow.isFinite ? "\(Format.number(r.ciLow, 3))–\(Format.number(r.ciHigh, 3))" : "–",
                    r.p.isFinite ? String(format: "%.3g", r.p) : "–", r.verdict.rawValue,
                    "\(r.a.map { Format.error($0.maxAbsError) } ?? "–") → \(r.b.map { Format.error($0.maxAbsError) } ?? "–")",
                    r.b.map { $0.accuracyPass ? "ok" : "FAIL" } ?? "–",
                ]
            },
            rightAligned: [2, 3, 4, 5, 6, 7])
    }

    /// The gate's decision: regressions (slower, significant, beyond the threshold, on
    /// normalized figures) and accuracy failures; a Markdown summary for a pull request.
    public static func gate(_ rows: [CaseComparison], threshold: Double, alpha: Double) -> (pass: Bool, markdown: String) {
        let slower = rows.filter { $0.verdict == .slower }
        let inaccurate = rows.filter(\.accuracyFailed)
        let missing = rows.filter { $0.verdict == .onlyInA }
        let pass = slower.isEmpty && inaccurate.isEmpty && missing.isEmpty
        var md = "## OpBench gate: \(pass ? "PASS ✅" : "FAIL ❌")\n\n"
        func pct(_ x: Double?) -> String { x.map { String(format: "%.1f%%", $0 * 100) } ?? "–" }
        let t = Format.percent(threshold)
        md +=
            "\(rows.count) cases; a regression is a peer-normalized ratio of round minima above 1 + band with U-test p < \(alpha), "
            + "in every candidate run (naive variants: accuracy only, unless --gate-naive). Band = max(3n, \(t) − 2n) and the "
            + "smallest slowdown caught reliably = max(\(t), 5n), n = the case's round-to-round deviation in the baseline, "
            + "or the spread between the candidate runs when larger (at least 0.5%). "
        md +=
            "\(slower.count) slower, \(rows.filter { $0.verdict == .faster }.count) faster, \(inaccurate.count) accuracy failures, "
            + "\(missing.count) missing.\n\n"
        if !slower.isEmpty || !inaccurate.isEmpty || !missing.isEmpty {
            md += "### Findings\n\n"
            for r in slower {
                md +=
                    "- **slower** `\(r.key)`: ×\(Format.number(r.ratio, 3)) (band \(Format.percent(r.band ?? threshold)), p = "
                    + "\(String(format: "%.2g", r.p)))\n"
            }
            for r in inaccurate { md += "- **accuracy** `\(r.key)`: error/tolerance \(Format.number(r.b?.errorToTolerance, 3)) > 1\n" }
            for r in missing { md += "- **missing** `\(r.key)`: in the baseline but not measured\n" }
            md += "\n"
        }
        let gated = rows.filter { $0.minDetectable != nil }
        let blunt = gated.filter { ($0.minDetectable ?? 0) > threshold + 1e-12 }
        md += "\(gated.count - blunt.count) of \(gated.count) speed-gated cases resolve a \(t) slowdown.\n\n"
        if !blunt.isEmpty {
            md += "### Cases too noisy to resolve \(t)\n\n"
            for r in blunt {
                md += "- `\(r.key)`: catches slowdowns from \(pct(r.minDetectable)) (band \(pct(r.band)), peer \(r.gatePeer ?? "none"))\n"
            }
            md += "\n"
        }
        var table = table(rows)
        table.headers.insert(contentsOf: ["band", "min detectable", "gate peer"], at: 6)
        table.rows = zip(table.rows, rows).map {
            var r = $0; r.insert(contentsOf: [pct($1.band), pct($1.minDetectable), $1.gatePeer ?? "–"], at: 6); return r
        }
        md += "<details><summary>All cases</summary>\n\n" + table.markdown + "\n</details>\n"
        return (pass, md)
    }
}
