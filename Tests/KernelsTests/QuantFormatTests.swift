import Foundation
import Kernels
import Testing

/// Q8_0, Q4_K and Q6_K against the gguf package's vectors (make_quant_vectors.py), and the
/// properties of their quantizers that the vectors cannot show.
@Suite struct QuantFormatTests {
    static let kFormats: [QuantFormat] = [.q8_0, .q4_k, .q6_k]

    static func shape() throws -> (rows: Int, cols: Int, blocks: Int) {
        let v = String(decoding: try fixture("quant_shape.txt"), as: UTF8.self).split(separator: " ").compactMap {
            Int($0.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        return (v[0], v[1], v[2])
    }

    static func bitDiffs(_ a: [Float], _ b: [Float]) -> (count: Int, first: String?) {
        let bad = zip(a, b).enumerated().filter { $0.element.0.bitPattern != $0.element.1.bitPattern }
        return (bad.count, bad.first.map { "\($0.offset): \($0.element.0) vs \($0.element.1)" })
    }

    /// Q8_0 quantization byte-identical to gguf's (ggml's reference), its dequantization
    /// bit-identical, on blocks with ties, exact half-steps, tiny, huge and constant values.
    @Test func q8_0MatchesGGUF() throws {
        let (rows, cols, _) = try Self.shape()
        let input = Matrix(rows: rows, cols: cols, values: try fixtureFloats("quant_input.f32"))
        let expected = [UInt8](try fixture("quant_q8_0.bin"))
        let q = try input.withView { try Int4.quantize($0, format: .q8_0) }
        let first = zip(q.bytes, expected).enumerated().first { $0.element.0 != $0.element.1 }
        #expect(q.bytes.count == expected.count)
        #expect(first == nil, "first byte difference at \(first.map { "\($0.offset) (block \($0.offset / 34))" } ?? "")")
        let deq = Int4.dequantize(try QuantizedMatrix(format: .q8_0, rows: rows, cols: cols, bytes: expected)).dense
        let d = Self.bitDiffs(deq, try fixtureFloats("quant_q8_0_deq.f32"))
        #expect(d.count == 0, "\(d.count) values differ in bits, first at \(d.first ?? "")")
    }

    /// Q4_K and Q6_K quantization byte-identical to llama.cpp's (ggml_quantize_chunk, as
    /// llama-cpp-python 0.3.36 builds it; Benchmarks/scripts/check-kquants.py wrote the
    /// vectors) on the same hard blocks; the gguf package has no K-quant quantizer.
    @Test(arguments: [QuantFormat.q4_k, .q6_k])
    func kQuantsMatchLlamaCpp(format: QuantFormat) throws {
        let (rows, cols, _) = try Self.shape()
        let input = Matrix(rows: rows, cols: cols, values: try fixtureFloats("quant_input.f32"))
        let expected = [UInt8](try fixture("quant_llamacpp_\(format.rawValue).bin"))
        let q = try input.withView { try Int4.quantize($0, format: format) }
        let first = zip(q.bytes, expected).enumerated().first { $0.element.0 != $0.element.1 }
        #expect(q.bytes.count == expected.count)
        #expect(
            first == nil,
            "\(format): first byte difference at \(first.map { "\($0.offset) (block \($0.offset / format.blockBytes))" } ?? "")")
    }

    /// Random valid blocks (every byte random but the fp16 scales, which take normal,
    /// subnormal, negative, zero and the largest finite values) dequantize bit-identically
    /// to gguf — through `Int4.dequantize`, and through each variant's own reading of the
    /// blocks: x = unit vectors e_t makes y[i, j] = 1·W[j, t] plus exact zeros, so every
    /// variant's output is its dequantized weight, bit for bit (but for the sign of zero: a
    /// −0 weight plus the +0 terms sums to +0, so zeros compare by value).
    @Test(arguments: kFormats)
    func randomBlocksMatchGGUF(format: QuantFormat) throws {
        let (_, _, blocks) = try Self.shape()
        let bytes = [UInt8](try fixture("quant_random_\(format.rawValue).bin"))
        let expected = try fixtureFloats("quant_random_\(format.rawValue)_deq.f32")
        // As a matrix of `blocks` rows of one block each.
        let w = try QuantizedMatrix(format: format, rows: blocks, cols: format.blockSize, bytes: bytes)
        let d = Self.bitDiffs(Int4.dequantize(w).dense, expected)
        #expect(d.count == 0, "\(format): \(d.count) values differ in bits, first at \(d.first ?? "")")
        // int4.act8 rounds x, so its output is not the weight bit for bit (Int4Act8Tests).
        for kernel in Int4.variants where kernel.name != Int4.Act8().name {
            for t0 in stride(from: 0, to: format.blockSize, by: 4) {
                let ts = Array(t0..<(t0 + 4))
                let x = Matrix(rows: 4, cols: format.blockSize) { i, p in p == ts[i] ? 1 : 0 }
                var y = Matrix(rows: 4, cols: blocks)
                try x.withView { xv in try y.withMutableView { try kernel.run(xv, w, bias: nil, $0, threads: 1) } }
                for (i, t) in ts.enumerated() {
                    for r in 0..<blocks {
                        let (got, want) = (y[i, r], expected[r * format.blockSize + t])
                        if got.bitPattern == want.bitPattern || (got == 0 && want == 0) { continue }
                        Issue.record("int4.\(kernel.name) \(format) block \(r) weight \(t): \(got) vs \(want)")
                    }
                }
            }
        }
    }

    /// The last step of every quantizer: with the block's stored scales fixed, each weight
    /// takes the nearest level. So |x − x̂| is at most half a step (plus the rounding of the
    /// product and, for Q4_K, of the subtraction: 2 ulp of the larger of |x̂| and the
    /// minimum) when x lies within the levels' range, and otherwise equals its distance to
    /// the nearest end of that range (the level clipped). Q8_0's step is d, Q4_K's d·sc_s,
    /// Q6_K's d·sc_b; Q8_0 rounds x·(1/d) with the fp32 d, not the fp16 one, so its bound
    /// adds the fp16 rounding of d times |q| ≤ 127 (2⁻¹¹·127·|d|).
    @Test(arguments: kFormats)
    func quantizedWeightsTakeTheNearestLevel(format: QuantFormat) throws {
        var rng = SplitMix64(seed: 91)
        let rows = 6, cols = 512
        var w = Matrix(rows: rows, cols: cols) { _, _ in Float.random(in: -1..<1, using: &rng) }
        // Rows of other scales and shapes: heavy tails, one sign, tiny values.
        for c in 0..<cols {
            w[1, c] = pow(w[1, c], 3) * 40
            w[2, c] = abs(w[2, c]) + 0.5
            w[3, c] *= 1e-6
            w[4, c] = c % 16 == 0 ? 10 : w[4, c] * 0.01
        }
        let q = try w.withView { try Int4.quantize($0, format: format) }
        let back = Int4.dequantize(q)
        q.withUnsafeBytes { buf in
            for r in 0..<rows {
                for b in 0..<(cols / format.blockSize) {
                    let blk = buf.baseAddress! + (r * (cols / format.blockSize) + b) * format.blockBytes
                    for t in 0..<format.blockSize {
                        let (step, lo, hi, extra) = Self.levels(blk, format, t)
                        let x = Double(w[r, b * format.blockSize + t]), xq = Double(back[r, b * format.blockSize + t])
                        let ulp = 2 * Double(Float.ulpOfOne) * max(abs(xq), abs(lo))
                        let outside = x < lo ? lo - x : (x > hi ? x - hi : 0)
                        let bound = max(step / 2, outside) + ulp + extra
                        if abs(x - xq) > bound {
                            Issue.record("\(format) [\(r), \(b * format.blockSize + t)]: |\(x) − \(xq)| > \(bound) (step \(step))")
                        }
                    }
                }
            }
        }
    }

    /// (step, lowest level value, highest, extra bound) of weight t's sub-block.
    static func levels(_ blk: UnsafePointer<UInt8>, _ format: QuantFormat, _ t: Int) -> (Double, Double, Double, Double) {
        func half(_ p: UnsafePointer<UInt8>) -> Double { Double(Half.float(UInt16(p[0]) | UInt16(p[1]) << 8)) }
        switch format {
        case .q8_0:
            let d = half(blk)
            return (abs(d), -128 * abs(d), 127 * abs(d), 127 * abs(d) * 0x1p-11)
        case .q4_k:
            let s = t / 32, sb = blk + 4
            let sc = s < 4 ? sb[s] & 63 : (sb[s + 4] & 0x0F) | ((sb[s - 4] >> 6) << 4)
            let m = s < 4 ? sb[s + 4] & 63 : (sb[s + 4] >> 4) | ((sb[s] >> 6) << 4)
            let step = half(blk) * Double(sc), mn = half(blk + 2) * Double(m)
            return (step, -mn, 15 * step - mn, 0)
        case .q6_k:
            let step = half(blk + 208) * Double(Int8(bitPattern: blk[192 + t / 16]))
            return (abs(step), -32 * abs(step), 31 * abs(step), 0)
        case .q4_0, .q4_1:
            preconditionFailure("Q4 formats are tested in Int4Tests")
        }
    }

    /// Shapes the formats cannot hold are refused with the block size in the message.
    @Test func badShapes() throws {
        #expect(throws: KernelError.self) { try QuantizedMatrix(format: .q4_k, rows: 2, cols: 96, bytes: []) }
        let w = Matrix(rows: 2, cols: 288)
        do {
            _ = try w.withView { try Int4.quantize($0, format: .q6_k) }
            Issue.record("K = 288 quantized to q6_k")
        } catch let e as KernelError {
            #expect("\(e)".contains("256"), "\(e)")
        }
        #expect(throws: KernelError.self) {
            try QuantizedMatrix(format: .q8_0, rows: 2, cols: 64, bytes: [UInt8](repeating: 0, count: 135))
        }
        #expect(throws: KernelError.self) { try QuantizedMatrix(format: .q6_k, rows: Int.max / 2, cols: 256, bytes: []) }
    }
}
