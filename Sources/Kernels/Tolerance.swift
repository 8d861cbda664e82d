#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Per-element error bounds, derived from the operators' documented error analysis
/// (u = 2⁻²⁴, γ_n = n·u/(1 − n·u)). The one home of every bound: `opbench verify`, `bench`
/// and the tests all check against these functions, never against a restated copy. The
/// derivations are on each operator's doc comment and in docs/correctness.md.
public enum Tolerance {
    public static let u = 0x1p-24
    /// γ_n, Higham's bound for an n-term fp32 sum or dot product.
    public static func gamma(_ n: Int) -> Double { Double(n) * u / (1 - Double(n) * u) }
    /// Relative error of the exp implementations: libm `expf` ≤ 1 ulp (2⁻²³ ≈ 1.19e-7), the
    /// SIMD polynomial < 1.2e-7 (its test fails above it); one bound covers both.
    public static let expError = 1.2e-7

    /// matmul: an output is a sum of K rounded products (and the bias), K terms (K + 1) in
    /// any order, with or without FMA, so |ĉ − c| ≤ γ_K·Σ|a||b| (γ_{K+1}·(Σ|a||b| + |bias|))
    /// (Higham, Thm 3.5). `absScale` is Σ_k |a_ik||b_kj| (`Reference.matmulAbs`).
    public static func matmul(k: Int, absScale: Double, bias: Double? = nil) -> Double {
        guard let bias else { return gamma(k) * absScale }
        return gamma(k + 1) * (absScale + abs(bias))
    }

    /// int4 linear against the fp64 product of the dequantized weights: the matmul sum plus
    /// one rounding where a block's scale is applied after its partial sum, γ_{K+2}·(Σ|w||x| +
    /// |bias|); `Int4.Planes.tolerance` shows the integer path stays inside it.
    public static func int4Linear(k: Int, absScale: Double, bias: Double = 0) -> Double {
        gamma(k + 2) * (absScale + abs(bias))
    }

    /// int4.act8 (x rounded to 8-bit blocks, `Int4.Act8`) against the fp64 product of the
    /// dequantized weights and the unrounded x: (½ + 400u)·R + γ_{2nb+2}·(A + |bias|).
    ///
    /// Rounding x moves element t of block b by at most d_b·(½ + 400u), d_b = max|x_b|/127
    /// (the reciprocal, the scale and the product round once each, and |x/d| ≤ 127), so the
    /// exact sum moves by at most (½ + 400u)·R, R = Σ_b d_b·Σ_{t∈b}|w_t|. The integer block
    /// sums are exact; what is left is a sum of at most 2 terms per block (Q4_1's minimum adds
    /// the second), each rounded once before it is added (d_w·d_x, or d_x·Σq) and once by the
    /// FMA that adds it, plus the bias: γ_{2nb+2} of A + |bias|, where A bounds the terms'
    /// magnitudes: Σ_t (|w_t| + 2|m_b|)·(|x_t| + d_b) (|d_w·q_t| ≤ |w_t| + |m_b| for Q4_1's
    /// w = d_w·q + m; m_b = 0 for the other formats).
    public static func int4Act8(blocks nb: Int, absScale: Double, rounding: Double, bias: Double = 0) -> Double {
        (0.5 + 400 * u) * rounding + gamma(2 * nb + 2) * (absScale + abs(bias))
    }

    /// `int4Act8` for output (i, j): x is row i of x (K floats), `wj` row j of W dequantized.
    public static func int4Act8(x: UnsafePointer<Float>, w: QuantizedMatrix, row j: Int, weights wj: UnsafePointer<Float>, bias: Double = 0)
        -> Double
    {
        let nb = w.cols / 32
        var a = 0.0, r = 0.0
        w.withUnsafeBytes { blocks in
            for b in 0..<nb {
                var amax = 0.0
                for t in 0..<32 { amax = max(amax, abs(Double(x[32 * b + t]))) }
                // d_b as the kernel computes it, rounded up; a block the kernel takes as zeros
                // (127/max|x| overflows fp32) errs by up to max|x| = 2·max|x|·½; the block's
                // |minimum| (Q4_1, Q4_K; 0 for the others).
                let d = (127 / Float(amax)).isFinite ? amax / 127 * (1 + u) : 2 * amax
                let mb = abs(Double(Int4.blockMinimum(blocks.baseAddress!, w, row: j, block: b)))
                for t in 32 * b..<32 * b + 32 {
                    let (xv, wv) = (abs(Double(x[t])), abs(Double(wj[t])))
                    a += (wv + 2 * mb) * (xv + d); r += d * wv
                }
            }
        }
        return int4Act8(blocks: nb, absScale: a, rounding: r, bias: bias)
    }

