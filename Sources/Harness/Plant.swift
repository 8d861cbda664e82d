import Foundation
import Kernels

/// A slowdown planted into one variant, to measure how reliably the gate catches a
/// regression (Benchmarks/scripts/gate-reliability.sh). Never set in normal runs.
public struct PlantedSlowdown: Equatable, Sendable {
    /// `spin`: busy-wait after each run until it took (1 + fraction) × its own time; uses
    /// neither the FMA units nor the memory bus. `work`: extra work of the kernel's own kind
    /// after each run — FMA chains for a compute-bound case, a streaming read of a DRAM-sized
    /// buffer for a memory-bound one — sized at warm-up to take `fraction` of the kernel's
    /// best time when run alone, so it competes for what a real regression would.
    public enum Mode: String, Sendable, CaseIterable { case spin, work }

    public var id: VariantID
    public var fraction: Double
    public var mode: Mode

    public init(id: VariantID, fraction: Double, mode: Mode = .spin) { self.id = id; self.fraction = fraction; self.mode = mode }

    /// Parses `op.variant:fraction[:spin|work]`, comma-separated for several variants.
    public static func parse(_ text: String) throws -> [PlantedSlowdown] {
        let usage = "OPBENCH_PLANT_SLOWDOWN='\(String(text.prefix(80)))' must be op.variant:fraction[:spin|work], comma-separated"
        var out: [PlantedSlowdown] = []
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            let parts = item.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            guard (2...3).contains(parts.count), let id = VariantID(parts[0]), let f = Double(parts[1]), f >= 0, f < 10,
                let mode = parts.count == 3 ? Mode(rawValue: parts[2]) : .spin
            else { throw CLIUsageError(usage) }
            guard !out.contains(where: { $0.id == id }) else { throw CLIUsageError(usage + " (\(id) twice)") }
            out.append(PlantedSlowdown(id: id, fraction: f, mode: mode))
        }
        return out
    }

    /// Reads `OPBENCH_PLANT_SLOWDOWN`; empty when unset.
    public static func fromEnvironment() throws -> [PlantedSlowdown] {
        guard let text = ProcessInfo.processInfo.environment["OPBENCH_PLANT_SLOWDOWN"], !text.isEmpty else { return [] }
        return try parse(text)
    }

    /// `run` with the slowdown added. `best` is the kernel's best time alone, seconds;
    /// `computeBound` picks the kind of work.
    func wrap(_ run: @escaping () throws -> Void, best: Double, computeBound: Bool) -> () throws -> Void {
        let fraction = self.fraction
        switch mode {
        case .spin:
            return {
                let t0 = Machine.now()
                try run()
                let until = t0 + (Machine.now() - t0) * (1 + fraction)
                while Machine.now() < until {}
            }
        case .work:
            let target = fraction * best
            if computeBound {
                let probe = 20_000
                let perIteration = Machine.timings(runs: 3) { _ = Machine.fmaProbe(probe) }.min()! / Double(probe)
                let n = max(1, Int(target / perIteration))
                return {
                    try run()
                    if Machine.fmaProbe(n) == 42 { print("") }  // keeps the result alive
                }
            }
            let stream = PlantStream()
            let rate = Machine.timings(runs: 3) { stream.read(4 << 20) }.min().map { Double(4 << 20) / $0 } ?? 1e10
            let bytes = max(64, Int(target * rate))
            return {
                try run()
                stream.read(bytes)
            }
        }
    }
}

/// A 64 MiB buffer read round-robin from where the last read stopped, so the planted reads
/// come from DRAM.
final class PlantStream {
    let buffer = AlignedBuffer(count: 16 << 20)
    var offset = 0

    func read(_ bytes: Int) {
        var left = bytes / 64 * 64, acc = Vec()
        let total = buffer.count * 4
        let base = UnsafeRawPointer(buffer.pointer)
        while left > 0 {
            let n = min(left, total - offset)
            var o = offset
            while o < offset + n { acc += base.load(fromByteOffset: o, as: Vec.self); o += 64 }
            offset = (offset + n) % total
            left -= n
        }
        if VectorMath.sum(acc) == 42 { print("") }  // keeps the sum alive
    }
}
