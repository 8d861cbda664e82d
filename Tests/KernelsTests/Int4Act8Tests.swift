import Foundation
import Kernels
import Testing

/// int4.act8: x rounded to 8-bit blocks, integer dot products (`Int4.Act8`).
@Suite struct Int4Act8Tests {
    static let formats: [QuantFormat] = [.q4_0, .q4_1, .q8_0]
    /// Every tile specialization (1–4 rows of x, 1 or 2 lane groups, partial groups), more
    /// rows than one 256-row chunk, and K of one block up to 33 blocks.
    static let shapes = [
        (1, 32, 1), (1, 96, 17), (3, 64, 70), (4, 128, 65), (2, 1056, 19), (5, 32, 3), (17, 1056, 129), (70, 160, 200), (1, 64, 601),
        (6, 96, 530),
    ]

    static func run(_ x: Matrix, _ w: QuantizedMatrix, bias: [Float]?, threads: Int) throws -> Matrix {
        var y = Matrix(rows: x.rows, cols: w.rows, stride: w.rows + 1)
        try x.withView { xv in
            try y.withMutableView { yv in
                if let bias {
                    try bias.withUnsafeBufferPointer { try Int4.Act8().run(xv, w, bias: $0, yv, threads: threads) }
                } else {
                    try Int4.Act8().run(xv, w, bias: nil, yv, threads: threads)
                }
            }
        }
        return y
    }

    /// The kernel's arithmetic in scalar code: per block d = max|x|/127, q = round(x·127/max|x|)
    /// to nearest even, the exact integer sum Σ q_w·q_x, then f = fma(S, d_w·d_x, f) (Q4_1:
    /// and f = fma(m, d_x·Σq, f)), block by block, and the bias last. The kernel must match it
    /// bit for bit: its integer sums are exact and its fp32 steps are these, in this order.
    static func emulate(_ x: Matrix, _ w: QuantizedMatrix, bias: [Float]?, i: Int, j: Int) -> Float {
        let bytes = w.bytes, nb = w.cols / 32
        var f: Float = 0
        for b in 0..<nb {
            var amax: Float = 0
            for t in 0..<32 { amax = max(amax, abs(x[i, 32 * b + t])) }
            var q = [Int32](repeating: 0, count: 32), d: Float = 0
            if amax > 0 {
                d = amax / 127
                let id = 127 / amax
                for t in 0..<32 { q[t] = Int32((x[i, 32 * b + t] * id).rounded(.toNearestOrEven)) }
            }
            let blk = (j * nb + b) * w.format.blockBytes
            let dw = Half.float(UInt16(bytes[blk]) | UInt16(bytes[blk + 1]) << 8)
            var s: Int32 = 0
            for t in 0..<32 {
                let qw: Int32
                switch w.format {
                case .q8_0: qw = Int32(Int8(bitPattern: bytes[blk + 2 + t]))
                default:
                    let byte = bytes[blk + w.format.nibbleOffset + t % 16]
                    qw = Int32(t < 16 ? byte & 0x0F : byte >> 4) - (w.format == .q4_0 ? 8 : 0)
                }
                s += qw * q[t]
            }
            f = f.addingProduct(Float(s), dw * d)
            if w.format == .q4_1 {
                let m = Half.float(UInt16(bytes[blk + 2]) | UInt16(bytes[blk + 3]) << 8)
                f = f.addingProduct(m, d * Float(q.reduce(0, +)))
            }
        }
        return f + (bias?[j] ?? 0)
    }

    /// Seeded x (padded rows), W in `format` and a bias for every shape of `shapes`.
    static func cases(_ format: QuantFormat, seed: UInt64) throws -> [(
        m: Int, k: Int, n: Int, x: Matrix, w: QuantizedMatrix, bias: [Float]
    )] {
        try shapes.enumerated().map { index, shape in
            let (m, k, n) = shape, s = seed + 3 * UInt64(index + 1)
            let w = try randomMatrix(n, k, lo: -2, hi: 2, seed: s + 1).withView { try Int4.quantize($0, format: format) }
            return (m, k, n, randomMatrix(m, k, pad: 3, seed: s), w, randomMatrix(1, n, seed: s + 2).dense)
        }
    }

