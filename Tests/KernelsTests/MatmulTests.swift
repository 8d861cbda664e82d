@testable import Kernels
import Testing

@Suite struct MatmulTests {
    struct Case: CustomStringConvertible, Sendable {
        let m: Int, k: Int, n: Int
        var description: String { "\(m)x\(k)x\(n)" }
    }

    // Odd sizes: none a multiple of the 6×64 tile or the 16-lane vector, plus exact tiles,
    // the M ≤ 4 direct path, the W[N×K] dot path (M ≤ 64, or ≤ 128 with K ≤ 1024) and past it, K past one KC block,
    // and small B[K×N] products read in place.
    static let shapes: [Case] = [
        Case(m: 1, k: 1, n: 1), Case(m: 1, k: 33, n: 17), Case(m: 3, k: 17, n: 5), Case(m: 4, k: 129, n: 70),
        Case(m: 5, k: 7, n: 11), Case(m: 6, k: 64, n: 64), Case(m: 13, k: 257, n: 33),
        Case(m: 17, k: 33, n: 129), Case(m: 129, k: 3, n: 257), Case(m: 33, k: 1030, n: 65),
        Case(m: 64, k: 31, n: 7), Case(m: 65, k: 48, n: 67), Case(m: 100, k: 1030, n: 70),
        // Small B[K×N] with N a multiple of 64: read in place (`GEMM.inPlace`), edge row tiles.
        Case(m: 5, k: 100, n: 64), Case(m: 13, k: 37, n: 128),
    ]

    /// The registered variants and the ablation steps (`opbench ablation`), which take B[K×N]
    /// only and must say so for W[N×K].
    @Test(
        arguments: Matmul.checkedNames,
        [Matmul.BLayout.kn, .nk])
    func matchesReference(variant: String, layout: Matmul.BLayout) throws {
        let kernel = try Matmul.variant(variant)
        if variant.hasPrefix("ablate-") && layout == .nk {
            let a = Matrix(rows: 2, cols: 3), w = Matrix(rows: 4, cols: 3)
            var c = Matrix(rows: 2, cols: 4)
            expectKernelError(["unsupported", "B[K×N] only"]) {
                try a.withView { av in
                    try w.withView { wv in try c.withMutableView { try kernel.run(av, wv, layout: .nk, bias: nil, $0, threads: 1) } }
                }
            }
            return
        }
        var seed: UInt64 = 1
        for s in Self.shapes {
            for threads in [1, 2] {
                for withBias in [false, true] {
                    seed += 1
                    let a = randomMatrix(s.m, s.k, pad: 3, seed: seed)
                    let b =
                        layout == .kn ? randomMatrix(s.k, s.n, pad: 5, seed: seed + 100) : randomMatrix(s.n, s.k, pad: 5, seed: seed + 100)
                    let bias: [Float]? = withBias ? randomMatrix(1, s.n, seed: seed + 200).dense : nil
                    var c = Matrix(rows: s.m, cols: s.n, stride: s.n + 2)
                    try a.withView { av in
                        try b.withView { bv in
                            try c.withMutableView { cv in
                                if let bias {
                                    try bias.withUnsafeBufferPointer {
                                        try kernel.run(av, bv, layout: layout, bias: $0, cv, threads: threads)
                                    }
                                } else {
                                    try kernel.run(av, bv, layout: layout, bias: nil, cv, threads: threads)
                                }
                            }
                        }
                    }
                    let (ref, scale) = a.withView { av in
                        b.withView { bv in
                            (Reference.matmul(av, bv, layout: layout, bias: bias), Reference.matmulAbs(av, bv, layout: layout))
                        }
                    }
                    expectClose(
                        c, ref, tol: { i in Tolerance.matmul(k: s.k, absScale: scale[i], bias: bias.map { Double($0[i % s.n]) }) },
                        "matmul.\(variant) \(layout) \(s) threads=\(threads) bias=\(withBias)")
                }
            }
        }
    }

