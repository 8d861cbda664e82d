import Foundation
import Kernels
import Testing

@Suite struct Int4Tests {
    static func vectors() throws -> (rows: Int, cols: Int, input: Matrix) {
        let shape = String(decoding: try fixture("int4_shape.txt"), as: UTF8.self).split(separator: " ").compactMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        let values = try fixtureFloats("int4_input.f32")
        return (shape[0], shape[1], Matrix(rows: shape[0], cols: shape[1], values: values))
    }

    /// Quantize is byte-identical, dequantize bit-identical, to the gguf package's output.
    @Test(arguments: QuantFormat.allCases)
    func matchesGGUFVectors(format: QuantFormat) throws {
        let (rows, cols, input) = try Self.vectors()
        let expectedBytes = [UInt8](try fixture("int4_\(format.rawValue).bin"))
        let q = try input.withView { try Int4.quantize($0, format: format) }
        #expect(q.bytes.count == expectedBytes.count)
        let firstDiff = zip(q.bytes, expectedBytes).enumerated().first { $0.element.0 != $0.element.1 }
        #expect(firstDiff == nil, "\(format) first byte difference at \(firstDiff.map { "\($0.offset) (block \($0.offset / format.blockBytes)): \($0.element.0) vs \($0.element.1)" } ?? "")")

        let expectedDeq = try fixtureFloats("int4_\(format.rawValue)_deq.f32")
        let ref = try QuantizedMatrix(format: format, rows: rows, cols: cols, bytes: expectedBytes)
        let deq = Int4.dequantize(ref).dense
        let mismatches = zip(deq, expectedDeq).enumerated().filter { $0.element.0.bitPattern != $0.element.1.bitPattern }
        #expect(mismatches.isEmpty, "\(format): \(mismatches.count) values differ in bits, first at \(mismatches.first.map { "\($0.offset): \($0.element.0) vs \($0.element.1)" } ?? "")")
    }

    /// Quantize → dequantize error stays within half a step of each block (|d|/2), except
    /// that Q4_0's levels −8d…7d reach only 7/8 of the range on the side opposite the
    /// largest |x|, so values there are clipped (error |x| − 7|d|); plus the fp16 rounding
    /// of d and m.
    @Test(arguments: QuantFormat.allCases)
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
    @Test(arguments: Int4.variants.map(\.name) + Ablation.steps(.int4).map(\.variant).filter { $0.hasPrefix("ablate-") },
          QuantFormat.allCases)
    func linearMatchesReference(variant: String, format: QuantFormat) throws {
        let kernel = try Int4.variant(variant)
        var seed: UInt64 = 500
        for (m, k, n) in [(1, 32, 1), (1, 96, 17), (3, 64, 70), (4, 128, 65), (2, 1056, 19), (1, 544, 9), (5, 32, 3), (17, 1056, 129), (70, 160, 200),
                          // GEMVs over more rows than one 256-row chunk (`Parallel.forEachChunk`)
                          (1, 64, 601), (3, 96, 530)] {
            for threads in [1, 2] {
                for withBias in [false, true] {
                    seed += 3
                    let x = randomMatrix(m, k, pad: 3, seed: seed)
                    let wf = randomMatrix(n, k, lo: -2, hi: 2, seed: seed + 1)
                    let w = try wf.withView { try Int4.quantize($0, format: format) }
                    let bias: [Float]? = withBias ? randomMatrix(1, n, seed: seed + 2).dense : nil
                    var y = Matrix(rows: m, cols: n, stride: n + 1)
                    try x.withView { xv in try y.withMutableView { yv in
                        if let bias {
                            try bias.withUnsafeBufferPointer { try kernel.run(xv, w, bias: $0, yv, threads: threads) }
                        } else {
                            try kernel.run(xv, w, bias: nil, yv, threads: threads)
                        }
                    } }
                    let wd = Int4.dequantize(w)
                    let ref = x.withView { Reference.int4Linear($0, w, bias: bias) }
                    let scale = x.withView { xv in wd.withView { Reference.matmulAbs(xv, $0, layout: .nk) } }
                    expectClose(y, ref, tol: { i in gammaBound(k + 2) * (scale[i] + abs(Double(bias?[i % n] ?? 0))) },
                                "int4.\(variant) \(format) \(m)x\(k)x\(n) t=\(threads) bias=\(withBias)")
                }
            }
        }
    }

    @Test func badInput() throws {
        let x = Matrix(rows: 2, cols: 64)
        expectKernelError(["int4", "K", "40", "multiple of 32"]) { _ = try Matrix(rows: 2, cols: 40).withView { try Int4.quantize($0, format: .q4_0) } }
        expectKernelError(["int4", "bytes", "35 bytes", "36 bytes"]) { _ = try QuantizedMatrix(format: .q4_0, rows: 1, cols: 64, bytes: [UInt8](repeating: 0, count: 35)) }
        expectKernelError(["int4", "rows", "0"]) { _ = try QuantizedMatrix(format: .q4_1, rows: 0, cols: 64, bytes: []) }
        var nan = Matrix(rows: 1, cols: 32); nan[0, 5] = .nan
        expectKernelError(["int4", "W[0, 5]", "finite"]) { _ = try nan.withView { try Int4.quantize($0, format: .q4_1) } }
        let w = try QuantizedMatrix(format: .q4_0, rows: 3, cols: 32, bytes: [UInt8](repeating: 0, count: 54))
        var y = Matrix(rows: 2, cols: 3)
        for kernel in Int4.variants {
            try x.withView { xv in try y.withMutableView { yv in
                expectKernelError(["int4", "'W'", "Nx64", "3x32"]) { try kernel.run(xv, w, bias: nil, yv, threads: 1) }
                let x32 = MatrixView(base: xv.base, rows: 2, cols: 32, stride: 64)
                expectKernelError(["int4", "threads"]) { try kernel.run(x32, w, bias: nil, yv, threads: 0) }
                let y4 = MutableMatrixView(base: yv.base, rows: 1, cols: 3, stride: 3)
                expectKernelError(["int4", "'y'", "2x3", "1x3"]) { try kernel.run(x32, w, bias: nil, y4, threads: 1) }
            } }
        }
    }
}
