import Kernels
import Testing

@Suite struct SoftmaxTests {
    static let shapes = [(1, 1), (3, 17), (17, 33), (5, 129), (2, 1000), (3, 4096), (40, 31)]

    /// Runs one case against the fp64 reference and the library's bound (`Tolerance.softmaxRow`).
    static func check(
        _ variant: String, _ x: Matrix, _ options: Softmax.Options, threads: Int, label: String,
        yStride: Int? = nil, expectStreaming: Bool = false
    ) throws {
        let kernel = try Softmax.variant(variant)
        var y = Matrix(rows: x.rows, cols: x.cols, stride: yStride ?? x.cols + 1)
        y.withMutableView {
            #expect(CacheControl.streams($0) == expectStreaming, "\(label): streaming stores \(expectStreaming ? "off" : "on")")
        }
        try x.withView { xv in try y.withMutableView { yv in try kernel.run(xv, yv, options: options, threads: threads) } }
        let ref = x.withView { Reference.softmax($0, options: options) }
        var tol: [Double] = []
        x.withView { xv in
            for i in 0..<x.rows {
                let n = Softmax.allowedCount(row: i, rows: x.rows, cols: x.cols, causal: options.causal)
                tol += Tolerance.softmaxRow(
                    x: xv.row(i), n: n, cols: x.cols, scale: options.scale,
                    ref: ref[(i * x.cols)..<(i * x.cols + x.cols)])
            }
        }
        expectClose(y, ref, tol: { tol[$0] }, label)
        // Masked entries and fully masked rows are exactly 0.
        for i in 0..<x.rows {
            for j in 0..<x.cols where ref[i * x.cols + j] == 0 && x[i, j] == -.infinity {
                #expect(y[i, j] == 0, "\(label): masked [\(i),\(j)] = \(y[i, j])")
            }
        }
    }

    /// The registered variants and the ablation steps of `opbench ablation`.
    static let kernelNames = Softmax.checkedNames

    @Test(arguments: kernelNames)
    func matchesReference(variant: String) throws {
        var seed: UInt64 = 10
        for (r, c) in Self.shapes {
            for threads in [1, 2] {
                for options in [Softmax.Options(), .init(scale: 0.125, causal: true), .init(scale: 3, causal: false)] {
                    seed += 1
                    let x = randomMatrix(r, c, pad: 3, lo: -8, hi: 8, seed: seed)
                    try Self.check(variant, x, options, threads: threads, label: "softmax.\(variant) \(r)x\(c) \(options) t=\(threads)")
                }
            }
        }
    }

    @Test(arguments: kernelNames)
    func hardValues(variant: String) throws {
        var rng = SplitMix64(seed: 99)
        // Large magnitudes (exp would overflow without the max shift), −inf masks at random
        // places, a row that is entirely −inf, a row with one finite entry.
        var x = Matrix(rows: 6, cols: 37) { _, _ in Float.random(in: -3e4..<3e4, using: &rng) }
        for j in 0..<37 where j % 3 == 0 { x[1, j] = -.infinity }
        for j in 0..<37 { x[2, j] = -.infinity }
        for j in 0..<37 where j != 20 { x[3, j] = -.infinity }
        for j in 0..<37 { x[4, j] = 1e30 * (j % 2 == 0 ? 1 : -1) }
        for j in 0..<37 { x[5, j] = -1e30 }
        for threads in [1, 2] {
            try Self.check(variant, x, Softmax.Options(), threads: threads, label: "softmax.\(variant) hard t=\(threads)")
            try Self.check(
                variant, x, .init(scale: 0.5, causal: true), threads: threads, label: "softmax.\(variant) hard causal t=\(threads)")
        }
        // Causal with more rows than columns: the first rows see nothing and must be 0.
        let tall = randomMatrix(9, 4, seed: 5)
        try Self.check(variant, tall, .init(causal: true), threads: 2, label: "softmax.\(variant) tall causal")
    }

