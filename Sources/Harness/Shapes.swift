/// Parsing of the shape strings used on the command line and in results.
public enum Shapes {
    /// Largest single dimension accepted; larger is refused before anything is allocated.
    public static let maxDim = 1 << 20

    /// Parses `AxBxC` into exactly `count` positive integers.
    public static func dims(_ text: String, count: Int, what: String) throws -> [Int] {
        let parts = text.split(separator: "x", omittingEmptySubsequences: false)
        let expected = (1...count).map { "D\($0)" }.joined(separator: "x")
        guard parts.count == count else {
            throw ShapeError("\(what) '\(text)' must have the form \(expected)")
        }
        return try parts.map { p in
            guard let v = Int(p), v > 0 else { throw ShapeError("\(what) '\(text)': '\(p)' is not a positive integer") }
            guard v <= maxDim else { throw ShapeError("\(what) '\(text)': \(v) exceeds the largest dimension \(maxDim)") }
            return v
        }
    }
}

/// A malformed or out-of-range shape string.
public struct ShapeError: Error, CustomStringConvertible, Equatable, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
