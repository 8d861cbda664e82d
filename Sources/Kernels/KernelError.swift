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
    /// The variant reported a failure of its own (a plugin kernel's status and message).
    case failed(op: String, variant: String, reason: String)

    public var description: String {
        switch self {
        case let .shapeMismatch(op, argument, expected, got):
            return "\(op): argument '\(argument)' has shape \(got), expected \(expected)"
        case let .invalidArgument(op, argument, value, reason):
            return "\(op): argument '\(argument)' = \(value) is invalid: \(reason)"
        case let .unsupported(op, variant, reason):
            return "\(op).\(variant): unsupported case: \(reason)"
        case let .failed(op, variant, reason):
            return "\(op).\(variant) failed: \(reason)"
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
            throw KernelError.invalidArgument(
                op: op, argument: "threads", value: "\(threads)",
                reason: "must be between 1 and \(maxThreads)")
        }
    }

    /// The prologue of every row-wise operator: a valid thread count, valid x and y, y of x's shape.
    public static func rowwise(_ x: MatrixView, _ y: MutableMatrixView, threads: Int, op: String) throws {
        try Check.threads(threads, op: op)
        try x.validate(op: op, argument: "x")
        try y.validate(op: op, argument: "y")
        guard y.rows == x.rows, y.cols == x.cols else {
            throw KernelError.shapeMismatch(op: op, argument: "y", expected: "\(x.rows)x\(x.cols)", got: "\(y.rows)x\(y.cols)")
        }
    }

    /// A row norm's arguments: `rowwise`, gamma of C values, eps finite and > 0.
    public static func rowNorm(
        _ x: MatrixView, gamma: UnsafeBufferPointer<Float>, eps: Float, _ y: MutableMatrixView, threads: Int, op: String
    ) throws {
        try rowwise(x, y, threads: threads, op: op)
        try equal(gamma.count, x.cols, "gamma", op: op, what: "C")
        guard eps.isFinite, eps > 0 else {
            throw KernelError.invalidArgument(op: op, argument: "eps", value: "\(eps)", reason: "must be finite and > 0")
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
