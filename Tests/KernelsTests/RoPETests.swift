#if canImport(Glibc)
    import Glibc
#endif
import Kernels
import Testing

@Suite struct RoPETests {
    static func check(
        _ variant: String, t: Int, h: Int, d: Int, r: Int, pairing: RoPEPairing, p0: Int, theta: Double, threads: Int, inPlace: Bool,
        seed: UInt64
    ) throws {
        let kernel = try RoPE.variant(variant)
        let x = randomMatrix(t, h * d, pad: 3, seed: seed)
        let table = try RoPETable(p0: p0, count: t + 2, rotaryDims: r, theta: theta)
        var y = inPlace ? x : Matrix(rows: t, cols: h * d, stride: h * d + 1)
        try x.withView { xv in
            try y.withMutableView { yv in
                try kernel.run(inPlace ? yv.readOnly : xv, yv, heads: h, headDim: d, table: table, pairing: pairing, threads: threads)
            }
        }
        let ref = x.withView { Reference.rope($0, heads: h, headDim: d, p0: p0, rotaryDims: r, theta: theta, pairing: pairing) }
        var tol: [Double] = []
        x.withView { xv in
            for row in 0..<t {
                tol += Tolerance.ropeRow(
                    x: xv.row(row), heads: h, headDim: d, position: p0 + row, rotaryDims: r, theta: theta, pairing: pairing,
                    angleError: table.angleError)
            }
        }
        expectClose(y, ref, tol: { tol[$0] }, "rope.\(variant) T=\(t) H=\(h) D=\(d) R=\(r) \(pairing) p0=\(p0) t=\(threads)")
    }

    @Test(arguments: RoPE.checkedNames, RoPEPairing.allCases)
    func matchesReference(variant: String, pairing: RoPEPairing) throws {
        var seed: UInt64 = 900
        for (t, h, d, r, p0, theta) in [
            (1, 1, 2, 2, 0, 10000.0), (7, 3, 64, 64, 0, 10000), (5, 2, 80, 34, 11, 10000), (9, 4, 128, 128, 4090, 500000),
            (3, 2, 64, 32, 131_068, 500000), (17, 1, 6, 2, 1, 1e6), (4, 14, 64, 64, 99_999, 1_000_000),
        ] {
            for threads in [1, 2] {
                for inPlace in [false, true] {
                    seed += 1
                    try Self.check(
                        variant, t: t, h: h, d: d, r: r, pairing: pairing, p0: p0, theta: theta, threads: threads, inPlace: inPlace,
                        seed: seed)
                }
            }
        }
    }

    /// The table at p = 131071 (and up to 2²⁰) against cos and sin of the angle formed and
    /// reduced in 80-bit arithmetic: within u + a of each, as `RoPETable` states. An angle
    /// formed in fp32 would be off by up to p·2⁻²⁴ = 0.008 rad there, 10⁵ times the bound.
    @Test func farPositionsStayAccurate() throws {
        for (p0, theta) in [(131_071, 10000.0), (131_071, 500000), (1 << 20, 1e6)] {
            let r = 128
            let table = try RoPETable(p0: p0, count: 1, rotaryDims: r, theta: theta)
            for i in 0..<(r / 2) {
                let a80 = Float80(p0) * powl(Float80(theta), -2 * Float80(i) / Float80(r))
                let (c, s) = (Double(cosl(a80)), Double(sinl(a80)))
                let bound = Double(Float.ulpOfOne) / 2 + table.angleError
                #expect(abs(Double(table.cos[i]) - c) <= bound, "cos p=\(p0) i=\(i): \(table.cos[i]) vs \(c)")
                #expect(abs(Double(table.sin[i]) - s) <= bound, "sin p=\(p0) i=\(i): \(table.sin[i]) vs \(s)")
            }
            #expect(table.angleError < 1e-9)
        }
    }

    /// The vector path's duplicated table is the plain one, pair by pair.
    @Test func duplicatedTableMatches() throws {
        let table = try RoPETable(p0: 3, count: 4, rotaryDims: 10, theta: 10000)
        for t in 0..<4 {
            for i in 0..<5 {
                #expect(table.cos2[t * 10 + 2 * i] == table.cos[t * 5 + i] && table.cos2[t * 10 + 2 * i + 1] == table.cos[t * 5 + i])
                #expect(table.sin2[t * 10 + 2 * i] == -table.sin[t * 5 + i] && table.sin2[t * 10 + 2 * i + 1] == table.sin[t * 5 + i])
            }
        }
    }

    @Test func badArguments() throws {
        expectKernelError(["R", "even"]) { _ = try RoPETable(p0: 0, count: 4, rotaryDims: 7, theta: 10000) }
        expectKernelError(["theta"]) { _ = try RoPETable(p0: 0, count: 4, rotaryDims: 8, theta: 1) }
        expectKernelError(["theta"]) { _ = try RoPETable(p0: 0, count: 4, rotaryDims: 8, theta: .nan) }
        expectKernelError(["p0"]) { _ = try RoPETable(p0: -1, count: 4, rotaryDims: 8, theta: 10000) }
        expectKernelError(["table", "2^30"]) { _ = try RoPETable(p0: 0, count: 1 << 26, rotaryDims: 128, theta: 10000) }
        let table = try RoPETable(p0: 0, count: 4, rotaryDims: 8, theta: 10000)
        let x = Matrix(rows: 4, cols: 12), tall = Matrix(rows: 5, cols: 12)
        var y = Matrix(rows: 4, cols: 12), y5 = Matrix(rows: 5, cols: 12)
        for kernel in RoPE.variants {
            x.withView { xv in
                y.withMutableView { yv in
                    expectKernelError(["x", "H=2", "D=4"]) {
                        try kernel.run(xv, yv, heads: 2, headDim: 4, table: table, pairing: .neox, threads: 1)
                    }
                    expectKernelError(["R", "head dimension 6"]) {
                        try kernel.run(xv, yv, heads: 2, headDim: 6, table: table, pairing: .neox, threads: 1)
                    }
                }
            }
            tall.withView { tv in
                y5.withMutableView { yv in
                    expectKernelError(["T", "4 positions"]) {
                        try kernel.run(tv, yv, heads: 1, headDim: 12, table: table, pairing: .adjacent, threads: 1)
                    }
                }
            }
        }
    }
}
