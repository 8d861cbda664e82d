// Vector math shared by the SIMD variants: a polynomial exp, reductions, fp16.
import CIntrinsics

/// The SIMD width every SIMD variant is written for (16 fp32 lanes = one zmm register).
public typealias Vec = SIMD16<Float>

public enum VectorMath {
    /// SIMD16 values that fit in registers at once with room to spare: 12 with AVX-512's 32
    /// zmm registers, 6 on AVX2 (two ymm registers each, of 16).
    public static var liveVectors: Int { opbench_vector_registers() == 32 ? 12 : 6 }

    // exp(x) = 2^n · e^r with n = round(x·log2 e), r = x − n·ln 2 ∈ [−ln2/2, ln2/2].
    // ln 2 is split in two (Cody–Waite) so n·ln2_hi is exact in fp32 for |n| ≤ 127.
    // e^r = 1 + r + r²·Q(r) with Q of degree 4, a near-minimax fit of (e^r − 1 − r)/r² for
    // relative error on that interval (least squares on 2000 Chebyshev nodes, iteratively
    // reweighted toward equal ripple; coefficients rounded to fp32): truncation error
    // 3.6e-9, far below fp32 rounding. (Cephes' expf uses a degree-5 Q: one FMA more for
    // an error no one can see in fp32.) Measured max relative error vs fp64 exp over a dense
    // sweep of [−87.3, 88] (KernelsTests.VectorMathTests): 8.2e-8, asserted below
    // 1.2e-7 ≈ 2^-23 (1 ulp of 1).
    // Inputs below −87.33 (including −inf) give exactly 0, so e^x for masked (−inf)
    // logits is 0 and subnormal results are flushed; inputs above 88 are clamped to e^88
    // (softmax only feeds x ≤ 0 after subtracting the row max).
    @usableFromInline static let expHi: Float = 88.0
    @usableFromInline static let expLo: Float = -87.33654
    @usableFromInline static let log2e: Float = 1.44269504088896341
    @usableFromInline static let ln2Hi: Float = 0.693359375
    @usableFromInline static let ln2Lo: Float = -2.12194440e-4
    @usableFromInline static let q4: Float = 1.3751758961007e-3
    @usableFromInline static let q3: Float = 8.36891494691372e-3
    @usableFromInline static let q2: Float = 4.166952520608902e-2
    @usableFromInline static let q1: Float = 1.66665181517601e-1
    @usableFromInline static let q0: Float = 4.9999988079071045e-1

    /// Lane-wise e^x (max relative error < 1.2e-7 for −87.33 ≤ x ≤ 88; 0 below, including −inf).
    @inlinable @inline(__always)
    public static func exp(_ x: Vec) -> Vec {
        let xc = x.replacing(with: Vec(repeating: expHi), where: x .> Vec(repeating: expHi))
        return expCore(xc).replacing(with: 0, where: x .< Vec(repeating: expLo))
    }

    /// Lane-wise e^x for x ≤ 0 (softmax after subtracting the row max, attention scores):
    /// the same polynomial and bits as `exp`, without the upper clamp; lanes below −87.33
    /// (including −inf, whose intermediate NaNs are discarded) become 0 by the final select.
    @inlinable @inline(__always)
    public static func expNonPositive(_ x: Vec) -> Vec {
        expCore(x).replacing(with: 0, where: x .< Vec(repeating: expLo))
    }

    /// 2^n·e^r for n = round(x·log2 e), without range handling (valid for −87.33 ≤ x ≤ 88).
    @inlinable @inline(__always)
    public static func expCore(_ x: Vec) -> Vec {
        // n = round(x·log2 e) by the 1.5·2²³ trick: adding it leaves n in the low mantissa
        // bits (round to nearest even). The magic number carries the exponent bias 127 too,
        // so those bits are n + 127 and one shift makes the fp32 bits of 2^n.
        let magic = Vec(repeating: 12_582_912 + 127)
        let t = magic.addingProduct(x, Vec(repeating: log2e))
        let n = t - magic
        var r = x.addingProduct(n, Vec(repeating: -ln2Hi))
        r = r.addingProduct(n, Vec(repeating: -ln2Lo))
        var q = Vec(repeating: q4)
        q = Vec(repeating: q3).addingProduct(q, r)
        q = Vec(repeating: q2).addingProduct(q, r)
        q = Vec(repeating: q1).addingProduct(q, r)
        q = Vec(repeating: q0).addingProduct(q, r)
        // e^r − 1 = r + r²·Q(r); then 2^n·(e^r − 1) + 2^n in one FMA, which rounds exactly
        // as (1 + (e^r − 1))·2^n does (scaling by 2^n is exact) and saves the add.
        let em1 = r.addingProduct(q, r * r)
        let scale = unsafeBitCast(unsafeBitCast(t, to: SIMD16<Int32>.self) &<< 23, to: Vec.self)
        return scale.addingProduct(em1, scale)
    }

