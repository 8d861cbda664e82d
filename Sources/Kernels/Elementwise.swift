#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The element-wise steps between the operators of a transformer layer: the GELU of the
/// MLP and the residual add. They move T·C floats once, so they are vectorized but have
/// no variants; the model's per-operator time share reports them as `gelu` and `add`.
public enum Elementwise {
    /// Which GELU a model uses.
    public enum GELU: String, Sendable, Codable {
        /// x·Φ(x) = ½x(1 + erf(x/√2)), as BERT (and MiniLM) use.
        case erf
        /// ½x(1 + tanh(√(2/π)(x + 0.044715x³))), GPT-2's `gelu_new`.
        case tanh
    }

    /// Applies `kind` in place to every element of `x`; threads split rows.
    ///
    /// Accuracy against the fp64 function (asserted in KernelsTests over a dense sweep):
    /// - `tanh`: evaluated as x/(1 + e^(−z)), z = 2√(2/π)(x + 0.044715x³), an identity of the
    ///   tanh form. The polynomial exp has relative error < 1.2e-7 and the few fp32 steps add
    ///   ~4 roundings: |err| ≤ 8·u·|x| + 1e-38 (u = 2⁻²⁴).
    /// - `erf`: erfc(|x|/√2) by Abramowitz & Stegun 7.1.26 (|abs error| ≤ 1.5e-7 in erfc), so
    ///   GELU = x − ½x·erfc(x/√2) for x ≥ 0 and ½x·erfc(|x|/√2) for x < 0 — the form that keeps
    ///   the small negative tail without cancellation. |err| ≤ ½|x|·1.5e-7 + 8·u·|x|.
    public static func gelu(_ x: MutableMatrixView, kind: GELU, threads: Int) throws {
        try Check.threads(threads, op: "gelu")
        try x.validate(op: "gelu", argument: "x")
        Parallel.forEach(x.rows, threads: threads) { rows in
            for r in rows {
                let p = x.row(r)
                var j = 0
                while j + 16 <= x.cols {
                    let v = UnsafeRawPointer(p + j).loadUnaligned(as: Vec.self)
                    UnsafeMutableRawPointer(p + j).storeBytes(of: gelu(v, kind), as: Vec.self)
                    j += 16
                }
                if j < x.cols {
                    VectorMath.storePartial(gelu(VectorMath.loadPartial(p + j, x.cols - j, fill: 0), kind), p + j, x.cols - j)
                }
            }
        }
    }

    /// Lane-wise GELU (see `gelu(_:kind:threads:)` for the accuracy).
    @inlinable @inline(__always)
    public static func gelu(_ x: Vec, _ kind: GELU) -> Vec {
        switch kind {
        case .tanh:
            // z = 2·√(2/π)·(x + 0.044715·x³); GELU = x / (1 + e^(−z)). e^(−z) overflows to
            // +inf only for x ≪ 0, where x/inf = −0 is the correctly rounded limit.
            let c = Vec(repeating: 1.5957691216057308)  // 2·√(2/π)
            let x2 = x * x
            let z = c * x.addingProduct(x * x2, Vec(repeating: 0.044715))
            let e = VectorMath.exp(-z)
            let big = (-z) .> Vec(repeating: 88)
            let g = x / (e + 1)
            return g.replacing(with: Vec(repeating: -0.0), where: big)
        case .erf:
            // A&S 7.1.26: erfc(a) ≈ t·(a1 + t·(a2 + t·(a3 + t·(a4 + t·a5))))·e^(−a²),
            // t = 1/(1 + p·a), a = |x|/√2 ≥ 0.
            let a = x.replacing(with: -x, where: x .< 0) * Vec(repeating: 0.70710678118654752)
            let t = 1 / Vec(repeating: 1).addingProduct(a, Vec(repeating: 0.3275911))
            var poly = Vec(repeating: 1.061405429)
            poly = Vec(repeating: -1.453152027).addingProduct(poly, t)
            poly = Vec(repeating: 1.421413741).addingProduct(poly, t)
            poly = Vec(repeating: -0.284496736).addingProduct(poly, t)
            poly = Vec(repeating: 0.254829592).addingProduct(poly, t)
            let erfc = poly * t * VectorMath.exp(a * (Vec(repeating: 0) - a))
            let half = x * 0.5 * erfc
            return (x - half).replacing(with: half, where: x .< 0)
        }
    }

    /// y += x element-wise (the residual connection); threads split rows.
    public static func add(_ x: MatrixView, into y: MutableMatrixView, threads: Int) throws {
        try Check.threads(threads, op: "add")
        try x.validate(op: "add", argument: "x")
        try y.validate(op: "add", argument: "y")
        guard x.rows == y.rows, x.cols == y.cols else {
            throw KernelError.shapeMismatch(op: "add", argument: "x", expected: "\(y.rows)x\(y.cols)", got: "\(x.rows)x\(x.cols)")
        }
        Parallel.forEach(x.rows, threads: threads) { rows in
            for r in rows {
                let s = x.row(r), d = y.row(r)
                var j = 0
                while j + 16 <= x.cols {
                    let v = UnsafeRawPointer(s + j).loadUnaligned(as: Vec.self) + UnsafeRawPointer(d + j).loadUnaligned(as: Vec.self)
                    UnsafeMutableRawPointer(d + j).storeBytes(of: v, as: Vec.self)
                    j += 16
                }
                while j < x.cols { d[j] += s[j]; j += 1 }
            }
        }
    }
}
