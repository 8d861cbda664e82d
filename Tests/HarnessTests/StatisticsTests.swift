import Harness
import TestSupport
import Testing

@Suite struct StatisticsTests {
    @Test func quantilesMatchNumpy() {
        // numpy.percentile([3,1,4,1,5,9,2,6], [10, 50, 90]) = [1.0, 3.5, 6.9]
        let xs: [Double] = [3, 1, 4, 1, 5, 9, 2, 6]
        #expect(abs(Statistics.quantile(xs, 0.1) - 1.0) < 1e-12)
        #expect(abs(Statistics.median(xs) - 3.5) < 1e-12)
        #expect(abs(Statistics.quantile(xs, 0.9) - 6.9) < 1e-12)
        #expect(Statistics.median([7]) == 7)
        #expect(Statistics.quantile([], 0.5).isNaN)
        // MAD of [1,1,2,2,4,6,9]: median 2, |x−2| = [1,1,0,0,2,4,7] → median 1.
        #expect(Statistics.mad([1, 1, 2, 2, 4, 6, 9]) == 1)
    }

    @Test func mannWhitneyMatchesScipy() {
        // Expected values from scipy.stats.mannwhitneyu(a, b, method="asymptotic") (two-sided,
        // continuity correction), scipy 1.17.1.
        let cases: [([Double], [Double], Double, Double)] = [
            ([1, 2, 3, 4, 5, 6, 7, 8], [3.5, 4.5, 6.5, 7.5, 8.5, 9.5, 10.5, 11.5], 12, 0.040568855795782656),
            ([1, 2, 2, 3, 3, 3, 4], [3, 3, 4, 4, 5, 5, 6, 6], 6, 0.01076044857859622),  // ties
            ([10.1, 10.3, 9.9, 10.0, 10.2], [10.05, 10.15, 9.95, 10.25, 10.0], 13.5, 0.9165626446795413),
        ]
        for (a, b, u, p) in cases {
            let r = Statistics.mannWhitneyU(a, b)
            #expect(r.u == u)
            #expect(abs(r.p - p) < 1e-12, "p \(r.p) vs scipy \(p)")
        }
        #expect(Statistics.mannWhitneyU([1, 1, 1], [1, 1, 1]).p == 1)
    }

    @Test func bootstrapIntervalCoversTheRatioAndIsReproducible() {
        var rng = SplitMixForTests(seed: 3)
        let a = (0..<30).map { _ in 1.0 + 0.02 * rng.next() }
        let b = (0..<30).map { _ in 1.2 + 0.02 * rng.next() }
        let ci = Statistics.bootstrapRatioCI(a, b)
        let ratio = Statistics.median(b) / Statistics.median(a)
        #expect(ci.low < ratio && ratio < ci.high)
        #expect(ci.low > 1.15 && ci.high < 1.25)
        #expect(Statistics.bootstrapRatioCI(a, b) == ci)
    }
}
