#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
import Synchronization

// Row-major views and the aligned storage behind them.
//
// Dimension letters, used the same way everywhere:
//   M, N, K  matmul: C[M×N] = A[M×K]·B[K×N]; weights W[N×K] ([out, in])
//   T        tokens (sequence length), H heads, D head dimension, C channels (H·D)

/// A read-only row-major view: `rows × cols` floats, row `r` starting at `base + r·stride`.
public struct MatrixView: @unchecked Sendable {
    public let base: UnsafePointer<Float>
    public let rows: Int
    public let cols: Int
    /// Distance in elements between the starts of consecutive rows (≥ cols).
    public let stride: Int

    @inlinable
    public init(base: UnsafePointer<Float>, rows: Int, cols: Int, stride: Int) {
        self.base = base; self.rows = rows; self.cols = cols; self.stride = stride
    }

    /// Pointer to the first element of row `r`.
    @inlinable @inline(__always)
    public func row(_ r: Int) -> UnsafePointer<Float> { base + r &* stride }

    /// Element at row `r`, column `c`.
    @inlinable @inline(__always)
    public subscript(r: Int, c: Int) -> Float { base[r &* stride &+ c] }

    /// The sub-view of rows `r0 ..< r0+count`.
    @inlinable
    public func rows(_ r0: Int, _ count: Int) -> MatrixView {
        MatrixView(base: base + r0 * stride, rows: count, cols: cols, stride: stride)
    }

    /// Checks shape and stride; throws a message naming `argument`.
    public func validate(op: String, argument: String) throws {
        guard rows > 0, cols > 0 else {
            throw KernelError.invalidArgument(op: op, argument: argument, value: "\(rows)x\(cols)", reason: "dimensions must be at least 1")
        }
        guard stride >= cols else {
            throw KernelError.invalidArgument(
                op: op, argument: argument, value: "stride \(stride)", reason: "row stride must be at least the row length \(cols)")
        }
    }
}

/// A writable row-major view: `rows × cols` floats, row `r` starting at `base + r·stride`.
public struct MutableMatrixView: @unchecked Sendable {
    public let base: UnsafeMutablePointer<Float>
    public let rows: Int
    public let cols: Int
    /// Distance in elements between the starts of consecutive rows (≥ cols).
    public let stride: Int

    @inlinable
    public init(base: UnsafeMutablePointer<Float>, rows: Int, cols: Int, stride: Int) {
        self.base = base; self.rows = rows; self.cols = cols; self.stride = stride
    }

    /// Pointer to the first element of row `r`.
    @inlinable @inline(__always)
    public func row(_ r: Int) -> UnsafeMutablePointer<Float> { base + r &* stride }

    /// Element at row `r`, column `c`.
    @inlinable @inline(__always)
    public subscript(r: Int, c: Int) -> Float {
        get { base[r &* stride &+ c] }
        nonmutating set { base[r &* stride &+ c] = newValue }
    }

    /// The read-only view of the same memory.
    @inlinable
    public var readOnly: MatrixView { MatrixView(base: UnsafePointer(base), rows: rows, cols: cols, stride: stride) }

    /// The sub-view of rows `r0 ..< r0+count`.
    @inlinable
    public func rows(_ r0: Int, _ count: Int) -> MutableMatrixView {
        MutableMatrixView(base: base + r0 * stride, rows: count, cols: cols, stride: stride)
    }

    /// Checks shape and stride; throws a message naming `argument`.
    public func validate(op: String, argument: String) throws {
        try readOnly.validate(op: op, argument: argument)
    }
}

/// An owned row-major fp32 matrix with an optional row stride larger than `cols`.
///
/// Storage is 64-byte aligned (a cache line, one zmm register), so timings do not depend
/// on where the allocator happened to put the data; copy-on-write like an array.
/// Used by tests, the harness and the model; kernels themselves take views.
public struct Matrix: @unchecked Sendable, Equatable {
    public let rows: Int
    public let cols: Int
    public let stride: Int
    @usableFromInline var buffer: AlignedBuffer

    /// A zero-filled matrix.
    public init(rows: Int, cols: Int, stride: Int? = nil) {
        self.rows = rows; self.cols = cols; self.stride = stride ?? cols
        buffer = AlignedBuffer(count: max(0, rows * self.stride))
    }

    /// A matrix whose element (r, c) is `f(r, c)`.
    public init(rows: Int, cols: Int, stride: Int? = nil, _ f: (Int, Int) -> Float) {
        self.init(rows: rows, cols: cols, stride: stride)
        let p = buffer.pointer, s = self.stride
        for r in 0..<rows { for c in 0..<cols { p[r * s + c] = f(r, c) } }
    }

