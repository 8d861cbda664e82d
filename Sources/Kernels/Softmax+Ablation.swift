#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The steps of `opbench ablation --op softmax` (see `Ablation`).
extension Softmax {
    /// The ablation chain: the optimizations of `softmax.simd` one at a time, first step first.
    public static let ablation: [Ablation.Step] = [
        Ablation.Step(variant: "naive", change: "plain loops, libm expf, three passes", threads: 1),
        Ablation.Step(
            variant: "ablate-libm", change: "SIMD16 passes; max with the stdlib's pointwiseMax, exp by libm per lane", threads: 1),
        Ablation.Step(variant: "ablate-polyexp", change: "polynomial exp on 16 lanes (range-checked form)", threads: 1),
        Ablation.Step(variant: "ablate-blend", change: "running max by compare/blend instead of pointwiseMax", threads: 1),
        Ablation.Step(variant: "ablate-fused", change: "exp, sum and store fused in one pass; x <= 0 exp path", threads: 1),
        Ablation.Step(
            variant: "ablate-prefetch", change: "next row prefetched into L2 during the exp pass, so its memory reads overlap compute",
            threads: 1),
        Ablation.Step(
            variant: "simd", change: "streaming stores from an L1 scratch row: no write-allocate reads of y = softmax.simd", threads: 1),
        Ablation.Step(variant: "simd", change: "2 threads (rows split)", threads: 2),
    ]

    /// Three SIMD16 passes (max, exp + sum, scale) with the chosen max and exp.
    struct AblateSteps: SoftmaxKernel {
        enum Exp { case libm, poly }
        let name: String
        let exp: Exp
        let blendMax: Bool
        var summary: String { "ablation: SIMD16 softmax steps" }

        func run(_ x: MatrixView, _ y: MutableMatrixView, options: Softmax.Options, threads: Int) throws {
            try Softmax.validate(x, y, options: options, threads: threads)
            let exp = self.exp, blendMax = self.blendMax
            Parallel.forEach(x.rows, threads: threads) { rows in
                for i in rows {
                    let n = Softmax.allowedCount(row: i, rows: x.rows, cols: x.cols, causal: options.causal)
                    let xr = x.row(i), yr = y.row(i), s = Vec(repeating: options.scale)
                    @inline(__always) func load(_ j: Int, fill: Float) -> Vec {
                        j + 16 <= n
                            ? UnsafeRawPointer(xr + j).loadUnaligned(as: Vec.self) * s
                            : VectorMath.loadPartial(xr + j, n - j, fill: fill) * s
                    }
                    var mv = Vec(repeating: -.infinity)
                    for j in Swift.stride(from: 0, to: n, by: 16) {
                        let v = load(j, fill: -.infinity)
                        mv = blendMax ? mv.replacing(with: v, where: v .> mv) : pointwiseMax(mv, v)
                    }
                    let m = VectorMath.max(mv)
                    if m == -.infinity { for j in 0..<x.cols { yr[j] = 0 }; continue }
                    var sum = Vec()
                    for j in Swift.stride(from: 0, to: n, by: 16) {
                        let d = load(j, fill: -.infinity) - Vec(repeating: m)
                        var e: Vec
                        switch exp {
                        case .libm:
                            e = Vec()
                            for l in 0..<16 { e[l] = expf(d[l]) }
                        case .poly:
                            e = VectorMath.exp(d)
                        }
                        VectorMath.storePartial(e, yr + j, Swift.min(16, n - j))
                        if j + 16 > n { for l in (n - j)..<16 { e[l] = 0 } }
                        sum += e
                    }
                    let inv = 1 / VectorMath.sum(sum)
                    for j in 0..<n { yr[j] *= inv }
                    for j in n..<x.cols { yr[j] = 0 }
                }
            }
        }
    }

    /// softmax.simd's row loop with its memory-side steps switched off or on (ordinary
    /// stores throughout: streaming is the registered variant's own step).
    struct AblateRows: SoftmaxKernel {
        let name: String
        let prefetch: Bool
        var summary: String { "ablation: fused passes" + (prefetch ? ", next row prefetched" : "") }
        func run(_ x: MatrixView, _ y: MutableMatrixView, options: Softmax.Options, threads: Int) throws {
            try Softmax.validate(x, y, options: options, threads: threads)
            Softmax.SIMD.rows(x, y, options: options, threads: threads, prefetch: prefetch, stream: false)
        }
    }

    public static let ablationKernels: [any SoftmaxKernel] = [
        AblateRows(name: "ablate-fused", prefetch: false),
        AblateRows(name: "ablate-prefetch", prefetch: true),
        AblateSteps(name: "ablate-libm", exp: .libm, blendMax: false),
        AblateSteps(name: "ablate-polyexp", exp: .poly, blendMax: false),
        AblateSteps(name: "ablate-blend", exp: .poly, blendMax: true),
    ]
}
