import Kernels

/// swiglu: `ROWSxCOLS`, y = silu(gate)·up on two [rows × cols] inputs (tokens × the MLP's
/// inner width) — the Llama family's gated activation.
public struct SwiGLUSpec: OperatorSpec {
    public typealias Family = SwiGLU
    public init() {}

    public var grammar: String { "ROWSxCOLS (silu(gate)·up, element by element)" }

    public var shapes: ShapeSets {
        ShapeSets(
            verify: ["17x4096", "33x129", "1x1"], quick: ["512x5632"], full: ["4096x14336", "128x8192", "1x14336"],
            representative: "512x5632", ablation: "512x5632")
    }

    /// Per element: negate, exp (counted as one), add, divide, multiply.
    public func flops(_ d: RowsDims) -> Double { 5 * d.elements }

    /// gate and up read once, y written once, fp32.
    public func bytes(_ d: RowsDims) -> Double { 12 * d.elements }

    public func writtenBytes(_ d: RowsDims) -> Double { 4 * d.elements }

    public func memoryBytes(_ d: RowsDims) -> Double { bytes(d) }

    public func workload(_ shape: CaseShape, _ dims: RowsDims, seed: UInt64) throws -> any Workload {
        SwiGLUWorkload(shape, dims, seed: seed)
    }
}

/// gate ∈ [−8, 8) (SiLU's curved part and both tails), up ∈ [−2, 2).
final class SwiGLUWorkload: Workload {
    let shape: CaseShape
    let gate: Matrix, up: Matrix
    var y: Matrix

    init(_ shape: CaseShape, _ dims: RowsDims, seed: UInt64) {
        self.shape = shape
        gate = Workloads.random(dims.rows, dims.cols, seed: seed, lo: -8, hi: 8)
        up = Workloads.random(dims.rows, dims.cols, seed: seed + 1, lo: -2, hi: 2)
        y = Matrix(rows: dims.rows, cols: dims.cols)
    }

    func runner(variant: String, threads: Int) throws -> () throws -> Void {
        let kernel = try SwiGLU.variant(variant)
        return { [self] in
            try self.gate.withView { g in
                try self.up.withView { u in try self.y.withMutableView { try kernel.run(g, u, $0, threads: threads) } }
            }
        }
    }

    func verify() -> Verification {
        let rows = Workloads.sampleRows(gate.rows, limit: gate.rows * gate.cols <= 1 << 22 ? gate.rows : 64)
        var got: [Float] = [], ref: [Double] = [], tol: [Double] = []
        gate.withView { g in
            up.withView { u in
                for i in rows {
                    ref += Reference.swiglu(g.rows(i, 1), u.rows(i, 1))
                    for j in 0..<gate.cols {
                        tol.append(Tolerance.swigluElement(gate: gate[i, j], up: up[i, j]))
                        got.append(y[i, j])
                    }
                }
            }
        }
        return Workloads.verification(got: got, ref: ref, tol: tol, rows: rows.count, total: gate.rows)
    }
}
