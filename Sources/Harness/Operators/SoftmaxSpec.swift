import Kernels

/// softmax: `ROWSxCOLS`, a numerically stable softmax of each row (scale 1, no mask).
public struct SoftmaxSpec: OperatorSpec {
    public typealias Family = Softmax
    public init() {}

    public var grammar: String { "ROWSxCOLS (softmax of each row)" }

    public var shapes: ShapeSets {
        ShapeSets(
            verify: ["33x1000", "5x4099"], quick: ["1024x1024"], full: ["4096x4096", "512x512", "12288x1024"],
            representative: "1024x1024", ablation: "4096x4096")
    }

    /// Per element: compare/max, subtract, exp, add, scale — exp counted as one operation.
    public func flops(_ d: RowsDims) -> Double { 5 * d.elements }

    /// x read once, y written once, fp32.
    public func bytes(_ d: RowsDims) -> Double { 8 * d.elements }

    public func writtenBytes(_ d: RowsDims) -> Double { 4 * d.elements }

    public func memoryBytes(_ d: RowsDims) -> Double { 8 * d.elements + 8 * Double(d.cols) }

    public func workload(_ shape: CaseShape, _ dims: RowsDims, seed: UInt64) throws -> any Workload {
        SoftmaxWorkload(shape, dims, seed: seed)
    }
}

/// Row softmax of x ∈ [−8, 8), scale 1, no mask.
final class SoftmaxWorkload: Workload {
    let shape: CaseShape
    let x: Matrix  // [rows×cols]
    var y: Matrix  // [rows×cols]

    init(_ shape: CaseShape, _ dims: RowsDims, seed: UInt64) {
        self.shape = shape
        x = Workloads.random(dims.rows, dims.cols, seed: seed, lo: -8, hi: 8); y = Matrix(rows: dims.rows, cols: dims.cols)
    }

    func runner(variant: String, threads: Int) throws -> () throws -> Void {
        let kernel = try Softmax.variant(variant)
        return { [self] in
            try self.x.withView { xv in try self.y.withMutableView { yv in try kernel.run(xv, yv, options: .init(), threads: threads) } }
        }
    }

    func verify() -> Verification {
        let rows = Workloads.sampleRows(x.rows, limit: x.rows * x.cols <= 1 << 22 ? x.rows : 64)
        var got: [Float] = [], ref: [Double] = [], tol: [Double] = []
        x.withView { xv in
            for i in rows {
                let r = Reference.softmax(xv.rows(i, 1), options: .init())
                tol += Tolerance.softmaxRow(x: xv.row(i), n: x.cols, cols: x.cols, scale: 1, ref: r[...])
                ref += r
                for j in 0..<x.cols { got.append(y[i, j]) }
            }
        }
        return Workloads.verification(got: got, ref: ref, tol: tol, rows: rows.count, total: x.rows)
    }
}
