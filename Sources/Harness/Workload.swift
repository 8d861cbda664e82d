import Foundation
import Kernels

/// The outcome of checking one variant's output against the fp64 reference.
public struct Verification: Codable, Equatable, Sendable {
    public var accuracy: Accuracy
    /// max over checked elements of |error| / bound; ≤ 1 passes.
    public var worstRatio: Double
    /// The bound at the element with the worst ratio.
    public var tolerance: Double
    /// Rows checked (all rows, or an evenly spread sample of large outputs).
    public var rowsChecked: Int
    public var rowsTotal: Int
    public var passed: Bool { worstRatio <= 1 }

    enum CodingKeys: String, CodingKey {
        case accuracy, worstRatio = "worst_error_to_tolerance", tolerance, rowsChecked = "rows_checked", rowsTotal = "rows_total"
    }
}

/// One operator at one shape with its inputs allocated: runs any variant of that operator
/// and checks the output. FLOP and byte counts are analytic (what the operation needs,
/// not what a variant happens to do), so GFLOP/s and GB/s compare across variants.
public protocol Workload: AnyObject {
    var shape: CaseShape { get }
    /// Floating-point operations of one execution.
    var flops: Double { get }
    /// Compulsory memory traffic of one execution: every input read once, the output written once.
    var bytes: Double { get }
    /// Returns a closure that runs `variant` once on `threads` threads (resolved up front,
    /// so timing loops measure the kernel only).
    func runner(variant: String, threads: Int) throws -> () throws -> Void
    /// Compares the output of the last run with the fp64 reference.
    func verify() -> Verification
}

public enum Workloads {
    /// Memory a case may use, as a fraction of physical memory.
    public static let memoryFraction = 0.6

    /// Allocates the inputs of `shape` (seeded, deterministic); refuses shapes that would not
    /// fit in memory before allocating.
    public static func make(_ shape: CaseShape, seed: UInt64 = 1) throws -> any Workload {
        try checkMemory(shape)
        switch shape.op {
        case .matmul: return MatmulWorkload(shape, seed: seed)
        case .softmax: return SoftmaxWorkload(shape, seed: seed)
        case .layernorm: return LayerNormWorkload(shape, seed: seed)
        case .attention: return AttentionWorkload(shape, seed: seed)
        case .int4: return try Int4Workload(shape, seed: seed)
        }
    }

    /// Throws a `ShapeError` when `shape` would need more than `memoryFraction` of physical memory.
    public static func checkMemory(_ shape: CaseShape) throws {
        let physical = Double(ProcessInfo.processInfo.physicalMemory)
        guard shape.memoryBytes <= physical * memoryFraction else {
            throw ShapeError(String(format: "%@ shape '%@' needs %.1f GiB, more than %.0f%% of this machine's %.1f GiB",
                                    shape.op.rawValue, shape.text, shape.memoryBytes / 1_073_741_824, memoryFraction * 100, physical / 1_073_741_824))
        }
    }

    /// FLOPs of one execution of `shape`, without allocating it.
    public static func estimateFlops(_ shape: CaseShape) throws -> Double {
        switch shape.dims {
        case let .mkn(m, k, n): return 2 * Double(m) * Double(k) * Double(n)
        case let .rows(r, c): return 8 * Double(r) * Double(c)
        case let .attention(t, h, d): return 4 * Double(d) * Double(h) * Double(t) * Double(t)
        }
    }

    /// Up to `limit` row indices spread evenly over `0 ..< count`, first and last included.
    public static func sampleRows(_ count: Int, limit: Int) -> [Int] {
        if count <= limit { return Array(0..<count) }
        return (0..<limit).map { $0 * (count - 1) / (limit - 1) }
    }

    /// Seeded uniform values in [lo, hi).
    static func random(_ rows: Int, _ cols: Int, seed: UInt64, lo: Float = -1, hi: Float = 1) -> Matrix {
        var rng = SplitMix64(seed: seed)
        return Matrix(rows: rows, cols: cols) { _, _ in Float.random(in: lo..<hi, using: &rng) }
    }

    /// Builds a `Verification` from per-row results and bounds.
    static func verification(got: [Float], ref: [Double], tol: [Double], rows: Int, total: Int) -> Verification {
        var worst = 0.0, tolAtWorst = 0.0
        for i in 0..<ref.count {
            let err = abs(Double(got[i]) - ref[i])
            let ratio = err == 0 ? 0 : (tol[i] > 0 ? err / tol[i] : .infinity)
            if !(ratio <= worst) { worst = ratio.isNaN ? .infinity : ratio; tolAtWorst = tol[i] }
        }
        if tolAtWorst == 0 { tolAtWorst = tol.max() ?? 0 }
        return Verification(accuracy: Accuracy(got: got, ref: ref), worstRatio: worst, tolerance: tolAtWorst,
                            rowsChecked: rows, rowsTotal: total)
    }
}

// MARK: - matmul

