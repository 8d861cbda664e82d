import Benchmark
import Harness
import Kernels

/// Every registered variant of every registered operator at its spec's representative shape,
/// discovered from the registry (a new variant or operator appears here with no edit).
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .instructions, .mallocCountTotal],
        timeUnits: .microseconds,
        maxDuration: .seconds(1),
        maxIterations: 1000
    )
    for spec in Operators.all {
        let text = spec.shapes.representative
        guard let shape = try? spec.shape(text), let workload = try? Workloads.make(shape) else {
            fatalError("bad representative shape \(text) for \(spec.op)")
        }
        for kernel in spec.kernels where kernel.runsByDefault {
            guard let run = try? workload.runner(variant: kernel.name, threads: 1) else { continue }
            Benchmark("\(spec.op.rawValue).\(kernel.name) \(text)") { benchmark in
                for _ in benchmark.scaledIterations { try run() }
            }
        }
    }
}
