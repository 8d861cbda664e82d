#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The optimized variants rebuilt one optimization at a time, so `opbench ablation` can
/// measure what each step buys, side by side in one run. Every step is a complete, correct
/// kernel (checked against fp64 like the variants); the last step of each chain is the
/// registered `simd` variant itself. Steps are not registered variants: `opbench list`,
/// `verify` and `bench` do not show them; `Matmul.variant(_:)` and its siblings find them by
/// name so the benchmark harness can run them.
public enum Ablation {
    /// One step: the variant name it runs under, what it adds to the previous step, threads.
    public struct Step: Sendable, Equatable {
        public let variant: String
        public let change: String
        public let threads: Int
    }
}
