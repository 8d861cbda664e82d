import Dispatch

/// Splits work over threads: the one place kernels go parallel.
public enum Parallel {
    /// Splits `0 ..< count` into `parts` contiguous ranges whose sizes differ by at most
    /// one, each a multiple of `granule` except the last; empty ranges are dropped.
    public static func split(_ count: Int, parts: Int, granule: Int = 1) -> [Range<Int>] {
        guard count > 0 else { return [] }
        let units = (count + granule - 1) / granule
        let p = max(1, min(parts, units))
        var out: [Range<Int>] = []
        out.reserveCapacity(p)
        var start = 0
        for i in 0..<p {
            let u = units / p + (i < units % p ? 1 : 0)
            let end = min(count, start + u * granule)
            if end > start { out.append(start..<end) }
            start = end
        }
        return out
    }

    /// Runs `body` once per range of `split(count, parts: threads, granule:)`, the ranges
    /// concurrently when there is more than one; returns when all have finished.
    public static func forEach(_ count: Int, threads: Int, granule: Int = 1,
                               _ body: @Sendable (Range<Int>) -> Void) {
        let ranges = split(count, parts: threads, granule: granule)
        if ranges.count <= 1 {
            if let r = ranges.first { body(r) }
            return
        }
        DispatchQueue.concurrentPerform(iterations: ranges.count) { i in body(ranges[i]) }
    }
}
