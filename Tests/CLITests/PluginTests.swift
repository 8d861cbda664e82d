import Foundation
import Harness
import Testing

/// External kernels through include/opbench_plugin.h: the example plugin takes part in every
/// command, and each defect of the deliberately broken plugin (Benchmarks/plugins/broken.c)
/// gives one clear error naming the plugin, or a failed verification, never a crash.
@Suite(.serialized) struct PluginTests {
    /// Builds the plugins once (Benchmarks/plugins/build.sh --broken) and returns their folder.
    static let built: Result<URL, Error> = Result {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let out = try CLI.tempDir()
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = [root.appendingPathComponent("Benchmarks/plugins/build.sh").path, "--broken"]
        p.environment = ProcessInfo.processInfo.environment.merging(["OPBENCH_PLUGIN_DIR": out.path]) { $1 }
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        let message = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw CLIFailure("build.sh failed: \(message)") }
        return out
    }

    struct CLIFailure: Error, CustomStringConvertible {
        let description: String
        init(_ d: String) { description = d }
    }

    static func path(_ name: String) throws -> String { try built.get().appendingPathComponent(name).path }
    static var example: String { get throws { try path("libopbench_example.so") } }
    static func broken(_ defect: Int) throws -> String { try path("libopbench_broken\(defect).so") }

    @Test func exampleVariantsAreListedVerifiedAndBenched() throws {
        let list = try CLI.run(["--plugin", Self.example, "list", "--verbose"])
        #expect(list.status == 0, "\(list.stderr)")
        #expect(list.stdout.contains("matmul.example.sgemm") && list.stdout.contains("softmax.example.avx512"), "\(list.stdout)")
        #expect(list.stdout.contains("[plugin \(try Self.example)]"))
        // Without the plugin the ids are unknown: the variants came from it.
        #expect(!(try CLI.run(["list"])).stdout.contains("example"))

        // --plugin after the subcommand, and a plugin variant named without its operator.
        let verify = try CLI.run([
            "verify", "--plugin", Self.example, "--op", "matmul,softmax", "--variant", "example.sgemm,example.avx512",
        ])
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
        let rows = verify.stdout.split(separator: "\n").filter {
            $0.hasPrefix("matmul.example.sgemm") || $0.hasPrefix("softmax.example.avx512")
        }
        let shapes = MatmulSpec().shapes.verify.count + SoftmaxSpec().shapes.verify.count
        #expect(rows.count == 2 * shapes, "every matmul and softmax verify shape at 1 and 2 threads: \(verify.stdout)")
        #expect(rows.allSatisfy { $0.hasSuffix("PASS") })

        let dir = try CLI.tempDir()
        let out = dir.appendingPathComponent("r.json").path
        let bench = try CLI.run(
            [
                "bench", "--op", "matmul", "--variant", "simd,matmul.example.sgemm", "--shape", "48x80x33,nk", "--threads", "1,2",
                "--min-time", "0.02", "-r", "3", "-o", out,
            ],
            env: ["OPBENCH_PLUGIN": try Self.example])
        #expect(bench.status == 0, "\(bench.stderr)")
        let doc = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out))) as? [String: Any]
        let cases = (doc?["cases"] as? [[String: Any]]) ?? []
        let plugin = cases.filter { $0["id"] as? String == "matmul.example.sgemm" }
        #expect(plugin.count == 2 && plugin.allSatisfy { $0["accuracy_pass"] as? Bool == true }, "\(cases)")
        // Files with plugin ids are read back without the plugin: they are results like any other.
        let report = try CLI.run(["report", out, "--md", dir.appendingPathComponent("r.md").path])
        #expect(report.status == 0, "\(report.stderr)")
        let gate = try CLI.run(["gate", "--baseline", out, "--candidate", out])
        #expect(gate.status == 0 && gate.stdout.contains("PASS"), "\(gate.stdout)\(gate.stderr)")
    }

    @Test func exampleVariantsRunInsideAModelPlan() throws {
        let r = try CLI.run([
            "--plugin", Self.example, "model", "--preset", "tiny", "--plan", "matmul=example.sgemm,softmax=example.avx512",
            "--plan", "matmul=simd", "--prompt", "8", "--generate", "2", "--repetitions", "1",
        ])
        #expect(r.status == 0, "\(r.stderr)")
        let row = r.stdout.split(separator: "\n").first { $0.contains("matmul=example.sgemm,softmax=example.avx512") }
        #expect(row != nil, "\(r.stdout)")
        // The pass matches the fp64 pass as the built-in plan does (cosine printed as 1.0000000).
        #expect(row?.contains("1.0000000") == true, "\(row ?? "")")
    }

    /// Each defect of the broken plugin, loaded by `list`, is one line naming the plugin and
    /// what is wrong, exit 2.
    @Test(arguments: [
        (1, "plugin ABI version 99"), (2, "opbench_plugin_entry returned NULL"), (3, "exactly the matmul function must be set"),
        (4, "exactly the matmul function must be set"), (5, "unknown operator 'convolution'"), (6, "name 'Bad Name' must be"),
        (7, "matmul.broken.loops is declared twice"), (8, "flags name neither layout"), (11, "declares 0 variants"),
        (12, "summary is longer than 200 bytes"), (13, "bits this ABI version does not define"), (15, "no symbol opbench_plugin_entry"),
    ])
    func brokenPluginIsRefused(defect: Int, fragment: String) throws {
        let path = try Self.broken(defect)
        try CLI.expectError(["--plugin", path, "list"], ["plugin \(path)", fragment])
    }

    @Test func badPathsAndDuplicatesAreRefused() throws {
        try CLI.expectError(["--plugin", "/nonexistent/x.so", "list"], ["plugin /nonexistent/x.so: no such file"])
        try CLI.expectError(["list", "--plugin"], ["--plugin needs a path"])
        try CLI.expectError(["list"], ["OPBENCH_PLUGIN", "empty item"], env: ["OPBENCH_PLUGIN": "a.so::b.so"])
        let dir = try CLI.tempDir()
        let text = dir.appendingPathComponent("not-a-library.so")
        try Data("not ELF".utf8).write(to: text)
        try CLI.expectError(["--plugin", text.path, "list"], ["cannot be loaded"])
        // The same plugin by two paths: its name is taken by the first.
        let copy = dir.appendingPathComponent("copy.so")
        try FileManager.default.copyItem(atPath: try Self.example, toPath: copy.path)
        try CLI.expectError(["--plugin", Self.example, "--plugin", copy.path, "list"], ["plugin name 'example' is already taken"])
        // The same path twice is one plugin.
        #expect(try CLI.run(["--plugin", Self.example, "--plugin", Self.example, "list"]).status == 0)
    }

    /// A correct one-thread plugin verifies; 2-thread cases are left out as it declared; a
    /// kernel that fails, says "unsupported" or writes NaN is caught where it happens.
    @Test func kernelsThatMisbehaveAreCaught() throws {
        let good = try CLI.run(["--plugin", Self.broken(0), "verify", "--op", "matmul,rmsnorm", "--variant", "broken.loops"])
        #expect(good.status == 0, "\(good.stdout)\(good.stderr)")
        let rows = good.stdout.split(separator: "\n").filter { $0.contains(".broken.loops") }
        // Every matmul and rmsnorm verify shape, 1 thread each.
        let shapes = MatmulSpec().shapes.verify.count + RMSNormSpec().shapes.verify.count
        #expect(rows.count == shapes && rows.allSatisfy { $0.contains(" 1 ") && $0.hasSuffix("PASS") }, "\(good.stdout)")

        try CLI.expectError(
            ["--plugin", Self.broken(9), "verify", "--op", "matmul", "--variant", "broken.loops"],
            ["matmul.broken.loops failed: deliberate failure at m=1"])
        try CLI.expectError(
            ["--plugin", Self.broken(14), "verify", "--op", "matmul", "--variant", "broken.loops"],
            ["matmul.broken.loops: unsupported case: no such case here"])
        let nan = try CLI.run(["--plugin", Self.broken(10), "verify", "--op", "matmul", "--variant", "broken.loops"])
        #expect(nan.status == 1, "a NaN output fails verification: \(nan.stdout)\(nan.stderr)")
        #expect(nan.stdout.contains("FAIL"))
        // A kernel that crashes takes opbench with it, unless its cases run isolated: then
        // verify fails them (CRASH) and goes on, bench stops with one line and writes nothing.
        let crash = try CLI.run(["--plugin", Self.broken(16), "verify", "--op", "matmul", "--variant", "broken.loops"])
        #expect(crash.status >= 128 || crash.status == 11, "not contained without --isolate: status \(crash.status)")
        let isolated = try CLI.run(["--plugin", Self.broken(16), "verify", "--op", "matmul", "--variant", "simd,broken.loops", "--isolate"])
        #expect(isolated.status == 1, "\(isolated.stdout)\(isolated.stderr)")
        #expect(isolated.stdout.contains("CRASH (signal 11 (SIGSEGV))") && isolated.stdout.contains("1 failed"), "\(isolated.stdout)")
        #expect(isolated.stdout.split(separator: "\n").filter { $0.hasPrefix("matmul.simd") }.allSatisfy { $0.hasSuffix("PASS") })
        let dir = try CLI.tempDir()
        let out = dir.appendingPathComponent("b.json").path
        let stopped = try CLI.run([
            "--plugin", Self.broken(16), "bench", "--op", "matmul", "--variant", "simd,broken.loops", "--shape", "16x16x16", "--isolate",
            "--min-time", "0.02", "-r", "3", "-o", out,
        ])
        let last = stopped.stderr.split(separator: "\n").last.map(String.init) ?? ""
        #expect(
            stopped.status == 2 && last.hasPrefix("opbench: error: matmul.broken.loops crashed (signal 11 (SIGSEGV))"), "\(stopped.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out))
        // A sound plugin measured isolated joins the others' table, its peer linked.
        let sound = try CLI.run([
            "--plugin", Self.broken(0), "bench", "--op", "matmul", "--variant", "blas,broken.loops", "--shape", "16x16x16", "--isolate",
            "--min-time", "0.02", "-r", "3", "-o", out,
        ])
        #expect(sound.status == 0, "\(sound.stderr)")
        let doc = try ResultDocument.read(out)
        #expect(doc.cases.map(\.id) == ["matmul.blas", "matmul.broken.loops"] && doc.cases[1].speedupVsBlas != nil)

        // Asked for 2 threads only, the one-thread plugin has no case to run: said, exit 2.
        try CLI.expectError(
            ["--plugin", Self.broken(0), "bench", "--op", "matmul", "--variant", "broken.loops", "--shape", "8x8x8", "--threads", "2"],
            ["runs at most 1 thread"])
    }
}
