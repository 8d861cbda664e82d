#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A SwiGLU variant (element-wise).
public protocol SwiGLUKernel: Kernel {
    /// `y = silu(gate) ⊙ up`, silu(g) = g/(1 + e^−g). `y` may be the same memory as `gate` or `up`.
    func run(_ gate: MatrixView, _ up: MatrixView, _ y: MutableMatrixView, threads: Int) throws
}

/// The SiLU-gated linear unit of the Llama family's MLP (Shazeer 2020):
/// y = silu(gate)·up, element by element, on the two [tokens × ff] projections.
///
/// Accuracy: e = exp(−g) has relative error ≤ e_exp (`Tolerance.expError`), so d = 1 + e
/// has ≤ e_exp + u; the division and the product round once each:
/// |ŷ − y| ≤ |y|·((1 + u)²/(1 − e_exp − u) − 1). Where −g > 88 the exponential overflows
/// (libm: inf, giving ŷ = −0) or is clamped to e⁸⁸ (the vector exp): then
/// |y| < |g·up|·e^g < |g·up|·2⁻¹²⁶ and ŷ is as small, which the bound adds
/// (`Tolerance.swigluElement`). BLAS has nothing to offer an element-wise product of two
/// activations, so there is no `blas` variant.
public enum SwiGLU: OperatorFamily {
    /// The operator name in ids, results and plans.
    public static let op = Op.swiglu

    /// Registered variants, in the order tools list them.
    public static let variants: [any SwiGLUKernel] = [Naive(), SIMD(), Auto()]

    /// Checks every argument.
    public static func validate(_ gate: MatrixView, _ up: MatrixView, _ y: MutableMatrixView, threads: Int) throws {
        let op = Self.op.rawValue
        try Check.threads(threads, op: op)
        try gate.validate(op: op, argument: "gate")
        try up.validate(op: op, argument: "up")
        try y.validate(op: op, argument: "y")
        for (name, r, c) in [("up", up.rows, up.cols), ("y", y.rows, y.cols)] where r != gate.rows || c != gate.cols {
            throw KernelError.shapeMismatch(op: op, argument: name, expected: "\(gate.rows)x\(gate.cols)", got: "\(r)x\(c)")
        }
    }

    // MARK: - naive

    /// Plain loops with libm `expf`. Threads split rows.
    public struct Naive: SwiGLUKernel {
        public init() {}
        public var name: String { "naive" }
        public var summary: String { "plain loops, libm expf: g/(1+exp(-g))*up; threads split rows" }

        public func run(_ gate: MatrixView, _ up: MatrixView, _ y: MutableMatrixView, threads: Int) throws {
            try validate(gate, up, y, threads: threads)
            Parallel.forEach(gate.rows, threads: threads) { rows in
                for i in rows {
                    let g = gate.row(i), u = up.row(i), out = y.row(i)
                    for j in 0..<gate.cols { out[j] = g[j] / (1 + expf(-g[j])) * u[j] }
                }
            }
        }
    }

    // MARK: - simd

    /// SIMD16 with the polynomial exp of `VectorMath` (the softmax's), one division and one
    /// product per lane. Threads split rows.
    public struct SIMD: SwiGLUKernel {
        public init() {}
        public var name: String { "simd" }
        public var summary: String { "SIMD16 polynomial exp, g/(1+exp(-g))*up sixteen lanes at a time; threads split rows" }

        public func run(_ gate: MatrixView, _ up: MatrixView, _ y: MutableMatrixView, threads: Int) throws {
            try validate(gate, up, y, threads: threads)
            let n = gate.cols
            Parallel.forEach(gate.rows, threads: threads) { rows in
                for i in rows {
                    let g = gate.row(i), u = up.row(i), out = y.row(i)
                    @inline(__always) func lanes(_ gv: Vec, _ uv: Vec) -> Vec {
                        gv / (1 + VectorMath.exp(-gv)) * uv
                    }
                    var j = 0
                    while j + 16 <= n {
                        let gv = UnsafeRawPointer(g + j).loadUnaligned(as: Vec.self),
                            uv = UnsafeRawPointer(u + j).loadUnaligned(as: Vec.self)
                        UnsafeMutableRawPointer(out + j).storeBytes(of: lanes(gv, uv), as: Vec.self)
                        j += 16
                    }
                    if j < n {
                        let r = lanes(VectorMath.loadPartial(g + j, n - j, fill: 0), VectorMath.loadPartial(u + j, n - j, fill: 0))
                        VectorMath.storePartial(r, out + j, n - j)
                    }
                }
            }
        }
    }
}

extension Op {
    /// The SiLU-gated product of a Llama-family MLP.
    public static let swiglu = Op(rawValue: "swiglu")
}