/// C[M×N] = A[M×K]·B[K×N], or A·Wᵀ with W[N×K] for `,nk` shapes; no bias.
final class MatmulWorkload: Workload {
    let shape: CaseShape
    let a: Matrix, b: Matrix
    var c: Matrix
    let m: Int, k: Int, n: Int

    init(_ shape: CaseShape, seed: UInt64) {
        guard case let .mkn(m, k, n) = shape.dims else { preconditionFailure("matmul shape") }
        self.shape = shape; self.m = m; self.k = k; self.n = n
        a = Workloads.random(m, k, seed: seed)
        b = shape.layout == .kn ? Workloads.random(k, n, seed: seed + 1) : Workloads.random(n, k, seed: seed + 1)
        c = Matrix(rows: m, cols: n)
    }

    var flops: Double { 2 * Double(m) * Double(n) * Double(k) }
    var bytes: Double { 4 * Double(m * k + k * n + m * n) }

    func runner(variant: String, threads: Int) throws -> () throws -> Void {
        let kernel = try Matmul.variant(variant)
        return { [self] in
            try self.a.withView { av in try self.b.withView { bv in try self.c.withMutableView { cv in
                try kernel.run(av, bv, layout: self.shape.layout, bias: nil, cv, threads: threads)
            } } }
        }
    }

    func verify() -> Verification {
        let rows = Workloads.sampleRows(m, limit: 8)
        var got: [Float] = [], ref: [Double] = [], tol: [Double] = []
        a.withView { av in b.withView { bv in
            for i in rows {
                let ai = av.rows(i, 1)
                let r = Reference.matmul(ai, bv, layout: shape.layout), s = Reference.matmulAbs(ai, bv, layout: shape.layout)
                ref += r; tol += s.map { Tolerance.dot(k: k, absScale: $0) }
                for j in 0..<n { got.append(c[i, j]) }
            }
        } }
        return Workloads.verification(got: got, ref: ref, tol: tol, rows: rows.count, total: m)
    }
}

// MARK: - softmax / layernorm

/// Row softmax of x ∈ [−8, 8), scale 1, no mask.
final class SoftmaxWorkload: Workload {
    let shape: CaseShape
    let x: Matrix
    var y: Matrix

    init(_ shape: CaseShape, seed: UInt64) {
        guard case let .rows(r, c) = shape.dims else { preconditionFailure("rows shape") }
        self.shape = shape
        x = Workloads.random(r, c, seed: seed, lo: -8, hi: 8); y = Matrix(rows: r, cols: c)
    }

    /// Per element: compare/max, subtract, exp, add, scale — exp counted as one operation.
    var flops: Double { 5 * Double(x.rows * x.cols) }
    var bytes: Double { 8 * Double(x.rows * x.cols) }

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

/// Row layernorm of x ∈ [−3, 5) with random gamma ∈ [0.5, 2), beta ∈ [−1, 1), eps 1e-5.
final class LayerNormWorkload: Workload {
    let shape: CaseShape
    let x: Matrix
    var y: Matrix
    let gamma: [Float], beta: [Float]
    let eps: Float = 1e-5

    init(_ shape: CaseShape, seed: UInt64) {
        guard case let .rows(r, c) = shape.dims else { preconditionFailure("rows shape") }
        self.shape = shape
        x = Workloads.random(r, c, seed: seed, lo: -3, hi: 5); y = Matrix(rows: r, cols: c)
        gamma = Workloads.random(1, c, seed: seed + 1, lo: 0.5, hi: 2).dense
        beta = Workloads.random(1, c, seed: seed + 2).dense
    }

    /// Per element: sum, subtract + square + two adds (second pass), subtract, multiply, FMA.
    var flops: Double { 8 * Double(x.rows * x.cols) }
    var bytes: Double { 8 * Double(x.rows * x.cols) + 8 * Double(x.cols) }

