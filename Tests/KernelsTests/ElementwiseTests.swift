import Foundation
import Kernels
import Testing

@Suite struct ElementwiseTests {
    /// The vector GELUs against fp64 erf/tanh over [−12, 12] (and the tails), with the bounds
    /// documented on `Elementwise.gelu`: tanh form |err| ≤ 8u|x|; erf form (A&S 7.1.26,
    /// |erfc error| ≤ 1.5e-7) |err| ≤ ½|x|·1.5e-7 + 8u|x|. A tiny absolute floor covers
    /// results that underflow to ±0.
    @Test(arguments: [Elementwise.GELU.erf, .tanh])
    func geluAccuracy(kind: Elementwise.GELU) throws {
        let n = 24_007
        var m = Matrix(rows: 1, cols: n) { _, c in -12 + 24 * Float(c) / Float(n - 1) }
        m[0, 0] = -80; m[0, 1] = 80; m[0, 2] = 0; m[0, 3] = -1e-20
        let input = m.dense
        try m.withMutableView { try Elementwise.gelu($0, kind: kind, threads: 2) }
        var worst = 0.0
        for (x, g) in zip(input, m.dense) {
            let xd = Double(x)
            let ref =
                kind == .erf
                ? 0.5 * xd * (1 + erf(xd / 2.0.squareRoot()))
                : 0.5 * xd * (1 + tanh((2 / Double.pi).squareRoot() * (xd + 0.044715 * xd * xd * xd)))
            let bound = (kind == .erf ? 0.5 * abs(xd) * 1.5e-7 : 0) + 8 * 0x1p-24 * abs(xd) + 1e-37
            worst = max(worst, abs(Double(g) - ref) / bound)
            #expect(abs(Double(g) - ref) <= bound, "\(kind) gelu(\(x)) = \(g), fp64 \(ref)")
            if abs(Double(g) - ref) > bound { break }
        }
        #expect(worst <= 1)
    }

    @Test func residualAddAndErrors() throws {
        var y = Matrix(rows: 3, cols: 37, stride: 40) { r, c in Float(r * 100 + c) }
        let x = Matrix(rows: 3, cols: 37) { r, c in Float(c) - Float(r) }
        try x.withView { xv in try y.withMutableView { try Elementwise.add(xv, into: $0, threads: 2) } }
        for r in 0..<3 { for c in 0..<37 { #expect(y[r, c] == Float(r * 100 + c) + Float(c) - Float(r)) } }
        let bad = Matrix(rows: 2, cols: 37)
        expectKernelError(["add", "x", "3x37", "2x37"]) {
            try bad.withView { bv in try y.withMutableView { try Elementwise.add(bv, into: $0, threads: 1) } }
        }
        expectKernelError(["gelu", "threads", "0"]) { try y.withMutableView { try Elementwise.gelu($0, kind: .erf, threads: 0) } }
    }
}
