#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// fp64 references of every operator: the single oracle for tests, `opbench verify` and
/// the accuracy columns of benchmark results. Straight loops, Double accumulation,
/// results in dense row-major `[Double]`.
public enum Reference {
    /// C = A·B (+ bias) with B as `layout` says; [M×N].
    public static func matmul(_ a: MatrixView, _ b: MatrixView, layout: Matmul.BLayout, bias: [Float]? = nil) -> [Double] {
        let m = a.rows, k = a.cols, n = layout == .kn ? b.cols : b.rows
        var c = [Double](repeating: 0, count: m * n)
        for i in 0..<m {
            for j in 0..<n {
                var s = Double(bias?[j] ?? 0)
                for p in 0..<k { s += Double(a[i, p]) * Double(layout == .kn ? b[p, j] : b[j, p]) }
                c[i * n + j] = s
            }
        }
        return c
    }

    /// Σ_k |a_ik|·|b_kj| per output: the scale of matmul's rounding error bound.
    public static func matmulAbs(_ a: MatrixView, _ b: MatrixView, layout: Matmul.BLayout) -> [Double] {
        let m = a.rows, k = a.cols, n = layout == .kn ? b.cols : b.rows
        var c = [Double](repeating: 0, count: m * n)
        for i in 0..<m {
            for j in 0..<n {
                var s = 0.0
                for p in 0..<k { s += abs(Double(a[i, p]) * Double(layout == .kn ? b[p, j] : b[j, p])) }
                c[i * n + j] = s
            }
        }
        return c
    }

    /// Row softmax with the options' scale and causal mask; fully masked rows are 0.
    public static func softmax(_ x: MatrixView, options: Softmax.Options) -> [Double] {
        var y = [Double](repeating: 0, count: x.rows * x.cols)
        for i in 0..<x.rows {
            let n = Softmax.allowedCount(row: i, rows: x.rows, cols: x.cols, causal: options.causal)
            var m = -Double.infinity
            for j in 0..<n { m = max(m, Double(options.scale) * Double(x[i, j])) }
            if m == -.infinity { continue }
            var sum = 0.0
            for j in 0..<n { let e = libmExp(Double(options.scale) * Double(x[i, j]) - m); y[i * x.cols + j] = e; sum += e }
            for j in 0..<n { y[i * x.cols + j] /= sum }
        }
        return y
    }

    /// Row layernorm (biased variance).
    public static func layernorm(_ x: MatrixView, gamma: [Float], beta: [Float], eps: Float) -> [Double] {
        let n = x.cols
        var y = [Double](repeating: 0, count: x.rows * n)
        for i in 0..<x.rows {
            var mean = 0.0
            for j in 0..<n { mean += Double(x[i, j]) }
            mean /= Double(n)
            var v = 0.0
            for j in 0..<n { let d = Double(x[i, j]) - mean; v += d * d }
            v /= Double(n)
            let r = 1 / (v + Double(eps)).squareRoot()
            for j in 0..<n { y[i * n + j] = (Double(x[i, j]) - mean) * r * Double(gamma[j]) + Double(beta[j]) }
        }
        return y
    }

    /// Masked multi-head attention; [Tq × H·D]. Also returns per output Σ_j p_ij·|v_jt|,
    /// the scale of the weighted sum's rounding error. Query row r is token
    /// `firstQuery + r` (default Tk − Tq: the newest tokens).
    public static func attention(
        q: MatrixView, k: MatrixView, v: MatrixView, heads: Int,
        pattern: AttentionPattern, firstQuery: Int? = nil
    ) -> (out: [Double], absScale: [Double]) {
        let d = q.cols / heads, tq = q.rows, tk = k.rows, offset = firstQuery ?? (tk - tq)
        let c = q.cols
        var out = [Double](repeating: 0, count: tq * c)
        var absScale = [Double](repeating: 0, count: tq * c)
        let scale = 1 / Double(d).squareRoot()
        var s = [Double](repeating: 0, count: tk)
        for r in 0..<tq {
            let i = r + offset
            for h in 0..<heads {
                var m = -Double.infinity
                for j in 0..<tk where pattern.allows(i, j) {
                    var dot = 0.0
                    for t in 0..<d { dot += Double(q[r, h * d + t]) * Double(k[j, h * d + t]) }
                    s[j] = dot * scale
                    m = max(m, s[j])
                }
                if m == -.infinity { continue }
                var sum = 0.0
                for j in 0..<tk where pattern.allows(i, j) { s[j] = libmExp(s[j] - m); sum += s[j] }
                for j in 0..<tk where pattern.allows(i, j) {
                    let p = s[j] / sum
                    for t in 0..<d {
                        out[r * c + h * d + t] += p * Double(v[j, h * d + t])
                        absScale[r * c + h * d + t] += p * abs(Double(v[j, h * d + t]))
                    }
                }
            }
        }
        return (out, absScale)
    }

    /// y = x·dequant(W)ᵀ (+ bias) from the dequantized fp32 weights, in fp64.
    public static func int4Linear(_ x: MatrixView, _ w: QuantizedMatrix, bias: [Float]? = nil) -> [Double] {
        let wd = Int4.dequantize(w)
        return wd.withView { matmul(x, $0, layout: .nk, bias: bias) }
    }
}

@inline(__always)
func libmExp(_ x: Double) -> Double { exp(x) }
