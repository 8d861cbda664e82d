/// GGUF block formats of quantized weights (the byte layouts GGUF files and ggml use).
///
/// - `q4_0` (32 weights, 18 bytes): fp16 scale d, 16 bytes of nibbles; value = (q − 8)·d.
///   Element j (0 ≤ j < 16) is the low nibble of byte j, element j + 16 its high nibble.
/// - `q4_1` (32 weights, 20 bytes): fp16 d, fp16 minimum m, 16 bytes of nibbles as Q4_0;
///   value = q·d + m, multiply then add as ggml and the gguf package do. (q·d has at most
///   4 + 11 significant bits, so it is exact in fp32 and only the add rounds.)
/// - `q8_0` (32 weights, 34 bytes): fp16 d, 32 signed bytes; value = q·d (exact: 8 + 11 bits).
/// - `q4_k` (256 weights, 144 bytes): fp16 d, fp16 dmin, 12 bytes packing eight 6-bit
///   scales and eight 6-bit mins, 128 bytes of nibbles. Sub-block s (32 weights) has scale
///   d·sc_s and minimum dmin·m_s (each one fp32 product, exact); value = (d·sc_s)·q − dmin·m_s,
///   the product exact and the subtraction one rounding. Bytes 32c…32c+31 of the nibbles
///   hold sub-block 2c in their low nibbles and 2c + 1 in their high ones. The scales: for
///   s < 4, sc_s = b[s] & 63 and m_s = b[s+4] & 63; for s ≥ 4, sc_s = (b[s+4] & 15) |
///   ((b[s−4] >> 6) << 4) and m_s = (b[s+4] >> 4) | ((b[s] >> 6) << 4).
/// - `q6_k` (256 weights, 210 bytes): 128 bytes of low nibbles (ql), 64 bytes of high
///   2-bit pairs (qh), sixteen int8 scales, fp16 d; value = (d·sc_{e/16})·(q − 32), q 6 bits.
///   Element e = 128h + 32g + l (h < 2, g < 4, l < 32) takes its low 4 bits from ql[64h +
///   32(g mod 2) + l] (low nibble for g < 2, high for g ≥ 2) and its high 2 from bits 2g…2g+1
///   of qh[32h + l]. d·sc has 11 + 8 bits and is exact; times q (6 bits) it can round once.
///
/// Every dequantization here follows the gguf package's (and ggml's) operation order, and
/// the committed vectors check it bit for bit.
public enum QuantFormat: String, CaseIterable, Sendable, Codable {
    case q4_0, q4_1, q8_0, q4_k, q6_k

    /// Weights per block: 32, or 256 for the K-quants' super-blocks.
    public var blockSize: Int {
        switch self {
        case .q4_0, .q4_1, .q8_0: 32
        case .q4_k, .q6_k: 256
        }
    }

    /// Bytes per block.
    public var blockBytes: Int {
        switch self {
        case .q4_0: 18
        case .q4_1: 20
        case .q8_0: 34
        case .q4_k: 144
        case .q6_k: 210
        }
    }

    /// Bits per weight, scales included (4.5 for Q4_0, 6.5625 for Q6_K).
    public var bitsPerWeight: Double { Double(blockBytes * 8) / Double(blockSize) }

    /// Offset of the 16 nibble bytes inside a Q4_0 / Q4_1 block.
    public var nibbleOffset: Int { self == .q4_1 ? 4 : 2 }

    /// The 4-bit 32-weight formats, which `int4.simd`'s GEMV reads from nibble planes.
    public var isQ4: Bool { self == .q4_0 || self == .q4_1 }

    /// The `ggml_type` number GGUF files store for this format.
    public var ggmlType: UInt32 {
        switch self {
        case .q4_0: 2
        case .q4_1: 3
        case .q8_0: 8
        case .q4_k: 12
        case .q6_k: 14
        }
    }

    /// The names `opbench` lists the formats by.
    public static var names: String { allCases.map(\.rawValue).joined(separator: ", ") }
}

/// Quantization of the 8-bit and K-quant blocks (the Q4 ones are on `Int4`). Their
/// dequantization is `BlockQuads`' SIMD unpacking, which the GEMV, the GEMM panels and
/// `Int4.dequantize` share, and `Int4.element`'s weight by weight, which the naive variant
/// uses; the vectors check both bit for bit. The quantizers follow ggml's reference
/// quantizers (`quantize_row_*_ref`) step by step in fp32, one rounding per operation and no
/// fused multiply-adds, with ggml's `nearest_int` (`nearestInt`).
enum QuantBlocks {
    // MARK: Q8_0

