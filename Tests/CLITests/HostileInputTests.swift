import Foundation
import Harness
import Kernels
import Model
import Testing
import TestSupport

/// Malformed, huge, empty and non-finite input to every parser and option: each is one line
/// on stderr naming what is wrong, exit 2, and nothing written; never a crash or a hang.
@Suite struct HostileInputTests {
    /// Writes `doc`'s JSON with `edit` applied to its top-level object.
    static func write(_ doc: ResultDocument, to path: String, edit: (inout [String: Any]) -> Void = { _ in }) throws {
        var object = try JSONSerialization.jsonObject(with: try doc.json()) as! [String: Any]
        edit(&object)
        try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: path))
    }

    static func editCase(_ object: inout [String: Any], _ index: Int, _ key: String, _ value: Any) {
        var cases = object["cases"] as! [[String: Any]]
        cases[index][key] = value
        object["cases"] = cases
    }

    @Test func malformedShapesAreRefused() throws {
        for shape in ["", ",", "=", "==", "T=8,H=1,D=4,", "T=8,,H=1,D=4", "T=8,H=1,D=4,T", "T=-1,H=1,D=4"] {
            try CLI.expectError(["bench", "--op", "attention", "--shape", shape], ["attention shape"])
        }
        try CLI.expectError(["bench", "--shape", ",64x64"], ["',64x64'"])
        try CLI.expectError(["bench", "--op", "softmax", "--shape", "8x8", "--cache", "lukewarm"], ["--cache 'lukewarm'"])
        // A block mask that would need 1 TiB, and one of 4 GiB: refused before any allocation.
        try CLI.expectError(["bench", "--op", "attention", "--shape", "T=1048576,H=1,D=1,block=1,density=0.5"], ["block mask"])
        try CLI.expectError(["bench", "--op", "attention", "--shape", "T=65536,H=1,D=1,block=1,density=0"], ["block mask"])
        // A 120 kB value (about the most one argument may hold) is not echoed back whole.
        let huge = String(repeating: "7x", count: 60_000) + "7"
        let r = try CLI.run(["bench", "--op", "matmul", "--shape", huge])
        #expect(r.status == 2 && r.stderr.split(separator: "\n").count == 1 && r.stderr.count < 600, "\(r.stderr.count) characters")
        // A newline in a value stays on the one line of the message.
        try CLI.expectError(["bench", "--op", "matmul", "--shape", "8x8\nx8"], ["matmul shape", "\\n"])
    }

    @Test func emptyListItemsAndNegativeValuesAreRefused() throws {
        try CLI.expectError(["verify", "--op", ""], ["--op", "empty item"])
        try CLI.expectError(["bench", "--op", "matmul,,softmax"], ["--op", "empty item"])
        try CLI.expectError(["bench", "--threads", "1,,2"], ["--threads '1,,2'", "empty item"])
        try CLI.expectError(["bench", "--variant", "simd,"], ["--variant", "empty item"])
        try CLI.expectError(["ablation", "--op", ""], ["--op", "empty item"])
        try CLI.expectError(["bench", "--threads", "-1"], ["--threads -1", "negative"])
    }

    @Test func resultsFilesThatNoRunWritesAreRefused() throws {
        let dir = try CLI.tempDir()
        let good = Synthetic.doc(
            Synthetic.pair("matmul.simd", samples: Synthetic.samples(1e-3), peerSamples: Synthetic.samples(1e-3, seed: 2)))
        let base = dir.appendingPathComponent("base.json").path
        try Self.write(good, to: base)
        let cases: [(String, (inout [String: Any]) -> Void, [String])] = [
            ("empty", { Self.editCase(&$0, 0, "samples_seconds", [Double]()) }, ["case 0", "no samples"]),
            ("nan", { Self.editCase(&$0, 0, "samples_seconds", [1e-3, "nan"]) }, ["case 0", "nan", "not a positive time"]),
            ("negative", { Self.editCase(&$0, 0, "samples_seconds", [1e-3, -1e-3]) }, ["case 0", "not a positive time"]),
            ("zero", { Self.editCase(&$0, 1, "samples_seconds", [0.0, 1e-3]) }, ["case 1", "not a positive time"]),
            ("huge", { Self.editCase(&$0, 0, "gflops", 1e308) }, ["case 0", "gflops", "outside"]),
            ("null", { Self.editCase(&$0, 0, "median_seconds", NSNull()) }, ["cases[0].median_seconds is null"]),
            (
                "missing",
                { o in
                    var c = o["cases"] as! [[String: Any]]; c[0]["threads"] = nil; o["cases"] = c
                },
                ["missing field 'threads' in cases[0]"]
            ),
            ("schema", { $0["schema_version"] = 1.5 }, ["schema_version"]),
            (
                "duplicate",
                { o in
                    let c = o["cases"] as! [[String: Any]]; o["cases"] = c + [c[0]]
                }, ["case 2", "appears twice"]
            ),
        ]
        for (name, edit, fragments) in cases {
            let path = dir.appendingPathComponent("\(name).json").path
            try Self.write(good, to: path, edit: edit)
            try CLI.expectError(["gate", "--baseline", base, "--candidate", path], [path] + fragments)
            try CLI.expectError(["compare", base, path], fragments)
            try CLI.expectError(["report", path], fragments)
        }
        // A duplicated case 170,000× slower must not pass the gate by hiding behind its twin.
        let dup = dir.appendingPathComponent("dup-slow.json").path
        try Self.write(good, to: dup) { o in
            var c = o["cases"] as! [[String: Any]]
            var slow = c[0]
            slow["samples_seconds"] = Synthetic.samples(170.0)
            c.append(slow)
            o["cases"] = c
        }
        try CLI.expectError(["gate", "--baseline", base, "--candidate", dup], ["appears twice"])
    }

    @Test func aFailingCommandWritesNothing() throws {
        let dir = try CLI.tempDir()
        let input = dir.appendingPathComponent("a.json").path
        try Synthetic.doc([Synthetic.result("matmul.simd", samples: Synthetic.samples(1e-3))]).write(to: input)
        let md = dir.appendingPathComponent("x.md").path
        try CLI.expectError(["report", input, "--md", md, "--html", dir.path + "/no/x.html"], ["does not exist"])
        #expect(!FileManager.default.fileExists(atPath: md), "report wrote x.md although --html failed")
        // A temporary file left by a run killed inside a write is cleaned up by the next write.
        let stale = dir.appendingPathComponent(".x.md.opbench-tmp-2147483000").path
        #expect(FileManager.default.createFile(atPath: stale, contents: Data("partial".utf8)))
        let r = try CLI.run(["report", input, "--md", md])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() == ["a.json", "x.md"])
    }

    @Test func runsLeaveNoTemporaryDirectories() throws {
        let tmp = try CLI.tempDir()
        let r = try CLI.run(["machine", "--format", "json"], env: ["TMPDIR": tmp.path])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: tmp.path).isEmpty, "opbench left files in TMPDIR")
    }

    @Test func npyHeadersThatOverflowOrLieAreRefused() throws {
        let dir = try CLI.tempDir()
        func npy(_ dict: String, payload: Int = 16) throws -> String {
            var h = dict
            h += String(repeating: " ", count: (64 - (10 + h.utf8.count + 1) % 64) % 64) + "\n"
            var d = Data([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0, UInt8(h.utf8.count & 0xFF), UInt8(h.utf8.count >> 8)])
            d.append(contentsOf: Array(h.utf8))
            d.append(Data(count: payload))
            let path = dir.appendingPathComponent("\(UUID().uuidString).npy").path
            try d.write(to: URL(fileURLWithPath: path))
            return path
        }
        let out = dir.appendingPathComponent("q.bin").path
        for shape in ["(2147483648, 2147483648)", "(4611686018427387904,)"] {
            let path = try npy("{'descr': '<f4', 'fortran_order': False, 'shape': \(shape), }")
            try CLI.expectError(["quant", "--format", "q4_0", "--input", path, "--output", out], [path, "more than 2^63"])
        }
        let dupe = try npy("{'descr': '<f4', 'descr': '<f8', 'fortran_order': False, 'shape': (1, 4), }")
        try CLI.expectError(["quant", "--format", "q4_0", "--input", dupe, "--output", out], ["'descr' given twice"])
        #expect(!FileManager.default.fileExists(atPath: out))
    }

    /// Weights beyond fp16's range give a block scale of inf, as ggml and the gguf package
    /// store it; the bytes keep it, and the report says so instead of printing nan.
    @Test func quantizingWeightsBeyondTheScaleRange() throws {
        let dir = try CLI.tempDir()
        var values = [Float](repeating: 0.5, count: 64)
        values[3] = 1e6  // first block: d = -1e6/8 overflows fp16
        let input = dir.appendingPathComponent("w.npy").path, out = dir.appendingPathComponent("w.bin").path
        try NPY.write(Matrix(rows: 1, cols: 64, values: values), to: input)
        let r = try CLI.run(["quant", "--format", "q4_0", "--input", input, "--output", out])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("1 of 2 blocks") && r.stderr.contains("stored as inf, as ggml"), "\(r.stderr)")
        #expect(r.stdout.contains("over the 1 finite blocks") && !r.stdout.contains("nan"), "\(r.stdout)")
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: out)))
        #expect(Half.float(UInt16(bytes[0]) | UInt16(bytes[1]) << 8) == -.infinity, "block 0's scale is -inf")
        #expect(Half.float(UInt16(bytes[18]) | UInt16(bytes[19]) << 8).isFinite, "block 1's scale is finite")
    }

    /// A NaN in the weights shows as nan in every accuracy column, not as a perfect match.
    @Test func nonFiniteModelOutputsAreReportedAsSuch() throws {
        let dir = try CLI.tempDir()
        let w = ModelWeights.synthetic(try ModelConfig.preset("tiny"), seed: 1)
        var tensors = w.namedTensors().map {
            (name: $0.name, dtype: SafeTensors.DType.F32, shape: $0.shape, bytes: SafeTensors.bytes($0.values))
        }
        let i = tensors.firstIndex { $0.name == "h.0.attn.c_proj.weight" }!
        var poisoned = w.namedTensors()[i].values
        poisoned[5] = .nan
        tensors[i].bytes = SafeTensors.bytes(poisoned)
        let path = dir.appendingPathComponent("nan.safetensors").path
        try SafeTensors.encode(tensors).write(to: URL(fileURLWithPath: path))
        let out = dir.appendingPathComponent("m.json").path
        let r = try CLI.run([
            "model", "--preset", "tiny", "--weights", path, "--prompt", "4", "--generate", "2", "--repetitions", "1",
            "--output", out,
        ])
        #expect(r.status == 0, "\(r.stderr)")
        let m = try ResultDocument.read(out).models[0]
        #expect(
            (m.maxAbsError ?? .nan).isNaN && (m.cosine ?? .nan).isNaN && (m.minTokenCosine ?? .nan).isNaN,
            "\(m.maxAbsError ?? .nan) \(m.cosine ?? .nan) \(m.minTokenCosine ?? .nan)")
    }

    @Test func safetensorsHeadersAreReadStrictly() throws {
        let dir = try CLI.tempDir()
        func file(_ header: String, data: Int = 16) throws -> String {
            var d = Data()
            withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { d.append(contentsOf: $0) }
            d.append(contentsOf: Array(header.utf8))
            d.append(Data(count: data))
            let path = dir.appendingPathComponent("\(UUID().uuidString).safetensors").path
            try d.write(to: URL(fileURLWithPath: path))
            return path
        }
        let cases: [(String, [String])] = [
            (#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16.0]}}"#, ["tensor 'a'", "data_offsets", "written as integers"]),
            (#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[false,16]}}"#, ["tensor 'a'", "data_offsets", "written as integers"]),
            (#"{"a":{"dtype":"F32","shape":[4e0],"data_offsets":[0,16]}}"#, ["tensor 'a'", "shape", "written as integers"]),
            (
                #"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#,
                ["key 'a' given twice"]
            ),
            (#"{"a":{"dtype":"F32","dtype":"F16","shape":[4],"data_offsets":[0,16]}}"#, ["key 'dtype' given twice"]),
        ]
        for (header, fragments) in cases {
            try CLI.expectError(["model", "--preset", "tiny", "--weights", try file(header)], fragments)
        }
        try CLI.expectError(["model", "--preset", "tiny", "--weights", dir.path], ["is a directory"])
    }

    /// The bootstrap's work is bounded: 200,000 samples are resampled as 2000 order statistics.
    @Test func bootstrapWorkIsBounded() {
        let a = Synthetic.samples(1e-3, n: 200_000, seed: 3), b = Synthetic.samples(1.2e-3, n: 200_000, seed: 4)
        let kept = Statistics.orderStatistics(a, Statistics.bootstrapLimit)
        #expect(kept.count == Statistics.bootstrapLimit && kept.first == a.min() && kept.last == a.max())
        #expect(Statistics.orderStatistics(Array(a.prefix(10)), Statistics.bootstrapLimit) == Array(a.prefix(10)))
        let ci = Statistics.bootstrapRatioCI(a, b, resamples: 200)
        #expect(ci.low < 1.2 && ci.high > 1.2 && ci.high - ci.low < 0.05, "\(ci)")
    }
}
