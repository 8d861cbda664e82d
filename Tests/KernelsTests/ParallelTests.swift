import Dispatch
#if canImport(Glibc)
    import Glibc
#endif
import Kernels
import Synchronization
import Testing

@Suite struct ParallelTests {
    /// Every index is visited exactly once, for many back-to-back calls (the worker pool's
    /// hand-off), thread counts 2…4, calls nested inside a range (which fall back to the
    /// dispatch queue) and several threads submitting at once (one gets the pool, the others
    /// fall back). A lost wake-up would hang here, so the suite has a time limit.
    @Test(.timeLimit(.minutes(1)))
    func everyIndexExactlyOnce() {
        final class Counts: Sendable {
            let hits: Mutex<[Int]>
            init(_ n: Int) { hits = Mutex([Int](repeating: 0, count: n)) }
            func hit(_ r: Range<Int>) { hits.withLock { for i in r { $0[i] += 1 } } }
            var allOnce: Bool { hits.withLock { $0.allSatisfy { $0 == 1 } } }
        }
        for round in 0..<3000 {
            let n = 1 + round % 97, threads = 2 + round % 3
            let c = Counts(n)
            Parallel.forEach(n, threads: threads, granule: 1 + round % 5) { c.hit($0) }
            #expect(c.allOnce, "round \(round): n=\(n) threads=\(threads)")
            if !c.allOnce { break }
        }
        // Nested calls and concurrent submitters.
        let nestedOK = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: 8) { k in
            for _ in 0..<200 {
                let c = Counts(64)
                Parallel.forEach(8, threads: 2) { outer in
                    for o in outer {
                        Parallel.forEach(8, threads: 2) { inner in c.hit((o * 8 + inner.lowerBound)..<(o * 8 + inner.upperBound)) }
                    }
                }
                if c.allOnce { nestedOK.add(1, ordering: .relaxed) }
            }
            _ = k
        }
        #expect(nestedOK.load(ordering: .relaxed) == 8 * 200)
        // After the workers have gone to sleep, a new call still wakes them.
        usleep(50_000)
        let c = Counts(10)
        Parallel.forEach(10, threads: 2) { c.hit($0) }
        #expect(c.allOnce)
    }

    /// `forEachChunk`: every index exactly once, every range but the last of the whole
    /// count a multiple of the granule and at most one chunk long.
    @Test(.timeLimit(.minutes(1)))
    func chunksCoverEveryIndexOnce() {
        final class Seen: Sendable {
            let state: Mutex<(hits: [Int], badRange: Bool)>
            init(_ n: Int) { state = Mutex(([Int](repeating: 0, count: n), false)) }
            func hit(_ r: Range<Int>, step: Int, granule: Int, n: Int) {
                state.withLock {
                    for i in r { $0.hits[i] += 1 }
                    if r.count > step || (r.upperBound < n && r.count % granule != 0) || r.lowerBound % granule != 0 { $0.badRange = true }
                }
            }
            var ok: Bool { state.withLock { $0.hits.allSatisfy { $0 == 1 } && !$0.badRange } }
        }
        for round in 0..<2000 {
            let n = 1 + round % 211, threads = 1 + round % 3, granule = 1 + round % 8, chunk = 1 + round % 37
            let step = Parallel.chunkStep(n, threads: threads, chunk: chunk, granule: granule)
            #expect(step <= Swift.max(granule, chunk / granule * granule) && step % granule == 0 && step > 0)
            let seen = Seen(n)
            Parallel.forEachChunk(n, threads: threads, chunk: chunk, granule: granule) { seen.hit($0, step: step, granule: granule, n: n) }
            #expect(seen.ok, "round \(round): n=\(n) threads=\(threads) granule=\(granule) chunk=\(chunk)")
            if !seen.ok { break }
        }
    }

    /// On several threads the chunk shrinks (down to half) where that evens out the threads'
    /// shares: never a busier thread than with full chunks, and `busiestShare` is what dealing
    /// the ranges out in turn gives.
    @Test func chunksBalanceOverThreads() {
        #expect(Parallel.chunkStep(384, threads: 2, chunk: 256, granule: 32) == 192)
        #expect(Parallel.chunkStep(640, threads: 2, chunk: 256, granule: 32) == 160)
        #expect(Parallel.chunkStep(1536, threads: 2, chunk: 256, granule: 32) == 256)
        #expect(Parallel.chunkStep(384, threads: 1, chunk: 256, granule: 32) == 256)
        #expect(Parallel.chunkStep(200, threads: 2, chunk: 256, granule: 32) == 256)  // one chunk: no split
        func dealt(_ n: Int, _ threads: Int, _ step: Int) -> Int {
            let pieces = (n + step - 1) / step
            return (0..<threads).map { t in stride(from: t, to: pieces, by: threads).map { Swift.min(step, n - $0 * step) }.reduce(0, +) }
                .max()!
        }
        for n in stride(from: 1, through: 20_000, by: 61) {
            for threads in 2...4 {
                for s in [16, 32, 160, 256] {
                    #expect(Parallel.busiestShare(n, threads: threads, step: s) == dealt(n, threads, s), "n=\(n) t=\(threads) s=\(s)")
                }
                let step = Parallel.chunkStep(n, threads: threads, chunk: 256, granule: 32)
                #expect(step % 32 == 0 && step >= 128 && step <= 256 && dealt(n, threads, step) <= dealt(n, threads, 256))
            }
        }
    }
}
