import ArgumentParser
import Harness
import Kernels

/// Options shared by `bench` and `verify` to pick operators, variants and threads.
struct Selection: ParsableArguments {
    @Option(name: .customLong("op"), help: ArgumentHelp("Operators, comma-separated (default: all; 'opbench list --ops' names them)."))
    var ops: [String] = []

    @Option(
        name: .customLong("variant"),
        help: "Variants, comma-separated: naive,simd,blas,auto, or full ids like matmul.simd (default: all but auto).")
    var variants: [String] = []

    @Option(name: .customLong("threads"), help: "Thread counts, comma-separated (default: 1).")
    var threads: [String] = []

    /// The specs of the operators named by --op, in the order given (all when none is).
    func selectedOps() throws -> [any OperatorSpec] {
        let names = try listItems(ops, option: "--op")
        if names.isEmpty { return Operators.all }
        return try names.map { try Operators.named($0) }
    }

    /// Whether `id` is selected by --variant (without it: every variant that runs by
    /// default, i.e. all but `auto`).
    func variantFilter() throws -> (VariantID) -> Bool {
        let names = try listItems(variants, option: "--variant")
        if names.isEmpty { return Operators.runsByDefault }
        // A name is a variant name (`simd`, a plugin's `example.sgemm`) or a full id (`matmul.simd`).
        let known = Set(Operators.variantNames)
        for n in names where !known.contains(n) && VariantID(n) == nil {
            if n.contains(".") {
                throw CLIError(
                    "unknown variant id '\(n)' (see 'opbench list')" + Suggest.clause(n, among: Operators.variantIDs.map(\.description)))
            }
            throw CLIError(
                "unknown variant '\(n)' (known: \(known.sorted().joined(separator: ", ")), or an id like matmul.simd)"
                    + Suggest.clause(n, among: known.sorted()))
        }
        return { id in names.contains(id.variant) || names.contains(id.description) }
    }

    func threadCounts() throws -> [Int] {
        let names = try listItems(threads, option: "--threads")
        if names.isEmpty { return [1] }
        return try names.map { n in
            guard let t = Int(n), t >= 1, t <= Check.maxThreads else {
                throw CLIError("--threads '\(n)' must be a whole number from 1 to \(Check.maxThreads)")
            }
            return t
        }
    }
}

/// The items of a repeatable, comma-separated option. An empty item (`--op ''`, `1,,2`) is an
/// error, not "everything": an unset CI variable must not widen a run.
func listItems(_ values: [String], option: String) throws -> [String] {
    try values.flatMap { value in
        try value.split(separator: ",", omittingEmptySubsequences: false).map { item in
            let name = item.trimmingCharacters(in: .whitespaces)
            guard !name.isEmpty else { throw CLIError("\(option) '\(value)' has an empty item") }
            return name
        }
    }
}
