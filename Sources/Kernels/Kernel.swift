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
    /// The unit that bounds the variant's arithmetic on the roofline: the fp32 FMA, or the
    /// 8-bit integer dot product (`vpdpbusd`), four times as many multiply-adds per cycle.
    var arithmetic: Arithmetic { get }
    /// The constants of the family's tuning table this variant reads (`opbench tune` searches
    /// these); empty for variants with none.
    var tunables: [String] { get }
    /// Whether `verify`, `bench` and the suites run the variant when no `--variant` names it
    /// (false for `auto`, which without a tuning file entry for the shape is simd again).
    var runsByDefault: Bool { get }
    /// Whether the variant computes something other than the operation to fp32 rounding (int4.act8
    /// rounds the activations to 8 bits) and so is checked against a bound of its own:
    /// `opbench tune` races such a variant only when `--variant` names it, so `auto` never
    /// changes a plan's numerics unasked.
    var approximates: Bool { get }
}

/// The arithmetic a variant's roofline ceiling is measured for.
public enum Arithmetic: String, Sendable {
    case fma
    case int8Dot = "int8-dot"
}

extension Kernel {
    public var arithmetic: Arithmetic { .fma }
    public var tunables: [String] { [] }
    public var runsByDefault: Bool { true }
    public var approximates: Bool { false }
}

/// "Did you mean" for misspelt names.
public enum Suggest {
    /// The name among `known` closest to `name` by edit distance (insertions, deletions,
    /// substitutions and swaps of neighbours, case ignored), if it is within a third of the
    /// name's length (at least 1); nil otherwise.
    public static func closest(_ name: String, among known: [String]) -> String? {
        let a = Array(name.lowercased())
        var best: (String, Int)?
        for k in known {
            let b = Array(k.lowercased())
            var d = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
            for i in 0...a.count { d[i][0] = i }
            for j in 0...b.count { d[0][j] = j }
            if !a.isEmpty && !b.isEmpty {
                for i in 1...a.count {
                    for j in 1...b.count {
                        d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
                        if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] { d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1) }
                    }
                }
            }
            let dist = d[a.count][b.count]
            if dist <= max(1, a.count / 3), dist < (best?.1 ?? .max) { best = (k, dist) }
        }
        return best?.0
    }

    /// " (did you mean 'x'?)" or "".
    public static func clause(_ name: String, among known: [String]) -> String {
        closest(name, among: known).map { " (did you mean '\($0)'?)" } ?? ""
    }
}

/// Finding a variant of one operator family by name.
public enum Variants {
    /// The kernel registered under `name` in `family` (or among the `hidden` ones: ablation
    /// steps), or a typed error naming the registered choices.
    public static func find<K>(_ family: [K], hidden: [K] = [], op: Op, name: String) throws -> K {
        guard let k = (family + hidden).first(where: { ($0 as? any Kernel)?.name == name }) else {
            let names = family.compactMap { ($0 as? any Kernel)?.name }
            throw KernelError.invalidArgument(
                op: op.rawValue, argument: "variant", value: "'\(name)'",
                reason: "known variants: " + names.joined(separator: ", ") + Suggest.clause(name, among: names))
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
