import Kernels

/// The dimensions of a row-wise operator: `ROWSxCOLS`, the operation applied to each row.
public struct RowsDims: Sendable, Equatable {
    public let rows: Int, cols: Int

    /// Parses `ROWSxCOLS` for `op`.
    static func parse(_ text: String, op: Op) throws -> RowsDims {
        let d = try Shapes.dims(text, count: 2, what: "\(op.rawValue) shape")
        return RowsDims(rows: d[0], cols: d[1])
    }

    var canonical: String { "\(rows)x\(cols)" }
    var elements: Double { Double(rows) * Double(cols) }
}

/// Row-wise operators (softmax, layernorm, and the norms and activations to come) share the
/// `ROWSxCOLS` grammar.
extension OperatorSpec where Dims == RowsDims {
    public func parse(_ text: String) throws -> RowsDims { try RowsDims.parse(text, op: op) }
    public func canonical(_ d: RowsDims) -> String { d.canonical }
    public func tuningKey(_ d: RowsDims, threads: Int) -> TuningKey { .rows(d.rows, d.cols, threads: threads) }
}
