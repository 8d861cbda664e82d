#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The steps of `opbench ablation --op attention` (see `Ablation`).
extension Attention {
    /// The ablation chain: the optimizations of `attention.simd` one at a time, first step first.
    public static let ablation: [Ablation.Step] = [
        Ablation.Step(variant: "naive", change: "scalar loops over the allowed keys only, libm expf", threads: 1),
        Ablation.Step(variant: "blas", change: "sgemm QK^T per non-empty 64x64 block, masked softmax, sgemm PV", threads: 1),
        Ablation.Step(
            variant: "ablate-tiles",
            change:
                "flash-style tiles (6 queries x 256 keys, 64-key K panels) on the GEMM micro-kernel, online softmax, partial panels "
                + "masked entry by entry",
            threads: 1),
        Ablation.Step(
            variant: "ablate-vmask", change: "partial panels masked 16 keys at a time against the row's allowed interval", threads: 1),
        Ablation.Step(
            variant: "simd",
            change: "a window's units visit only the span their rows reach, the global keys as one extra group = attention.simd", threads: 1
        ),
        Ablation.Step(variant: "simd", change: "2 threads ((head, query tile) units split)", threads: 2),
    ]

    /// attention.simd's tile path with its masking and window-span optimizations switchable.
    struct AblateTiles: AttentionKernel {
        let name: String
        let vectorMask: Bool
        var summary: String { "ablation: flash tiles" + (vectorMask ? ", vector masking" : ", scalar masking") }
        func run(
            q: MatrixView, k: MatrixView, v: MatrixView, heads: Int, pattern: AttentionPattern,
            _ out: MutableMatrixView, threads: Int
        ) throws {
            let layout = try Attention.validate(q: q, k: k, v: v, heads: heads, pattern: pattern, out, threads: threads)
            Attention.SIMD.tiles(
                q: q, k: k, v: v, heads: heads, layout: layout, pattern: pattern, out, threads: threads,
                vectorMask: vectorMask, skipUnreachable: false)
        }
    }

    public static let ablationKernels: [any AttentionKernel] = [
        AblateTiles(name: "ablate-tiles", vectorMask: false),
        AblateTiles(name: "ablate-vmask", vectorMask: true),
    ]
}
