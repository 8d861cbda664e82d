import Foundation
import Harness
import TestSupport
import Testing

@Suite(.serialized) struct HarnessCLITests {
    /// Progress in a pipe (a CI log): one line per finished group, in order, with the time
    /// spent and an ETA. In a pseudo-terminal 60 columns wide (`script`, `stty cols 60`): the
    /// redrawn line never exceeds 59 columns and counts cases done before the run ends.
    @Test func progressInAPipeAndInATerminal() throws {
        let r = try CLI.run(["bench", "--op", "softmax,layernorm", "--shape", "64x64", "--shape", "32x96", "--min-time", "0.02", "-r", "3"])
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stderr.split(separator: "\n").filter { $0.hasPrefix("[") }
        #expect(lines.count == 4, "\(r.stderr)")
        for (n, line) in lines.enumerated() {
            #expect(line.hasPrefix("[\(n + 1)/4] ") && line.contains(" cases in ") && line.contains("elapsed"), "\(line)")
        }
        #expect(!r.stderr.contains("\u{1B}"), "no terminal escapes in a pipe")
        let command =
            "stty cols 60; '\(CLI.binary.path)' bench --op softmax --shape 64x64 --shape 128x128 --shape 256x256 --min-time 0.3 >/dev/null"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/script")
        p.arguments = ["-q", "-c", command, "/dev/null"]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        let draws = text.components(separatedBy: "\r\u{1B}[K").dropFirst().map { $0.split(separator: "\r").first.map(String.init) ?? "" }
            .filter { !$0.isEmpty }
        #expect(!draws.isEmpty, "no progress drawn: \(text.debugDescription)")
        for d in draws { #expect(d.count <= 59, "\(d.count) columns: \(d)") }
        #expect(draws.contains { $0.contains("ETA") && !$0.hasPrefix("[....................] 0.0/") }, "\(draws)")
    }

    /// Google Benchmark's habits: --filter REGEX over case keys, -o / -r; "did you mean" for
    /// misspelt operators and variants; an operator named by --op that no --shape fits is an
    /// error, not silently dropped.
    @Test func filtersShortOptionsAndSuggestions() throws {
        let dir = try CLI.tempDir()
        let out = dir.appendingPathComponent("f.json").path
        let r = try CLI.run([
            "bench", "--op", "softmax,layernorm", "--shape", "32x64", "--filter", "^(softmax|layernorm)\\.simd .* t=1$", "-r", "2",
            "--min-time", "0.01", "-o", out,
        ])
        #expect(r.status == 0, "\(r.stderr)")
        let doc = try ResultDocument.read(out)
        #expect(Set(doc.cases.map(\.id)) == ["softmax.simd", "layernorm.simd"] && doc.cases.allSatisfy { $0.samplesSeconds.count == 2 })
        try CLI.expectError(
            ["bench", "--op", "softmax", "--shape", "32x64", "--filter", "("], ["--filter '('", "not a regular expression"])
        try CLI.expectError(
            ["bench", "--op", "softmax", "--shape", "32x64", "--filter", "nothing"], ["--filter 'nothing'", "matches none"])
        try CLI.expectError(
            ["bench", "--op", "matmul,softmax", "--shape", "1024x1024"], ["--op matmul gets no shape", "'1024x1024'", "MxKxN"])
        try CLI.expectError(["bench", "--op", "sofmax"], ["unknown operator 'sofmax'", "did you mean 'softmax'?"])
        try CLI.expectError(["bench", "--variant", "smid"], ["unknown variant 'smid'", "did you mean 'simd'?"])
        try CLI.expectError(["bench", "--variant", "matmul.blsa"], ["unknown variant id 'matmul.blsa'", "did you mean 'matmul.blas'?"])
        try CLI.expectError(["model", "--preset", "tiny", "--plan", "matmul=simdd"], ["matmul=simdd", "did you mean 'simd'?"])
        try CLI.expectError(["bench", "--op", "zzzzzz"], ["unknown operator 'zzzzzz'"])
    }

    static let tiny = ["--min-time", "0.01", "--repetitions", "3"]

    @Test func benchWritesEveryFormat() throws {
        let dir = try CLI.tempDir()
        let json = dir.appendingPathComponent("r.json").path
        let r = try CLI.run(["bench", "--op", "matmul", "--shape", "8x16x8", "--threads", "1,2", "--output", json] + Self.tiny)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("matmul.simd") && r.stdout.contains("8x16x8"))
        let doc = try ResultDocument.read(json)
        #expect(doc.cases.count == 6)
        #expect(doc.cases.allSatisfy { $0.accuracyPass && $0.samplesSeconds.count == 3 && $0.gflops > 0 })
        #expect(doc.cases.first { $0.variant == "simd" }?.normalizedSamples?.count == 3)
        for (format, marker) in [
            ("csv", "id,op,variant,shape"), ("md", "| softmax.simd |"), ("gbench", "\"benchmarks\""), ("json", "\"schema_version\""),
        ] {
            let out = try CLI.run(
                ["bench", "--op", "softmax", "--variant", "simd,blas", "--shape", "3x40", "--format", format] + Self.tiny)
            #expect(out.status == 0, "\(format): \(out.stderr)")
            #expect(out.stdout.contains(marker), "\(format) output should contain \(marker)")
        }
        // --cases-from measures exactly the cases of a results file (what the gate reruns).
        let again = dir.appendingPathComponent("again.json").path
        let r2 = try CLI.run(["bench", "--cases-from", json, "--output", again] + Self.tiny)
        #expect(r2.status == 0, "\(r2.stderr)")
        #expect(try ResultDocument.read(again).cases.map(\.key) == doc.cases.map(\.key))
        let att = try CLI.run(
            ["bench", "--op", "attention", "--variant", "attention.simd", "--shape", "T=40,H=2,D=8,causal,window=4,global=2"] + Self.tiny)
        #expect(att.status == 0 && att.stdout.contains("attention.simd"), "\(att.stderr)")
    }

