import Kernels

/// rope: `T=…,H=…,D=…` with optional `R=` (rotary dimensions, default D), `theta=` (default
/// 10000), `p0=` (first position, default 0) and `neox` (half-split pairs; default adjacent,
/// GGUF's llama convention): the rotary embedding of T tokens' queries or keys, [T × H·D].
public struct RoPESpec: OperatorSpec {
    public typealias Family = RoPE

    public struct Dims: Sendable, Equatable {
        public let t: Int, h: Int, d: Int, r: Int
        public let theta: Double
        public let p0: Int
        public let pairing: RoPEPairing
    }

    public init() {}

    public var grammar: String {
        "T=…,H=…,D=…[,R=…][,theta=…][,p0=…][,neox] (rotate the first R of each head of [T × H·D] for positions p0…)"
    }

    public var shapes: ShapeSets {
        ShapeSets(
            verify: ["T=17,H=3,D=64", "T=9,H=2,D=80,R=34,neox", "T=5,H=4,D=64,theta=500000,p0=131067", "T=3,H=1,D=6,R=2,neox"],
            quick: ["T=512,H=32,D=128", "T=512,H=32,D=128,neox"],
            full: ["T=4096,H=32,D=128", "T=4096,H=14,D=64,theta=1000000,neox", "T=1,H=32,D=128,theta=500000,p0=131071"],
            representative: "T=512,H=32,D=128", ablation: "T=512,H=32,D=128")
    }

    public func parse(_ text: String) throws -> Dims {
        var t: Int?, h: Int?, d: Int?, r: Int?, theta = 10000.0, p0 = 0, pairing = RoPEPairing.adjacent
        for term in text.split(separator: ",", omittingEmptySubsequences: false).map(String.init) {
            let kv = term.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            func value(min: Int = 1, max: Int = Shapes.maxDim) throws -> Int {
                guard kv.count == 2, let v = Int(kv[1]), v >= min else {
                    throw ShapeError("rope shape '\(text)': '\(term)' needs an integer value of at least \(min)")
                }
                guard v <= max else { throw ShapeError("rope shape '\(text)': \(v) exceeds \(max)") }
                return v
            }
            switch kv[0] {
            case "T": t = try value()
            case "H": h = try value()
            case "D": d = try value()
            case "R": r = try value(min: 2)
            case "p0": p0 = try value(min: 0, max: 1 << 40)
            case "theta":
                guard kv.count == 2, let v = Double(kv[1]), v.isFinite, v > 1 else {
                    throw ShapeError("rope shape '\(text)': theta must be a finite number above 1")
                }
                theta = v
            case "neox" where kv.count == 1: pairing = .neox
            case "adjacent" where kv.count == 1: pairing = .adjacent
            default:
                throw ShapeError("rope shape '\(text)': unknown term '\(term)' (expected T=, H=, D=, R=, theta=, p0=, neox)")
            }
        }
        guard let t, let h, let d else { throw ShapeError("rope shape '\(text)' must give T=, H= and D=") }
        let rot = r ?? d
        guard rot % 2 == 0, rot <= d else { throw ShapeError("rope shape '\(text)': R=\(rot) must be even and at most D=\(d)") }
        return Dims(t: t, h: h, d: d, r: rot, theta: theta, p0: p0, pairing: pairing)
    }

    public func canonical(_ d: Dims) -> String {
        var terms = ["T=\(d.t)", "H=\(d.h)", "D=\(d.d)"]
        if d.r != d.d { terms.append("R=\(d.r)") }
        if d.theta != 10000 { terms.append("theta=\(d.theta == d.theta.rounded() ? String(Int(d.theta)) : String(d.theta))") }
        if d.p0 != 0 { terms.append("p0=\(d.p0)") }
        if d.pairing == .neox { terms.append("neox") }
        return terms.joined(separator: ",")
    }

    /// 4 multiplies and 2 adds per rotated pair.
    public func flops(_ d: Dims) -> Double { 3 * Double(d.t) * Double(d.h) * Double(d.r) }

    /// x read and y written once, and the table's entries for those rows (cos and sin, twice
    /// as many for adjacent pairs, whose vector path reads them duplicated).
    public func bytes(_ d: Dims) -> Double {
        8 * Double(d.t) * Double(d.h) * Double(d.d) + Double(d.t) * Double(d.r) * (d.pairing == .neox ? 4 : 8)
    }

    public func writtenBytes(_ d: Dims) -> Double { 4 * Double(d.t) * Double(d.h) * Double(d.d) }

    /// x, y and the whole table (both layouts).
    public func memoryBytes(_ d: Dims) -> Double { 8 * Double(d.t) * Double(d.h) * Double(d.d) + 12 * Double(d.t) * Double(d.r) }

    public func tuningKey(_ d: Dims, threads: Int) -> TuningKey {
        RoPE.tuningKey(tokens: d.t, heads: d.h, headDim: d.d, rotaryDims: d.r, pairing: d.pairing, threads: threads)
    }

    public func workload(_ shape: CaseShape, _ dims: Dims, seed: UInt64) throws -> any Workload {
        try RoPEWorkload(shape, dims, seed: seed)
    }
}

/// x ∈ [−1, 1) (queries or keys), the table built once for the shape's positions.
final class RoPEWorkload: Workload {
    let shape: CaseShape
    let dims: RoPESpec.Dims
    let x: Matrix
    var y: Matrix
    let table: RoPETable

    init(_ shape: CaseShape, _ dims: RoPESpec.Dims, seed: UInt64) throws {
        self.shape = shape; self.dims = dims
        x = Workloads.random(dims.t, dims.h * dims.d, seed: seed)
        y = Matrix(rows: dims.t, cols: dims.h * dims.d)
        table = try RoPETable(p0: dims.p0, count: dims.t, rotaryDims: dims.r, theta: dims.theta)
    }

    func runner(variant: String, threads: Int) throws -> () throws -> Void {
        let kernel = try RoPE.variant(variant)
        return { [self] in
            try self.x.withView { xv in
                try self.y.withMutableView {
                    try kernel.run(
                        xv, $0, heads: self.dims.h, headDim: self.dims.d, table: self.table, pairing: self.dims.pairing, threads: threads)
                }
            }
        }
    }

    func verify() -> Verification {
        let rows = Workloads.sampleRows(x.rows, limit: x.rows * x.cols <= 1 << 22 ? x.rows : 64)
        var got: [Float] = [], ref: [Double] = [], tol: [Double] = []
        x.withView { xv in
            for t in rows {
                ref += Reference.rope(
                    xv.rows(t, 1), heads: dims.h, headDim: dims.d, p0: dims.p0 + t, rotaryDims: dims.r, theta: dims.theta,
                    pairing: dims.pairing)
                tol += Tolerance.ropeRow(
                    x: xv.row(t), heads: dims.h, headDim: dims.d, position: dims.p0 + t, rotaryDims: dims.r, theta: dims.theta,
                    pairing: dims.pairing, angleError: table.angleError)
                for j in 0..<x.cols { got.append(y[t, j]) }
            }
        }
        return Workloads.verification(got: got, ref: ref, tol: tol, rows: rows.count, total: x.rows)
    }
}
