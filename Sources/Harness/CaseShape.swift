import Foundation
import Kernels

/// The problem size of one benchmark case: an operator's shape string, parsed by that
/// operator's spec (the grammars are on the specs: `MatmulSpec`, `AttentionSpec`, …). The
/// string is kept as the user wrote it (`text`), so results and reports show what was asked;
/// two shapes are the same case when operator and text agree.
public struct CaseShape: Hashable, Sendable, CustomStringConvertible {
    /// The operator the shape belongs to.
    public let spec: any OperatorSpec
    /// The shape string, trimmed.
    public let text: String
    /// The parsed dimensions, of the spec's `Dims` type.
    let dims: any Sendable

    init(spec: any OperatorSpec, text: String, dims: any Sendable) {
        self.spec = spec; self.text = text; self.dims = dims
    }

    /// Parses `text` for `op`; throws a `ShapeError` naming what is wrong.
    public init(op: Op, _ text: String) throws {
        self = try Operators.spec(op).shape(text)
    }

    public var op: Op { spec.op }
    public var description: String { text }
    /// The canonical spelling of the same shape.
    public var canonical: String { spec.canonical(of: self) }
    /// Floating-point operations of one execution.
    public var flops: Double { spec.flops(of: self) }
    /// Compulsory memory traffic of one execution.
    public var bytes: Double { spec.bytes(of: self) }
    /// The written part of `bytes` (the output).
    public var writtenBytes: Double { spec.writtenBytes(of: self) }
    /// Bytes of memory the case needs; checked before anything is allocated.
    public var memoryBytes: Double { spec.memoryBytes(of: self) }
    /// Why the operator's ablation chain cannot run at this shape, or nil.
    public var ablationRefusal: String? { spec.ablationRefusal(of: self) }
    /// The operator's ablation chain at this shape.
    public var ablationSteps: [Ablation.Step] { spec.ablationSteps(of: self) }
    /// Why `variant` cannot run this shape, or nil (`OperatorSpec.unsupported`).
    public func unsupported(variant: String) -> String? { spec.unsupported(variant: variant, of: self) }
    /// The key of this shape on `threads` threads, as the family's kernels build it at run time.
    public func tuningKey(threads: Int) -> TuningKey { spec.tuningKey(of: self, threads: threads) }

    public static func == (l: CaseShape, r: CaseShape) -> Bool { l.op == r.op && l.text == r.text }
    public func hash(into hasher: inout Hasher) { hasher.combine(op); hasher.combine(text) }
}
