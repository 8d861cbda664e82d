import Foundation
import Kernels
import Testing

@Suite struct Int4Tests {
    static func vectors() throws -> (rows: Int, cols: Int, input: Matrix) {
        let shape = String(decoding: try fixture("int4_shape.txt"), as: UTF8.self).split(separator: " ").compactMap {
            Int($0.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        let values = try fixtureFloats("int4_input.f32")
        return (shape[0], shape[1], Matrix(rows: shape[0], cols: shape[1], values: values))
    }

    /// Quantize is byte-identical, dequantize bit-identical, to the gguf package's output.
    @Test(arguments: [QuantFormat.q4_0, .q4_1])
    func matchesGGUFVectors(format: QuantFormat) throws {
        let (rows, cols, input) = try Self.vectors()
        let expectedBytes = [UInt8](try fixture("int4_\(format.rawValue).bin"))
        let q = try input.withView { try Int4.quantize($0, format: format) }
        #expect(q.bytes.count == expectedBytes.count)
        let firstDiff = zip(q.bytes, expectedBytes).enumerated().first { $0.element.0 != $0.element.1 }
        let diff = firstDiff.map { "\($0.offset) (block \($0.offset / format.blockBytes)): \($0.element.0) vs \($0.element.1)" }
        #expect(firstDiff == nil, "\(format) first byte difference at \(diff ?? "")")

        let expectedDeq = try fixtureFloats("int4_\(format.rawValue)_deq.f32")
        let ref = try QuantizedMatrix(format: format, rows: rows, cols: cols, bytes: expectedBytes)
        let deq = Int4.dequantize(ref).dense
        let mismatches = zip(deq, expectedDeq).enumerated().filter { $0.element.0.bitPattern != $0.element.1.bitPattern }
        let first = mismatches.first.map { "\($0.offset): \($0.element.0) vs \($0.element.1)" }
        #expect(mismatches.isEmpty, "\(format): \(mismatches.count) values differ in bits, first at \(first ?? "")")
    }

    /// Quantize → dequantize error stays within half a step of each block (|d|/2), except
    /// that Q4_0's levels −8d…7d reach only 7/8 of the range on the side opposite the
    /// largest |x|, so values there are clipped (error |x| − 7|d|); plus the fp16 rounding
    /// of d and m.
    @Test(arguments: [QuantFormat.q4_0, .q4_1])
    func roundTripError(format: QuantFormat) throws {
        let w = randomMatrix(8, 256, lo: -3, hi: 3, seed: 77)
        let q = try w.withView { try Int4.quantize($0, format: format) }
        let back = Int4.dequantize(q)
        for r in 0..<8 {
            for b in 0..<8 {
                let vals = (0..<32).map { w[r, b * 32 + $0] }
                let amax = vals.map(abs).max()!
                let step = format == .q4_0 ? Double(amax) / 8 : Double(vals.max()! - vals.min()!) / 15
                // Half a step, plus fp16 rounding of d (2⁻¹¹ relative, times |q| ≤ 16 steps)
                // and of m (2⁻¹¹·|min|).
                for t in 0..<32 {
                    let clip = format == .q4_0 ? Double(abs(vals[t])) - 7 * step : 0
                    let bound = max(step / 2, clip) + 16 * step * 0x1p-11 + Double(abs(vals.min()!)) * 0x1p-11 + 1e-7
                    #expect(abs(Double(back[r, b * 32 + t] - vals[t])) <= bound, "\(format) [\(r), \(b * 32 + t)]")
                }
            }
        }
    }

    /// The quantized linear equals the fp64 product of the dequantized weights within the
    /// matmul bound: a K-term dot product plus the per-block scale multiply and the bias,
    /// |ŷ − y| ≤ γ_{K+2}·(Σ|x||w| + |bias|) — applying d per block after a 32-term sum
    /// adds at most one rounding per term's path.
    @Test(
        arguments: Int4.checkedNames.filter { $0 != Int4.Act8().name },
        QuantFormat.allCases)
    func linearMatchesReference(variant: String, format: QuantFormat) throws {
        let kernel = try Int4.variant(variant)
        // The ablation steps that read Q4 nibbles directly refuse other formats by name.
        if !format.isQ4 && ["ablate-generic", "ablate-gguf"].contains(variant) {
            let w = try Matrix(rows: 2, cols: 256).withView { try Int4.quantize($0, format: format) }
            let x = Matrix(rows: 1, cols: 256)
            var y = Matrix(rows: 1, cols: 2)
            #expect(throws: KernelError.self) {
                try x.withView { xv in try y.withMutableView { try kernel.run(xv, w, bias: nil, $0, threads: 1) } }
            }
            return
        }
        var seed: UInt64 = 500
        let shapes =
            format.blockSize == 32
            ? [
                (1, 32, 1), (1, 96, 17), (3, 64, 70), (4, 128, 65), (2, 1056, 19), (1, 544, 9), (5, 32, 3), (17, 1056, 129),
                (70, 160, 200),
                // GEMVs over more rows than one 256-row chunk (`Parallel.forEachChunk`)
                (1, 64, 601), (3, 96, 530),
            ]
            // The K-quants' 256-weight super-blocks: one, an odd count, GEMV and GEMM.
            : [(1, 256, 1), (1, 768, 17), (3, 512, 70), (4, 256, 33), (5, 256, 3), (17, 1280, 129), (1, 256, 601), (70, 512, 40)]
        for (m, k, n) in shapes {
            for threads in [1, 2] {
                for withBias in [false, true] {
                    seed += 3
                    let x = randomMatrix(m, k, pad: 3, seed: seed)
                    let wf = randomMatrix(n, k, lo: -2, hi: 2, seed: seed + 1)
                    let w = try wf.withView { try Int4.quantize($0, format: format) }
                    let bias: [Float]? = withBias ? randomMatrix(1, n, seed: seed + 2).dense : nil
                    var y = Matrix(rows: m, cols: n, stride: n + 1)
                    try x.withView { xv in
                        try y.withMutableView { yv in
                            if let bias {
                                try bias.withUnsafeBufferPointer { try kernel.run(xv, w, bias: $0, yv, threads: threads) }
                            } else {
                                try kernel.run(xv, w, bias: nil, yv, threads: threads)
                            }
                        }
                    }
                    let wd = Int4.dequantize(w)
                    let ref = x.withView { Reference.int4Linear($0, w, bias: bias) }
                    let scale = x.withView { xv in wd.withView { Reference.matmulAbs(xv, $0, layout: .nk) } }
                    expectClose(
                        y, ref, tol: { i in Tolerance.int4Linear(k: k, absScale: scale[i], bias: Double(bias?[i % n] ?? 0)) },
                        "int4.\(variant) \(format) \(m)x\(k)x\(n) t=\(threads) bias=\(withBias)")
                }
            }
        }
    }

    /// x with blocks the integer path must hand to the fp32 path, in row 1 of a 3×1024 x:
    /// block 2 holds an element 2⁻⁴⁰ times the largest (its rounding to the block's 30-bit
    /// grid would change it completely), block 3 is all zero (exact as integers), block 4
    /// holds a NaN, block 5 values near 2⁻⁸⁰ (below the exponent range kept exact), block 6
    /// a largest element 1 and an element 2⁻¹⁷ + 2⁻³⁰, which the grid 2⁻²⁹ rounds to 2⁻¹⁷:
    /// a relative change of 2⁻¹³, over ε = 1024·2⁻²⁶ = 2⁻¹⁶; block 7 a largest element 2¹⁰⁰
    /// and the others near 2⁻⁸⁰, which scaled to the grid underflow to 0.
    static func plantedX() -> Matrix {
        var x = randomMatrix(3, 1024, seed: 900)
        x[1, 2 * 32 + 7] = x[1, 2 * 32] * 0x1p-40
        for t in 0..<32 { x[1, 3 * 32 + t] = 0 }
        x[1, 4 * 32 + 9] = .nan
        for t in 0..<32 { x[1, 5 * 32 + t] *= 0x1p-80 }
        x[1, 6 * 32] = 1; x[1, 6 * 32 + 3] = 0x1p-17 + 0x1p-30
        for t in 1..<32 { x[1, 7 * 32 + t] *= 0x1p-80 }
        x[1, 7 * 32] = 0x1p100
        return x
    }

    /// The integer path's x, checked against an fp64 re-derivation: a block is on the
    /// integer path exactly when it is finite, not tiny, and every element rounds to the
    /// block's grid within ε = K·u/4 of itself (or all zero): three digits on the grid
    /// 2^(⌊log2 max|x|⌋ − 21) when they suffice, else four on 2^(⌊log2 max|x|⌋ − 29). Then
    /// the digits rebuild X_t, X_t·2^e is that rounding, and the corrections are −8·Σ digits.
    @Test func integerBlocksRepresentX() throws {
        let x = Self.plantedX()
        let blocks = x.withView { Int4.Planes.integerBlocks($0) }
        #expect(blocks.count == 3 * 32)
        let eps = Double(Int4.Planes.tolerance(k: 1024))
        var integer = 0, limbCounts: [Int: Int] = [:]
        for (slot, block) in blocks.enumerated() {
            let (i, b) = (slot / 32, slot % 32)
            let xs = (0..<32).map { Double(x[i, 32 * b + $0]) }
            let amax = xs.map(abs).max()!
            var expected: (exponent: Int, limbs: Int)? = nil
            if amax == 0 {
                expected = (0, 3)
            } else if amax.isFinite && amax >= 0x1p-73 {
                // The fewest digits (3, else 4) whose grid holds every element within ε.
                for limbs in [3, 4] {
                    let e = Int(amax.exponent) - (8 * limbs - 3)
                    if xs.allSatisfy({ abs(($0 * pow(2, Double(-e))).rounded(.toNearestOrEven) * pow(2, Double(e)) - $0) <= eps * abs($0) })
                    {
                        expected = (e, limbs)
                        break
                    }
                }
            }
            if [32 + 2, 32 + 4, 32 + 5, 32 + 6, 32 + 7].contains(slot) {
                #expect(block == nil, "planted block \(slot) must take the fp32 path")
            }
            guard let block else { #expect(expected == nil, "block \(slot) fell back"); continue }
            integer += 1
            limbCounts[block.limbs, default: 0] += 1
            #expect(block.limbs == expected?.limbs, "block \(slot) digits")
            if amax != 0 { #expect(block.exponent == expected?.exponent, "block \(slot) exponent") }
            for l in block.limbs..<4 { #expect(block.digits[l].allSatisfy { $0 == 0 }) }
            for l in 0..<4 { #expect(block.corrections[l] == -8 * block.digits[l].reduce(0) { $0 + Int32($1) }, "block \(slot) limb \(l)") }
            for t in 0..<32 {
                let xi = (0..<4).reduce(0.0) { $0 + Double(block.digits[$1][t]) * pow(256, Double($1)) }
                #expect(abs(xi) < pow(2, Double(8 * block.limbs - 2)) && xi == xi.rounded())
                let xhat = xi * pow(2, Double(block.exponent))
                #expect(
                    xhat == (xs[t] * pow(2, Double(-block.exponent))).rounded(.toNearestOrEven) * pow(2, Double(block.exponent)),
                    "block \(slot) element \(t)")
                #expect(abs(xhat - xs[t]) <= eps * abs(xs[t]), "block \(slot) element \(t)")
            }
        }
        // The rest of this uniform x: on the integer path.
        #expect(integer >= 3 * 32 - 6)
        // Both encodings occur in this x (each element below max/90 or so needs the fourth digit).
        #expect(limbCounts[3, default: 0] > 10 && limbCounts[4, default: 0] > 2, "\(limbCounts)")
    }

    /// With the planted blocks in x, int4.simd's GEMV (integer blocks and fp32 blocks in
    /// one row) stays within the matmul bound on the finite rows, and the NaN row is NaN
    /// where the reference is.
    @Test func integerPathWithFallbackBlocks() throws {
        let x = Self.plantedX()
        let w = try randomMatrix(40, 1024, lo: -2, hi: 2, seed: 901).withView { try Int4.quantize($0, format: .q4_0) }
        for threads in [1, 2] {
            var y = Matrix(rows: 3, cols: 40)
            try x.withView { xv in try y.withMutableView { try Int4.SIMD().run(xv, w, bias: nil, $0, threads: threads) } }
            let ref = x.withView { Reference.int4Linear($0, w, bias: nil) }
            let scale = x.withView { xv in Int4.dequantize(w).withView { Reference.matmulAbs(xv, $0, layout: .nk) } }
            for j in 0..<40 {
                #expect(y[1, j].isNaN && ref[40 + j].isNaN, "row 1 (NaN in x) column \(j)")
                for i in [0, 2] {
                    let bound = Tolerance.int4Linear(k: 1024, absScale: scale[i * 40 + j])
                    #expect(abs(Double(y[i, j]) - ref[i * 40 + j]) <= bound, "[\(i), \(j)] t=\(threads)")
                }
            }
        }
        // Without the NaN, row 1 (integer, zero, tiny and fallback blocks) within the bound.
        var finite = x; finite[1, 4 * 32 + 9] = 1
        var y = Matrix(rows: 3, cols: 40)
        try finite.withView { xv in try y.withMutableView { try Int4.SIMD().run(xv, w, bias: nil, $0, threads: 1) } }
        let ref = finite.withView { Reference.int4Linear($0, w, bias: nil) }
        let scale = finite.withView { xv in Int4.dequantize(w).withView { Reference.matmulAbs(xv, $0, layout: .nk) } }
        expectClose(y, ref, tol: { Tolerance.int4Linear(k: 1024, absScale: scale[$0]) }, "int4.simd with planted blocks")
    }

    @Test func badInput() throws {
        let x = Matrix(rows: 2, cols: 64)
        expectKernelError(["int4", "K", "40", "multiple of 32"]) {
            _ = try Matrix(rows: 2, cols: 40).withView { try Int4.quantize($0, format: .q4_0) }
        }
        expectKernelError(["int4", "bytes", "35 bytes", "36 bytes"]) {
            _ = try QuantizedMatrix(format: .q4_0, rows: 1, cols: 64, bytes: [UInt8](repeating: 0, count: 35))
        }
        expectKernelError(["int4", "rows", "0"]) { _ = try QuantizedMatrix(format: .q4_1, rows: 0, cols: 64, bytes: []) }
        var nan = Matrix(rows: 1, cols: 32); nan[0, 5] = .nan
        expectKernelError(["int4", "W[0, 5]", "finite"]) { _ = try nan.withView { try Int4.quantize($0, format: .q4_1) } }
        let w = try QuantizedMatrix(format: .q4_0, rows: 3, cols: 32, bytes: [UInt8](repeating: 0, count: 54))
        var y = Matrix(rows: 2, cols: 3)
        for kernel in Int4.variants {
            x.withView { xv in
                y.withMutableView { yv in
                    expectKernelError(["int4", "'W'", "Nx64", "3x32"]) { try kernel.run(xv, w, bias: nil, yv, threads: 1) }
                    let x32 = MatrixView(base: xv.base, rows: 2, cols: 32, stride: 64)
                    expectKernelError(["int4", "threads"]) { try kernel.run(x32, w, bias: nil, yv, threads: 0) }
                    let y4 = MutableMatrixView(base: yv.base, rows: 1, cols: 3, stride: 3)
                    expectKernelError(["int4", "'y'", "2x3", "1x3"]) { try kernel.run(x32, w, bias: nil, y4, threads: 1) }
                }
            }
        }
    }
}