    /// Scalar e^x computed with exactly the vector polynomial (lane 0 of `exp(Vec)`).
    @inlinable
    public static func exp(_ x: Float) -> Float { exp(Vec(repeating: x))[0] }

    /// Largest lane (compare/blend tree; NaN-free inputs).
    @inlinable @inline(__always)
    public static func max(_ v: Vec) -> Float {
        let a = v.lowHalf.replacing(with: v.highHalf, where: v.highHalf .> v.lowHalf)
        let b = a.lowHalf.replacing(with: a.highHalf, where: a.highHalf .> a.lowHalf)
        let c = b.lowHalf.replacing(with: b.highHalf, where: b.highHalf .> b.lowHalf)
        return Swift.max(c[0], c[1])
    }

    /// Sum of the lanes as a pairwise tree.
    @inlinable @inline(__always)
    public static func sum(_ v: Vec) -> Float {
        let a = v.lowHalf + v.highHalf
        let b = a.lowHalf + a.highHalf
        let c = b.lowHalf + b.highHalf
        return c[0] + c[1]
    }

    /// The lane sums of four vectors, each by `sum`'s pairwise tree (bit-identical to four
    /// `sum` calls), with the four trees' shuffles and adds shared.
    @inlinable @inline(__always)
    public static func sums(_ a: Vec, _ b: Vec, _ c: Vec, _ d: Vec) -> SIMD4<Float> {
        opbench_sums4(a, b, c, d)
    }

    /// Σ a[t]·b[t] over `count` floats: one 16-lane FMA accumulator, the tail as a partial
    /// vector, then the pairwise lane sum.
    @inlinable @inline(__always)
    public static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float {
        var acc = Vec()
        var t = 0
        while t + 16 <= count {
            acc = acc.addingProduct(
                UnsafeRawPointer(a + t).loadUnaligned(as: Vec.self), UnsafeRawPointer(b + t).loadUnaligned(as: Vec.self))
            t += 16
        }
        if t < count { acc = acc.addingProduct(loadPartial(a + t, count - t, fill: 0), loadPartial(b + t, count - t, fill: 0)) }
        return sum(acc)
    }

    /// `dot(a, b_i, count)` for four b's, each bit-identical to `dot`: the four
    /// accumulators run side by side and their lane sums share one tree (`sums`).
    @inlinable @inline(__always)
    public static func dots(
        _ a: UnsafePointer<Float>, _ b0: UnsafePointer<Float>, _ b1: UnsafePointer<Float>,
        _ b2: UnsafePointer<Float>, _ b3: UnsafePointer<Float>, count: Int
    ) -> SIMD4<Float> {
        var s0 = Vec(), s1 = Vec(), s2 = Vec(), s3 = Vec()
        @inline(__always) func ld(_ p: UnsafePointer<Float>) -> Vec { UnsafeRawPointer(p).loadUnaligned(as: Vec.self) }
        var t = 0
        while t + 16 <= count {
            let x = ld(a + t)
            s0 = s0.addingProduct(x, ld(b0 + t)); s1 = s1.addingProduct(x, ld(b1 + t))
            s2 = s2.addingProduct(x, ld(b2 + t)); s3 = s3.addingProduct(x, ld(b3 + t))
            t += 16
        }
        if t < count {
            let r = count - t, x = loadPartial(a + t, r, fill: 0)
            s0 = s0.addingProduct(x, loadPartial(b0 + t, r, fill: 0)); s1 = s1.addingProduct(x, loadPartial(b1 + t, r, fill: 0))
            s2 = s2.addingProduct(x, loadPartial(b2 + t, r, fill: 0)); s3 = s3.addingProduct(x, loadPartial(b3 + t, r, fill: 0))
        }
        return sums(s0, s1, s2, s3)
    }

    /// The 32 nibbles of 16 GGUF Q4 bytes as 32-bit lanes: `lo` holds the low nibbles
    /// (elements 0…15), `hi` the high nibbles (elements 16…31). Written lane by lane so
    /// LLVM emits one zero-extending load (the stdlib's generic SIMD conversions are calls).
    @inlinable @inline(__always)
    public static func nibbles(_ p: UnsafePointer<UInt8>) -> (lo: SIMD16<Int32>, hi: SIMD16<Int32>) {
        let v = bytes(p)
        return (v & 0x0F, v &>> 4)
    }

