// What every variant of every operator has in common, and the lookup by name.

/// An operator's name (`matmul`, `softmax`, …), as used in variant ids, results and plans.
///
/// Each operator's family file declares its constant (`extension Op { static let matmul }`);
/// the list of operators the tools know is the registry of operator specs (`Operators.all`
/// in Harness), not this type.
public struct Op: RawRepresentable, Hashable, Codable, Sendable, CustomStringConvertible {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }
}

/// One implementation of one operator, e.g. `matmul.simd`.
public protocol Kernel: Sendable {
    /// Short lowercase name: `naive`, `simd`, `blas`.
    var name: String { get }
    /// One line on what the variant does and how it splits work over threads.
    var summary: String { get }
}

/// Finding a variant of one operator family by name.
public enum Variants {
    /// The kernel registered under `name` in `family` (or among the `hidden` ones: ablation
    /// steps), or a typed error naming the registered choices.
    public static func find<K>(_ family: [K], hidden: [K] = [], op: Op, name: String) throws -> K {
        guard let k = (family + hidden).first(where: { ($0 as? any Kernel)?.name == name }) else {
            let known = family.compactMap { ($0 as? any Kernel)?.name }.joined(separator: ", ")
            throw KernelError.invalidArgument(
                op: op.rawValue, argument: "variant", value: "'\(name)'",
                reason: "known variants: " + known)
        }
        return k
    }
}

/// An operator's kernels: the registered variants (what `opbench list` shows) and the
/// ablation steps, complete kernels that only `opbench ablation` runs by name.
public protocol OperatorFamily {
    /// The variant protocol of the family, e.g. `any MatmulKernel`.
    associatedtype Variant
    /// The operator these kernels implement.
    static var op: Op { get }
    /// Registered variants, in the order tools list them.
    static var variants: [Variant] { get }
    /// Ablation steps that are not registered variants.
    static var ablationKernels: [Variant] { get }
    /// The ablation chain: the optimizations of the `simd` variant one at a time.
    static var ablation: [Ablation.Step] { get }
}

extension OperatorFamily {
    /// No ablation steps unless the family declares some.
    public static var ablationKernels: [Variant] { [] }
    /// No ablation chain unless the family declares one.
    public static var ablation: [Ablation.Step] { [] }

    /// The variant or ablation step registered as `name`; a `KernelError` names the choices.
    public static func variant(_ name: String) throws -> Variant {
        try Variants.find(variants, hidden: ablationKernels, op: op, name: name)
    }

    /// The registered variants as `Kernel`s (name and summary).
    public static var kernels: [any Kernel] { variants.compactMap { $0 as? any Kernel } }

    /// Every kernel a test should check: the registered variants, then the ablation steps.
    public static var checkedNames: [String] {
        (variants + ablationKernels).compactMap { ($0 as? any Kernel)?.name }
    }
}
