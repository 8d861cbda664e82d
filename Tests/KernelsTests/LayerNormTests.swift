import Kernels
import Testing

@Suite struct LayerNormTests {
    static let shapes = [(1, 1), (3, 17), (17, 33), (5, 129), (2, 1000), (3, 4096), (9, 384)]

    /// Runs one case against the fp64 reference and the library's bound (`Tolerance.layernormRow`).
    static func check(
        _ variant: String, _ x: Matrix, threads: Int, eps: Float, seed: UInt64, label: String,
        yStride: Int? = nil, inPlace: Bool = false, expectStreaming: Bool = false
    ) throws {
        let kernel = try LayerNorm.variant(variant)
        let gamma = randomMatrix(1, x.cols, lo: 0.5, hi: 2, seed: seed).dense
        let beta = randomMatrix(1, x.cols, seed: seed + 1).dense
        var y = inPlace ? x : Matrix(rows: x.rows, cols: x.cols, stride: yStride ?? x.cols + 2)
        y.withMutableView {
            #expect(CacheControl.streams($0) == expectStreaming, "\(label): streaming stores \(expectStreaming ? "off" : "on")")
        }
        try x.withView { xv in
            try y.withMutableView { yv in
                try gamma.withUnsafeBufferPointer { g in
                    try beta.withUnsafeBufferPointer { b in
                        try kernel.run(inPlace ? yv.readOnly : xv, gamma: g, beta: b, eps: eps, yv, threads: threads)
                    }
                }
            }
        }
        let ref = x.withView { Reference.layernorm($0, gamma: gamma, beta: beta, eps: eps) }
        var tol: [Double] = []
        x.withView { xv in
            for i in 0..<x.rows {
                tol += Tolerance.layernormRow(
                    x: xv.row(i), n: x.cols, gamma: gamma, beta: beta, eps: eps,
                    ref: ref[(i * x.cols)..<(i * x.cols + x.cols)])
            }
        }
        expectClose(y, ref, tol: { tol[$0] }, label)
    }

    /// The registered variants and the ablation steps of `opbench ablation`.
    static let kernelNames = LayerNorm.checkedNames

    @Test(arguments: kernelNames)
    func matchesReference(variant: String) throws {
        var seed: UInt64 = 40
        for (r, c) in Self.shapes {
            for threads in [1, 2] {
                seed += 2
                let x = randomMatrix(r, c, pad: 1, lo: -3, hi: 5, seed: seed)
                try Self.check(variant, x, threads: threads, eps: 1e-5, seed: seed, label: "layernorm.\(variant) \(r)x\(c) t=\(threads)")
            }
        }
    }

    /// An array larger than the cache takes layernorm.simd's prefetch and streaming-store
    /// path (the small shapes above never do); the same bound holds, on 1 and 2 threads.
    @Test func streamingPath() throws {
        let x = randomMatrix(1024, 4112, lo: -3, hi: 5, seed: 78)  // 16.1 MiB ≥ the threshold
        x.withView { #expect(CacheControl.exceedsCache($0)) }
        for threads in [1, 2] {
            try Self.check(
                "simd", x, threads: threads, eps: 1e-5, seed: 79, label: "layernorm.simd streaming t=\(threads)",
                yStride: x.cols, expectStreaming: true)
        }
        // In place: y is x, so each row is streamed over the lines it was just read from.
        try Self.check(
            "simd", x, threads: 2, eps: 1e-5, seed: 80, label: "layernorm.simd streaming in place",
            inPlace: true, expectStreaming: true)
    }

    @Test(arguments: kernelNames)
    func hardValues(variant: String) throws {
        // A large mean with small spread (one-pass E[x²]−E[x]² would lose every digit),
        // huge magnitudes, tiny eps as in MiniLM.
        var rng = SplitMix64(seed: 8)
        let x = Matrix(rows: 4, cols: 300) { r, _ in
            switch r {
            case 0: return 1e4 + Float.random(in: -1..<1, using: &rng)
            case 1: return Float.random(in: -1e6..<1e6, using: &rng)
            case 2: return Float.random(in: -1e-3..<1e-3, using: &rng)
            default: return Float.random(in: -1..<1, using: &rng)
            }
        }
        try Self.check(variant, x, threads: 2, eps: 1e-12, seed: 3, label: "layernorm.\(variant) hard")
        // Constant rows have variance 0: the corrected two-pass returns exactly beta.
        let kernel = try LayerNorm.variant(variant)
        for value: Float in [0, 0.1, -7.3, 1e4, 3e7] {
            for n in [1, 17, 4096] {
                let c = Matrix(rows: 2, cols: n) { _, _ in value }
                let beta = randomMatrix(1, n, seed: 4).dense
                let gamma = randomMatrix(1, n, seed: 5).dense
                var y = Matrix(rows: 2, cols: n)
                try c.withView { xv in
                    try y.withMutableView { yv in
                        try gamma.withUnsafeBufferPointer { g in
                            try beta.withUnsafeBufferPointer { b in
                                try kernel.run(xv, gamma: g, beta: b, eps: 1e-5, yv, threads: 2)
                            }
                        }
                    }
                }
                #expect(y.dense == beta + beta /* both rows equal beta */, "layernorm.\(variant) constant \(value) n=\(n)")
            }
        }
    }

    @Test func badInput() throws {
        let x = Matrix(rows: 3, cols: 4)
        var y = Matrix(rows: 3, cols: 4)
        let g4 = [Float](repeating: 1, count: 4), g3 = [Float](repeating: 1, count: 3)
        for kernel in LayerNorm.variants {
            try x.withView { xv in
                try y.withMutableView { yv in
                    g4.withUnsafeBufferPointer { g in
                        g3.withUnsafeBufferPointer { bad in
                            expectKernelError(["layernorm", "gamma", "C=4", "C=3"]) {
                                try kernel.run(xv, gamma: bad, beta: g, eps: 1e-5, yv, threads: 1)
                            }
                            expectKernelError(["layernorm", "beta"]) { try kernel.run(xv, gamma: g, beta: bad, eps: 1e-5, yv, threads: 1) }
                            expectKernelError(["layernorm", "eps", "0.0"]) { try kernel.run(xv, gamma: g, beta: g, eps: 0, yv, threads: 1) }
                            expectKernelError(["layernorm", "threads"]) { try kernel.run(xv, gamma: g, beta: g, eps: 1e-5, yv, threads: 0) }
                            let y2 = MutableMatrixView(base: yv.base, rows: 2, cols: 4, stride: 4)
                            expectKernelError(["layernorm", "'y'", "2x4"]) {
                                try kernel.run(xv, gamma: g, beta: g, eps: 1e-5, y2, threads: 1)
                            }
                        }
                    }
                }
            }
        }
    }
}
