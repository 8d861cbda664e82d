import Foundation
import Harness
import Kernels
import Model
import Testing

@Suite struct ModelCLITests {
    @Test func comparesPlansAndWritesJSONAndHidden() throws {
        let dir = try CLI.tempDir()
        let out = dir.appendingPathComponent("m.json").path
        let r = try CLI.run([
            "model", "--preset", "tiny", "--plan", "matmul=simd", "--plan", "matmul=blas,weights=q4_0",
            "--prompt", "16", "--generate", "4", "--repetitions", "2", "--output", out,
        ])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("prefill tok/s") && r.stdout.contains("int4=blas,weights=q4_0") && r.stdout.contains("attention"))
        let doc = try ResultDocument.read(out)
        #expect(doc.cases.isEmpty && doc.models.count == 2)
        let f32 = doc.models[0], q4 = doc.models[1]
        #expect(f32.prefillTokensPerSecond.count == 2 && f32.decodeTokensPerSecond.count == 2)
        #expect(f32.top1Agreement == 1 && f32.pattern == "causal" && f32.promptTokens == 16 && f32.generatedTokens == 4)
        #expect((q4.maxAbsError ?? .nan) > (f32.maxAbsError ?? .nan) && q4.weightBytesPerToken < f32.weightBytesPerToken / 5)
        // The report takes model results.
        let html = dir.appendingPathComponent("r.html").path
        let rep = try CLI.run(["report", out, "--html", html])
        #expect(rep.status == 0, "\(rep.stderr)")
        let page = try String(contentsOfFile: html, encoding: .utf8)
        #expect(page.contains("tiny: time per operator") && page.contains("Model pass: accuracy vs speed"))

