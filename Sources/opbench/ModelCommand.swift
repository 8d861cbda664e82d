import ArgumentParser
import Foundation
import Harness
import Kernels
import Model

struct ModelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract:
            "Run full transformer passes with chosen variants: prefill and decode tokens/s, time per operator, accuracy vs an fp64 pass.",
        discussion: """
            Presets: \(ModelConfig.presets.map(\.name).joined(separator: ", ")). A plan names a variant per operator, e.g. \
            matmul=simd,softmax=simd,layernorm=blas,attention=simd,weights=q4_0,threads=2 (keys: matmul, softmax, layernorm, \
            attention, rmsnorm, rope, swiglu, int4, weights=f32|q4_0|q4_1|q8_0|q4_k|q6_k|q4_k_m|stored, kv=f32|f16 (the KV \
            cache), threads; omitted keys are simd / f32, or stored for --gguf). Several --plan options give one comparison. \
            The model is a --preset \
            (synthetic or --weights safetensors) or a --gguf file (gpt2, bert, llama and qwen2, every tensor run in its stored \
            format unless a plan re-quantizes); --export-gguf writes the model as a GGUF file llama.cpp loads, instead of running.
            """)

    @Option(help: "Model shape: \(ModelConfig.presets.map(\.name).joined(separator: ", ")).") var preset: String?
    @Option(
        help: "A GGUF model file (general.architecture gpt2, bert, llama or qwen2); its metadata gives the shape, its tensors the weights.")
    var gguf: String?
    @Option(name: .customLong("export-gguf"), help: "Write the model (preset, --weights or --gguf) as a GGUF file and exit.")
    var exportGGUF: String?
    @Option(
        name: .customLong("weights-format"),
        help: "With --export-gguf: f32, f16, q4_0, q4_1, q8_0, q4_k, q6_k, q4_k_m or stored (default: stored, the loaded formats).")
    var weightsFormat: String = "stored"
    @Option(name: .customLong("save-logits"), help: "Decoders: write the first plan's logits [prompt tokens × vocab] as float32 .npy.")
    var saveLogits: String?
    @Option(name: .customLong("plan"), help: "A plan (repeatable). Default: every operator simd, f32 weights.") var plans: [String] = []
    @Option(name: .customLong("attention-pattern"), help: "all, or window=W and/or global=G (decoders add the causal mask).")
    var attentionPattern: String = "all"
    @Option(help: "Threads for plans that do not set threads=.") var threads: Int = 1
    @Option(help: "Prompt length in tokens (seeded random ids) when --tokens is not given.") var prompt: Int = 128
    @Option(help: "Comma-separated token ids to feed instead of a random prompt, e.g. 101,7592,2088,102.") var tokens: String?
    @Option(name: .customLong("token-types"), help: "Comma-separated token-type (segment) ids for encoders; default all 0.") var tokenTypes:
        String?
    @Option(help: "Decode steps after the prompt (decoders; default 32, encoders 0).") var generate: Int?
    @Option(name: [.short, .long], help: "Timed passes per plan.") var repetitions: Int = 3
    @Option(
        help: ArgumentHelp(
            "fp64 (score every plan against the fp64 reference pass) or none (speed only, as llama-bench: no accuracy columns; "
                + "decode steps feed the first plan's own greedy tokens). The reference costs as much as a pass in fp64, "
                + "minutes for a 1B model at 512 tokens."))
    var reference: String = "fp64"
    @Option(help: "A safetensors checkpoint in Hugging Face naming (BertModel, GPT2Model, LlamaForCausalLM or Qwen2ForCausalLM).")
    var weights: String?
    @Option(help: "Seed of the synthetic weights and the random prompt.") var seed: UInt64 = 1
    @Option(name: .customLong("save-hidden"), help: "Write the first plan's final hidden states [tokens × C] as float32 .npy.")
    var saveHidden: String?
    @Option(
        help: ArgumentHelp(
            "table, json, md, gbench (Google Benchmark JSON: seconds per token, tokens_per_second), gh-bigger or gh-smaller "
                + "(github-action-benchmark: tokens/s or ms/token)."))
    var format: String = "table"
    @Option(name: [.short, .long], help: "Write the results document (JSON; Markdown with --format md) here, atomically.")
    var output: String?
    @Flag(
        name: .customLong("what-if"),
        help: ArgumentHelp(
            "From one pass of the plan (one --plan, or the default), predict the tokens/s of every one-operator swap (each "
                + "other variant, each other weight format) from the operators' calls measured in isolation, then measure each "
                + "swap: predicted vs measured, with each swap's accuracy."))
    var whatIf = false

    func run() throws {
        let formats = ["table", "json", "md", "gbench", "gh-bigger", "gh-smaller"]
        guard formats.contains(format) else { throw CLIError("--format '\(format)' must be one of \(formats.joined(separator: ", "))") }
        for path in [output, saveHidden, saveLogits, exportGGUF].compactMap({ $0 }) { try checkOutputDirectory(path) }
        if whatIf && plans.count > 1 { throw CLIError("--what-if takes one --plan, the base (got \(plans.count))") }
        guard ["fp64", "none"].contains(reference) else { throw CLIError("--reference '\(reference)' must be fp64 or none") }
        if whatIf && reference == "none" { throw CLIError("--what-if scores every swap: it needs --reference fp64") }
        if whatIf && (saveHidden != nil || saveLogits != nil || exportGGUF != nil) {
            throw CLIError("--what-if does not go with --save-hidden, --save-logits or --export-gguf")
        }
        // What-if passes run one plan at a time: one quantized copy of the weights at most.
        let quantizedPlans = whatIf ? 1 : try plans.filter { try Plan.parse($0).weights != .f32 }.count
        // Plans whose matmul packs the fp32 linears at load (a what-if's swaps run one at a time).
        let packedPlans =
            whatIf
            ? 1
            : try plans.filter {
                let plan = try Plan.parse($0)
                return plan.weights == .f32 || plan.weights == .stored ? try Matmul.variant(plan.matmul).usesPackedWeights : false
            }.count
        let weights = try loadWeights(quantizedPlans: quantizedPlans, packedPlans: packedPlans)
        let config = weights.config
        if let exportGGUF { return try export(weights, to: exportGGUF) }
        // A GGUF file's tensors run as stored unless the plan names a weight format.
        let planList = try (plans.isEmpty ? [""] : plans).map { text in
            var plan = try Plan.parse(text)
            if gguf != nil && !text.split(separator: ",").contains(where: { $0.hasPrefix("weights=") }) { plan.weights = .stored }
            return plan
        }
        let pattern = try Plan.pattern(attentionPattern)
        guard (1...Check.maxThreads).contains(threads) else { throw CLIError("--threads \(threads) must be from 1 to \(Check.maxThreads)") }
        let promptTokens: [Int]
        if let tokens {
            promptTokens = try parseIDs(tokens, option: "--tokens")
        } else {
            guard prompt >= 1, prompt <= config.maxPositions else {
                throw CLIError("--prompt \(prompt) must be from 1 to \(config.name)'s \(config.maxPositions) positions")
            }
            var rng = SplitMix64(seed: seed &+ 0x5EED)
            promptTokens = (0..<prompt).map { _ in Int(rng.next() % UInt64(config.vocab)) }
        }
        let types = try tokenTypes.map { try parseIDs($0, option: "--token-types") }
        let generate = self.generate ?? (config.isDecoder ? 32 : 0)
        if saveHidden != nil && planList.count > 1 { throw CLIError("--save-hidden takes one --plan (got \(planList.count))") }
        if saveLogits != nil && planList.count > 1 { throw CLIError("--save-logits takes one --plan (got \(planList.count))") }
        if saveLogits != nil && !config.isDecoder {
            throw CLIError("--save-logits: \(config.name) is an encoder, with no LM head")
        }
        var request = ModelBench.Request(
            weights: weights, plans: planList, pattern: pattern, threads: threads, prompt: promptTokens,
            types: types, generate: generate, repetitions: repetitions)
        request.scored = reference == "fp64"
        try request.validate()
        let tty = isatty(2) == 1
        if tty && request.scored { FileHandle.standardError.write(Data("fp64 reference pass…\n".utf8)) }
        var whatIfTable: TextTable?
        let runs: [ModelBench.Run]
        if whatIf {
            (runs, whatIfTable) = try runWhatIf(request)
        } else {
            runs = try ModelBench.run(request) { i, plan in
                if tty { FileHandle.standardError.write(Data("plan \(i + 1)/\(planList.count): \(plan)\n".utf8)) }
            }
        }
        let models = runs.map(\.result)
        let doc = ResultDocument(
            machine: Machine.current(),
            settings: RunSettings(
                suite: "model", minTimeSeconds: 0, repetitions: repetitions,
                command: CommandLine.arguments.dropFirst().joined(separator: " ")),
            cases: [], models: models)
        let markdown =
            ModelTables.table(models).markdown + "\n" + ModelTables.breakdown(models).markdown
            + (whatIfTable.map { "\n" + $0.markdown } ?? "")
        // Every output written as one step, after everything succeeded.
        var outputs: [(data: Data, path: String)] = []
        func rendered() throws -> Data {
            switch format {
            case "md": return Data(markdown.utf8)
            case "gbench": return try GoogleBenchmark.encode(doc)
            case "gh-bigger", "gh-smaller": return try GoogleBenchmark.custom(doc, biggerIsBetter: format == "gh-bigger")
            default: return try doc.json()
            }
        }
        if let output { outputs.append((try rendered(), output)) }
        if let saveHidden { outputs.append((NPY.encode(runs[0].hidden), saveHidden)) }
        if let saveLogits {
            let runner = try ModelRunner(
                weights: weights, plan: planList[0], threads: threads, pattern: pattern, capacity: promptTokens.count)
            let prompt = runs[0].hidden.withView { $0.rows(0, promptTokens.count) }
            outputs.append((NPY.encode(try runner.logits(prompt)), saveLogits))
        }
        try FileIO.writeAllAtomically(outputs)
        if format != "table" && output == nil {
            FileHandle.standardOutput.write(try rendered())
        } else {
            let tables = [ModelTables.table(models), ModelTables.breakdown(models)] + (whatIfTable.map { [$0] } ?? [])
            FileHandle.standardOutput.write(Data(tables.map(\.terminal).joined(separator: "\n").utf8))
        }
        for path in [output, saveHidden, saveLogits].compactMap({ $0 }) { FileHandle.standardError.write(Data("wrote \(path)\n".utf8)) }
        for m in models {
            guard let calls = m.autoCalls, let tuned = m.tunedCalls else { continue }
            let file = TuningFile.applied.map { "the tuning file \($0)" } ?? "no tuning file (opbench tune writes one)"
            FileHandle.standardError.write(
                Data("note: \(m.plan): \(tuned) of \(calls) calls of auto variants followed \(file); the rest ran simd\n".utf8))
        }
    }

    /// `--what-if`: the base plan's passes (recording its call sites), then each swap's, one
    /// plan at a time against one fp64 reference, then the calls measured in isolation under
    /// the base and every swap; returns the runs (the swaps' carrying their predictions) and the
    /// predicted-vs-measured table.
    func runWhatIf(_ request: ModelBench.Request) throws -> ([ModelBench.Run], TextTable) {
        let cfg = request.weights.config
        let reference = ReferenceModel(weights: request.weights, pattern: .all).run(
            prompt: request.prompt, types: request.types, generate: request.generate)
        // OpenBLAS's threads, which ran the reference's dgemm, spin for a while: let them go idle.
        Thread.sleep(forTimeInterval: 0.25)
        var baseRequest = request
        baseRequest.recordCalls = true
        let base = try ModelBench.run(baseRequest, reference: reference)[0]
        let basePlan = request.plans[0]
        let threads = basePlan.threads ?? request.threads
        let calls = base.calls ?? [:]
        let swaps = WhatIf.swaps(of: basePlan, calls: calls, config: cfg, threads: threads, includeAuto: TuningFile.applied != nil)
        let bar = ProgressBar()
        var runs = [base], bases: [ModelBench.Run] = []
        let start = Machine.now()
        for (i, swap) in swaps.enumerated() {
            bar.update(
                BenchProgress(
                    done: Double(i), total: swaps.count, group: i, groups: swaps.count, current: "measuring \(swap.name) beside the base",
                    elapsed: Machine.now() - start, finished: nil))
            // Each swap beside a pass of the base, rounds interleaved: the prediction starts
            // from the base as measured in the same minutes as the swap.
            var pair = request
            pair.plans = [basePlan, swap.plan]
            let measured = try ModelBench.run(pair, reference: reference)
            bases.append(measured[0])
            runs.append(measured[1])
        }
        bar.finish()
        var options = BenchOptions()
        options.minTime = 0.1
        options.repetitions = 5
        let (predictions, _) = try WhatIf.predict(
            bases: bases, plan: basePlan, calls: calls, swaps: swaps, config: cfg, threads: threads, options: options,
            machine: Machine.current(spotCheck: false)
        ) { bar.update($0) }
        bar.finish()
        for (i, p) in predictions.enumerated() {
            runs[i + 1].result.whatIf = WhatIfRecord(
                swap: p.swap.name, basePlan: base.result.plan, predictedPrefillTokensPerSecond: p.prefillTokensPerSecond,
                predictedDecodeTokensPerSecond: p.decodeTokensPerSecond, terms: p.terms)
        }
        return (runs, ModelTables.whatIf(runs.map(\.result)))
    }

    /// The model: a --gguf file, or a --preset with --weights safetensors or seeded weights.
    func loadWeights(quantizedPlans: Int, packedPlans: Int = 0) throws -> ModelWeights {
        if let gguf {
            guard preset == nil, weights == nil else { throw CLIError("--gguf gives the model: drop --preset and --weights") }
            return try GGUFModel.load(try GGUF(path: gguf))
        }
        guard let preset else {
            throw CLIError("give a --preset (\(ModelConfig.presets.map(\.name).joined(separator: ", "))) or a --gguf file")
        }
        let config = try ModelConfig.preset(preset)
        // Before anything is allocated: the model, its fp64 reference (unless --reference none)
        // and the plans' copies.
        try ModelWeights.checkMemory(config, quantizedPlans: quantizedPlans, packedPlans: packedPlans, scored: reference == "fp64")
        if let path = self.weights {
            guard FileManager.default.fileExists(atPath: path) else { throw FileError(path, "no such file") }
            return try ModelWeights.load(config, from: try SafeTensors(path: path))
        }
        return ModelWeights.synthetic(config, seed: seed)
    }

    /// Writes `weights` as GGUF in --weights-format; the vocabulary is a vocab.txt beside
    /// --weights when it has one token per row of the embedding, else synthetic.
    func export(_ weights: ModelWeights, to path: String) throws {
        let model: ModelWeights, stored: GGUFModel.StoredAs
        switch weightsFormat {
        case "f32": (model, stored) = (weights.dequantized(), .f32)
        case "f16": (model, stored) = (weights.dequantized(), .f16)
        case "stored": (model, stored) = (weights, .quantized)
        default:
            guard let scheme = Plan.Weights(rawValue: weightsFormat), scheme != .f32 else {
                throw CLIError(
                    "--weights-format '\(weightsFormat)' must be one of f32, f16, "
                        + Plan.Weights.allCases.filter { $0 != .f32 }.map(\.rawValue).joined(separator: ", ")
                )
            }
            (model, stored) = (try weights.dequantized().quantized(scheme), .quantized)
        }
        var tokens: [String]?
        if let w = self.weights {
            let vocab = URL(fileURLWithPath: w).deletingLastPathComponent().appendingPathComponent("vocab.txt").path
            if let text = try? String(contentsOfFile: vocab, encoding: .utf8) {
                let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
                let trimmed = lines.last == "" ? Array(lines.dropLast()) : lines
                if trimmed.count == model.config.vocab { tokens = trimmed }
            }
        }
        let data = try GGUFModel.export(model, as: stored, tokens: tokens)
        try FileIO.writeAtomically(data, to: path)
        FileHandle.standardError.write(
            Data("wrote \(path): \(model.config.name) (\(GGUFModel.formats(model))), \(data.count) bytes\n".utf8))
    }

    func parseIDs(_ text: String, option: String) throws -> [Int] {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false)
        guard parts.count <= 1 << 16 else { throw CLIError("\(option): \(parts.count) ids are too many") }
        return try parts.enumerated().map { i, s in
            guard let v = Int(s.trimmingCharacters(in: .whitespaces)) else {
                throw CLIError("\(option): item \(i) '\(s)' is not an integer id")
            }
            return v
        }
    }
}
