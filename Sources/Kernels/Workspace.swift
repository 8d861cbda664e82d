import CIntrinsics
import Synchronization

/// A pool of 64-byte-aligned scratch buffers, so kernels called in a loop (benchmarks,
/// decode steps) reuse packing space instead of paying allocation and page faults.
public enum Workspace {
    private static let pool = Mutex<[AlignedBuffer]>([])

    /// Makes the C allocator give freed buffers of 256 KiB and more (every `AlignedBuffer` on
    /// huge pages) back to the system when they are freed (`opbench_return_freed_memory`):
    /// a command that makes and frees many large buffers in turn stays at the size of what is
    /// alive. Call once, before large allocations.
    public static func returnFreedMemory() { _ = opbench_return_freed_memory(256 << 10) }

    /// Runs `body` with a zero-or-garbage buffer of at least `count` floats, then returns
    /// it to the pool. Safe to call from several threads at once.
    @inlinable
    public static func with<R>(_ count: Int, _ body: (UnsafeMutablePointer<Float>) throws -> R) rethrows -> R {
        let buffer = take(count)
        defer { give(buffer) }
        return try body(buffer.pointer)
    }

    @usableFromInline
    static func take(_ count: Int) -> AlignedBuffer {
        let found: AlignedBuffer? = pool.withLock { list in
            // Best fit: the smallest buffer that is large enough.
            var best: Int? = nil
            for (i, b) in list.enumerated() where b.count >= count {
                if best == nil || b.count < list[best!].count { best = i }
            }
            return best.map { list.remove(at: $0) }
        }
        return found ?? AlignedBuffer(count: count)
    }

    @usableFromInline
    static func give(_ buffer: AlignedBuffer) {
        pool.withLock { list in
            list.append(buffer)
            // Keep the pool bounded: drop the smallest buffers beyond 16.
            if list.count > 16 {
                list.sort { $0.count > $1.count }
                list.removeLast(list.count - 16)
            }
        }
    }
}