        let npy = dir.appendingPathComponent("h.npy").path
        let e = try CLI.run([
            "model", "--preset", "tiny-encoder", "--tokens", "1,2,3,4,5", "--token-types", "0,0,1,1,1",
            "--save-hidden", npy, "--format", "json", "--repetitions", "1",
        ])
        #expect(e.status == 0, "\(e.stderr)")
        let h = try NPY.read(npy)
        #expect(h.rows == 5 && h.cols == 64)
        let json = try JSONDecoder().decode(ResultDocument.self, from: Data(e.stdout.utf8))
        #expect(json.models[0].pooledCosine != nil && json.models[0].decodeTokensPerSecond.isEmpty)
    }

    /// --export-gguf, then --gguf: the same pass as the preset (hidden states identical), the
    /// logits of every prompt position, and llama.cpp's formats by name.
    /// `--reference none`: speed only, no accuracy in the table or the JSON; bad values and
    /// `--what-if` (which scores every swap) refused with one line.
    @Test func speedOnlyWithoutReference() throws {
        let dir = try CLI.tempDir()
        let out = dir.appendingPathComponent("m.json").path
        let r = try CLI.run(["model", "--preset", "tiny", "--reference", "none", "--prompt", "8", "--generate", "2", "--output", out])
        #expect(r.status == 0, "\(r.stderr)")
        let doc = try ResultDocument.read(out)
        #expect(doc.models.count == 1 && doc.models[0].cosine == nil && doc.models[0].decodeTokensPerSecond.count == 3)
        #expect(!(try String(contentsOfFile: out, encoding: .utf8)).contains("max_abs_error"))
        try CLI.expectError(["model", "--preset", "tiny", "--reference", "fp32"], ["--reference 'fp32'"])
        try CLI.expectError(["model", "--preset", "tiny", "--reference", "none", "--what-if"], ["--what-if", "--reference fp64"])
    }

    @Test func ggufExportAndRun() throws {
        let dir = try CLI.tempDir()
        let file = dir.appendingPathComponent("tiny-q8.gguf").path
        let e = try CLI.run(["model", "--preset", "tiny", "--export-gguf", file, "--weights-format", "q8_0"])
        #expect(e.status == 0 && e.stderr.contains("q8_0×12"), "\(e.stderr)")
        let run = ["--tokens", "1,2,3,4,5,6", "--generate", "2", "--repetitions", "1"]
        let (h1, h2, logits) = ["a.npy", "b.npy", "l.npy"].map { dir.appendingPathComponent($0).path }.triple
        let viaFile = try CLI.run(["model", "--gguf", file, "--save-hidden", h1, "--save-logits", logits] + run)
        #expect(viaFile.status == 0 && viaFile.stdout.contains("weights=stored"), "\(viaFile.stderr)")
        let direct = try CLI.run(["model", "--preset", "tiny", "--plan", "weights=q8_0", "--save-hidden", h2] + run)
        #expect(direct.status == 0, "\(direct.stderr)")
        let (a, b) = (try NPY.read(h1), try NPY.read(h2))
        #expect(a == b)
        let l = try NPY.read(logits)
        #expect(l.rows == 6 && l.cols == 512)
        #expect(l.dense.allSatisfy { $0.isFinite })
        try CLI.expectError(["model", "--gguf", file, "--preset", "tiny"], ["--gguf gives the model"])
        try CLI.expectError(["model", "--repetitions", "1"], ["give a --preset", "or a --gguf file"])
        try CLI.expectError(["model", "--gguf", dir.path + "/none.gguf"], ["none.gguf", "no such file"])
        try CLI.expectError(["model", "--preset", "tiny", "--export-gguf", file, "--weights-format", "q5_k"], ["--weights-format 'q5_k'"])
        try CLI.expectError(["model", "--preset", "tiny-encoder", "--save-logits", logits], ["--save-logits", "encoder"])
        try CLI.expectError(["model", "--preset", "tiny", "--export-gguf", "/nonexistent-dir/x.gguf"], ["/nonexistent-dir"])
        let bad = dir.appendingPathComponent("bad.gguf").path
        var bytes = try Data(contentsOf: URL(fileURLWithPath: file))
        bytes[0] = 0x48
        try bytes.write(to: URL(fileURLWithPath: bad))
        try CLI.expectError(["model", "--gguf", bad, "--output", dir.path + "/never.json"], ["bad.gguf", "bad magic"])
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/never.json"))
    }

    /// Llama-family GGUF files through the CLI: exported from a preset, then run with the
    /// per-operator breakdown and the accuracy columns; the same pass as the preset; a model
    /// too large for this machine's memory refused before anything is allocated.
    @Test(arguments: ["llama-tiny", "qwen2-tiny"])
    func llamaFamilyGGUFExportAndRun(preset: String) throws {
        let dir = try CLI.tempDir()
        let file = dir.appendingPathComponent("\(preset).gguf").path
        let e = try CLI.run(["model", "--preset", preset, "--export-gguf", file, "--weights-format", "q8_0"])
        #expect(e.status == 0 && e.stderr.contains("q8_0×14"), "\(e.stderr)")
        let run = ["--tokens", "1,2,3,4,5,6,7,8", "--generate", "3", "--repetitions", "1"]
        let (h1, h2, out) = ["a.npy", "b.npy", "m.json"].map { dir.appendingPathComponent($0).path }.triple
        let viaFile = try CLI.run(["model", "--gguf", file, "--save-hidden", h1, "--output", out] + run)
        #expect(viaFile.status == 0, "\(viaFile.stderr)")
        for column in ["rope", "swiglu", "rmsnorm", "attention", "mean KL", "top-1 agree"] {
            #expect(viaFile.stdout.contains(column), "no '\(column)' in \(viaFile.stdout)")
        }
        let m = try ResultDocument.read(out).models[0]
        #expect(m.architecture == "llama" && m.decodeTokensPerSecond.count == 1 && (m.meanKL ?? -1) >= 0)
        let direct = try CLI.run(["model", "--preset", preset, "--plan", "weights=q8_0", "--save-hidden", h2] + run)
        #expect(direct.status == 0, "\(direct.stderr)")
        #expect(try NPY.read(h1) == NPY.read(h2))
        // Tokens/s for CI dashboards: Google Benchmark JSON and github-action-benchmark's format.
        let gb = try CLI.run(["model", "--gguf", file, "--format", "gbench"] + run)
        #expect(gb.status == 0, "\(gb.stderr)")
        let entries = (try JSONSerialization.jsonObject(with: Data(gb.stdout.utf8)) as! [String: Any])["benchmarks"] as! [[String: Any]]
        #expect(entries.count == 2 && entries.allSatisfy { ($0["tokens_per_second"] as? Double ?? 0) > 0 })
        let bigger = try CLI.run(["model", "--gguf", file, "--format", "gh-bigger"] + run)
        let list = try JSONSerialization.jsonObject(with: Data(bigger.stdout.utf8)) as! [[String: Any]]
        #expect(list.count == 2 && list.allSatisfy { $0["unit"] as? String == "tokens/s" })
        try CLI.expectError(
            ["model", "--preset", "llama-3.2-1b"] + (0..<30).flatMap { _ in ["--plan", "weights=q8_0"] },
            ["model 'llama-3.2-1b'", "quantized plan", "GiB"])
    }

    /// `--save-logits` of the exact plan on the committed Llama GGUF fixture matches the
    /// float64 logits of transformers (Tests/ModelTests/Fixtures/make_llama_fixture.py) at every
    /// recorded position of the short sequence, within the pass's rounding bound (derived in
    /// ModelTests' passTolerance: 6·√S·√K·u·rms, S = 13·layers + 3 stages, K = max(C, F)).
    @Test(arguments: ["llama-tiny", "qwen2-tiny"])
    func saveLogitsMatchesTransformers(model: String) throws {
        let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("ModelTests/Fixtures")
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: fixtures.appendingPathComponent("llama_reference.json")))
        let seq = ((json as! [String: Any])[model] as! [String: Any])["sequences"] as! [[String: Any]]
        let short = seq.first { $0["name"] as? String == "short" }!
        let tokens = short["tokens"] as! [Int], positions = short["positions"] as! [Int], expected = short["logits"] as! [[Double]]
        let out = try CLI.tempDir().appendingPathComponent("logits.npy").path
        let r = try CLI.run([
            "model", "--gguf", fixtures.appendingPathComponent("\(model).gguf").path, "--tokens",
            tokens.map(String.init).joined(separator: ","),
            "--generate", "0", "--repetitions", "1", "--plan", "", "--save-logits", out,
        ])
        #expect(r.status == 0, "\(r.stderr)")
        let logits = try NPY.read(out)
        #expect(logits.rows == tokens.count && logits.cols == 512)
        let all = expected.flatMap { $0 }
        let rms = (all.map { $0 * $0 }.reduce(0, +) / Double(all.count)).squareRoot()
        let tol = 6 * Double(13 * 2 + 3).squareRoot() * Double(160).squareRoot() * 0x1p-24 * rms
        var worst = 0.0
        for (row, p) in positions.enumerated() {
            for (j, e) in expected[row].enumerated() { worst = max(worst, abs(Double(logits[p, j]) - e)) }
        }
        #expect(worst <= tol, "\(model): \(worst) > \(tol)")
    }

    @Test func badInputIsOneLineExitTwoAndWritesNothing() throws {
        let dir = try CLI.tempDir()
        let out = dir.appendingPathComponent("never.json").path
        let base = ["model", "--output", out, "--repetitions", "1"]
        try CLI.expectError(base + ["--preset", "gpt3"], ["--preset 'gpt3'", "tiny, tiny-encoder, minilm-l6, gpt2-small"])
        try CLI.expectError(base + ["--preset", "tiny", "--plan", "matmul=fast"], ["matmul=fast", "unknown variant"])
        try CLI.expectError(base + ["--preset", "tiny", "--plan", "layernorm=simd,threads=x"], ["threads=x"])
        try CLI.expectError(base + ["--preset", "tiny", "--tokens", "1,2,999"], ["token 2 is id 999", "0..<512"])
        try CLI.expectError(base + ["--preset", "tiny", "--tokens", "1,x"], ["--tokens", "item 1 'x'"])
        try CLI.expectError(base + ["--preset", "tiny", "--prompt", "120", "--generate", "20"], ["140 tokens exceed tiny's 128 positions"])
        try CLI.expectError(base + ["--preset", "tiny-encoder", "--generate", "2"], ["--generate", "encoder"])
        try CLI.expectError(base + ["--preset", "tiny", "--attention-pattern", "window=0"], ["window=0 must be at least 1"])
        try CLI.expectError(
            base + ["--preset", "tiny", "--save-hidden", dir.path + "/h.npy", "--plan", "", "--plan", "weights=q4_0"],
            ["--save-hidden takes one --plan"])
        // Weights files: missing, truncated, and a missing tensor.
        try CLI.expectError(
            base + ["--preset", "tiny", "--weights", dir.path + "/none.safetensors"], ["none.safetensors", "no such file"])
        let w = ModelWeights.synthetic(try ModelConfig.preset("tiny"), seed: 1)
        let tensors = w.namedTensors().map {
            (name: $0.name, dtype: SafeTensors.DType.F32, shape: $0.shape, bytes: SafeTensors.bytes($0.values))
        }
        let full = SafeTensors.encode(tensors)
        let truncated = dir.appendingPathComponent("t.safetensors").path
        try full.prefix(full.count / 2).write(to: URL(fileURLWithPath: truncated))
        try CLI.expectError(base + ["--preset", "tiny", "--weights", truncated], ["t.safetensors", "outside the", "data buffer"])
        let missing = dir.appendingPathComponent("m.safetensors").path
        try SafeTensors.encode(tensors.filter { $0.name != "h.0.attn.c_proj.weight" }).write(to: URL(fileURLWithPath: missing))
        try CLI.expectError(base + ["--preset", "tiny", "--weights", missing], ["tensor 'h.0.attn.c_proj.weight'", "missing"])
        // A checkpoint of the other architecture.
        try CLI.expectError(base + ["--preset", "tiny-encoder", "--weights", missing], ["embeddings.", "missing"])
        #expect(!FileManager.default.fileExists(atPath: out), "a failed run must not write its output")
        // A good file loads.
        let good = dir.appendingPathComponent("g.safetensors").path
        try full.write(to: URL(fileURLWithPath: good))
        let r = try CLI.run([
            "model", "--preset", "tiny", "--weights", good, "--prompt", "8", "--generate", "2", "--repetitions", "1", "--format", "md",
        ])
        #expect(r.status == 0 && r.stdout.contains("| tiny"), "\(r.stderr)")
    }
}

