import Foundation
import Kernels

/// Order statistics, dispersion, a bootstrap confidence interval for a ratio of medians
/// and the Mann–Whitney U test: the statistics the benchmark and the gate rest on.
public enum Statistics {
    /// The q-quantile (0 ≤ q ≤ 1) by linear interpolation between order statistics
    /// (Hyndman–Fan type 7, numpy's default). NaN for an empty sample.
    public static func quantile(_ xs: [Double], _ q: Double) -> Double {
        guard !xs.isEmpty else { return .nan }
        let s = xs.sorted()
        let h = Double(s.count - 1) * q
        let lo = Int(h.rounded(.down)), hi = min(lo + 1, s.count - 1)
        return s[lo] + (h - Double(lo)) * (s[hi] - s[lo])
    }

    public static func median(_ xs: [Double]) -> Double { quantile(xs, 0.5) }

    /// Median absolute deviation from the median (unscaled).
    public static func mad(_ xs: [Double]) -> Double {
        let m = median(xs)
        return median(xs.map { abs($0 - m) })
    }

    public static func mean(_ xs: [Double]) -> Double { xs.isEmpty ? .nan : xs.reduce(0, +) / Double(xs.count) }

    /// Sample standard deviation (n − 1 in the denominator; 0 for fewer than two values).
    public static func stddev(_ xs: [Double]) -> Double {
        guard xs.count > 1 else { return 0 }
        let m = mean(xs)
        return (xs.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(xs.count - 1)).squareRoot()
    }

    /// Two-sided Mann–Whitney U test of `a` vs `b`, normal approximation with tie correction
    /// and continuity correction (as scipy.stats.mannwhitneyu(method="asymptotic")).
    /// Returns U of `a` (U₁ = R₁ − n₁(n₁+1)/2) and the p-value.
    public static func mannWhitneyU(_ a: [Double], _ b: [Double]) -> (u: Double, p: Double) {
        let n1 = Double(a.count), n2 = Double(b.count)
        guard n1 > 0, n2 > 0 else { return (.nan, 1) }
        let all = (a.map { ($0, 0) } + b.map { ($0, 1) }).sorted { $0.0 < $1.0 }
        var ranks = [Double](repeating: 0, count: all.count)
        var tieTerm = 0.0
        var i = 0
        while i < all.count {
            var j = i
            while j + 1 < all.count && all[j + 1].0 == all[i].0 { j += 1 }
            let r = Double(i + j) / 2 + 1
            for t in i...j { ranks[t] = r }
            let size = Double(j - i + 1)
            tieTerm += size * size * size - size
            i = j + 1
        }
        var r1 = 0.0
        for (t, e) in all.enumerated() where e.1 == 0 { r1 += ranks[t] }
        let u1 = r1 - n1 * (n1 + 1) / 2
        let u2 = n1 * n2 - u1
        let n = n1 + n2
        let mu = n1 * n2 / 2
        let sigma = (n1 * n2 / 12 * ((n + 1) - tieTerm / (n * (n - 1)))).squareRoot()
        guard sigma > 0 else { return (u1, 1) }
        let z = (max(u1, u2) - mu - 0.5) / sigma
        let p = min(1, erfc(z / 2.squareRoot()))  // 2·(1 − Φ(z))
        return (u1, p)
    }

    /// Largest sample the bootstrap resamples as it is.
    public static let bootstrapLimit = 2000

    /// `xs` itself when it has at most `limit` values, else `limit` evenly spaced order
    /// statistics of it (the smallest and the largest included).
    public static func orderStatistics(_ xs: [Double], _ limit: Int) -> [Double] {
        guard xs.count > limit else { return xs }
        let s = xs.sorted()
        return (0..<limit).map { s[$0 * (s.count - 1) / (limit - 1)] }
    }

    /// Percentile-bootstrap confidence interval for median(b)/median(a): `resamples`
    /// resamples of each sample with replacement, seeded so the same data give the same CI.
    public static func bootstrapRatioCI(
        _ a: [Double], _ b: [Double], confidence: Double = 0.95,
        resamples: Int = 2000, seed: UInt64 = 0x5EED
    ) -> (low: Double, high: Double) {
        guard !a.isEmpty, !b.isEmpty else { return (.nan, .nan) }
        // Bounded work: a sample beyond `bootstrapLimit` values is represented by that many
        // evenly spaced order statistics (its distribution, not its size, is what the
        // resamples need), so 2000 resamples cost the same for 200,000 samples as for 2000.
        let a = Self.orderStatistics(a, bootstrapLimit), b = Self.orderStatistics(b, bootstrapLimit)
        var rng = SplitMix64(seed: seed)
        var ratios = [Double]()
        ratios.reserveCapacity(resamples)
        var ra = a, rb = b
        for _ in 0..<resamples {
            for i in 0..<a.count { ra[i] = a[Int(rng.next() % UInt64(a.count))] }
            for i in 0..<b.count { rb[i] = b[Int(rng.next() % UInt64(b.count))] }
            ratios.append(median(rb) / median(ra))
        }
        let alpha = (1 - confidence) / 2
        return (quantile(ratios, alpha), quantile(ratios, 1 - alpha))
    }
}