    /// d = max|x|/127, id = 1/d (0 when d = 0), q = round(x·id) half away from zero, d as fp16.
    static func quantizeQ8_0(_ x: UnsafePointer<Float>, into dst: UnsafeMutablePointer<UInt8>) {
        var amax: Float = 0
        for j in 0..<32 { amax = max(amax, abs(x[j])) }
        let d = amax / 127
        let id: Float = d == 0 ? 0 : 1 / d
        Int4.storeHalf(d, dst)
        for j in 0..<32 {
            let v = (x[j] * id).rounded(.toNearestOrAwayFromZero)
            dst[2 + j] = UInt8(bitPattern: Int8(max(-128, min(127, v))))
        }
    }

    // MARK: Q4_K

    /// Sub-block s's 6-bit scale and min from the 12 packed bytes.
    @inline(__always)
    static func scaleMinK4(_ s: Int, _ b: UnsafePointer<UInt8>) -> (sc: UInt8, m: UInt8) {
        if s < 4 { return (b[s] & 63, b[s + 4] & 63) }
        return ((b[s + 4] & 0x0F) | ((b[s - 4] >> 6) << 4), (b[s + 4] >> 4) | ((b[s] >> 6) << 4))
    }

    /// Sub-block s's factors of a Q4_K block: scale d·sc_s and minimum −(dmin·m_s), both
    /// products exact in fp32 (11 + 6 bits); weight t of the sub-block is scale·q_t + minimum.
    @inline(__always)
    static func factorsQ4_K(_ blk: UnsafePointer<UInt8>, subBlock s: Int) -> (scale: Float, minimum: Float) {
        let (sc, m) = scaleMinK4(s, blk + 4)
        return (Int4.loadHalf(blk) * Float(sc), -(Int4.loadHalf(blk + 2) * Float(m)))
    }

    /// Weight t's 4-bit level (0…15) in a Q4_K block.
    @inline(__always)
    static func levelQ4_K(_ blk: UnsafePointer<UInt8>, _ t: Int) -> UInt8 {
        let byte = blk[16 + 32 * (t / 64) + t % 32]
        return (t / 32) % 2 == 0 ? byte & 0x0F : byte >> 4
    }

    /// Weight t's 6-bit level (0…63; the weight is (d·sc_{t/16})·(level − 32)) in a Q6_K block.
    @inline(__always)
    static func levelQ6_K(_ blk: UnsafePointer<UInt8>, _ t: Int) -> UInt8 {
        let (h, g, l) = (t / 128, (t % 128) / 32, t % 32)
        let low = blk[64 * h + 32 * (g % 2) + l] >> (4 * UInt8(g / 2)) & 0x0F
        let high = (blk[128 + 32 * h + l] >> (2 * UInt8(g))) & 3
        return low | (high << 4)
    }