    /// Softmax row bound: for row x (allowed prefix n of `cols`), scale s, reference y.
    ///
    /// The exponent argument a_j = fl(fl(s·x_j) − m) is off by ≤ u·(2|s·x_j| + |m|) (two
    /// roundings), so e_j = exp(a_j) has relative error ≤ e_exp + u·(2|s x_j| + |m|) (+ the
    /// second-order term); the n-term sum of positive e_j adds γ_n; the division and the
    /// final rescale 2u. So |ŷ_j − y_j| ≤ y_j·(ε_j + max_k ε_k + γ_n + 2u) with
    /// ε_j = e_exp + u(2|s x_j| + |m|) + u, plus 2⁻¹²⁶ because results below the smallest
    /// normal float may be flushed to 0. Masked entries (j ≥ n) get 0: they must be exactly 0.
    public static func softmaxRow(x: UnsafePointer<Float>, n: Int, cols: Int, scale: Float, ref: ArraySlice<Double>) -> [Double] {
        let s = Double(scale)
        var m = -Double.infinity
        for j in 0..<n { m = max(m, s * Double(x[j])) }
        var eps = [Double](repeating: 0, count: n), worst = 0.0
        for j in 0..<n where x[j] > -.infinity {
            eps[j] = expError + u * (2 * abs(s * Double(x[j])) + abs(m)) + u
            worst = max(worst, eps[j])
        }
        var tol = [Double](repeating: 0, count: cols)
        let base = ref.startIndex
        for j in 0..<n { tol[j] = ref[base + j] * (eps[j] + worst + gamma(n) + 2 * u) + 0x1p-126 }
        return tol
    }

    /// Layernorm row bound for the corrected two-pass algorithm (see `LayerNorm`), with
    /// μ, σ² the exact row statistics, r = 1/√(σ² + eps), n = C:
    ///  - corrected mean: δμ ≤ γ_{n+2}·(mean|x − μ| + γ_n·mean|x|) + 2u|μ|
    ///    (the deviations are taken from a first mean that is off by ≤ γ_n·mean|x|);
    ///  - variance: relative γ_{n+4} plus the (s1/n)² cancellation, so r is off by a relative
    ///    ½γ_{n+4} + 2u (sqrt and division);
    ///  - output: y = (x − μ')·r·γ + β rounds 4 times.
    /// |ŷ − y| ≤ |γ|·r·(δμ + u|x − μ| + |x − μ|·(½γ_{n+4} + 2u)) + 4u·(|y| + |β|).
    public static func layernormRow(
        x: UnsafePointer<Float>, n: Int, gamma g: [Float], beta: [Float], eps: Float,
        ref: ArraySlice<Double>
    ) -> [Double] {
        var mu = 0.0, absMean = 0.0
        for j in 0..<n { mu += Double(x[j]); absMean += abs(Double(x[j])) }
        mu /= Double(n); absMean /= Double(n)
        var v = 0.0, dev = 0.0
        for j in 0..<n { let d = Double(x[j]) - mu; v += d * d; dev += abs(d) }
        v /= Double(n); dev /= Double(n)
        let r = 1 / (v + Double(eps)).squareRoot()
        let dmu = gamma(n + 2) * (dev + gamma(n) * absMean) + 2 * u * abs(mu)
        let base = ref.startIndex
        return (0..<n).map { j in
            let d = abs(Double(x[j]) - mu)
            return abs(Double(g[j])) * r * (dmu + u * d + d * (0.5 * gamma(n + 4) + 2 * u)) + 4 * u
                * (abs(ref[base + j]) + abs(Double(beta[j])))
        }
    }

    /// RMSNorm bound per element of one row: |ŷ_j − y_j| ≤ |x_j·γ_j|·r·((1 + e)(1 + u)² − 1)
    /// + 2·2⁻¹⁴⁹, e = ½γ_{n+3} + 2u (r's relative error: γ_n for the positive sum in any
    /// order, one rounding each for /n, + eps and √, halved by the root, and the reciprocal),
    /// the (1 + u)² the two products x·r·γ, the last term their possible underflow. A Σx² that
    /// underflows in part only adds absolute error far below eps, which this bound's r
    /// (computed in fp64 with eps) absorbs.
    public static func rmsnormRow(x: UnsafePointer<Float>, n: Int, gamma: [Float], eps: Float) -> [Double] {
        var s = 0.0
        for j in 0..<n { s += Double(x[j]) * Double(x[j]) }
        let r = 1 / (s / Double(n) + Double(eps)).squareRoot()
        let e = 0.5 * self.gamma(n + 3) + 2 * u
        let rel = (1 + e) * (1 + u) * (1 + u) - 1
        return (0..<n).map { j in abs(Double(x[j]) * Double(gamma[j])) * r * rel + 2 * 0x1p-149 }
    }

