import Foundation
import Kernels

/// Everything the tools know about one operator, in one place (ggml's `test_case`, typed):
/// its kernels, its shape grammar, its named shape sets, its workload, its analytic FLOP and
/// byte counts and its ablation chain. The fp64 reference and the error bound the workload
/// checks against live beside the kernels (`Reference`, `Tolerance`), so tests use them too.
///
/// Adding an operator: a kernel family (`OperatorFamily`), a spec file, and one line in
/// `Operators.all`. Adding a variant: its type and one line in its family's `variants`.
public protocol OperatorSpec: Sendable {
    /// The kernels of this operator.
    associatedtype Family: OperatorFamily
    /// The parsed dimensions of one shape (what `parse` returns).
    associatedtype Dims: Sendable

    /// One line on the operator and its shape grammar, for `--help` and `opbench list --ops`.
    var grammar: String { get }
    /// The named shape lists of the tools.
    var shapes: ShapeSets { get }

    /// Parses a shape string; a `ShapeError` names what is wrong.
    func parse(_ text: String) throws -> Dims
    /// The canonical spelling of `dims` (what `parse` reads back to the same dims).
    func canonical(_ dims: Dims) -> String
    /// Floating-point operations of one execution (what the operation needs, not what a
    /// variant happens to do), so GFLOP/s compare across variants.
    func flops(_ dims: Dims) -> Double
    /// Compulsory memory traffic of one execution: every input read once, the output written once.
    func bytes(_ dims: Dims) -> Double
    /// The part of `bytes` that is written (the output): with `bytes` it places the case
    /// between the read and the copy ceilings of the cache-aware roofline.
    func writtenBytes(_ dims: Dims) -> Double
    /// Memory a case needs (inputs, output, the reference sample), checked before allocating.
    func memoryBytes(_ dims: Dims) -> Double
    /// Allocates seeded inputs for `shape` (whose dims are `dims`).
    func workload(_ shape: CaseShape, _ dims: Dims, seed: UInt64) throws -> any Workload
    /// Why the ablation chain cannot run at `dims`, or nil when it can.
    func ablationRefusal(_ dims: Dims) -> String?
    /// The ablation chain at `dims` (the family's, unless the shape picks another code path).
    func ablationSteps(_ dims: Dims) -> [Ablation.Step]
    /// Why `variant` cannot run a case of `dims` (e.g. a weight format it does not take), or
    /// nil: the tools leave such cases out and say so.
    func unsupported(variant: String, _ dims: Dims) -> String?
    /// The key the family's kernels build for a call of `dims` on `threads` threads (the
    /// family's `tuningKey`): what tuning file entries are found by.
    func tuningKey(_ dims: Dims, threads: Int) -> TuningKey
}

/// The shape lists every tool draws from.
public struct ShapeSets: Sendable {
    /// `opbench verify`: sizes that are multiples of no tile or vector width, and the decode paths.
    public var verify: [String]
    /// `bench --suite quick`: every variant, naive included, in well under two minutes in all.
    public var quick: [String]
    /// `bench --suite full`: the sizes of the performance targets and of real models.
    public var full: [String]
    /// The package-benchmark target's one shape per operator.
    public var representative: String
    /// `opbench ablation` without `--shape`.
    public var ablation: String

    public init(verify: [String], quick: [String], full: [String], representative: String, ablation: String) {
        self.verify = verify; self.quick = quick; self.full = full; self.representative = representative; self.ablation = ablation
    }
}

extension OperatorSpec {
    /// The operator's name.
    public var op: Op { Family.op }
    /// The registered variants, in the order tools list them.
    public var kernels: [any Kernel] { Family.kernels }
    /// The ablation chain (empty when the operator has none).
    public var ablation: [Ablation.Step] { Family.ablation }
    public func ablationRefusal(_ dims: Dims) -> String? { nil }
    public func ablationSteps(_ dims: Dims) -> [Ablation.Step] { Family.ablation }
    public func unsupported(variant: String, _ dims: Dims) -> String? { nil }

    /// Parses `text` into a case shape of this operator.
    public func shape(_ text: String) throws -> CaseShape {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        return CaseShape(spec: self, text: trimmed, dims: try parse(trimmed))
    }

    func typed(_ shape: CaseShape) -> Dims {
        guard let dims = shape.dims as? Dims else { preconditionFailure("\(shape.op) shape built by another spec") }
        return dims
    }

