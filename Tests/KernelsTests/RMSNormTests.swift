import Kernels
import Testing

@Suite struct RMSNormTests {
    static let shapes = [(1, 1), (3, 17), (17, 33), (5, 129), (2, 1000), (3, 4096), (9, 896)]

    /// Runs one case against the fp64 reference and the library's bound (`Tolerance.rmsnormRow`).
    static func check(
        _ variant: String, _ x: Matrix, threads: Int, eps: Float, seed: UInt64, label: String, inPlace: Bool = false
    ) throws -> Matrix {
        let kernel = try RMSNorm.variant(variant)
        let gamma = randomMatrix(1, x.cols, lo: 0.5, hi: 2, seed: seed).dense
        var y = inPlace ? x : Matrix(rows: x.rows, cols: x.cols, stride: x.cols + 2)
        try x.withView { xv in
            try y.withMutableView { yv in
                try gamma.withUnsafeBufferPointer { try kernel.run(inPlace ? yv.readOnly : xv, gamma: $0, eps: eps, yv, threads: threads) }
            }
        }
        let ref = x.withView { Reference.rmsnorm($0, gamma: gamma, eps: eps) }
        var tol: [Double] = []
        x.withView { xv in for i in 0..<x.rows { tol += Tolerance.rmsnormRow(x: xv.row(i), n: x.cols, gamma: gamma, eps: eps) } }
        if ref.allSatisfy(\.isFinite) { expectClose(y, ref, tol: { tol[$0] }, label) }
        return y
    }

    @Test(arguments: RMSNorm.checkedNames)
    func matchesReference(variant: String) throws {
        var seed: UInt64 = 70
        for (r, c) in Self.shapes {
            for threads in [1, 2] {
                seed += 2
                let x = randomMatrix(r, c, pad: 1, lo: -3, hi: 5, seed: seed)
                _ = try Self.check(variant, x, threads: threads, eps: 1e-5, seed: seed, label: "rmsnorm.\(variant) \(r)x\(c) t=\(threads)")
                _ = try Self.check(variant, x, threads: threads, eps: 1e-6, seed: seed, label: "rmsnorm.\(variant) in place", inPlace: true)
            }
        }
    }

    /// Rows at the edges of fp32: all zero (y = 0 exactly), tiny (Σx² underflows; eps
    /// dominates), huge (Σx² overflows fp32 and is summed again scaled by 2⁻⁶⁴: y must come out
    /// near ±γ, not 0), and a row with a NaN and one with an inf (NaN out, the other rows untouched).
    @Test(arguments: RMSNorm.checkedNames)
    func edgeRows(variant: String) throws {
        var x = randomMatrix(6, 100, lo: -3, hi: 5, seed: 5)
        for j in 0..<100 {
            x[0, j] = 0
            x[1, j] *= 1e-30
            x[2, j] *= 1e19  // |x| up to 5e19: x² up to 2.5e39 > Float.greatestFiniteMagnitude
        }
        x[2, 7] = 3e37
        let y = try Self.check(variant, x, threads: 1, eps: 1e-5, seed: 9, label: "rmsnorm.\(variant) edges")
        #expect((0..<100).allSatisfy { y[0, $0] == 0 }, "zero row")
        #expect((0..<100).contains { abs(y[2, $0]) > 0.01 } && (0..<100).allSatisfy { y[2, $0].isFinite }, "overflowing row")
        var bad = x
        bad[3, 5] = .nan; bad[4, 9] = .infinity
        let kernel = try RMSNorm.variant(variant)
        let gamma = [Float](repeating: 1, count: 100)
        var out = Matrix(rows: 6, cols: 100)
        try bad.withView { xv in
            try out.withMutableView { ov in try gamma.withUnsafeBufferPointer { try kernel.run(xv, gamma: $0, eps: 1e-5, ov, threads: 1) } }
        }
        #expect((0..<100).allSatisfy { out[3, $0].isNaN } && (0..<100).allSatisfy { out[4, $0].isNaN }, "non-finite rows give NaN")
        #expect((0..<100).allSatisfy { out[5, $0].isFinite })
    }

    @Test func badArguments() throws {
        let x = Matrix(rows: 2, cols: 8)
        var y = Matrix(rows: 2, cols: 8), wrong = Matrix(rows: 2, cols: 7)
        for kernel in RMSNorm.variants {
            let g8 = [Float](repeating: 1, count: 8), g7 = [Float](repeating: 1, count: 7)
            x.withView { xv in
                y.withMutableView { yv in
                    for eps: Float in [0, -1, .nan, .infinity] {
                        expectKernelError(["eps"]) {
                            try g8.withUnsafeBufferPointer { try kernel.run(xv, gamma: $0, eps: eps, yv, threads: 1) }
                        }
                    }
                    expectKernelError(["gamma", "C=8"]) {
                        try g7.withUnsafeBufferPointer { try kernel.run(xv, gamma: $0, eps: 1e-5, yv, threads: 1) }
                    }
                    expectKernelError(["threads"]) {
                        try g8.withUnsafeBufferPointer { try kernel.run(xv, gamma: $0, eps: 1e-5, yv, threads: 0) }
                    }
                }
                wrong.withMutableView { wv in
                    expectKernelError(["y", "2x8"]) {
                        try g8.withUnsafeBufferPointer { try kernel.run(xv, gamma: $0, eps: 1e-5, wv, threads: 1) }
                    }
                }
            }
        }
    }
}
