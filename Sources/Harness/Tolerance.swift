import Foundation
import Kernels

/// Per-element error bounds, derived from the operators' documented error analysis
/// (u = 2⁻²⁴, γ_n = n·u/(1 − n·u)); `opbench verify` and `bench` pass a result when every
/// checked element is within its bound. The derivations are on each operator's doc comment.
public enum Tolerance {
    public static let u = 0x1p-24
    /// γ_n, Higham's bound for an n-term fp32 sum or dot product.
    public static func gamma(_ n: Int) -> Double { Double(n) * u / (1 - Double(n) * u) }
    /// Relative error of the exp implementations: libm ≤ 1 ulp, the SIMD polynomial < 1.2e-7.
    public static let expError = 1.2e-7

    /// matmul / int4 linear: γ_{K+2}·(Σ|a||b| + |bias|) per output.
    public static func dot(k: Int, absScale: Double, bias: Double = 0) -> Double {
        gamma(k + 2) * (absScale + abs(bias))
    }

    /// Softmax row bound: for row x (allowed prefix n), scale s, reference y.
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

    /// Layernorm row bound (corrected two-pass; see `LayerNorm`).
    public static func layernormRow(x: UnsafePointer<Float>, n: Int, gamma g: [Float], beta: [Float], eps: Float,
                                    ref: ArraySlice<Double>) -> [Double] {
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
            return abs(Double(g[j])) * r * (dmu + u * d + d * (0.5 * gamma(n + 4) + 2 * u)) + 4 * u * (abs(ref[base + j]) + abs(Double(beta[j])))
        }
    }

    /// Attention bound for one query row and head: `dots` are (q·k_j, Σ|q||k_j|) over the
    /// allowed keys, `absScale` is Σ p_j|v_jt| per output t.
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
}
