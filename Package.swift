// swift-tools-version: 6.1
import PackageDescription
import Foundation

// MARK: - Compiler flags for the kernel targets
//
// Swift SIMD code is only fast when compiled for the CPU it runs on: without a CPU
// flag `SIMD16<Float>.addingProduct` lowers to scalar `fmaf` calls (~100x slower).
// Kernels are also optimized in debug builds so `swift test` exercises the real code
// paths at full speed. Set OPBENCH_PORTABLE=1 to build for the baseline x86-64 /
// arm64 target instead (slow SIMD, but runs on any CPU of the architecture).
let portable = ProcessInfo.processInfo.environment["OPBENCH_PORTABLE"].map { $0 != "0" && !$0.isEmpty } ?? false
let kernelFlags: [SwiftSetting] = [
    .unsafeFlags(portable ? ["-O"] : ["-O", "-target-cpu", "native"])
]

let package = Package(
    name: "OpBench",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "Kernels", targets: ["Kernels"]),
        .library(name: "Harness", targets: ["Harness"]),
        .library(name: "Model", targets: ["Model"]),
        .executable(name: "opbench", targets: ["opbench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0")
    ],
    targets: [
        // MARK: - System libraries
        .systemLibrary(
            name: "COpenBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]
        ),
        // Instructions Swift cannot spell (a header of static inline functions; nothing to link).
        .systemLibrary(name: "CIntrinsics"),
        // The C ABI of external kernels (include/opbench_plugin.h, the header plugins build against).
        .systemLibrary(name: "COpBenchPlugin"),

        // MARK: - Libraries
        .target(
            name: "Kernels",
            dependencies: ["COpenBLAS", "CIntrinsics", "COpBenchPlugin"],
            swiftSettings: kernelFlags
        ),
        .target(
            name: "Harness",
            dependencies: ["Kernels", "COpenBLAS"],
            swiftSettings: kernelFlags
        ),

        .target(
            name: "Model",
            dependencies: ["Kernels", "Harness", "COpenBLAS"],
            swiftSettings: kernelFlags
        ),

        // MARK: - Command-line tool
        .executableTarget(
            name: "opbench",
            dependencies: [
                "Kernels", "Harness", "Model",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // MARK: - Tests
        .testTarget(name: "KernelsTests", dependencies: ["Kernels"], resources: [.copy("Fixtures")]),
        .target(name: "TestSupport", dependencies: ["Harness"], path: "Tests/TestSupport"),
        .testTarget(name: "HarnessTests", dependencies: ["Harness", "Kernels", "TestSupport"], resources: [.copy("Fixtures")]),
        .testTarget(name: "CLITests", dependencies: ["Harness", "Kernels", "Model", "TestSupport"]),
        .testTarget(name: "ModelTests", dependencies: ["Model", "Harness", "Kernels"], resources: [.copy("Fixtures")]),
    ]
)

// MARK: - Fuzzing
//
// The libFuzzer target exists only when OPBENCH_FUZZ_BUILD=1: it links against libFuzzer's
// driver, which only `-sanitize=fuzzer` provides (Benchmarks/scripts/fuzz.sh builds it).
if ProcessInfo.processInfo.environment["OPBENCH_FUZZ_BUILD"] == "1" {
    package.targets.append(.executableTarget(name: "OpBenchFuzz", dependencies: ["Harness", "Model", "Kernels"]))
}