    /// Google Benchmark JSON out (one entry per case, aggregates only, every repetition), and
    /// back in: compare and report read it like an OpBench file; github-action-benchmark's formats.
    @Test func googleBenchmarkOutAndBackIn() throws {
        let dir = try CLI.tempDir()
        let (own, gb) = (dir.appendingPathComponent("own.json").path, dir.appendingPathComponent("gb.json").path)
        let args = ["bench", "--op", "softmax", "--variant", "simd,blas", "--shape", "3x40"] + Self.tiny
        #expect(try CLI.run(args + ["--output", own]).status == 0)
        let g = try CLI.run(args + ["--format", "gbench", "--gbench-repetitions", "-o", gb])
        #expect(g.status == 0, "\(g.stderr)")
        let cmp = try CLI.run(["compare", own, gb])
        #expect(cmp.status == 0 && cmp.stdout.contains("softmax.simd"), "\(cmp.stderr)")
        let md = dir.appendingPathComponent("r.md").path
        let rep = try CLI.run(["report", gb, "--md", md])
        #expect(rep.status == 0, "\(rep.stderr)")
        let agg = try CLI.run(args + ["--format", "gbench", "--gbench-aggregates-only"])
        #expect(agg.status == 0, "\(agg.stderr)")
        let entries = (try JSONSerialization.jsonObject(with: Data(agg.stdout.utf8)) as! [String: Any])["benchmarks"] as! [[String: Any]]
        #expect(entries.compactMap { $0["name"] as? String }.contains("softmax.simd/3x40/threads:1_cv"))
        #expect(entries.allSatisfy { $0["run_type"] as? String == "aggregate" })
        let bigger = try CLI.run(args + ["--format", "gh-bigger"])
        #expect(bigger.status == 0, "\(bigger.stderr)")
        let list = try JSONSerialization.jsonObject(with: Data(bigger.stdout.utf8)) as! [[String: Any]]
        #expect(list.count == 2 && list.allSatisfy { ["GFLOP/s", "GB/s"].contains($0["unit"] as? String ?? "") })
        try CLI.expectError(args + ["--gbench-aggregates-only"], ["go with --format gbench"])
        try CLI.expectError(
            args + ["--format", "gbench", "--gbench-aggregates-only", "--gbench-repetitions"], ["exclude each other"])
    }