    func canonical(of shape: CaseShape) -> String { canonical(typed(shape)) }
    func flops(of shape: CaseShape) -> Double { flops(typed(shape)) }
    func bytes(of shape: CaseShape) -> Double { bytes(typed(shape)) }
    func writtenBytes(of shape: CaseShape) -> Double { writtenBytes(typed(shape)) }
    func memoryBytes(of shape: CaseShape) -> Double { memoryBytes(typed(shape)) }
    func workload(of shape: CaseShape, seed: UInt64) throws -> any Workload { try workload(shape, typed(shape), seed: seed) }
    func ablationRefusal(of shape: CaseShape) -> String? { ablationRefusal(typed(shape)) }
    func ablationSteps(of shape: CaseShape) -> [Ablation.Step] { ablationSteps(typed(shape)) }
    func unsupported(variant: String, of shape: CaseShape) -> String? { unsupported(variant: variant, typed(shape)) }
    func tuningKey(of shape: CaseShape, threads: Int) -> TuningKey { tuningKey(typed(shape), threads: threads) }
}

/// The registry: every operator the tools know, in the order they list them.
public enum Operators {
    /// One line per operator. Everything else (list, verify, bench, ablation, report, gate,
    /// the package benchmarks, the tests) iterates this list.
    public static let all: [any OperatorSpec] = [
        MatmulSpec(),
        SoftmaxSpec(),
        LayerNormSpec(),
        RMSNormSpec(),
        SwiGLUSpec(),
        RoPESpec(),
        AttentionSpec(),
        Int4Spec(),
    ]

    /// The operators' names, in registry order.
    public static var names: [String] { all.map(\.op.rawValue) }

    /// The spec of `op`; a `ShapeError` names the known operators.
    public static func spec(_ op: Op) throws -> any OperatorSpec {
        try named(op.rawValue)
    }

    /// The spec registered under `name`; a `ShapeError` names the known operators.
    public static func named(_ name: String) throws -> any OperatorSpec {
        guard let spec = all.first(where: { $0.op.rawValue == name }) else {
            throw ShapeError("unknown operator '\(name)' (known: \(names.joined(separator: ", ")))" + Suggest.clause(name, among: names))
        }
        return spec
    }

    /// Every registered variant id, operator by operator, each operator's in its list order.
    public static var variantIDs: [VariantID] {
        all.flatMap { spec in spec.kernels.map { VariantID(op: spec.op, variant: $0.name) } }
    }

    /// Why variant `id` cannot run `shape` at `threads`, or nil: what the operator's spec says
    /// (`OperatorSpec.unsupported`), then a plugin variant's declared thread limit.
    public static func unsupported(_ id: VariantID, _ shape: CaseShape, threads: Int) -> String? {
        if let why = shape.unsupported(variant: id.variant) { return why }
        if let most = Plugins.info(op: id.op, variant: id.variant)?.caps.maxThreads, threads > most {
            return "\(id) runs at most \(most) thread\(most == 1 ? "" : "s")"
        }
        return nil
    }

    /// The registered kernel of `id`, nil for an unknown one.
    public static func kernel(_ id: VariantID) -> (any Kernel)? {
        all.first { $0.op == id.op }?.kernels.first { $0.name == id.variant }
    }

    /// The summary line of a registered variant ("" for an unknown one).
    public static func summary(_ id: VariantID) -> String { kernel(id)?.summary ?? "" }

    /// Whether tools run `id` when no `--variant` names it (`Kernel.runsByDefault`).
    public static func runsByDefault(_ id: VariantID) -> Bool { kernel(id)?.runsByDefault ?? true }

    /// The distinct variant names (`naive`, `simd`, `blas`, …) in the registry's listing order.
    public static var variantNames: [String] {
        var order: [String] = []
        for spec in all { for k in spec.kernels where !order.contains(k.name) { order.append(k.name) } }
        return order
    }

    /// Position of a variant name in `variantNames`, so charts and tables order series as
    /// `opbench list` does; unknown names sort last.
    public static func rank(ofVariant name: String) -> Int {
        let order = variantNames
        return order.firstIndex(of: name) ?? order.count
    }
}

/// `op.variant`, the identity used on the command line, in results and reports.
public struct VariantID: Hashable, Comparable, Codable, Sendable, CustomStringConvertible {
    public let op: Op
    public let variant: String

    public init(op: Op, variant: String) { self.op = op; self.variant = variant }

    /// Parses `matmul.simd` (or a plugin's `matmul.<plugin>.<name>`); nil when either part is
    /// unknown to the registry.
    public init?(_ text: String) {
        // A plugin variant's name has a dot of its own: `matmul.<plugin>.<name>`.
        let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2 else { return nil }
        let id = VariantID(op: Op(rawValue: String(parts[0])), variant: String(parts[1]))
        guard Operators.variantIDs.contains(id) else { return nil }
        self = id
    }

    public var description: String { "\(op.rawValue).\(variant)" }

    /// Registry order: operators as `Operators.all` lists them, then each operator's variants.
    public static func < (l: VariantID, r: VariantID) -> Bool {
        let ids = Operators.variantIDs
        let count = ids.count
        return (ids.firstIndex(of: l) ?? count, l.description) < (ids.firstIndex(of: r) ?? count, r.description)
    }
}