    /// ggml's `quantize_row_q4_K_ref`: per 32-weight sub-block a weighted min/scale fit
    /// (`fitScaleMin`, weights av|x| + |x_i|), the eight scales and mins quantized to 6 bits
    /// against the largest of each (d = max scale/63, dmin = max min/63, fp16), then every
    /// weight re-quantized against its sub-block's stored scale and min.
    static func quantizeQ4_K(_ x: UnsafePointer<Float>, into dst: UnsafeMutablePointer<UInt8>) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 256 + 32) { buf in
            let levels = buf.baseAddress!, aux = levels + 256
            var scales = [Float](repeating: 0, count: 8), mins = scales
            var weights = [Float](repeating: 0, count: 32)
            var maxScale: Float = 0, maxMin: Float = 0
            for s in 0..<8 {
                let xs = x + 32 * s
                var sumX2: Float = 0
                for l in 0..<32 { sumX2 += xs[l] * xs[l] }
                let av = (sumX2 / 32).squareRoot()
                for l in 0..<32 { weights[l] = av + abs(xs[l]) }
                (scales[s], mins[s]) = fitScaleMin(xs, weights, levels: levels + 32 * s, aux: aux)
                if scales[s] > maxScale { maxScale = scales[s] }
                if mins[s] > maxMin { maxMin = mins[s] }
            }
            let invScale: Float = maxScale > 0 ? 63 / maxScale : 0
            let invMin: Float = maxMin > 0 ? 63 / maxMin : 0
            let packed = dst + 4
            for i in 0..<12 { packed[i] = 0 }
            for s in 0..<8 {
                let ls = min(63, UInt8(truncatingIfNeeded: nearestInt(invScale * scales[s])))
                let lm = min(63, UInt8(truncatingIfNeeded: nearestInt(invMin * mins[s])))
                if s < 4 {
                    packed[s] = ls; packed[s + 4] = lm
                } else {
                    packed[s + 4] = (ls & 0x0F) | ((lm & 0x0F) << 4)
                    packed[s - 4] |= (ls >> 4) << 6
                    packed[s] |= (lm >> 4) << 6
                }
            }
            Int4.storeHalf(maxScale / 63, dst)
            Int4.storeHalf(maxMin / 63, dst + 2)
            let d = Int4.loadHalf(dst), dmin = Int4.loadHalf(dst + 2)
            for s in 0..<8 {
                let (sc, m) = scaleMinK4(s, packed)
                let ds = d * Float(sc)
                if ds == 0 { continue }
                let dm = dmin * Float(m)
                for l in 0..<32 {
                    let v = nearestInt((x[32 * s + l] + dm) / ds)
                    levels[32 * s + l] = UInt8(max(0, min(15, v)))
                }
            }
            let qs = dst + 16
            for c in 0..<4 {
                for l in 0..<32 { qs[32 * c + l] = levels[64 * c + l] | (levels[64 * c + 32 + l] << 4) }
            }
        }
    }

    /// ggml's `make_qkx2_quants(32, 15, x, w, L, &min, Laux, −1, 0.1, 20, false)`: levels
    /// 0…15 for value ≈ scale·level − min with min ≥ 0 (the returned min), chosen among
    /// the plain min–max grid and 21 re-fits of nearby grids by weighted least squares,
    /// keeping the one of least weighted squared error.
    static func fitScaleMin(
        _ x: UnsafePointer<Float>, _ w: [Float], levels: UnsafeMutablePointer<UInt8>, aux: UnsafeMutablePointer<UInt8>
    ) -> (scale: Float, min: Float) {
        let n = 32, nmax: Float = 15, rmin: Float = -1, rdelta: Float = 0.1, steps = 20
        var lo = x[0], hi = x[0], sumW = w[0], sumX = sumW * x[0]
        for i in 1..<n {
            if x[i] < lo { lo = x[i] }
            if x[i] > hi { hi = x[i] }
            sumW += w[i]; sumX += w[i] * x[i]
        }
        if lo > 0 { lo = 0 }
        if hi == lo {
            for i in 0..<n { levels[i] = 0 }
            return (0, -lo)
        }
        var iscale = nmax / (hi - lo), scale = 1 / iscale, bestError: Float = 0
        for i in 0..<n {
            let l = max(0, min(15, nearestInt(iscale * (x[i] - lo))))
            levels[i] = UInt8(l)
            let diff = scale * Float(l) + lo - x[i]
            bestError += w[i] * (diff * diff)
        }
        for step in 0...steps {
            iscale = (rmin + rdelta * Float(step) + nmax) / (hi - lo)
            var sumL: Float = 0, sumL2: Float = 0, sumXL: Float = 0
            for i in 0..<n {
                let l = max(0, min(15, nearestInt(iscale * (x[i] - lo))))
                aux[i] = UInt8(l)
                let lf = Float(l)
                sumL += w[i] * lf; sumL2 += w[i] * lf * lf; sumXL += w[i] * lf * x[i]
            }
            let det = sumW * sumL2 - sumL * sumL
            guard det > 0 else { continue }
            var thisScale = (sumW * sumXL - sumX * sumL) / det
            var thisMin = (sumL2 * sumX - sumL * sumXL) / det
            if thisMin > 0 { thisMin = 0; thisScale = sumXL / sumL2 }
            var error: Float = 0
            for i in 0..<n {
                let diff = thisScale * Float(aux[i]) + thisMin - x[i]
                error += w[i] * (diff * diff)
            }
            if error < bestError {
                for i in 0..<n { levels[i] = aux[i] }
                bestError = error; scale = thisScale; lo = thisMin
            }
        }
        return (scale, -lo)
    }

    // MARK: Q6_K

    /// ggml's `quantize_row_q6_K_ref`: per 16-weight sub-block a signed scale fit
    /// (`fitScale`), the sixteen scales quantized to int8 against the one of largest
    /// magnitude (d = −max/128 as fp16), then every weight re-quantized to −32…31 against
    /// its stored scale. A super-block whose scales are all below 10⁻¹⁵ is stored as zeros.
    static func quantizeQ6_K(_ x: UnsafePointer<Float>, into dst: UnsafeMutablePointer<UInt8>) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 256) { buf in
            let levels = buf.baseAddress!
            var scales = [Float](repeating: 0, count: 16)
            var maxScale: Float = 0, maxAbs: Float = 0
            for b in 0..<16 {
                scales[b] = fitScale(x + 16 * b, levels: levels + 16 * b)
                if abs(scales[b]) > maxAbs { maxAbs = abs(scales[b]); maxScale = scales[b] }
            }
            for i in 0..<210 { dst[i] = 0 }
            if maxAbs < groupMaxEps { return }
            let iscale = -128 / maxScale
            Int4.storeHalf(1 / iscale, dst + 208)
            let stored = dst + 192
            for b in 0..<16 { stored[b] = UInt8(truncatingIfNeeded: min(127, nearestInt(iscale * scales[b]))) }
            let d = Int4.loadHalf(dst + 208)
            for b in 0..<16 {
                let ds = d * Float(Int8(bitPattern: stored[b]))
                if ds == 0 { continue }
                for i in 0..<16 {
                    let l = max(-32, min(31, nearestInt(x[16 * b + i] / ds)))
                    levels[16 * b + i] = UInt8(l + 32)
                }
            }
            let ql = dst, qh = dst + 128
            for h in 0..<2 {
                let lv = levels + 128 * h
                for l in 0..<32 {
                    let (q1, q2, q3, q4) = (lv[l], lv[l + 32], lv[l + 64], lv[l + 96])
                    ql[64 * h + l] = (q1 & 0x0F) | ((q3 & 0x0F) << 4)
                    ql[64 * h + 32 + l] = (q2 & 0x0F) | ((q4 & 0x0F) << 4)
                    qh[32 * h + l] = (q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6)
                }
            }
        }
    }

    static let groupMaxEps: Float = 1e-15

    /// ggml's `make_qx_quants(16, 32, x, L, 1, NULL)`: levels −32…31 (stored + 32) for
    /// value ≈ scale·level, weights x², the grid through the element of largest |x| and 18
    /// nearby grids, keeping the least-squares scale of the grid that fits best.
    static func fitScale(_ x: UnsafePointer<Float>, levels: UnsafeMutablePointer<UInt8>) -> Float {
        let n = 16, nmax: Int32 = 32
        var peak: Float = 0, amax: Float = 0
        for i in 0..<n where abs(x[i]) > amax { amax = abs(x[i]); peak = x[i] }
        if amax < groupMaxEps {
            for i in 0..<n { levels[i] = 0 }
            return 0
        }
        func level(_ iscale: Float, _ v: Float) -> Int32 { max(-nmax, min(nmax - 1, nearestInt(iscale * v))) }
        var iscale = Float(-nmax) / peak
        var sumLX: Float = 0, sumL2: Float = 0
        for i in 0..<n {
            let l = level(iscale, x[i])
            levels[i] = UInt8(l + nmax)
            let w = x[i] * x[i], lf = Float(l)
            sumLX += w * x[i] * lf; sumL2 += w * lf * lf
        }
        var scale: Float = sumL2 != 0 ? sumLX / sumL2 : 0
        var best = scale * sumLX
        for step in -9...9 where step != 0 {
            iscale = -(Float(nmax) + 0.1 * Float(step)) / peak
            sumLX = 0; sumL2 = 0
            for i in 0..<n {
                let w = x[i] * x[i], lf = Float(level(iscale, x[i]))
                sumLX += w * x[i] * lf; sumL2 += w * lf * lf
            }
            if sumL2 > 0 && sumLX * sumLX > best * sumL2 {
                for i in 0..<n { levels[i] = UInt8(level(iscale, x[i]) + nmax) }
                scale = sumLX / sumL2; best = scale * sumLX
            }
        }
        return scale
    }

    /// ggml's `nearest_int`: v + 1.5·2²³ rounds v to an integer in the low mantissa bits (ties
    /// to even), read back as bits − 2²². Exact for |v| < 2²²; beyond that (ggml asserts
    /// against it only in debug builds) the same bit arithmetic gives the same wrong value
    /// ggml gets — an infinite v (from a minimum beyond fp16's range) gives −2²² — so the
    /// bytes stay identical to llama.cpp's even there.
    @inline(__always)
    static func nearestInt(_ v: Float) -> Int32 {
        let bits = (v + 12_582_912).bitPattern
        return Int32(bitPattern: bits & 0x007F_FFFF) - 0x0040_0000
    }
}
