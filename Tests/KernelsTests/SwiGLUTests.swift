import Kernels
import Testing

@Suite struct SwiGLUTests {
    static func check(_ variant: String, _ gate: Matrix, _ up: Matrix, threads: Int, inPlace: Bool = false, label: String) throws {
        let kernel = try SwiGLU.variant(variant)
        var y = inPlace ? gate : Matrix(rows: gate.rows, cols: gate.cols, stride: gate.cols + 3)
        try gate.withView { g in
            try up.withView { u in try y.withMutableView { yv in try kernel.run(inPlace ? yv.readOnly : g, u, yv, threads: threads) } }
        }
        let ref = gate.withView { g in up.withView { Reference.swiglu(g, $0) } }
        expectClose(
            y, ref, tol: { i in Tolerance.swigluElement(gate: gate[i / gate.cols, i % gate.cols], up: up[i / gate.cols, i % gate.cols]) },
            label)
    }

    @Test(arguments: SwiGLU.checkedNames)
    func matchesReference(variant: String) throws {
        var seed: UInt64 = 300
        for (r, c) in [(1, 1), (3, 15), (17, 33), (5, 129), (2, 5632), (9, 16)] {
            for threads in [1, 2] {
                seed += 2
                let g = randomMatrix(r, c, pad: 2, lo: -10, hi: 10, seed: seed), u = randomMatrix(r, c, lo: -3, hi: 3, seed: seed + 1)
                try Self.check(variant, g, u, threads: threads, label: "swiglu.\(variant) \(r)x\(c) t=\(threads)")
                try Self.check(variant, g, u, threads: threads, inPlace: true, label: "swiglu.\(variant) in place")
            }
        }
    }

    /// Gate values where exp overflows or is clamped (−g > 88), where it underflows to 0
    /// (g > 87.3: silu(g) = g exactly), signed zeros and a subnormal (2⁻¹³³), against the same bound.
    @Test(arguments: SwiGLU.checkedNames)
    func extremeGates(variant: String) throws {
        let values: [Float] = [-1000, -100, -88.8, -88, -87.5, -20, -1e-30, -0.0, 0, 0x1p-133, 1e-30, 20, 87.4, 88.5, 100, 1e38]
        let g = Matrix(rows: 2, cols: values.count) { _, j in values[j] }
        let u = Matrix(rows: 2, cols: values.count) { i, j in i == 0 ? 1.5 : -2e-3 * Float(j + 1) }
        try Self.check(variant, g, u, threads: 1, label: "swiglu.\(variant) extremes")
    }

    @Test func badArguments() throws {
        let a = Matrix(rows: 2, cols: 8), b = Matrix(rows: 2, cols: 7)
        var y = Matrix(rows: 2, cols: 8)
        for kernel in SwiGLU.variants {
            a.withView { av in
                b.withView { bv in
                    y.withMutableView { yv in
                        expectKernelError(["up", "2x8", "2x7"]) { try kernel.run(av, bv, yv, threads: 1) }
                        expectKernelError(["threads"]) { try kernel.run(av, av, yv, threads: 0) }
                    }
                }
            }
        }
    }
}