    /// Wraps dense row-major `values` (count must be rows·cols).
    public init(rows: Int, cols: Int, values: [Float]) {
        precondition(values.count == rows * cols, "Matrix(values:) needs rows*cols elements")
        self.init(rows: rows, cols: cols)
        values.withUnsafeBufferPointer { if let b = $0.baseAddress { buffer.pointer.update(from: b, count: values.count) } }
    }

    @usableFromInline
    mutating func makeUnique() {
        if !isKnownUniquelyReferenced(&buffer) {
            let copy = AlignedBuffer(count: rows * stride)
            copy.pointer.update(from: buffer.pointer, count: rows * stride)
            buffer = copy
        }
    }

    @inlinable
    public subscript(r: Int, c: Int) -> Float {
        get {
            precondition(r >= 0 && r < rows && c >= 0 && c < cols, "Matrix index out of range")
            return buffer.pointer[r * stride + c]
        }
        set {
            precondition(r >= 0 && r < rows && c >= 0 && c < cols, "Matrix index out of range")
            makeUnique()
            buffer.pointer[r * stride + c] = newValue
        }
    }

    /// A copy with storage of its own (the same values at other addresses).
    public func copy() -> Matrix {
        var out = self
        out.makeUnique()
        return out
    }

    /// The elements in dense row-major order (padding dropped).
    public var dense: [Float] {
        var out = [Float](); out.reserveCapacity(rows * cols)
        for r in 0..<rows { out.append(contentsOf: UnsafeBufferPointer(start: buffer.pointer + r * stride, count: cols)) }
        return out
    }

    /// Row `r` as an array.
    public func row(_ r: Int) -> [Float] { Array(UnsafeBufferPointer(start: buffer.pointer + r * stride, count: cols)) }

    public static func == (a: Matrix, b: Matrix) -> Bool { a.rows == b.rows && a.cols == b.cols && a.dense == b.dense }

    /// Calls `body` with a read-only view of the storage.
    @inlinable
    public func withView<R>(_ body: (MatrixView) throws -> R) rethrows -> R {
        try withExtendedLifetime(buffer) {
            try body(MatrixView(base: UnsafePointer(buffer.pointer), rows: rows, cols: cols, stride: stride))
        }
    }

    /// A view without a closure, for owners that keep the matrix alive and unmodified for
    /// as long as they use the view (the model runner holds its weights this way).
    public var unsafeView: MatrixView {
        MatrixView(base: UnsafePointer(buffer.pointer), rows: rows, cols: cols, stride: stride)
    }

    /// Calls `body` with a writable view of the storage.
    @inlinable
    public mutating func withMutableView<R>(_ body: (MutableMatrixView) throws -> R) rethrows -> R {
        makeUnique()
        return try withExtendedLifetime(buffer) {
            try body(MutableMatrixView(base: buffer.pointer, rows: rows, cols: cols, stride: stride))
        }
    }
}

/// A cache-line-aligned buffer of floats, for packing, workspaces and matrices, placed the
/// same way in every process.
///
/// Where data land changes timings: two buffers whose addresses agree in the low 12 bits make
/// loads wait on unrelated stores (4K aliasing), and physical pages decide cache-set
/// conflicts. With malloc and ASLR that differs from one process to the next, and so did
/// the timings of the same binary (docs/optimization-log.md). So every buffer starts at a page (2 MiB,
/// on transparent huge pages where the kernel allows, from 256 KiB up) plus an offset that
/// staggers successive buffers by 17 cache lines within the page: deterministic for a
/// deterministic sequence of allocations, and never the same low 12 bits for neighbours.
public final class AlignedBuffer: @unchecked Sendable {
    public let pointer: UnsafeMutablePointer<Float>
    public let count: Int
    private let base: UnsafeMutableRawPointer

    static let hugePage = 2 << 20
    static let hugeThreshold = 256 << 10
    private static let counter = Mutex<Int>(0)

    public init(count: Int) {
        self.count = max(count, 16)
        let stagger = Self.counter.withLock { n -> Int in
            n += 1
            return (n * 17 % 64) * 64
        }
        let bytes = self.count * MemoryLayout<Float>.stride + stagger
        let huge = bytes >= Self.hugeThreshold
        let alignment = huge ? Self.hugePage : 4096
        let size = (bytes + alignment - 1) / alignment * alignment
        var raw: UnsafeMutableRawPointer?
        guard posix_memalign(&raw, alignment, size) == 0, let raw else { fatalError("out of memory allocating \(size) bytes") }
        #if os(Linux)
            if huge { _ = madvise(raw, size, 14 /* MADV_HUGEPAGE */) }
        #endif
        base = raw
        pointer = (raw + stagger).bindMemory(to: Float.self, capacity: self.count)
        pointer.initialize(repeating: 0, count: self.count)
    }

    deinit { free(base) }
}
