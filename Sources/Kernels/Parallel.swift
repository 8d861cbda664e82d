#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
import Dispatch
import Synchronization

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
    ///
    /// Ranges go to the persistent `WorkerPool` (the caller runs the first one): a model's
    /// decode step is dozens of short kernel calls, and handing each to a dispatch queue costs
    /// a thread wake-up per call — enough to make 2-thread decode slower than one thread.
    /// When the pool is busy (another thread is using it, or a call is nested inside a pool
    /// range) the ranges go to `DispatchQueue.concurrentPerform` instead.
    public static func forEach(
        _ count: Int, threads: Int, granule: Int = 1,
        _ body: @Sendable (Range<Int>) -> Void
    ) {
        let ranges = split(count, parts: threads, granule: granule)
        if ranges.count <= 1 {
            if let r = ranges.first { body(r) }
            return
        }
        if WorkerPool.shared.run(ranges, body) { return }
        DispatchQueue.concurrentPerform(iterations: ranges.count) { i in body(ranges[i]) }
    }

    /// The range `forEachChunk` hands out: `chunk` (a multiple of `granule`, at least one), or
    /// on several threads the size down to half of it, in granules, that leaves the busiest
    /// thread the least work when the ranges are dealt out in turn (ties: the larger). 384 W
    /// rows in 256-row chunks on 2 threads kept one thread idle for a third of the call (256
    /// rows against 128); 192-row chunks split them evenly.
    public static func chunkStep(_ count: Int, threads: Int, chunk: Int, granule: Int) -> Int {
        let limit = Swift.max(granule, chunk / granule * granule)
        guard threads > 1, count > limit else { return limit }
        var best = (step: limit, load: busiestShare(count, threads: threads, step: limit))
        for step in stride(from: limit - granule, through: Swift.max(granule, limit / 2), by: -granule) {
            let load = busiestShare(count, threads: threads, step: step)
            if load < best.load { best = (step, load) }
        }
        return best.step
    }

    /// The items of the busiest of `threads` threads taking `step`-sized ranges of `count` in
    /// turn: the threads with the most ranges take that many full ones, unless the one holding
    /// the short last range is the only such thread.
    public static func busiestShare(_ count: Int, threads: Int, step: Int) -> Int {
        let pieces = (count + step - 1) / step, most = (pieces + threads - 1) / threads
        let withMost = pieces % threads == 0 ? threads : pieces % threads
        return withMost >= 2 ? most * step : most * step - (pieces * step - count)
    }

    /// Like `forEach`, but the threads take `chunk`-sized ranges (multiples of `granule`)
    /// from a shared counter until none is left, so a thread whose core is slowed — on a
    /// shared VM, a neighbour's load — takes fewer chunks instead of finishing last.
    public static func forEachChunk(
        _ count: Int, threads: Int, chunk: Int, granule: Int = 1,
        _ body: @Sendable (Range<Int>) -> Void
    ) {
        let step = chunkStep(count, threads: threads, chunk: chunk, granule: granule)
        if threads <= 1 || count <= step {
            var start = 0
            while start < count { body(start..<Swift.min(count, start + step)); start += step }
            return
        }
        let next = ChunkCounter()
        forEach(threads, threads: threads) { _ in
            while true {
                let start = next.take(step)
                if start >= count { return }
                body(start..<Swift.min(count, start + step))
            }
        }
    }
}

/// The shared position of `Parallel.forEachChunk`.
final class ChunkCounter: Sendable {
    private let position = Atomic<Int>(0)
    /// Claims `n` items; returns the first.
    func take(_ n: Int) -> Int { position.wrappingAdd(n, ordering: .relaxed).oldValue }
}