    /// RoPE bound for one row of x [H·D] at `position` (`RoPE`): per rotated output
    /// γ_4·(|x0·c| + |x1·s|) + (|x0| + |x1|)·a — two products and one sum of fp32 values,
    /// with cos and sin each within u (their fp32 rounding) + a (the fp64 angle's error,
    /// `RoPETable.angleError`) — and 0 for the dimensions past R, which are copied.
    public static func ropeRow(
        x: UnsafePointer<Float>, heads: Int, headDim: Int, position: Int, rotaryDims r: Int, theta: Double, pairing: RoPEPairing,
        angleError a: Double
    ) -> [Double] {
        var tol = [Double](repeating: 0, count: heads * headDim)
        for i in 0..<(r / 2) {
            let ang = RoPE.angle(position: position, pair: i, rotaryDims: r, theta: theta)
            let (c, s) = (abs(cos(ang)), abs(sin(ang)))
            let (i0, i1) = pairing == .adjacent ? (2 * i, 2 * i + 1) : (i, i + r / 2)
            for h in 0..<heads {
                let (x0, x1) = (abs(Double(x[h * headDim + i0])), abs(Double(x[h * headDim + i1])))
                tol[h * headDim + i0] = gamma(4) * (x0 * c + x1 * s) + (x0 + x1) * a + 0x1p-149
                tol[h * headDim + i1] = gamma(4) * (x0 * s + x1 * c) + (x0 + x1) * a + 0x1p-149
            }
        }
        return tol
    }

    /// SwiGLU bound per element (`SwiGLU`): |y|·((1 + u)²/(1 − e_exp − u) − 1), plus
    /// |g·up|·2⁻¹²⁶ where −g > 88 (the exponential overflows or is clamped there, and y is
    /// below that), plus 2⁻¹⁴⁹ for a result that underflows.
    public static func swigluElement(gate g: Float, up: Float) -> Double {
        let (gd, ud) = (Double(g), Double(up))
        let y = gd / (1 + libmExp(-gd)) * ud
        let rel = (1 + u) * (1 + u) / (1 - expError - u) - 1
        return abs(y) * rel + (gd < -88 ? abs(gd * ud) * 0x1p-126 : 0) + 0x1p-149
    }

    /// Attention bound for one query row and head: `dots` are (q·k_j, Σ|q||k_j|) over the
    /// allowed keys, `absScale` is Σ p_j|v_jt| per output t.
    ///
    /// Per output (r, h, t), from the three steps in fp32:
    ///  - score s_j = fl(q·k_j)/√D: |Δs_j| ≤ (γ_D·Σ|q||k_j| + u|q·k_j|)/√D, plus u(|s_j| + |m|)
    ///    when s_j − m is formed;
    ///  - p_j = exp(s_j − m)/l: relative error ≤ 2·max|Δs| + 2·e_exp + γ_L + 2u
    ///    (numerator and the L-term denominator, L allowed keys);
    ///  - o_t = Σ p_j v_jt: γ_L·Σ p_j|v_jt| more, plus the online-softmax rescales (≤ L/64
    ///    of them, each an exp and a multiply).
    /// So |ô − o| ≤ Σ_j p_j|v_jt| · (2·max|Δs| + 2·e_exp + 2γ_L + (L/64 + 1)·(e_exp + u) + 2u).
    public static func attentionRow(d: Int, dots: [(Double, Double)], absScale: ArraySlice<Double>) -> [Double] {
        let sd = Double(d).squareRoot()
        var m = -Double.infinity
        for (dot, _) in dots { m = max(m, dot / sd) }
        var maxDs = 0.0
        for (dot, abs) in dots {
            let s = dot / sd
            maxDs = max(maxDs, (gamma(d) * abs + u * Swift.abs(dot)) / sd + u * (Swift.abs(s) + Swift.abs(m)))
        }
        let l = dots.count
        let rel = 2 * maxDs + 2 * expError + 2 * gamma(l) + Double(l / 64 + 1) * (expError + u) + 2 * u
        return absScale.map { $0 * rel }
    }

    /// The attention bound of every head of query row `row` (token `row` of the pattern; K
    /// [Tk × KV·D], query head h reading K/V head h / (H/KV)):
    /// the score dot products and their absolute sums are recomputed here in fp64, and
    /// `absScale` is `Reference.attention`'s Σ p_j|v_jt| for that row ([H·D]).
    public static func attentionRow(
        q: MatrixView, k: MatrixView, heads: Int, pattern: AttentionPattern, row: Int,
        queryRow: Int, absScale: ArraySlice<Double>
    ) -> [Double] {
        let d = q.cols / heads, base = absScale.startIndex, group = heads / max(1, k.cols / d)
        var tol: [Double] = []
        tol.reserveCapacity(q.cols)
        for head in 0..<heads {
            var dots: [(Double, Double)] = []
            for j in 0..<k.rows where pattern.allows(row, j) {
                var dot = 0.0, sum = 0.0
                for x in 0..<d {
                    let p = Double(q[queryRow, head * d + x]) * Double(k[j, head / group * d + x])
                    dot += p; sum += Swift.abs(p)
                }
                dots.append((dot, sum))
            }
            tol += attentionRow(d: d, dots: dots, absScale: absScale[(base + head * d)..<(base + head * d + d)])
        }
        return tol
    }
}
