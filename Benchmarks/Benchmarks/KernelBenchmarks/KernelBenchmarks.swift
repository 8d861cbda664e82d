import Benchmark
import Harness
import Kernels

/// Every registered variant at one representative shape per operator, discovered from the
/// registry (a new variant appears here with no edit).
enum Representative {
    static func shape(_ op: Op) -> String {
        switch op {
        case .matmul: return "256x256x256"
        case .softmax: return "1024x1024"
        case .layernorm: return "1024x1024"
        case .attention: return "T=512,H=4,D=64,causal"
        case .int4: return "1x4096x4096"
        }
    }
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .instructions, .mallocCountTotal],
        timeUnits: .microseconds,
        maxDuration: .seconds(1),
        maxIterations: 1000
    )
    for op in Op.allCases {
        let text = Representative.shape(op)
        guard let shape = try? CaseShape(op: op, text), let workload = try? Workloads.make(shape) else {
            fatalError("bad representative shape \(text) for \(op)")
        }
        for kernel in Registry.kernels(for: op) {
            guard let run = try? workload.runner(variant: kernel.name, threads: 1) else { continue }
            Benchmark("\(op.rawValue).\(kernel.name) \(text)") { benchmark in
                for _ in benchmark.scaledIterations { try run() }
            }
        }
    }
}
