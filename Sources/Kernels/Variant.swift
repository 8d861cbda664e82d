// Variant identity and the registry every tool discovers variants from.

/// The operators OpBench measures.
public enum Op: String, CaseIterable, Codable, Sendable {
    case matmul, softmax, layernorm, attention, int4
}

/// One implementation of one operator, e.g. `matmul.simd`.
public protocol Kernel: Sendable {
    /// Short lowercase name: `naive`, `simd`, `blas`.
    var name: String { get }
    /// One line on what the variant does and how it splits work over threads.
    var summary: String { get }
}

/// `op.variant`, the identity used on the command line, in results and reports.
public struct VariantID: Hashable, Comparable, Codable, Sendable, CustomStringConvertible {
    public let op: Op
    public let variant: String

    public init(op: Op, variant: String) { self.op = op; self.variant = variant }

    /// Parses `matmul.simd`; nil when either part is unknown to the registry.
    public init?(_ text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let op = Op(rawValue: String(parts[0])) else { return nil }
        let id = VariantID(op: op, variant: String(parts[1]))
        guard Registry.all.contains(id) else { return nil }
        self = id
    }

    public var description: String { "\(op.rawValue).\(variant)" }

    public static func < (l: VariantID, r: VariantID) -> Bool {
        let lo = Op.allCases.firstIndex(of: l.op)!, ro = Op.allCases.firstIndex(of: r.op)!
        if lo != ro { return lo < ro }
        let order = ["naive", "simd", "blas"]
        return (order.firstIndex(of: l.variant) ?? 99, l.variant) < (order.firstIndex(of: r.variant) ?? 99, r.variant)
    }
}

/// Every registered variant. Adding a variant = one type plus one line in its family's
/// `variants` list; the tests, `opbench list/verify/bench` and the benchmarks find it here.
public enum Registry {
    /// Variants of one operator, in registry order.
    public static func kernels(for op: Op) -> [any Kernel] {
        switch op {
        case .matmul: return Matmul.variants.map { $0 as any Kernel }
        case .softmax: return Softmax.variants.map { $0 as any Kernel }
        case .layernorm: return LayerNorm.variants.map { $0 as any Kernel }
        case .attention: return SparseAttention.variants.map { $0 as any Kernel }
        case .int4: return Int4.variants.map { $0 as any Kernel }
        }
    }

    /// All variant ids, operator by operator.
    public static var all: [VariantID] {
        Op.allCases.flatMap { op in kernels(for: op).map { VariantID(op: op, variant: $0.name) } }
    }

    /// The summary line of a variant.
    public static func summary(_ id: VariantID) -> String {
        kernels(for: id.op).first { $0.name == id.variant }?.summary ?? ""
    }

    /// The kernel registered under `name` in `family` (or among the `hidden` ones: ablation
    /// steps), or a typed error naming the registered choices.
    static func lookup<K>(_ family: [K], hidden: [K] = [], op: Op, name: String, nameOf: (K) -> String) throws -> K {
        guard let k = (family + hidden).first(where: { nameOf($0) == name }) else {
            throw KernelError.invalidArgument(op: op.rawValue, argument: "variant", value: "'\(name)'",
                                              reason: "known variants: " + family.map(nameOf).joined(separator: ", "))
        }
        return k
    }
}
