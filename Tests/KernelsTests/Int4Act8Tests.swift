import Foundation
import Kernels
import Testing

/// int4.act8: x rounded to 8-bit blocks, integer dot products (`Int4.Act8`).
@Suite struct Int4Act8Tests {
    static let formats = QuantFormat.allCases
    /// Every tile specialization (1–4 rows of x, 1 or 2 lane groups, partial groups), more
    /// rows than one 256-row chunk, and K of one block up to 33 blocks (the K-quants: K
    /// rounded up to whole 256-weight super-blocks, 1 to 5 of them).
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
    /// to nearest even, the exact integer sum Σ q_w·q_x, then f = fma(S, d_w·d_x, f) (Q4_1 and
    /// Q4_K: and f = fma(m, d_x·Σq, f); Q6_K: one sum and one fma per 16-weight half, each with
    /// its half's scale), block by block, and the bias last. The kernel must match it bit for
    /// bit: its integer sums are exact and its fp32 steps are these, in this order. The
    /// K-quants' levels, scales and minima are decoded here from the GGUF bytes by the layout
    /// `QuantFormat` documents, independently of the kernel's planes.
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
            let (levels, factors, minimum) = Self.block(bytes, w, row: j, block: b)
            for half in 0..<factors.count {
                let span = factors.count == 1 ? 0..<32 : 16 * half..<16 * half + 16
                let s = span.reduce(Int32(0)) { $0 + levels[$1] * q[$1] }
                f = f.addingProduct(Float(s), factors[half] * d)
            }
            if let minimum { f = f.addingProduct(minimum, d * Float(q.reduce(0, +))) }
        }
        return f + (bias?[j] ?? 0)
    }

    /// Block b (32 weights) of row j: the signed integer levels, the scale (one, or one per
    /// 16-weight half for Q6_K) and the minimum (Q4_1, Q4_K), so that weight t is
    /// scale·level_t (+ minimum) before the dequantization's one rounding.
    static func block(_ bytes: [UInt8], _ w: QuantizedMatrix, row j: Int, block b: Int) -> (
        levels: [Int32], factors: [Float], minimum: Float?
    ) {
        let f = w.format, at = j * w.rowBytes + (32 * b / f.blockSize) * f.blockBytes
        func half(_ i: Int) -> Float { Half.float(UInt16(bytes[i]) | UInt16(bytes[i + 1]) << 8) }
        switch f {
        case .q8_0:
            return ((0..<32).map { Int32(Int8(bitPattern: bytes[at + 2 + $0])) }, [half(at)], nil)
        case .q4_0, .q4_1:
            let levels = (0..<32).map { t -> Int32 in
                let byte = bytes[at + f.nibbleOffset + t % 16]
                return Int32(t < 16 ? byte & 0x0F : byte >> 4) - (f == .q4_0 ? 8 : 0)
            }
            return (levels, [half(at)], f == .q4_1 ? half(at + 2) : nil)
        case .q4_k:
            let s = b % 8, sc = { (i: Int) in bytes[at + 4 + i] }
            let (scale, minimum) =
                s < 4 ? (sc(s) & 63, sc(s + 4) & 63) : ((sc(s + 4) & 0x0F) | (sc(s - 4) >> 6) << 4, (sc(s + 4) >> 4) | (sc(s) >> 6) << 4)
            let levels = (0..<32).map { t in Int32((bytes[at + 16 + 32 * (s / 2) + t] >> UInt8(4 * (s % 2))) & 0x0F) }
            return (levels, [half(at) * Float(scale)], -(half(at + 2) * Float(minimum)))
        case .q6_k:
            let s = b % 8, (h, g) = (s / 4, s % 4)
            let levels = (0..<32).map { l -> Int32 in
                let low = (bytes[at + 64 * h + 32 * (g % 2) + l] >> UInt8(4 * (g / 2))) & 0x0F
                let high = (bytes[at + 128 + 32 * h + l] >> UInt8(2 * g)) & 3
                return Int32(low | high << 4) - 32
            }
            let d = half(at + 208)
            return (levels, [2 * s, 2 * s + 1].map { d * Float(Int8(bitPattern: bytes[at + 192 + $0])) }, nil)
        }
    }

    /// Seeded x (padded rows), W in `format` and a bias for every shape of `shapes`.
    static func cases(_ format: QuantFormat, seed: UInt64) throws -> [(
        m: Int, k: Int, n: Int, x: Matrix, w: QuantizedMatrix, bias: [Float]
    )] {
        try shapes.enumerated().map { index, shape in
            let (m, n) = (shape.0, shape.2), s = seed + 3 * UInt64(index + 1)
            let k = (shape.1 + format.blockSize - 1) / format.blockSize * format.blockSize
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
        var x = randomMatrix(3, 256, seed: 41)
        x[0, 70] = .nan
        x[1, 3] = .infinity
        for t in 32..<64 { x[2, t] = 0 }
        // Row 3: a block of magnitudes so small that 127/max|x| overflows (taken as zeros).
        var tiny = randomMatrix(4, 256, seed: 43)
        for t in 64..<96 { tiny[3, t] *= 1e-37 }
        let w = try randomMatrix(40, 256, lo: -2, hi: 2, seed: 42).withView { try Int4.quantize($0, format: format) }
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
}
