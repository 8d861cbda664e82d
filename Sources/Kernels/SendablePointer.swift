/// Wraps a pointer for capture by concurrently running closures (the caller guarantees
/// that concurrent writes go to disjoint elements).
public struct SendablePointer<T>: @unchecked Sendable {
    public let pointer: T?
    @inlinable public init(_ pointer: T?) { self.pointer = pointer }
}