    /// An array larger than the cache takes the prefetch and streaming-store path of
    /// softmax.simd (the small shapes above never do): the same bound must hold, for full
    /// rows, for causal rows ending at every offset within a vector, and on 2 threads.
    @Test func streamingPath() throws {
        let x = randomMatrix(1024, 4112, lo: -8, hi: 8, seed: 77)  // 16.1 MiB ≥ the threshold
        x.withView { #expect(CacheControl.exceedsCache($0)) }
        try Self.check("simd", x, .init(scale: 0.5), threads: 1, label: "softmax.simd streaming", yStride: x.cols, expectStreaming: true)
        try Self.check(
            "simd", x, .init(scale: 0.5, causal: true), threads: 2, label: "softmax.simd streaming causal",
            yStride: x.cols, expectStreaming: true)
        // In place: y is x.
        var y = x
        let ref = x.withView { Reference.softmax($0, options: .init()) }
        try y.withMutableView { yv in
            #expect(CacheControl.streams(yv))
            try Softmax.SIMD().run(yv.readOnly, yv, options: .init(), threads: 2)
        }
        expectClose(y, ref, tol: { ref[$0] * 1e-5 }, "softmax.simd streaming in place")
    }

    @Test func inPlace() throws {
        for kernel in Softmax.variants {
            let x = randomMatrix(7, 45, seed: 3)
            var y = x
            let ref = x.withView { Reference.softmax($0, options: .init()) }
            try y.withMutableView { yv in try kernel.run(yv.readOnly, yv, options: .init(), threads: 2) }
            expectClose(y, ref, tol: { ref[$0] * 1e-5 }, "softmax.\(kernel.name) in place")
        }
    }

    @Test func badInput() throws {
        let x = Matrix(rows: 3, cols: 4)
        var y = Matrix(rows: 3, cols: 5)
        for kernel in Softmax.variants {
            try x.withView { xv in
                y.withMutableView { yv in
                    expectKernelError(["softmax", "'y'", "3x4", "3x5"]) { try kernel.run(xv, yv, options: .init(), threads: 1) }
                    let y2 = MutableMatrixView(base: yv.base, rows: 3, cols: 4, stride: 4)
                    expectKernelError(["softmax", "scale", "nan"]) { try kernel.run(xv, y2, options: .init(scale: .nan), threads: 1) }
                    expectKernelError(["softmax", "scale", "-1"]) { try kernel.run(xv, y2, options: .init(scale: -1), threads: 1) }
                    expectKernelError(["threads", "-2"]) { try kernel.run(xv, y2, options: .init(), threads: -2) }
                }
            }
        }
    }
}

@Suite struct VectorMathTests {
    /// Sweeps [−87.3, 88] densely and checks the documented bound of the SIMD exp
    /// (relative error < 1.2e-7 ≈ 2⁻²³ vs fp64 exp); also the exact zero for inputs below −87.34.
    @Test func expAccuracy() {
        var worst = 0.0
        var x: Float = -87.3
        // ~128,000 points, 16 per vector, every lane a different value.
        while x < 88 {
            var v = Vec()
            for l in 0..<16 { v[l] = min(88, x + Float(l) * 8.6e-5) }
            let e = VectorMath.exp(v)
            for l in 0..<16 {
                let ref = Foundation.exp(Double(v[l]))
                worst = max(worst, abs(Double(e[l]) - ref) / ref)
            }
            x += 0.00137
        }
        #expect(worst < 1.2e-7, "worst relative error \(worst)")
        // The x ≤ 0 fast path gives the same bits as the general one.
        var y: Float = -90
        while y <= 0 {
            var v = Vec()
            for l in 0..<16 { v[l] = min(0, y + Float(l) * 3.1e-4) }
            #expect(VectorMath.expNonPositive(v) == VectorMath.exp(v), "expNonPositive differs near \(y)")
            y += 0.0049
        }
        #expect(VectorMath.expNonPositive(Vec(repeating: -.infinity)) == Vec())
        #expect(VectorMath.exp(-Float.infinity) == 0)
        #expect(VectorMath.exp(-88) == 0)
        #expect(VectorMath.exp(0) == 1)
    }

    @Test func halfConversions() {
        #expect(Half.bits(1) == 0x3C00)
        #expect(Half.bits(65520) == 0x7C00)  // rounds to +inf
        #expect(Half.float(0x3555) == Float(Float16(bitPattern: 0x3555)))
        #expect(Half.bits(1 + 0x1p-11) == 0x3C00)  // tie → even
        #expect(Half.bits(1 + 3 * 0x1p-11) == 0x3C02)
    }
}

import Foundation
