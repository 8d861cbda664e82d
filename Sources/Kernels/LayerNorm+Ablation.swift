#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The steps of `opbench ablation --op layernorm` (see `Ablation`).
extension LayerNorm {
    /// The ablation chain: the optimizations of `layernorm.simd` one at a time, first step first.
    public static let ablation: [Ablation.Step] = [
        Ablation.Step(variant: "naive", change: "plain loops, corrected two-pass statistics", threads: 1),
        Ablation.Step(variant: "ablate-passes", change: "SIMD16 passes, two accumulators per sum, ordinary stores", threads: 1),
        Ablation.Step(variant: "ablate-prefetch", change: "next row prefetched during the statistics pass", threads: 1),
        Ablation.Step(variant: "simd", change: "streaming stores: no write-allocate reads of y = layernorm.simd", threads: 1),
        Ablation.Step(variant: "simd", change: "2 threads (rows split)", threads: 2),
    ]

    /// layernorm.simd's row loop with ordinary stores, with and without the prefetch.
    struct AblateRows: LayerNormKernel {
        let name: String
        let prefetch: Bool
        var summary: String { "ablation: SIMD16 passes" + (prefetch ? ", next row prefetched" : "") }
        func run(
            _ x: MatrixView, gamma: UnsafeBufferPointer<Float>, beta: UnsafeBufferPointer<Float>,
            eps: Float, _ y: MutableMatrixView, threads: Int
        ) throws {
            try LayerNorm.validate(x, gamma: gamma, beta: beta, eps: eps, y, threads: threads)
            LayerNorm.SIMD.rows(x, gamma: gamma, beta: beta, eps: eps, y, threads: threads, prefetch: prefetch, stream: false)
        }
    }

    public static let ablationKernels: [any LayerNormKernel] = [
        AblateRows(name: "ablate-passes", prefetch: false),
        AblateRows(name: "ablate-prefetch", prefetch: true),
    ]
}