    /// 16 bytes at `p` zero-extended to 32-bit lanes (one `vpmovzxbd`).
    @inlinable @inline(__always)
    public static func bytes(_ p: UnsafePointer<UInt8>) -> SIMD16<Int32> {
        SIMD16<Int32>(
            Int32(p[0]), Int32(p[1]), Int32(p[2]), Int32(p[3]), Int32(p[4]), Int32(p[5]), Int32(p[6]), Int32(p[7]),
            Int32(p[8]), Int32(p[9]), Int32(p[10]), Int32(p[11]), Int32(p[12]), Int32(p[13]), Int32(p[14]), Int32(p[15]))
    }

    /// The 16 fp16 values at `p` as floats, exactly (one `vcvtph2ps`, from `CIntrinsics`: the
    /// stdlib's generic SIMD conversion compiles to scalar code).
    @inlinable @inline(__always)
    public static func halves(_ p: UnsafeRawPointer) -> Vec { opbench_halves_to_floats(p) }

    /// 12 independent chains of n byte dot products (`opbench_dot_u8s8`: `vpdpbusd` with
    /// AVX-512 VNNI), for the calibration's int8 probe.
    @inline(never)
    public static func int8DotProbe(_ n: Int) -> Int32 {
        typealias I = SIMD16<Int32>
        let a = I(repeating: 0x0102_0304)
        var a0 = I(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0
        for i in 0..<n {
            let b = Int32(truncatingIfNeeded: i)
            a0 = opbench_dot_u8s8(a0, a, b); a1 = opbench_dot_u8s8(a1, a, b); a2 = opbench_dot_u8s8(a2, a, b)
            a3 = opbench_dot_u8s8(a3, a, b); a4 = opbench_dot_u8s8(a4, a, b); a5 = opbench_dot_u8s8(a5, a, b)
            a6 = opbench_dot_u8s8(a6, a, b); a7 = opbench_dot_u8s8(a7, a, b); a8 = opbench_dot_u8s8(a8, a, b)
            a9 = opbench_dot_u8s8(a9, a, b); a10 = opbench_dot_u8s8(a10, a, b); a11 = opbench_dot_u8s8(a11, a, b)
        }
        return (a0 &+ a1 &+ a2 &+ a3 &+ a4 &+ a5 &+ a6 &+ a7 &+ a8 &+ a9 &+ a10 &+ a11).wrappedSum()
    }

    /// Whether `opbench_dot_u8s8` is one instruction (`vpdpbusd`) on the compiled-for target.
    public static var hasInt8Dot: Bool { opbench_has_dot_u8s8() != 0 }

    /// |v| lane-wise (the sign bit cleared).
    @inlinable @inline(__always)
    public static func magnitude(_ v: Vec) -> Vec { unsafeBitCast(magnitudeBits(v), to: Vec.self) }

    /// The bits of |v|: for non-negative floats, integer order is value order (NaNs above +∞).
    @inlinable @inline(__always)
    public static func magnitudeBits(_ v: Vec) -> SIMD16<UInt32> { unsafeBitCast(v, to: SIMD16<UInt32>.self) & 0x7FFF_FFFF }

    /// Loads `count` (0…16) floats from `p` into the low lanes; the other lanes are `fill`
    /// (nothing past `p + count` is read: one masked load with AVX-512).
    @inlinable @inline(__always)
    public static func loadPartial(_ p: UnsafePointer<Float>, _ count: Int, fill: Float) -> Vec {
        opbench_load_partial(p, count, fill)
    }

    /// Each lane's index, 0…15: for lane-position compares (masking by key position, the
    /// lanes past a row's end).
    public static let laneIndex = SIMD16<Int32>(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)

    /// Stores the low `count` (0…16) lanes of `v` to `p`, nothing past them (one masked store
    /// with AVX-512).
    @inlinable @inline(__always)
    public static func storePartial(_ v: Vec, _ p: UnsafeMutablePointer<Float>, _ count: Int) {
        opbench_store_partial(p, v, count)
    }
}

/// IEEE half precision ↔ fp32 (round to nearest even, as numpy and ggml's F16C path).
public enum Half {
    /// fp32 → fp16 bits, round to nearest even; overflow gives ±inf.
    @inlinable
    public static func bits(_ x: Float) -> UInt16 { Float16(x).bitPattern }

    /// fp16 bits → fp32 (exact).
    @inlinable
    public static func float(_ bits: UInt16) -> Float { Float(Float16(bitPattern: bits)) }
}
