import Kernels

/// layernorm: `ROWSxCOLS`, each row normalized to mean 0 and variance 1, then scaled by
/// gamma and shifted by beta (eps 1e-5).
public struct LayerNormSpec: OperatorSpec {
    public typealias Family = LayerNorm
    public init() {}

    public var grammar: String { "ROWSxCOLS (layer normalization of each row)" }

    public var shapes: ShapeSets {
        ShapeSets(
            verify: ["17x4096", "33x129"], quick: ["1024x1024"], full: ["4096x4096", "512x768", "4096x384"],
            representative: "1024x1024", ablation: "4096x4096")
    }

    /// Per element: sum, subtract + square + two adds (second pass), subtract, multiply, FMA.
    public func flops(_ d: RowsDims) -> Double { 8 * d.elements }

    /// x read once, y written once, gamma and beta read once, fp32.
    public func bytes(_ d: RowsDims) -> Double { 8 * d.elements + 8 * Double(d.cols) }

    public func writtenBytes(_ d: RowsDims) -> Double { 4 * d.elements }

    public func memoryBytes(_ d: RowsDims) -> Double { bytes(d) }

    public func workload(_ shape: CaseShape, _ dims: RowsDims, seed: UInt64) throws -> any Workload {
        LayerNormWorkload(shape, dims, seed: seed)
    }
}

/// Row layernorm of x ∈ [−3, 5) with random gamma ∈ [0.5, 2), beta ∈ [−1, 1), eps 1e-5.
final class LayerNormWorkload: Workload {
    let shape: CaseShape
    let x: Matrix  // [rows×cols]
    var y: Matrix  // [rows×cols]
    let gamma: [Float], beta: [Float]  // [cols]
    let eps: Float = 1e-5

    init(_ shape: CaseShape, _ dims: RowsDims, seed: UInt64) {
        self.shape = shape
        let (r, c) = (dims.rows, dims.cols)
        x = Workloads.random(r, c, seed: seed, lo: -3, hi: 5); y = Matrix(rows: r, cols: c)
        gamma = Workloads.random(1, c, seed: seed + 1, lo: 0.5, hi: 2).dense
        beta = Workloads.random(1, c, seed: seed + 2).dense
    }

    func runner(variant: String, threads: Int) throws -> () throws -> Void {
        let kernel = try LayerNorm.variant(variant)
        return { [self] in
            try self.x.withView { xv in
                try self.y.withMutableView { yv in
                    try self.gamma.withUnsafeBufferPointer { g in
                        try self.beta.withUnsafeBufferPointer { b in
                            try kernel.run(xv, gamma: g, beta: b, eps: self.eps, yv, threads: threads)
                        }
                    }
                }
            }
        }
    }

    func verify() -> Verification {
        let rows = Workloads.sampleRows(x.rows, limit: x.rows * x.cols <= 1 << 22 ? x.rows : 64)
        var got: [Float] = [], ref: [Double] = [], tol: [Double] = []
        x.withView { xv in
            for i in rows {
                let r = Reference.layernorm(xv.rows(i, 1), gamma: gamma, beta: beta, eps: eps)
                tol += Tolerance.layernormRow(x: xv.row(i), n: x.cols, gamma: gamma, beta: beta, eps: eps, ref: r[...])
                ref += r
                for j in 0..<x.cols { got.append(y[i, j]) }
            }
        }
        return Workloads.verification(got: got, ref: ref, tol: tol, rows: rows.count, total: x.rows)
    }
}