    /// The default table fits 120 columns (long shapes cut with an ellipsis); --wide has every
    /// column and whole shapes.
    @Test func compactTableFits120ColumnsAndWideHasEverything() throws {
        let long = "T=64,H=12,D=64,causal,window=256,global=4,block=16,density=0.5"
        let args = ["bench", "--op", "attention", "--shape", long, "--shape", "T=16,Tq=1,H=4,KV=2,D=8,causal"] + Self.tiny
        let compact = try CLI.run(args)
        #expect(compact.status == 0, "\(compact.stderr)")
        let lines = compact.stdout.split(separator: "\n")
        #expect(lines.count == 2 + 6 && lines.allSatisfy { $0.count <= 120 }, "\(lines.map(\.count))")
        #expect(compact.stdout.contains("…") && !compact.stdout.contains(long) && compact.stdout.contains("spread"))
        let wide = try CLI.run(args + ["--wide"])
        #expect(wide.status == 0 && wide.stdout.contains(long) && wide.stdout.contains("vs naive") && wide.stdout.contains("max abs err"))
    }

    /// Four shards as four processes, each told its part the way a fan-out engine would
    /// (OpBench's variables, GoogleTest's, a Slurm array's, a Kubernetes indexed Job's), merged
    /// back: exactly the cases of the unsharded run, each once.
    @Test func fourShardsFromTheEnvironmentMergeIntoTheWholeRun() throws {
        let dir = try CLI.tempDir()
        let args =
            ["bench", "--op", "softmax,layernorm", "--variant", "simd,blas", "--shape", "3x40", "--shape", "5x64", "--shape", "2x96"]
            + Self.tiny
        let whole = dir.appendingPathComponent("whole.json").path
        #expect(try CLI.run(args + ["-o", whole]).status == 0)
        let envs: [[String: String]] = [
            ["OPBENCH_SHARD_INDEX": "0", "OPBENCH_SHARD_COUNT": "4"], ["GTEST_SHARD_INDEX": "1", "GTEST_TOTAL_SHARDS": "4"],
            ["SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_COUNT": "4"], ["JOB_COMPLETION_INDEX": "3", "OPBENCH_SHARD_COUNT": "4"],
        ]
        var parts: [String] = []
        for (i, env) in envs.enumerated() {
            let path = dir.appendingPathComponent("shard\(i).json").path
            let r = try CLI.run(args + ["-o", path], env: env)
            #expect(r.status == 0, "\(env): \(r.stderr)")
            #expect(try ResultDocument.read(path).settings.shard == "\(i + 1)/4")
            parts.append(path)
        }
        let merged = dir.appendingPathComponent("merged.json").path
        let m = try CLI.run(["merge"] + parts + ["-o", merged])
        #expect(m.status == 0, "\(m.stderr)")
        let doc = try ResultDocument.read(merged)
        #expect(doc.cases.map(\.key).sorted() == (try ResultDocument.read(whole)).cases.map(\.key).sorted())
        #expect(doc.shardMachines?.count == 4)
        #expect(try CLI.run(["compare", whole, merged]).status == 0)
        try CLI.expectError(["merge", parts[0], parts[0], "-o", merged], ["both shard 1/4"])
        try CLI.expectError(args + ["--shard", "5/4"], ["shard index 5 must be from 1 to 4"])
        try CLI.expectError(args, ["GTEST_SHARD_INDEX='x' is not an integer"], env: ["GTEST_SHARD_INDEX": "x", "GTEST_TOTAL_SHARDS": "4"])
    }

