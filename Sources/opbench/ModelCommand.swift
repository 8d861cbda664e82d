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
            attention, int4, weights=f32|q4_0|q4_1, kv=f32|f16 (the KV cache), threads; omitted keys are simd / f32). \
            Several --plan options give one comparison.
            """)

    @Option(help: "Model shape: \(ModelConfig.presets.map(\.name).joined(separator: ", ")).") var preset: String
    @Option(name: .customLong("plan"), help: "A plan (repeatable). Default: every operator simd, f32 weights.") var plans: [String] = []
    @Option(name: .customLong("attention-pattern"), help: "all, or window=W and/or global=G (decoders add the causal mask).")
    var attentionPattern: String = "all"
    @Option(help: "Threads for plans that do not set threads=.") var threads: Int = 1
    @Option(help: "Prompt length in tokens (seeded random ids) when --tokens is not given.") var prompt: Int = 128
    @Option(help: "Comma-separated token ids to feed instead of a random prompt, e.g. 101,7592,2088,102.") var tokens: String?
    @Option(name: .customLong("token-types"), help: "Comma-separated token-type (segment) ids for encoders; default all 0.") var tokenTypes:
        String?
    @Option(help: "Decode steps after the prompt (decoders; default 32, encoders 0).") var generate: Int?
    @Option(help: "Timed passes per plan.") var repetitions: Int = 3
    @Option(help: "A safetensors checkpoint in Hugging Face naming (BertModel for encoders, GPT2Model for decoders).")
    var weights: String?
    @Option(help: "Seed of the synthetic weights and the random prompt.") var seed: UInt64 = 1
    @Option(name: .customLong("save-hidden"), help: "Write the first plan's final hidden states [tokens × C] as float32 .npy.")
    var saveHidden: String?
    @Option(help: "table, json or md.") var format: String = "table"
    @Option(help: "Write the results document (JSON; Markdown with --format md) here, atomically.") var output: String?

    func run() throws {
        guard ["table", "json", "md"].contains(format) else { throw CLIError("--format '\(format)' must be table, json or md") }
        for path in [output, saveHidden].compactMap({ $0 }) { try checkOutputDirectory(path) }
        let config = try ModelConfig.preset(preset)
        let planList = try (plans.isEmpty ? [""] : plans).map { try Plan.parse($0) }
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
        let generate = self.generate ?? (config.architecture == .decoder ? 32 : 0)
        if saveHidden != nil && planList.count > 1 { throw CLIError("--save-hidden takes one --plan (got \(planList.count))") }

        let weights: ModelWeights
        if let path = self.weights {
            guard FileManager.default.fileExists(atPath: path) else { throw FileError(path, "no such file") }
            weights = try ModelWeights.load(config, from: try SafeTensors(path: path))
        } else {
            weights = ModelWeights.synthetic(config, seed: seed)
        }
        let request = ModelBench.Request(
            weights: weights, plans: planList, pattern: pattern, threads: threads, prompt: promptTokens,
            types: types, generate: generate, repetitions: repetitions)
        try request.validate()
        let tty = isatty(2) == 1
        if tty { FileHandle.standardError.write(Data("fp64 reference pass…\n".utf8)) }
        let runs = try ModelBench.run(request) { i, plan in
            if tty { FileHandle.standardError.write(Data("plan \(i + 1)/\(planList.count): \(plan)\n".utf8)) }
        }
        let models = runs.map(\.result)
        let doc = ResultDocument(
            machine: Machine.current(),
            settings: RunSettings(
                suite: "model", minTimeSeconds: 0, repetitions: repetitions,
                command: CommandLine.arguments.dropFirst().joined(separator: " ")),
            cases: [], models: models)
        let markdown = ModelTables.table(models).markdown + "\n" + ModelTables.breakdown(models).markdown
        // Every output written as one step, after everything succeeded.
        var outputs: [(data: Data, path: String)] = []
        if let output { outputs.append((format == "md" ? Data(markdown.utf8) : try doc.json(), output)) }
        if let saveHidden { outputs.append((NPY.encode(runs[0].hidden), saveHidden)) }
        try FileIO.writeAllAtomically(outputs)
        switch format {
        case "json" where output == nil: FileHandle.standardOutput.write(try doc.json())
        case "md" where output == nil: FileHandle.standardOutput.write(Data(markdown.utf8))
        default:
            FileHandle.standardOutput.write(Data((ModelTables.table(models).terminal + "\n" + ModelTables.breakdown(models).terminal).utf8))
        }
        for path in [output, saveHidden].compactMap({ $0 }) { FileHandle.standardError.write(Data("wrote \(path)\n".utf8)) }
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