@Suite struct AblationCLITests {
    @Test func runsEveryStepAndChecksIt() throws {
        let dir = try CLI.tempDir()
        let out = dir.appendingPathComponent("a.json").path
        let r = try CLI.run([
            "ablation", "--op", "matmul", "--shape", "37x29x70", "--min-time", "0.01", "--repetitions", "3", "--output", out,
        ])
        #expect(r.status == 0, "\(r.stderr)")
        let doc = try ResultDocument.read(out)
        #expect(doc.cases.map(\.variant) == Matmul.ablation.map(\.variant))
        #expect(doc.cases.map(\.threads) == Matmul.ablation.map(\.threads))
        #expect(doc.cases.allSatisfy { $0.accuracyPass })
        #expect(r.stdout.contains("6x64 register tile") && r.stdout.contains("vs previous"))
        try CLI.expectError(["ablation", "--op", "gelu"], ["unknown operator 'gelu'", Operators.names.joined(separator: ", ")])
        try CLI.expectError(["ablation", "--shape", "8x8"], ["--shape needs exactly one --op"])
        try CLI.expectError(["ablation", "--op", "matmul", "--shape", "8x8x8,nk"], ["B[K×N] shapes"])
        // A K-quant shape takes the chain of the GEMV from the blocks, not the Q4 planes', and ends
        // with int4.act8.
        let k = try CLI.run(["ablation", "--op", "int4", "--shape", "1x512x64,q4_k", "--min-time", "0.01", "--repetitions", "2"])
        #expect(k.status == 0 && k.stdout.contains("64 weights per step") && !k.stdout.contains("nibble fields"), "\(k.stdout)\(k.stderr)")
        #expect(k.stdout.contains("= int4.act8"), "\(k.stdout)")
    }
}

@Suite struct HelpCLITests {
    /// Help is not an error: it prints the whole text on stdout and exits 0.
    @Test func helpExitsZeroWithTheFullText() throws {
        let r = try CLI.run(["--help"])
        #expect(r.status == 0 && r.stderr.isEmpty, "\(r.status) \(r.stderr)")
        for sub in ["verify", "bench", "ablation", "gate", "model", "report"] { #expect(r.stdout.contains(sub), "help lists \(sub)") }
        let m = try CLI.run(["model", "--help"])
        #expect(m.status == 0 && m.stdout.contains("--attention-pattern") && m.stdout.contains("--save-hidden"))
    }
}

extension Array {
    fileprivate var triple: (Element, Element, Element) { (self[0], self[1], self[2]) }
}
