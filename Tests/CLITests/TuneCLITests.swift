import Foundation
import Harness
import TestSupport
import Testing

/// `opbench tune`, tuning files and the auto variants through the built binary.
@Suite(.serialized) struct TuneCLITests {
    /// The tiny encoder's call shapes at 8 tokens: its linears, attention and layernorm.
    static let encoderShapes = ["8x64x64,nk", "8x64x256,nk", "8x256x64,nk", "T=8,H=4,D=16", "8x64"]

    @Test func tuneWritesMergesAndAutoFollows() throws {
        let dir = try CLI.tempDir()
        let file = dir.appendingPathComponent("t.json").path
        var args = ["tune", "--op", "matmul,attention,layernorm", "--budget", "6s", "-o", file]
        for s in Self.encoderShapes { args += ["--shape", s] }
        let r = try CLI.run(args)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("speed-up") && r.stderr.contains("wrote \(file): 5 entries"), "\(r.stdout)\(r.stderr)")
        let tuned = try TuningFile.read(file)
        #expect(tuned.entries.count == 5 && tuned.entries.allSatisfy { $0.variant != "naive" && $0.variant != "auto" })
        // A variant that approximates (int4.act8) takes part when named.
        let q = try CLI.run(["tune", "--op", "int4", "--variant", "simd,act8", "--shape", "16x256x64", "--budget", "2s", "-o", file])
        let withInt4 = try TuningFile.read(file)
        #expect(q.status == 0 && withInt4.entries.contains { $0.op == "int4" }, "\(q.stderr)")
        // A second run at another shape keeps the first run's entries.
        let again = try CLI.run(["tune", "--op", "softmax", "--shape", "8x512", "--budget", "1s", "-o", file])
        let merged = try TuningFile.read(file)
        #expect(again.status == 0 && merged.entries.count == 7, "\(again.stderr)")

        // bench --variant auto follows the file, and the results say which file.
        let out = dir.appendingPathComponent("b.json").path
        let bench = try CLI.run([
            "--tuning", file, "bench", "--op", "matmul", "--variant", "simd,auto", "--shape", "8x64x256,nk", "--min-time", "0.02", "-r",
            "3", "-o", out,
        ])
        #expect(bench.status == 0, "\(bench.stderr)")
        let doc = try ResultDocument.read(out)
        #expect(doc.settings.tuning == file && doc.cases.map(\.id) == ["matmul.simd", "matmul.auto"])

        // A model pass with --plan auto finds an entry for every call of an auto variant;
        // with --tuning none, none.
        let model = dir.appendingPathComponent("m.json").path
        let pass = try CLI.run([
            "model", "--tuning", file, "--preset", "tiny-encoder", "--prompt", "8", "--plan", "auto", "--plan", "", "--repetitions", "2",
            "-o", model,
        ])
        #expect(pass.status == 0, "\(pass.stderr)")
        let models = try ResultDocument.read(model).models
        let auto = try #require(models.first)
        #expect(auto.plan.hasPrefix("matmul=auto") && auto.autoCalls != nil && auto.tunedCalls == auto.autoCalls, "\(auto)")
        #expect(models[1].autoCalls == nil && (auto.cosine ?? .nan) > 0.999_999)
        #expect(pass.stderr.contains("calls of auto variants followed the tuning file \(file)"))
        let none = try CLI.run(["--tuning", "none", "model", "--preset", "tiny-encoder", "--prompt", "8", "--plan", "auto"])
        #expect(none.status == 0 && none.stderr.contains("0 of ") && none.stderr.contains("no tuning file"), "\(none.stderr)")
        // list --tuning shows the installed file's entries.
        let list = try CLI.run(["--tuning", file, "list", "--tuning"])
        #expect(list.status == 0 && list.stdout.contains("tuning file \(file) (7 entries"), "\(list.stdout)")
    }

    /// A candidate that fails its fp64 check never wins: a plugin writing NaN is raced and refused.
    @Test func failingCandidatesAreRefused() throws {
        let dir = try CLI.tempDir()
        let file = dir.appendingPathComponent("t.json").path
        let r = try CLI.run([
            "--plugin", PluginTests.broken(10), "tune", "--op", "matmul", "--variant", "simd,broken.loops", "--shape", "8x16x8",
            "--budget", "2s", "-o", file,
        ])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("broken.loops refused: an output that is nan or inf"), "\(r.stderr)")
        let e = try #require(try TuningFile.read(file).entries.first)
        #expect(e.variant == "simd" && e.rejected == 1)
    }

    @Test func badTuneInputIsRefused() throws {
        let dir = try CLI.tempDir()
        let out = dir.appendingPathComponent("t.json").path
        try CLI.expectError(["tune", "--shape", "8x8x8", "-o", out], ["--op"])
        for budget in ["0s", "abc", "25h", "1e9", "-5"] {
            try CLI.expectError(["tune", "--op", "matmul", "--shape", "8x8x8", "--budget", budget, "-o", out], ["--budget"])
        }
        try CLI.expectError(["tune", "--op", "matmul", "--variant", "auto", "--shape", "8x8x8", "-o", out], ["--variant auto"])
        try CLI.expectError(["tune", "--op", "matmul", "--variant", "fast", "--shape", "8x8x8", "-o", out], ["fast"])
        try CLI.expectError(["tune", "--op", "matmul", "--shape", "8x", "-o", out], ["8x"])
        try CLI.expectError(["tune", "--op", "matmul", "--shape", "8x8x8", "--min-gain", "x", "-o", out], ["--min-gain"])
        try CLI.expectError(["tune", "--op", "matmul", "--shape", "8x8x8", "-o", "/no/such/dir/t.json"], ["does not exist"])
        #expect(!FileManager.default.fileExists(atPath: out), "nothing written")
        // Tuning files: missing, malformed, and one of another machine (a warning, not an error).
        try CLI.expectError(["--tuning", dir.appendingPathComponent("none.json").path, "list"], ["no such file"])
        let bad = dir.appendingPathComponent("bad.json").path
        try Data("{\"kind\": \"opbench-tuning\", \"schema_version\": 1}".utf8).write(to: URL(fileURLWithPath: bad))
        try CLI.expectError(["--tuning", bad, "list"], [bad, "missing field"])
        try CLI.expectError(["list"], [bad, "missing field"], env: ["OPBENCH_TUNING": bad])
        var other = TuningFile(machine: Machine.fingerprint(toolchain: false), entries: [])
        other.machine.cpuModel = "Another CPU"
        let foreign = dir.appendingPathComponent("foreign.json").path
        try other.write(to: foreign)
        let r = try CLI.run(["--tuning", foreign, "list"])
        #expect(r.status == 0 && r.stderr.contains("made on another kind of machine (CPU"), "\(r.stderr)")
    }
}
