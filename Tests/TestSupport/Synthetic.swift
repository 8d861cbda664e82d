import Foundation
import Harness

// Helpers shared by HarnessTests and CLITests: synthetic result documents with known
// sample distributions, and a generator independent of the library's own.

/// Synthetic results for comparison tests.
public enum Synthetic {
    public static let machine = MachineInfo(
        cpuModel: "Test CPU", cores: 2, simdFeatures: ["avx2"], caches: ["L1d": "32K"], os: "Test OS",
        kernel: "Linux", hostname: "test", swiftVersion: "6.3", openblasConfig: "OpenBLAS test",
        openblasCore: "Test", opbenchCommit: "abc", ceilings: [Ceiling(threads: 1, peakGflops: 100, bandwidthGBps: 25)])

    public static func result(_ id: String, shape: String = "8x8x8", samples: [Double], peerSamples: [Double]? = nil, pass: Bool = true)
        -> CaseResult
    {
        let parts = id.split(separator: ".").map(String.init)
        let median = Statistics.median(samples)
        return CaseResult(
            id: id, op: parts[0], variant: parts[1], shape: shape, threads: 1, samplesSeconds: samples, iterationsPerSample: 1,
            medianSeconds: median, p10Seconds: Statistics.quantile(samples, 0.1), p90Seconds: Statistics.quantile(samples, 0.9),
            madSeconds: Statistics.mad(samples), minSeconds: samples.min()!, flops: 1024, bytes: 768, gflops: 1024 / median / 1e9,
            gbps: 768 / median / 1e9, arithmeticIntensity: 4 / 3, rooflineGflops: 33, rooflineFraction: 0.5, bound: "memory",
            speedupVsNaive: nil, speedupVsBlas: nil, peer: peerSamples == nil ? nil : "matmul.blas",
            normalizedSamples: peerSamples.map { zip(samples, $0).map { $0 / $1 } },
            roundMinSeconds: [samples.min()!],
            maxAbsError: 1e-6, maxRelError: 1e-5, nmse: 1e-12, tolerance: 1e-5, errorToTolerance: pass ? 0.1 : 3, accuracyPass: pass,
            rowsChecked: 8)
    }

    /// A case and its blas peer (same shape), as the gate needs them.
    public static func pair(_ id: String, shape: String = "8x8x8", samples: [Double], peerSamples: [Double], pass: Bool = true)
        -> [CaseResult]
    {
        let op = id.split(separator: ".")[0]
        return [
            result(id, shape: shape, samples: samples, peerSamples: peerSamples, pass: pass),
            result("\(op).blas", shape: shape, samples: peerSamples),
        ]
    }

    public static func doc(_ cases: [CaseResult]) -> ResultDocument {
        ResultDocument(
            machine: machine, settings: RunSettings(suite: "quick", minTimeSeconds: 0.1, repetitions: 10, command: "test"), cases: cases)
    }

    /// n samples around `center` with ±`spread` relative deterministic jitter.
    public static func samples(_ center: Double, spread: Double = 0.02, n: Int = 12, seed: UInt64 = 1) -> [Double] {
        var r = SplitMixForTests(seed: seed)
        return (0..<n).map { _ in center * (1 + spread * (2 * r.next() - 1)) }
    }
}

/// Uniform [0, 1) from a tiny LCG, independent of the library's generator.
public struct SplitMixForTests {
    public var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> Double {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Double(state >> 11) / Double(1 << 53)
    }
}

/// Busy sibling processes, one per core, to test what OpBench does on a loaded machine. Each
/// is a shell spin loop under `timeout -s KILL 120` in a process group of its own, spawned with
/// posix_spawn and an empty signal mask (the test runner's threads block most signals, and
/// Foundation's `Process` passes that on); `stop` kills the group and reaps it, and a test that
/// dies leaves nothing running for longer than two minutes.
public final class BusySiblings {
    let pids: [pid_t]

    public init(count: Int = ProcessInfo.processInfo.activeProcessorCount) throws {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP))
        let argv = ["/usr/bin/timeout", "-s", "KILL", "120", "/bin/sh", "-c", "while :; do :; done"]
        var started: [pid_t] = []
        for _ in 0..<count {
            var pid = pid_t()
            let cArgs = argv.map { strdup($0) } + [nil]
            defer { for a in cArgs { free(a) } }
            let rc = posix_spawn(&pid, argv[0], nil, &attributes, cArgs, environ)
            guard rc == 0 else { throw POSIXError(POSIXErrorCode(rawValue: rc) ?? .EINVAL) }
            started.append(pid)
        }
        pids = started
    }

    public func stop() {
        for pid in pids {
            kill(-pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
        }
    }
}
