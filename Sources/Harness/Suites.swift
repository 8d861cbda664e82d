import Kernels

/// The named case lists of `opbench bench --suite`, drawn from each operator's `ShapeSets`.
public enum Suites {
    public static let names = ["quick", "full"]

    /// The shapes of `suite` for the operator of `spec`.
    public static func shapes(_ suite: String, spec: any OperatorSpec) -> [String] {
        suite == "quick" ? spec.shapes.quick : spec.shapes.full
    }

    /// Largest FLOP count at which a naive variant is still run in the full suite (larger
    /// shapes would take minutes per sample and say nothing new).
    public static let naiveFlopLimit = 2e10
}