/// Persistent worker threads that spin briefly between jobs, then sleep.
///
/// Protocol: the submitter (holding `busy`) publishes the job, sets `pending`, and gives each
/// participating worker a new `ticket`; worker w runs range w once per ticket and decrements
/// `pending`; the submitter runs range 0 and spins until `pending` is 0. Workers that take no
/// part in a job are not touched by it. A worker that saw no new ticket for `Parallel.tuning.spinLimit`
/// iterations stores `sleeping`, re-checks its ticket, and only then waits on its semaphore;
/// the submitter stores the ticket before it swaps `sleeping` back and signals, so with
/// sequentially consistent atomics one of the two always sees the other (no lost wake-up). A
/// stale signal only makes a worker re-check its ticket.
final class WorkerPool: @unchecked Sendable {
    static let shared = WorkerPool()

    private let busy = Mutex<Bool>(false)
    private let pending = Atomic<Int>(0)
    private nonisolated(unsafe) var job = 0
    /// The current job; written before the tickets are stored, read by a worker after it sees
    /// its ticket, and left alone until every participating worker has finished.
    private nonisolated(unsafe) var ranges: [Range<Int>] = []
    private nonisolated(unsafe) var body: (@Sendable (Range<Int>) -> Void)?
    /// Started workers; only touched by the submitter, which holds `busy`.
    private nonisolated(unsafe) var workers: [Worker] = []

    final class Worker: @unchecked Sendable {
        let index: Int
        let ticket = Atomic<Int>(0)
        let sleeping = Atomic<Bool>(false)
        let wake = DispatchSemaphore(value: 0)
        unowned let pool: WorkerPool
        init(index: Int, pool: WorkerPool) { self.index = index; self.pool = pool }
    }

    /// Runs `ranges` (at least 2) on the caller and the workers; false when the pool is in use.
    func run(_ ranges: [Range<Int>], _ body: @Sendable (Range<Int>) -> Void) -> Bool {
        guard
            busy.withLock({ b -> Bool in
                if b { return false }
                b = true
                return true
            })
        else { return false }
        defer { busy.withLock { $0 = false } }
        let crew = ensureWorkers(ranges.count - 1)
        withoutActuallyEscaping(body) { escapable in
            self.ranges = ranges
            self.body = escapable
            job += 1
            pending.store(crew.count, ordering: .sequentiallyConsistent)
            for w in crew {
                w.ticket.store(job, ordering: .sequentiallyConsistent)
                if w.sleeping.exchange(false, ordering: .sequentiallyConsistent) { w.wake.signal() }
            }
            escapable(ranges[0])
            while pending.load(ordering: .sequentiallyConsistent) > 0 {}
            self.body = nil
        }
        return true
    }

    /// The first `count` workers, started on first use (detached POSIX threads that live as
    /// long as the process). Called with `busy` held, so no other lock is needed.
    private func ensureWorkers(_ count: Int) -> ArraySlice<Worker> {
        while workers.count < count {
            let w = Worker(index: workers.count + 1, pool: self)
            workers.append(w)
            var thread = pthread_t()
            let context = Unmanaged.passRetained(w).toOpaque()
            let created = pthread_create(
                &thread, nil,
                { raw in
                    let w = Unmanaged<WorkerPool.Worker>.fromOpaque(raw!).takeRetainedValue()
                    w.pool.loop(w)
                    return nil
                }, context)
            precondition(created == 0, "cannot start a worker thread (pthread_create: \(created))")
            pthread_detach(thread)
        }
        return workers.prefix(count)
    }

    fileprivate func loop(_ w: Worker) {
        var seen = 0
        while true {
            var spins = 0
            var now = w.ticket.load(ordering: .sequentiallyConsistent)
            while now == seen {
                spins += 1
                if spins >= Parallel.tuning.spinLimit {
                    w.sleeping.store(true, ordering: .sequentiallyConsistent)
                    if w.ticket.load(ordering: .sequentiallyConsistent) == seen { w.wake.wait() }
                    spins = 0
                }
                now = w.ticket.load(ordering: .sequentiallyConsistent)
            }
            seen = now
            w.sleeping.store(false, ordering: .sequentiallyConsistent)
            if let body { body(ranges[w.index]) }
            pending.subtract(1, ordering: .sequentiallyConsistent)
        }
    }
}