    /// Weights packed once (`PackedWeights`, as a model's fp32 linears at load): every variant's
    /// `run(_:packed:…)` gives exactly what its `run` gives on the weights as stored, when that
    /// run takes the same path — simd's packed GEMM (the dot paths turned off), or the others'
    /// own code (they ignore the panels). For simd the panels change only where B comes from,
    /// not the sums, so the two are equal bit for bit; at M ≤ `directMaxRows` both take the
    /// dot path. Shapes: edge tiles in M and N, K over one KC block (1030 > 1024), a K of 1.
    /// (auto installs its tuned table, or the defaults, around each call: it must give simd's
    /// packed result.)
    @Test(arguments: Matmul.checkedNames.filter { !$0.hasPrefix("ablate-") })
    func packedWeightsMatchStored(variant: String) throws {
        let kernel = try Matmul.variant(variant == "auto" ? "simd" : variant)
        let tested = try Matmul.variant(variant)
        #expect(tested.usesPackedWeights == (variant == "simd" || variant == "auto"), "matmul.\(variant)")
        let packedPath = try Matmul.table(["directMaxRowsNK": 0, "directMaxRowsNKShortK": 0])
        var seed: UInt64 = 500
        for (m, k, n) in [(1, 33, 17), (4, 129, 70), (5, 7, 11), (6, 64, 64), (13, 257, 33), (64, 1030, 65), (129, 3, 257), (7, 1, 130)] {
            for threads in [1, 2] {
                for withBias in [false, true] {
                    seed += 1
                    let a = randomMatrix(m, k, pad: 3, seed: seed), w = randomMatrix(n, k, pad: 5, seed: seed + 100)
                    let bias: [Float]? = withBias ? randomMatrix(1, n, seed: seed + 200).dense : nil
                    let packed = PackedWeights(w)
                    var stored = Matrix(rows: m, cols: n, stride: n + 2), fromPanels = stored
                    // auto runs simd at its defaults: compare with simd's own packed path there.
                    let table: (any TuningTable)? = variant == "auto" ? nil : packedPath
                    try a.withView { av in
                        try withOptional(bias) { b in
                            try Matmul.withTable(packedPath) {
                                try w.withView { wv in
                                    try stored.withMutableView {
                                        if variant == "auto" {
                                            try kernel.run(av, packed: packed, bias: b, $0, threads: threads)
                                        } else {
                                            try kernel.run(av, wv, layout: .nk, bias: b, $0, threads: threads)
                                        }
                                    }
                                }
                            }
                            try Matmul.withTable(table) {
                                try fromPanels.withMutableView { try tested.run(av, packed: packed, bias: b, $0, threads: threads) }
                            }
                        }
                    }
                    let differing = zip(stored.dense, fromPanels.dense).filter { $0.bitPattern != $1.bitPattern }.count
                    #expect(
                        differing == 0, "matmul.\(variant) \(m)x\(k)x\(n) threads=\(threads) bias=\(withBias): \(differing) outputs differ")
                }
            }
        }
    }

    func withOptional(_ values: [Float]?, _ body: (UnsafeBufferPointer<Float>?) throws -> Void) rethrows {
        guard let values else { return try body(nil) }
        try values.withUnsafeBufferPointer { try body($0) }
    }

    /// The panels hold W transposed in NR-column groups, zero past N; the weights stay shared.
    @Test func packedWeightsLayout() {
        let w = randomMatrix(70, 5, pad: 2, seed: 3)
        let p = PackedWeights(w)
        #expect(p.rows == 70 && p.cols == 5 && p.weight == w)
        #expect(PackedWeights.floats(rows: 70, cols: 5) == 5 * 128)
        for j in [0, 63, 64, 69, 70, 127] {
            for k in 0..<5 {
                let got = p.panel(column: j / 64 * 64, depth: k)[j % 64]
                #expect(got.bitPattern == (j < 70 ? w[j, k] : 0).bitPattern, "W[\(j), \(k)]")
            }
        }
    }

    /// Large GEMMs (several KC and NC blocks, both thread splits) checked by the residual
    /// C·t − A·(B·t) in fp64, O(n²) instead of an O(n³) reference:
    /// |(Ĉ·t − A·B·t)_i| ≤ Σ_j |t_j|·γ_K·Σ_p|a_ip||b_pj| = γ_K·Σ_p |a_ip|·(|B|·|t|)_p.
    @Test(arguments: ["simd", "blas"])
    func residualLarge(variant: String) throws {
        let kernel = try Matmul.variant(variant)
        for (m, k, n, layout) in [(300, 1100, 4200, Matmul.BLayout.kn), (37, 2100, 300, .nk), (1000, 70, 130, .kn)] {
            for threads in [1, 2] {
                let a = randomMatrix(m, k, seed: 7), b = layout == .kn ? randomMatrix(k, n, seed: 8) : randomMatrix(n, k, seed: 8)
                let t = randomMatrix(1, n, seed: 9).dense.map(Double.init)
                var c = Matrix(rows: m, cols: n)
                try a.withView { av in
                    try b.withView { bv in
                        try c.withMutableView { cv in
                            try kernel.run(av, bv, layout: layout, bias: nil, cv, threads: threads)
                        }
                    }
                }
                var bt = [Double](repeating: 0, count: k), babs = [Double](repeating: 0, count: k)
                for p in 0..<k {
                    for j in 0..<n {
                        let bpj = Double(layout == .kn ? b[p, j] : b[j, p])
                        bt[p] += bpj * t[j]; babs[p] += abs(bpj * t[j])
                    }
                }
                var failures = 0
                for i in 0..<m {
                    var ct = 0.0, abt = 0.0, bound = 0.0
                    for j in 0..<n { ct += Double(c[i, j]) * t[j] }
                    for p in 0..<k { abt += Double(a[i, p]) * bt[p]; bound += abs(Double(a[i, p])) * babs[p] }
                    // Plus the fp64 evaluation of the residual itself (n + k terms, 2⁻⁵³ each).
                    if abs(ct - abt) > Tolerance.matmul(k: k, absScale: bound) + Double(n + k) * 0x1p-52 * bound { failures += 1 }
                }
                #expect(failures == 0, "matmul.\(variant) \(m)x\(k)x\(n) \(layout) threads=\(threads): \(failures) rows over the bound")
            }
        }
    }

    @Test func badInput() throws {
        let a = Matrix(rows: 3, cols: 4), b = Matrix(rows: 5, cols: 6)
        var c = Matrix(rows: 3, cols: 6)
        for kernel in Matmul.variants {
            try a.withView { av in
                try b.withView { bv in
                    try c.withMutableView { cv in
                        expectKernelError(["matmul", "'B'", "5x6"]) { try kernel.run(av, bv, layout: .kn, bias: nil, cv, threads: 1) }
                        expectKernelError(["matmul", "'W'"]) { try kernel.run(av, bv, layout: .nk, bias: nil, cv, threads: 1) }
                        let b2 = MatrixView(base: bv.base, rows: 4, cols: 6, stride: 6)
                        expectKernelError(["threads", "0"]) { try kernel.run(av, b2, layout: .kn, bias: nil, cv, threads: 0) }
                        expectKernelError(["threads", "1000"]) { try kernel.run(av, b2, layout: .kn, bias: nil, cv, threads: 1000) }
                        let badC = MutableMatrixView(base: cv.base, rows: 2, cols: 6, stride: 6)
                        expectKernelError(["'C'", "3x6", "2x6"]) { try kernel.run(av, b2, layout: .kn, bias: nil, badC, threads: 1) }
                        let badStride = MatrixView(base: av.base, rows: 3, cols: 4, stride: 2)
                        expectKernelError(["'A'", "stride 2"]) { try kernel.run(badStride, b2, layout: .kn, bias: nil, cv, threads: 1) }
                        let zero = MatrixView(base: av.base, rows: 0, cols: 4, stride: 4)
                        expectKernelError(["'A'", "0x4"]) { try kernel.run(zero, b2, layout: .kn, bias: nil, cv, threads: 1) }
                        [Float](repeating: 0, count: 5).withUnsafeBufferPointer { bias in
                            expectKernelError(["bias", "N=6", "N=5"]) { try kernel.run(av, b2, layout: .kn, bias: bias, cv, threads: 1) }
                        }
                    }
                }
            }
        }
        expectKernelError(["matmul", "'fast'", "naive, simd, blas"]) { _ = try Matmul.variant("fast") }
    }
}
