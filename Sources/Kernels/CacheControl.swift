import CIntrinsics

/// Streaming stores and software prefetch, for row kernels that stream arrays far larger
/// than the last-level cache.
///
/// An ordinary store to a line that is not in cache first reads the line from memory
/// (write-allocate), so a kernel that reads X and writes Y moves 3 bytes over the memory
/// bus for every 2 it needs. A streaming store writes the line without reading it. It also
/// evicts it, which is only right when nothing will read Y soon. OpBench's copy bandwidth is
/// measured with ordinary stores (the STREAM convention), so a streaming kernel can exceed
/// 100 % of it; `opbench machine` shows both copies so the headroom is visible.
public enum CacheControl {
    /// Arrays of at least this many bytes are prefetched and streamed (`CacheControl.tuning`).
    public static var streamingThresholdBytes: Int { tuning.streamingThresholdBytes }

    /// Whether `x` is larger than the cache, so its rows come from memory and are worth
    /// prefetching a row ahead. (On a cache-resident input the prefetched row only evicts
    /// the current one from L1, which makes a small layernorm slower.)
    @inlinable
    public static func exceedsCache(_ x: MatrixView) -> Bool { x.rows &* x.cols &* 4 >= streamingThresholdBytes }

    /// Whether the whole of `y` should be written with streaming stores: it is large enough,
    /// every row starts on a 64-byte boundary and holds whole 16-float vectors.
    @inlinable
    public static func streams(_ y: MutableMatrixView) -> Bool {
        y.rows &* y.cols &* 4 >= streamingThresholdBytes && Int(bitPattern: y.base) & 63 == 0
            && y.stride & 15 == 0 && y.cols & 15 == 0
    }

    /// Stores 16 floats at the 64-byte-aligned `p`, bypassing the cache.
    @inlinable @inline(__always)
    public static func streamStore(_ v: Vec, _ p: UnsafeMutablePointer<Float>) {
        opbench_stream_store(p, v)
    }

    /// Makes this thread's streaming stores visible before its later stores; call it before
    /// a worker reports its part done.
    @inlinable @inline(__always)
    public static func streamFence() { opbench_stream_fence() }

    /// Asks for the cache line holding `p` ahead of its use. Unlike a touching load, it
    /// retires at once, so a miss to memory does not fill the reorder buffer and stall the
    /// work in between.
    @inlinable @inline(__always)
    public static func prefetch(_ p: UnsafeRawPointer) { opbench_prefetch(p) }

    /// Like `prefetch`, into L2 but not L1: for a kernel whose L1 is already full with the
    /// current row's working set (softmax: the row and its 16 KiB scratch row at 4096
    /// columns), where a prefetch into L1 evicts what the current row still reads (softmax gains
    /// from it; layernorm, whose next row is read soon after the prefetch, does not).
    @inlinable @inline(__always)
    public static func prefetchL2(_ p: UnsafeRawPointer) { opbench_prefetch_l2(p) }
}
