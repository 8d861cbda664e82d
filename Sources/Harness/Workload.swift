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
    /// Floating-point operations of one execution (the spec's count).
    var flops: Double { get }
    /// Compulsory memory traffic of one execution (the spec's count).
    var bytes: Double { get }
    /// Returns a closure that runs `variant` once on `threads` threads (resolved up front,
    /// so timing loops measure the kernel only).
    func runner(variant: String, threads: Int) throws -> () throws -> Void
    /// Compares the output of the last run with the fp64 reference.
    func verify() -> Verification
    /// Another workload of the same shape with inputs at other addresses: what a cold-cache
    /// run rotates over (`Bench.workloads`). By default a new seeded workload; a workload whose
    /// inputs are costly to make (quantized weights) copies its own.
    func copy(seed: UInt64) throws -> any Workload
}

extension Workload {
    public var flops: Double { shape.flops }
    public var bytes: Double { shape.bytes }
    public func copy(seed: UInt64) throws -> any Workload { try shape.spec.workload(of: shape, seed: seed) }
}

/// Making workloads, and the helpers the operators' workloads share.
public enum Workloads {
    /// Memory a case may use, as a fraction of physical memory.
    public static let memoryFraction = 0.6

    /// Allocates the inputs of `shape` (seeded, deterministic); refuses shapes that would not
    /// fit in memory before allocating.
    public static func make(_ shape: CaseShape, seed: UInt64 = 1) throws -> any Workload {
        try checkMemory(shape)
        return try shape.spec.workload(of: shape, seed: seed)
    }

    /// Bytes a case may take: `memoryFraction` of physical memory, and no more than 90 % of
    /// what the system has available now (a model command holds its weights meanwhile).
    public static var memoryBudget: Double {
        let physical = Double(ProcessInfo.processInfo.physicalMemory)
        return min(physical * memoryFraction, (Machine.availableBytes() ?? physical) * 0.9)
    }

    /// Throws a `ShapeError` when `shape` would need more than `memoryBudget`. `copies` of it
    /// (cold-cache runs) must fit together, each `perCopy` bytes (default: the spec's count).
    public static func checkMemory(_ shape: CaseShape, copies: Int = 1, perCopy: Double? = nil) throws {
        let need = (perCopy ?? shape.memoryBytes) * Double(copies), budget = memoryBudget
        guard need <= budget else {
            throw ShapeError(
                String(
                    format: "%@ shape '%@' needs %.1f GiB%@, more than the %.1f GiB this machine can give it now",
                    shape.op.rawValue, shape.text, need / 1_073_741_824, copies > 1 ? " for \(copies) cold-cache copies" : "",
                    budget / 1_073_741_824))
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
        return Verification(
            accuracy: Accuracy(got: got, ref: ref), worstRatio: worst, tolerance: tolAtWorst,
            rowsChecked: rows, rowsTotal: total)
    }
}