    func runner(variant: String, threads: Int) throws -> () throws -> Void {
        let kernel = try LayerNorm.variant(variant)
        return { [self] in
            try self.x.withView { xv in try self.y.withMutableView { yv in
                try self.gamma.withUnsafeBufferPointer { g in try self.beta.withUnsafeBufferPointer { b in
                    try kernel.run(xv, gamma: g, beta: b, eps: self.eps, yv, threads: threads)
                } }
            } }
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

// MARK: - attention

/// Self-attention over T tokens, Q/K/V ∈ [−1, 1).
final class AttentionWorkload: Workload {
    let shape: CaseShape
    let q: Matrix, k: Matrix, v: Matrix
    var out: Matrix
    let t: Int, h: Int, d: Int
    /// Allowed (query, key) pairs, counted once.
    let pairs: Double

    init(_ shape: CaseShape, seed: UInt64) {
        guard case let .attention(t, h, d) = shape.dims else { preconditionFailure("attention shape") }
        self.shape = shape; self.t = t; self.h = h; self.d = d
        q = Workloads.random(t, h * d, seed: seed); k = Workloads.random(t, h * d, seed: seed + 1)
        v = Workloads.random(t, h * d, seed: seed + 2); out = Matrix(rows: t, cols: h * d)
        pairs = AttentionWorkload.countPairs(shape.pattern, t: t)
    }

    /// Counts allowed pairs row by row over 64-key tiles (whole tiles counted at once).
    static func countPairs(_ p: AttentionPattern, t: Int) -> Double {
        var total = 0.0
        for i in 0..<t {
            var j0 = 0
            while j0 < t {
                let j1 = min(t, j0 + 64)
                switch p.classify(i..<(i + 1), j0..<j1) {
                case .empty: break
                case .full: total += Double(j1 - j0)
                case .partial: for j in j0..<j1 where p.allows(i, j) { total += 1 }
                }
                j0 = j1
            }
        }
        return total
    }

    /// 2·D for Q·Kᵀ and 2·D for P·V per allowed pair and head (softmax not counted).
    var flops: Double { 4 * Double(d) * Double(h) * pairs }
    var bytes: Double { 16 * Double(t * h * d) }

    func runner(variant: String, threads: Int) throws -> () throws -> Void {
        let kernel = try SparseAttention.variant(variant)
        let heads = h, pattern = shape.pattern
        return { [self] in
            try self.q.withView { qv in try self.k.withView { kv in try self.v.withView { vv in try self.out.withMutableView { ov in
                try kernel.run(q: qv, k: kv, v: vv, heads: heads, pattern: pattern, ov, threads: threads)
            } } } }
        }
    }

    func verify() -> Verification {
        let rows = Workloads.sampleRows(t, limit: t <= 256 ? t : 8)
        var got: [Float] = [], ref: [Double] = [], tol: [Double] = []
        q.withView { qv in k.withView { kv in v.withView { vv in
            for r in rows {
                let (o, absScale) = Reference.attention(q: qv.rows(r, 1), k: kv, v: vv, heads: h, pattern: shape.pattern, firstQuery: r)
                ref += o
                for head in 0..<h {
                    var dots: [(Double, Double)] = []
                    for j in 0..<t where shape.pattern.allows(r, j) {
                        var dot = 0.0, abs = 0.0
                        for x in 0..<d {
                            let p = Double(q[r, head * d + x]) * Double(k[j, head * d + x])
                            dot += p; abs += Swift.abs(p)
                        }
                        dots.append((dot, abs))
                    }
                    tol += Tolerance.attentionRow(d: d, dots: dots, absScale: absScale[(head * d)..<(head * d + d)])
                }
                for j in 0..<(h * d) { got.append(out[r, j]) }
            }
        } } }
        return Workloads.verification(got: got, ref: ref, tol: tol, rows: rows.count, total: t)
    }
}

// MARK: - int4

/// y[M×N] = x[M×K]·dequant(W[N×K])ᵀ with W quantized from uniform [−1, 1).
final class Int4Workload: Workload {
    let shape: CaseShape
    let x: Matrix
    let w: QuantizedMatrix
    var y: Matrix
    let m: Int, k: Int, n: Int

    init(_ shape: CaseShape, seed: UInt64) throws {
        guard case let .mkn(m, k, n) = shape.dims else { preconditionFailure("int4 shape") }
        self.shape = shape; self.m = m; self.k = k; self.n = n
        x = Workloads.random(m, k, seed: seed)
        // Quantize W in slabs of rows so the fp32 copy never exists whole.
        var bytes: [UInt8] = []
        bytes.reserveCapacity(n * (k / 32) * shape.format.blockBytes)
        var row = 0
        while row < n {
            let count = min(1024, n - row)
            let slab = Workloads.random(count, k, seed: seed &+ 1 &+ UInt64(row))
            bytes += try slab.withView { try Int4.quantize($0, format: shape.format) }.bytes
            row += count
        }
        w = try QuantizedMatrix(format: shape.format, rows: n, cols: k, bytes: bytes)
        y = Matrix(rows: m, cols: n)
    }

    var flops: Double { 2 * Double(m) * Double(n) * Double(k) }
    var bytes: Double { Double(w.bytes.count) + 4 * Double(m * k + m * n) }

    func runner(variant: String, threads: Int) throws -> () throws -> Void {
        let kernel = try Int4.variant(variant)
        return { [self] in
            try self.x.withView { xv in try self.y.withMutableView { yv in try kernel.run(xv, self.w, bias: nil, yv, threads: threads) } }
        }
    }

    func verify() -> Verification {
        let rows = Workloads.sampleRows(m, limit: 4)
        var ref = [Double](repeating: 0, count: rows.count * n), scale = ref
        for j in 0..<n {
            let wj = Int4.dequantize(w, row: j)
            for (ri, i) in rows.enumerated() {
                var s = 0.0, a = 0.0
                for p in 0..<k { let t = Double(x[i, p]) * Double(wj[p]); s += t; a += abs(t) }
                ref[ri * n + j] = s; scale[ri * n + j] = a
            }
        }
        var got: [Float] = []
        for i in rows { for j in 0..<n { got.append(y[i, j]) } }
        return Workloads.verification(got: got, ref: ref, tol: scale.map { Tolerance.dot(k: k, absScale: $0) }, rows: rows.count, total: m)
    }
}