    @Test func benchRefusesBadInput() throws {
        let dir = try CLI.tempDir()
        let out = dir.appendingPathComponent("never.json").path
        let cases: [([String], [String])] = [
            (["--op", "conv"], ["unknown operator 'conv'"]),
            (["--variant", "fast"], ["unknown variant 'fast'"]),
            (["--variant", "matmul.fast"], ["matmul.fast"]),
            (["--op", "matmul", "--shape", "12x"], ["12x"]),
            (["--op", "matmul", "--shape", "0x5x5"], ["'0'"]),
            (["--op", "matmul", "--shape", "-3"], ["--shape"]),  // parsed as an option: "missing value"
            (["--op", "matmul", "--shape=-3"], ["'-3'"]),
            (["--op", "matmul", "--shape", "100000x100000x100000"], ["GiB"]),
            (["--op", "attention", "--shape", "T=8,H=2,D=4,window=0"], ["window=0"]),
            (["--threads", "0"], ["--threads '0'"]),
            (["--suite", "huge"], ["--suite 'huge'"]),
            (["--format", "xml"], ["--format 'xml'"]),
            (["--min-time", "-1"], ["--min-time"]),
            (["--output", "/nonexistent/r.json"], ["/nonexistent"]),
        ]
        for (args, fragments) in cases {
            try CLI.expectError(["bench", "--output", out] + args, fragments)
        }
        #expect(!FileManager.default.fileExists(atPath: out))
    }

