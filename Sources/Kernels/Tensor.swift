// Shapes, row-major views and the typed error every kernel throws.
//
// Dimension letters, used the same way everywhere:
//   M, N, K  matmul: C[M×N] = A[M×K]·B[K×N]; weights W[N×K] ([out, in])
//   T        tokens (sequence length), H heads, D head dimension, C channels (H·D)

/// A typed error raised by a kernel for bad input or an unsupported case.
///
/// Every message names the operator, the argument and the offending values.
public enum KernelError: Error, Equatable, CustomStringConvertible, Sendable {
    /// Two arguments disagree on a dimension.
    case shapeMismatch(op: String, argument: String, expected: String, got: String)
    /// A size, count or parameter is outside the range the operator accepts.
    case invalidArgument(op: String, argument: String, value: String, reason: String)
    /// The variant does not implement this case (reported, never silently rerouted).
    case unsupported(op: String, variant: String, reason: String)

    public var description: String {
        switch self {
        case let .shapeMismatch(op, argument, expected, got):
            return "\(op): argument '\(argument)' has shape \(got), expected \(expected)"
        case let .invalidArgument(op, argument, value, reason):
            return "\(op): argument '\(argument)' = \(value) is invalid: \(reason)"
        case let .unsupported(op, variant, reason):
            return "\(op).\(variant): unsupported case: \(reason)"
        }
    }
}

/// Shared argument checks, so every kernel reports bad input the same way.
public enum Check {
    /// Throws unless `value > 0`.
    @inlinable
    public static func positive(_ value: Int, _ argument: String, op: String) throws {
        guard value > 0 else {
            throw KernelError.invalidArgument(op: op, argument: argument, value: "\(value)", reason: "must be at least 1")
        }
    }

    /// Largest thread count a kernel accepts; more is treated as a mistake, not a request.
    public static let maxThreads = 256

    /// Throws unless `1 ≤ threads ≤ maxThreads`.
    @inlinable
    public static func threads(_ threads: Int, op: String) throws {
        guard threads >= 1, threads <= maxThreads else {
            throw KernelError.invalidArgument(op: op, argument: "threads", value: "\(threads)",
                                              reason: "must be between 1 and \(maxThreads)")
        }
    }

    /// Throws unless `actual == expected`.
    @inlinable
    public static func equal(_ actual: Int, _ expected: Int, _ argument: String, op: String, what: String) throws {
        guard actual == expected else {
            throw KernelError.shapeMismatch(op: op, argument: argument, expected: "\(what)=\(expected)", got: "\(what)=\(actual)")
        }
    }
}

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
            throw KernelError.invalidArgument(op: op, argument: argument, value: "stride \(stride)", reason: "row stride must be at least the row length \(cols)")
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
/// Used by tests, the harness and the model; kernels themselves take views.
public struct Matrix: Sendable, Equatable {
    public let rows: Int
    public let cols: Int
    public let stride: Int
    /// `rows × stride` floats; the padding columns `cols ..< stride` are never read by kernels.
    public var storage: [Float]

    /// A zero-filled matrix.
    public init(rows: Int, cols: Int, stride: Int? = nil) {
        self.rows = rows; self.cols = cols; self.stride = stride ?? cols
        storage = [Float](repeating: 0, count: max(0, rows * self.stride))
    }

    /// A matrix whose element (r, c) is `f(r, c)`.
    public init(rows: Int, cols: Int, stride: Int? = nil, _ f: (Int, Int) -> Float) {
        self.init(rows: rows, cols: cols, stride: stride)
        for r in 0..<rows { for c in 0..<cols { storage[r * self.stride + c] = f(r, c) } }
    }

    /// Wraps dense row-major `values` (count must be rows·cols).
    public init(rows: Int, cols: Int, values: [Float]) {
        precondition(values.count == rows * cols, "Matrix(values:) needs rows*cols elements")
        self.rows = rows; self.cols = cols; self.stride = cols; storage = values
    }

    @inlinable
    public subscript(r: Int, c: Int) -> Float {
        get { storage[r * stride + c] }
        set { storage[r * stride + c] = newValue }
    }

    /// The elements in dense row-major order (padding dropped).
    public var dense: [Float] {
        if stride == cols { return storage }
        var out = [Float](); out.reserveCapacity(rows * cols)
        for r in 0..<rows { out.append(contentsOf: storage[r * stride ..< r * stride + cols]) }
        return out
    }

    /// Calls `body` with a read-only view of the storage.
    @inlinable
    public func withView<R>(_ body: (MatrixView) throws -> R) rethrows -> R {
        try storage.withUnsafeBufferPointer { buf in
            try body(MatrixView(base: buf.baseAddress!, rows: rows, cols: cols, stride: stride))
        }
    }

    /// Calls `body` with a writable view of the storage.
    @inlinable
    public mutating func withMutableView<R>(_ body: (MutableMatrixView) throws -> R) rethrows -> R {
        let (r, c, s) = (rows, cols, stride)
        return try storage.withUnsafeMutableBufferPointer { buf in
            try body(MutableMatrixView(base: buf.baseAddress!, rows: r, cols: c, stride: s))
        }
    }
}

/// A 64-byte-aligned scratch buffer of floats, for packing and per-thread workspaces.
public final class AlignedBuffer: @unchecked Sendable {
    public let pointer: UnsafeMutablePointer<Float>
    public let count: Int

    public init(count: Int) {
        self.count = max(count, 16)
        let raw = UnsafeMutableRawPointer.allocate(byteCount: self.count * MemoryLayout<Float>.stride, alignment: 64)
        pointer = raw.bindMemory(to: Float.self, capacity: self.count)
        pointer.initialize(repeating: 0, count: self.count)
    }

    deinit { pointer.deallocate() }
}
