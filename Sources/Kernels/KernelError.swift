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
            throw KernelError.invalidArgument(
                op: op, argument: "threads", value: "\(threads)",
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