    @Test func verifyPassesAndPrintsTolerances() throws {
        let r = try CLI.run(["verify", "--op", "softmax,layernorm"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("tolerance") && r.stdout.contains("PASS") && !r.stdout.contains("FAIL"))
        // Every variant that runs by default (all but auto) of both operators on every verify shape, on 1 and 2 threads.
        let expected = try ["softmax", "layernorm"].map { try Operators.named($0) }.map {
            $0.kernels.filter(\.runsByDefault).count * $0.shapes.verify.count * 2
        }
        #expect(r.stdout.contains("\(expected.reduce(0, +)) passed, 0 failed"), "\(r.stdout)")
    }

    @Test func compareGateAndReportOnFiles() throws {
        let dir = try CLI.tempDir()
        func write(_ doc: ResultDocument, _ name: String) throws -> String {
            let p = dir.appendingPathComponent(name).path
            try doc.write(to: p)
            return p
        }
        let base = try write(
            Synthetic.doc(
                Synthetic.pair("matmul.simd", samples: Synthetic.samples(1e-3, seed: 1), peerSamples: Synthetic.samples(1e-3, seed: 2))),
            "base.json")
        let same = try write(
            Synthetic.doc(
                Synthetic.pair("matmul.simd", samples: Synthetic.samples(1e-3, seed: 3), peerSamples: Synthetic.samples(1e-3, seed: 4))),
            "same.json")
        let slow = try write(
            Synthetic.doc(
                Synthetic.pair("matmul.simd", samples: Synthetic.samples(1.3e-3, seed: 5), peerSamples: Synthetic.samples(1e-3, seed: 6))),
            "slow.json")

        let c = try CLI.run(["compare", base, slow, "--normalized"])
        #expect(c.status == 0 && c.stdout.contains("slower"), "\(c.stdout)\(c.stderr)")
        let md = try CLI.run(["compare", base, same, "--format", "md"])
        #expect(md.status == 0 && md.stdout.contains("| matmul.simd |") && md.stdout.contains("no change"))

        let summary = dir.appendingPathComponent("gate.md").path
        let g1 = try CLI.run(["gate", "--baseline", base, "--candidate", same, "--summary", summary])
        #expect(g1.status == 0, "\(g1.stdout)")
        let written = try String(contentsOfFile: summary, encoding: .utf8)
        #expect(g1.stdout.contains("PASS") && written.contains("PASS"))
        let g2 = try CLI.run(["gate", "--baseline", base, "--candidate", slow])
        #expect(g2.status == 1 && g2.stdout.contains("FAIL") && g2.stdout.contains("**slower**"))
        // A candidate from another kind of machine: speed is not judged against this baseline
        // (the reason on top; --require-machine makes it an error), but against one of its own kind.
        var other = Synthetic.doc(
            Synthetic.pair("matmul.simd", samples: Synthetic.samples(1.3e-3, seed: 5), peerSamples: Synthetic.samples(1e-3, seed: 6)))
        other.machine.simdFeatures = ["sse4_2", "avx", "avx2", "fma"]
        let otherSlow = try write(other, "other-slow.json")
        let g3 = try CLI.run(["gate", "--baseline", base, "--candidate", otherSlow])
        #expect(g3.status == 0 && g3.stdout.contains("Speed not judged") && g3.stdout.contains("SIMD features"), "\(g3.stdout)")
        #expect(g3.stderr.contains("speed not judged"))
        try CLI.expectError(["gate", "--baseline", base, "--candidate", otherSlow, "--require-machine"], ["no baseline", "SIMD features"])
        var otherBase = Synthetic.doc(
            Synthetic.pair("matmul.simd", samples: Synthetic.samples(1e-3, seed: 1), peerSamples: Synthetic.samples(1e-3, seed: 2)))
        otherBase.machine.simdFeatures = other.machine.simdFeatures
        let otherBasePath = try write(otherBase, "other-base.json")
        let g4 = try CLI.run(["gate", "--baseline", base, "--baseline", otherBasePath, "--candidate", otherSlow])
        #expect(g4.status == 1 && g4.stdout.contains("**slower**") && !g4.stdout.contains("Speed not judged"), "\(g4.stdout)")

        // A candidate measured while the machine ran 30 % below the baseline's state: speed is not
        // judged (said on top; --require-machine makes it an error); in the baseline's state it is.
        func probed(_ seconds: Double, fma: Double) throws -> String {
            var d = Synthetic.doc(
                Synthetic.pair("matmul.simd", samples: Synthetic.samples(seconds, seed: 5), peerSamples: Synthetic.samples(1e-3, seed: 6)))
            d.machine.stateProbes = [MachineState(fmaGflops: fma, dramReadGBps: 16), MachineState(fmaGflops: fma, dramReadGBps: 16)]
            return try write(d, "probed-\(seconds)-\(fma).json")
        }
        var probedBaseDoc = try ResultDocument.read(base)
        probedBaseDoc.machine.stateProbes = [MachineState(fmaGflops: 170, dramReadGBps: 16)]
        let probedBase = try write(probedBaseDoc, "probed-base.json")
        let g5 = try CLI.run(["gate", "--baseline", probedBase, "--candidate", try probed(1.3e-3, fma: 119)])
        #expect(g5.status == 0 && g5.stdout.contains("Speed not judged") && g5.stdout.contains("run 1: **another state**"), "\(g5.stdout)")
        #expect(g5.stderr.contains("speed not judged"))
        try CLI.expectError(
            ["gate", "--baseline", probedBase, "--candidate", try probed(1.3e-3, fma: 119), "--require-machine"],
            ["speed cannot be judged", "another state"])
        let g6 = try CLI.run(["gate", "--baseline", probedBase, "--candidate", try probed(1.3e-3, fma: 168)])
        #expect(g6.status == 1 && g6.stdout.contains("**slower**") && g6.stdout.contains("run 1: matches"), "\(g6.stdout)")
        try CLI.expectError(["gate", "--baseline", base, "--candidate", same, "--state-wait", "-1"], ["--state-wait"])

        let html = dir.appendingPathComponent("r.html").path, mdFile = dir.appendingPathComponent("r.md").path
        let rep = try CLI.run(["report", base, slow, "--html", html, "--md", mdFile])
        #expect(rep.status == 0, "\(rep.stderr)")
        let page = try String(contentsOfFile: html, encoding: .utf8), markdown = try String(contentsOfFile: mdFile, encoding: .utf8)
        #expect(page.contains("<svg"))
        #expect(markdown.contains("# OpBench report"))

        let foreign = dir.appendingPathComponent("foreign.json").path
        try Data("{\"benchmarks\": []}".utf8).write(to: URL(fileURLWithPath: foreign))
        let v99 = dir.appendingPathComponent("v99.json").path
        try Data(
            String(decoding: try Data(contentsOf: URL(fileURLWithPath: base)), as: UTF8.self)
                .replacingOccurrences(of: "\"schema_version\" : 1", with: "\"schema_version\" : 99").utf8
        ).write(to: URL(fileURLWithPath: v99))
        try CLI.expectError(["compare", base, foreign], ["foreign.json", "not an opbench results file"])
        try CLI.expectError(["compare", base, dir.appendingPathComponent("nope.json").path], ["nope.json", "no such file"])
        try CLI.expectError(["gate", "--baseline", v99, "--candidate", same], ["v99.json", "schema_version 99"])
        try CLI.expectError(["gate", "--baseline", base, "--candidate", same, "--threshold", "lots"], ["--threshold 'lots'"])
        try CLI.expectError(["report", foreign, "--html", dir.appendingPathComponent("x.html").path], ["foreign.json"])
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("x.html").path))
    }

    @Test func machineReportsCalibratedCeilings() throws {
        let dir = try CLI.tempDir()
        let r = try CLI.run(["machine", "--format", "json"], env: ["OPBENCH_CACHE_DIR": dir.path])
        #expect(r.status == 0, "\(r.stderr)")
        let m = try JSONDecoder().decode(MachineInfo.self, from: Data(r.stdout.utf8))
        #expect(m.cores >= 1 && !m.ceilings.isEmpty)
        #expect(
            m.ceilings.allSatisfy { $0.peakGflops > 0 && $0.bandwidthGBps > 0 && $0.levels?.map(\.level) == ["L1", "L2", "L3", "DRAM"] })
        // Cached only when nothing showed contention (tests running beside it may be that).
        let cached = FileManager.default.fileExists(atPath: dir.appendingPathComponent("machine.json").path)
        #expect(cached == (m.calibrationWarnings ?? []).isEmpty, "\(m.calibrationWarnings ?? [])")
        #expect(cached || r.stderr.contains("warning: calibration not cached"))
        let table = try CLI.run(["machine"], env: ["OPBENCH_CACHE_DIR": dir.path])
        #expect(table.status == 0 && table.stdout.contains("FMA") && table.stdout.contains("DRAM, streaming stores"))
        // The blas peer runs the best kernels OpenBLAS has for this CPU, unless the user chose.
        if ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] == nil {
            #expect(Machine.betterOpenBLASCore(detected: m.openblasCore, flags: Machine.cpuFlags()) == nil, "\(m.openblasCore)")
            if let detected = m.openblasDetectedCore {
                #expect(Machine.betterOpenBLASCore(detected: detected, flags: Machine.cpuFlags()) == m.openblasCore)
                #expect(table.stdout.contains("OpenBLAS detected \(detected), opbench set OPENBLAS_CORETYPE"))
            }
        }
    }

    /// With sibling processes keeping every core busy, the calibration is used for the run
    /// but not cached, and the run says so.
    @Test func machineRefusesToCacheABusyCalibration() throws {
        let dir = try CLI.tempDir()
        let siblings = try BusySiblings()
        defer { siblings.stop() }
        let r = try CLI.run(["machine", "--format", "json"], env: ["OPBENCH_CACHE_DIR": dir.path])
        #expect(r.status == 0, "\(r.stderr)")
        let m = try JSONDecoder().decode(MachineInfo.self, from: Data(r.stdout.utf8))
        #expect(!(m.calibrationWarnings ?? []).isEmpty && r.stderr.contains("warning: calibration not cached"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("machine.json").path))
    }
}