    @Test(arguments: formats)
    func matchesScalarArithmeticBitForBit(format: QuantFormat) throws {
        for (m, k, n, x, w, bias) in try Self.cases(format, seed: 900) {
            for threads in [1, 2] {
                let y = try Self.run(x, w, bias: bias, threads: threads)
                var mismatches = 0, first = ""
                for i in 0..<m {
                    for j in 0..<n where y[i, j].bitPattern != Self.emulate(x, w, bias: bias, i: i, j: j).bitPattern {
                        if mismatches == 0 { first = "(\(i), \(j)): \(y[i, j]) vs \(Self.emulate(x, w, bias: bias, i: i, j: j))" }
                        mismatches += 1
                    }
                }
                #expect(mismatches == 0, "int4.act8 \(format) \(m)x\(k)x\(n) t=\(threads): \(mismatches) outputs differ, first \(first)")
            }
        }
    }

    /// Within the derived bound (`Tolerance.int4Act8`) of the fp64 product of the unrounded x
    /// and the dequantized weights, and off it by more than the exact path's bound somewhere
    /// (the rounding of x is really there: a kernel that ignored it would be exact).
    @Test(arguments: formats)
    func withinItsBound(format: QuantFormat) throws {
        for (m, k, n, x, w, bias) in try Self.cases(format, seed: 1900) {
            let y = try Self.run(x, w, bias: bias, threads: 2)
            let ref = x.withView { Reference.int4Linear($0, w, bias: bias) }
            let wd = Int4.dequantize(w)
            let scale = x.withView { xv in wd.withView { Reference.matmulAbs(xv, $0, layout: .nk) } }
            var beyondExact = false
            x.withView { xv in
                wd.withView { wv in
                    for i in 0..<m {
                        for j in 0..<n {
                            let tol = Tolerance.int4Act8(x: xv.row(i), w: w, row: j, weights: wv.row(j), bias: Double(bias[j]))
                            let err = abs(Double(y[i, j]) - ref[i * n + j])
                            #expect(err <= tol, "int4.act8 \(format) \(m)x\(k)x\(n) (\(i), \(j)): error \(err) > bound \(tol)")
                            if err > Tolerance.int4Linear(k: k, absScale: scale[i * n + j], bias: Double(bias[j])) { beyondExact = true }
                        }
                    }
                }
            }
            if k >= 96 { #expect(beyondExact, "int4.act8 \(format) \(m)x\(k)x\(n): no output shows the rounding of x") }
        }
    }

    /// A non-finite element of x makes its row's outputs NaN (never a finite number); the
    /// other rows are untouched. A block of zeros is exact; a block too small to scale stays
    /// within the bound.
    @Test(arguments: formats)
    func nonFiniteAndZeroBlocks(format: QuantFormat) throws {
        var x = randomMatrix(3, 128, seed: 41)
        x[0, 70] = .nan
        x[1, 3] = .infinity
        for t in 32..<64 { x[2, t] = 0 }
        // Row 3: a block of magnitudes so small that 127/max|x| overflows (taken as zeros).
        var tiny = randomMatrix(4, 128, seed: 43)
        for t in 64..<96 { tiny[3, t] *= 1e-37 }
        let w = try randomMatrix(40, 128, lo: -2, hi: 2, seed: 42).withView { try Int4.quantize($0, format: format) }
        let y = try Self.run(x, w, bias: nil, threads: 1)
        for j in 0..<40 {
            #expect(y[0, j].isNaN && y[1, j].isNaN, "\(format) column \(j): \(y[0, j]), \(y[1, j])")
            #expect(y[2, j].bitPattern == Self.emulate(x, w, bias: nil, i: 2, j: j).bitPattern)
        }
        let yt = try Self.run(tiny, w, bias: nil, threads: 1)
        let ref = tiny.withView { Reference.int4Linear($0, w, bias: nil) }
        let wd = Int4.dequantize(w)
        tiny.withView { xv in
            wd.withView { wv in
                for j in 0..<40 {
                    let tol = Tolerance.int4Act8(x: xv.row(3), w: w, row: j, weights: wv.row(j))
                    #expect(abs(Double(yt[3, j]) - ref[3 * 40 + j]) <= tol, "\(format) tiny block, column \(j)")
                }
            }
        }
    }

    /// K-quants have no planes: int4.act8 refuses them with a typed error naming the format.
    @Test func refusesKQuants() throws {
        let x = randomMatrix(5, 512, seed: 61)
        for format in [QuantFormat.q4_k, .q6_k] {
            let w = try randomMatrix(33, 512, seed: 62).withView { try Int4.quantize($0, format: format) }
            #expect(!Int4.Act8().supports(format))
            expectKernelError(["int4.act8", "unsupported", format.rawValue]) { _ = try Self.run(x, w, bias: nil, threads: 2) }
        }
    }
}
