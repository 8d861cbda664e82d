import Kernels

/// rmsnorm: `ROWSxCOLS`, each row divided by its root mean square (eps 1e-5) and scaled by
/// gamma — the Llama family's norm.
public struct RMSNormSpec: OperatorSpec {
    public typealias Family = RMSNorm
    public init() {}

    public var grammar: String { "ROWSxCOLS (RMS normalization of each row)" }

    public var shapes: ShapeSets {
        ShapeSets(
            verify: ["17x4096", "33x129", "5x1"], quick: ["1024x1024"], full: ["4096x4096", "512x2048", "4096x896"],
            representative: "1024x1024", ablation: "4096x4096")
    }

    /// Per element: square + add, then two multiplies.
    public func flops(_ d: RowsDims) -> Double { 4 * d.elements }

    /// x read once, y written once, gamma read once, fp32.
    public func bytes(_ d: RowsDims) -> Double { 8 * d.elements + 4 * Double(d.cols) }

    public func writtenBytes(_ d: RowsDims) -> Double { 4 * d.elements }

    public func memoryBytes(_ d: RowsDims) -> Double { bytes(d) }

    public func workload(_ shape: CaseShape, _ dims: RowsDims, seed: UInt64) throws -> any Workload {
        RMSNormWorkload(shape, dims, seed: seed)
    }
}

/// Row RMSNorm of x ∈ [−3, 5) with random gamma ∈ [0.5, 2), eps 1e-5.
final class RMSNormWorkload: Workload {
    let shape: CaseShape
    let x: Matrix  // [rows×cols]
    var y: Matrix  // [rows×cols]
    let gamma: [Float]  // [cols]
    let eps: Float = 1e-5

    init(_ shape: CaseShape, _ dims: RowsDims, seed: UInt64) {
        self.shape = shape
        let (r, c) = (dims.rows, dims.cols)
        x = Workloads.random(r, c, seed: seed, lo: -3, hi: 5); y = Matrix(rows: r, cols: c)
        gamma = Workloads.random(1, c, seed: seed + 1, lo: 0.5, hi: 2).dense
    }

    func runner(variant: String, threads: Int) throws -> () throws -> Void {
        let kernel = try RMSNorm.variant(variant)
        return { [self] in
            try self.x.withView { xv in
                try self.y.withMutableView { yv in
                    try self.gamma.withUnsafeBufferPointer { g in try kernel.run(xv, gamma: g, eps: self.eps, yv, threads: threads) }
                }
            }
        }
    }

    func verify() -> Verification {
        let rows = Workloads.sampleRows(x.rows, limit: x.rows * x.cols <= 1 << 22 ? x.rows : 64)
        var got: [Float] = [], ref: [Double] = [], tol: [Double] = []
        x.withView { xv in
            for i in rows {
                ref += Reference.rmsnorm(xv.rows(i, 1), gamma: gamma, eps: eps)
                tol += Tolerance.rmsnormRow(x: xv.row(i), n: x.cols, gamma: gamma, eps: eps)
                for j in 0..<x.cols { got.append(y[i, j]) }
            }
        }
        return Workloads.verification(got: got, ref: ref, tol: tol, rows: rows.count, total: x.rows)
    }
}
