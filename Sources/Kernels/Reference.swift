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

    /// Rotary embedding of x [T × H·D], row t at position p0 + t (`RoPE`), in fp64.
    public static func rope(
        _ x: MatrixView, heads: Int, headDim: Int, p0: Int, rotaryDims r: Int, theta: Double, pairing: RoPEPairing
    ) -> [Double] {
        var y: [Double] = []
        y.reserveCapacity(x.rows * x.cols)
        for t in 0..<x.rows {
            var row = (0..<x.cols).map { Double(x[t, $0]) }
            for i in 0..<(r / 2) {
                let a = RoPE.angle(position: p0 + t, pair: i, rotaryDims: r, theta: theta)
                let (c, s) = (cos(a), sin(a))
                let (i0, i1) = pairing == .adjacent ? (2 * i, 2 * i + 1) : (i, i + r / 2)
                for h in 0..<heads {
                    let (x0, x1) = (row[h * headDim + i0], row[h * headDim + i1])
                    row[h * headDim + i0] = x0 * c - x1 * s
                    row[h * headDim + i1] = x0 * s + x1 * c
                }
            }
            y += row
        }
        return y
    }

    /// SwiGLU: g/(1 + e^−g)·up, element by element.
    public static func swiglu(_ gate: MatrixView, _ up: MatrixView) -> [Double] {
        var y: [Double] = []
        y.reserveCapacity(gate.rows * gate.cols)
        for i in 0..<gate.rows {
            for j in 0..<gate.cols {
                let g = Double(gate[i, j])
                y.append(g / (1 + libmExp(-g)) * Double(up[i, j]))
            }
        }
        return y
    }

    /// Row RMSNorm: x/√(mean(x²) + eps)·γ.
    public static func rmsnorm(_ x: MatrixView, gamma: [Float], eps: Float) -> [Double] {
        let n = x.cols
        var y = [Double](repeating: 0, count: x.rows * n)
        for i in 0..<x.rows {
            var s = 0.0
            for j in 0..<n { s += Double(x[i, j]) * Double(x[i, j]) }
            let r = 1 / (s / Double(n) + Double(eps)).squareRoot()
            for j in 0..<n { y[i * n + j] = Double(x[i, j]) * r * Double(gamma[j]) }
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

    /// Masked multi-head attention; [Tq × H·D], K and V [Tk × KV·D] (query head h reads K/V
    /// head h / (H/KV)). Also returns per output Σ_j p_ij·|v_jt|, the scale of the weighted
    /// sum's rounding error. Query row r is token `firstQuery + r` (default Tk − Tq: the
    /// newest tokens).
    public static func attention(
        q: MatrixView, k: MatrixView, v: MatrixView, heads: Int,
        pattern: AttentionPattern, firstQuery: Int? = nil
    ) -> (out: [Double], absScale: [Double]) {
        let d = q.cols / heads, tq = q.rows, tk = k.rows, offset = firstQuery ?? (tk - tq)
        let c = q.cols, group = heads / max(1, k.cols / d)
        var out = [Double](repeating: 0, count: tq * c)
        var absScale = [Double](repeating: 0, count: tq * c)
        let scale = 1 / Double(d).squareRoot()
        var s = [Double](repeating: 0, count: tk)
        for r in 0..<tq {
            let i = r + offset
            for h in 0..<heads {
                var m = -Double.infinity
                let kv = h / group * d
                for j in 0..<tk where pattern.allows(i, j) {
                    var dot = 0.0
                    for t in 0..<d { dot += Double(q[r, h * d + t]) * Double(k[j, kv + t]) }
                    s[j] = dot * scale
                    m = max(m, s[j])
                }
                if m == -.infinity { continue }
                var sum = 0.0
                for j in 0..<tk where pattern.allows(i, j) { s[j] = libmExp(s[j] - m); sum += s[j] }
                for j in 0..<tk where pattern.allows(i, j) {
                    let p = s[j] / sum
                    for t in 0..<d {
                        out[r * c + h * d + t] += p * Double(v[j, kv + t])
                        absScale[r * c + h * d + t] += p * abs(Double(v[j, kv + t]))
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
