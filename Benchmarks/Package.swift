// swift-tools-version: 6.1
// package-benchmark suite for OpBench, kept in its own package so the main build does not
// depend on the benchmark package. Run from this folder: `swift package benchmark`.
import PackageDescription

let package = Package(
    name: "OpBenchBenchmarks",
    platforms: [.macOS(.v13)],
    dependencies: [
        .package(name: "OpBench", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "KernelBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "Harness", package: "OpBench"),
                .product(name: "Kernels", package: "OpBench"),
            ],
            path: "Benchmarks/KernelBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        )
    ]
)
