import Foundation
import Kernels

/// One run's results: what was measured, where, with what, and every raw sample.
/// Schema-versioned; readers refuse other versions.
public struct ResultDocument: Codable, Equatable, Sendable {
    /// Bumped on any incompatible change of the format.
    public static let currentSchema = 1

    public var schemaVersion: Int
    public var tool: String
    public var opbenchCommit: String
    public var timestamp: String
    public var machine: MachineInfo
    public var settings: RunSettings
    public var cases: [CaseResult]
    public var models: [ModelResult]
    /// A merge of shards (`Shard.merge`): every shard's machine, in the order merged; nil otherwise.
    public var shardMachines: [MachineInfo]?

    enum CodingKeys: String, CodingKey {
        case schemaVersion = "schema_version", tool, opbenchCommit = "opbench_commit", timestamp, machine, settings, cases, models
        case shardMachines = "shard_machines"
    }

    public init(machine: MachineInfo, settings: RunSettings, cases: [CaseResult], models: [ModelResult] = []) {
        schemaVersion = Self.currentSchema
        tool = "opbench"
        opbenchCommit = machine.opbenchCommit
        timestamp = ISO8601DateFormatter().string(from: Date())
        self.machine = machine; self.settings = settings; self.cases = cases; self.models = models
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        schemaVersion = try c.decode(Int.self, forKey: .schemaVersion)
        guard schemaVersion == Self.currentSchema else {
            throw DecodingError.dataCorruptedError(
                forKey: .schemaVersion, in: c,
                debugDescription: "schema_version \(schemaVersion) is not supported (this opbench reads \(Self.currentSchema))")
        }
        tool = try c.decode(String.self, forKey: .tool)
        opbenchCommit = try c.decode(String.self, forKey: .opbenchCommit)
        timestamp = try c.decode(String.self, forKey: .timestamp)
        machine = try c.decode(MachineInfo.self, forKey: .machine)
        settings = try c.decode(RunSettings.self, forKey: .settings)
        cases = try c.decode([CaseResult].self, forKey: .cases)
        models = try c.decodeIfPresent([ModelResult].self, forKey: .models) ?? []
        shardMachines = try c.decodeIfPresent([MachineInfo].self, forKey: .shardMachines)
    }

    /// JSON text (sorted keys, pretty-printed; non-finite numbers as strings).
    public func json() throws -> Data {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return try e.encode(self)
    }

    /// Writes the document atomically.
    public func write(to path: String) throws { try FileIO.writeAtomically(try json(), to: path) }

    /// Reads and validates a results file; a `FileError` says what is wrong with it.
    public static func read(_ path: String) throws -> ResultDocument { try decode(try FileIO.read(path), path: path) }

    /// Parses and validates the bytes of a results file; `path` names it in errors.
    public static func decode(_ data: Data, path: String) throws -> ResultDocument {
        let d = JSONDecoder()
        d.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        if let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] {
            if GoogleBenchmark.isGoogleBenchmark(object) { return try GoogleBenchmark.decode(object, path: path) }
            guard object["schema_version"] != nil, object["cases"] != nil else {
                throw FileError(path, "not an opbench results file (no schema_version or cases) nor Google Benchmark JSON")
            }
            // Checked here: JSONDecoder reports a non-integer version as "not valid JSON".
            if let version = object["schema_version"] as? NSNumber, version.doubleValue != Double(Self.currentSchema) {
                throw FileError(path, "schema_version \(version) is not supported (this opbench reads \(Self.currentSchema))")
            }
        } else {
            throw FileError(path, "not valid JSON")
        }
        let doc: ResultDocument
        do { doc = try d.decode(ResultDocument.self, from: data) } catch let DecodingError.dataCorrupted(ctx) {
            throw FileError(path, "\(Self.fieldPath(ctx.codingPath)): \(ctx.debugDescription)")
        } catch let DecodingError.keyNotFound(key, ctx) {
            throw FileError(path, "missing field '\(key.stringValue)' in \(Self.fieldPath(ctx.codingPath))")
        } catch let DecodingError.valueNotFound(type, ctx) {
            throw FileError(path, "\(Self.fieldPath(ctx.codingPath)) is null, expected \(type == Double.self ? "a number" : "\(type)")")
        } catch let DecodingError.typeMismatch(type, ctx) {
            throw FileError(
                path, "\(Self.fieldPath(ctx.codingPath)) has the wrong type, expected \(type == Int.self ? "an integer" : "\(type)")")
        } catch {
            throw FileError(path, "cannot be read as opbench results: \(error)")
        }
        try doc.validate(path: path)
        return doc
    }

    /// A coding path as the JSON spells it: `cases[0].median_seconds` (`the document` at the top).
    static func fieldPath(_ path: [CodingKey]) -> String {
        var out = ""
        for key in path {
            if let i = key.intValue { out += "[\(i)]" } else { out += (out.isEmpty ? "" : ".") + key.stringValue }
        }
        return out.isEmpty ? "the document" : out
    }

    /// Largest rate a results file may claim, GFLOP/s or GB/s: far beyond any CPU, so only a
    /// corrupt or hand-made file reaches it.
    public static let absurdRate = 1e9

    /// Refuses what no run writes: a case with no samples, a sample that is not a finite
    /// positive time, a non-finite or absurd rate, the same case twice; speeds of model passes
    /// likewise, and the machine's state probes. (Accuracy fields may be non-finite: a pass that
    /// produced NaN says so.)
    public func validate(path: String) throws {
        var seen = Set<String>()
        for (i, c) in cases.enumerated() {
            let at = "case \(i) (\(c.key))"
            guard !c.samplesSeconds.isEmpty else { throw FileError(path, "\(at): no samples") }
            for (name, values) in [("samples_seconds", c.samplesSeconds), ("round_min_seconds", c.roundMinSeconds ?? [])] {
                if let bad = values.first(where: { !($0.isFinite && $0 > 0) }) {
                    throw FileError(path, "\(at): \(name) holds \(bad), not a positive time in seconds")
                }
            }
            if let cpu = c.cpuSamplesSeconds {
                guard cpu.count == c.samplesSeconds.count else {
                    throw FileError(path, "\(at): \(cpu.count) cpu_samples_seconds for \(c.samplesSeconds.count) samples")
                }
                if let bad = cpu.first(where: { !($0.isFinite && $0 >= 0) }) {
                    throw FileError(path, "\(at): cpu_samples_seconds holds \(bad), not a CPU time in seconds")
                }
            }
            if let bad = (c.normalizedSamples ?? []).first(where: { !($0.isFinite && $0 > 0) }) {
                throw FileError(path, "\(at): normalized_samples holds \(bad), not a positive ratio")
            }
            for (name, v) in [("median_seconds", c.medianSeconds), ("min_seconds", c.minSeconds)] where !(v.isFinite && v > 0) {
                throw FileError(path, "\(at): \(name) is \(v), not a positive time in seconds")
            }
            for (name, v) in [("gflops", c.gflops), ("gbps", c.gbps), ("flops", c.flops / 1e9), ("bytes", c.bytes / 1e9)]
            where !(v.isFinite && v >= 0 && v <= Self.absurdRate) {
                throw FileError(path, "\(at): \(name) is \(v), outside 0…\(Self.absurdRate)")
            }
            guard seen.insert(c.key).inserted else { throw FileError(path, "\(at) appears twice") }
        }
        for (i, st) in (machine.stateProbes ?? []).enumerated() {
            for (name, v) in [("fma_gflops", st.fmaGflops), ("dram_read_gbps", st.dramReadGBps)]
            where !(v.isFinite && v > 0 && v <= Self.absurdRate) {
                throw FileError(path, "machine.state_probes[\(i)]: \(name) is \(v), not a rate in 0…\(Self.absurdRate)")
            }
        }
        for (i, m) in models.enumerated() {
            if let bad = (m.prefillTokensPerSecond + m.decodeTokensPerSecond).first(where: {
                !($0.isFinite && $0 >= 0 && $0 <= Self.absurdRate)
            }) {
                throw FileError(path, "model \(i) (\(m.plan)): tokens per second \(bad) is not a finite rate")
            }
            if let w = m.whatIf,
                let bad = [w.predictedPrefillTokensPerSecond, w.predictedDecodeTokensPerSecond].compactMap({ $0 }).first(where: {
                    !($0.isFinite && $0 > 0 && $0 <= Self.absurdRate)
                })
            {
                throw FileError(path, "model \(i) (\(m.plan)): predicted tokens per second \(bad) is not a finite rate")
            }
        }
    }
}

/// How the run was configured.
public struct RunSettings: Codable, Equatable, Sendable {
    public var suite: String
    public var minTimeSeconds: Double
    public var repetitions: Int
    public var rounds: Int
    public var command: String
    /// `warm` or `cold` (`CacheMode`); nil in files from before the option (warm).
    public var cache: String?
    /// `I/N` when the run measured one shard of its cases (`bench --shard`); nil otherwise.
    public var shard: String?
    /// The tuning file the `auto` variants followed (`TuningFile.applied`), nil when none was.
    public var tuning: String?

    /// N of `shard`.
    public var shardCount: Int? { shard.flatMap { $0.split(separator: "/").last.flatMap { Int($0) } } }

    enum CodingKeys: String, CodingKey {
        case suite, minTimeSeconds = "min_time_seconds", repetitions, rounds, command, cache, shard, tuning
    }

    public init(
        suite: String, minTimeSeconds: Double, repetitions: Int, rounds: Int = 1, command: String, cache: String? = nil,
        tuning: String? = TuningFile.applied
    ) {
        self.suite = suite; self.minTimeSeconds = minTimeSeconds; self.repetitions = repetitions; self.rounds = rounds;
        self.command = command; self.cache = cache; self.tuning = tuning
    }
}

/// One op × variant × shape × threads measurement.
public struct CaseResult: Codable, Equatable, Sendable {
    public var id: String
    public var op: String
    public var variant: String
    public var shape: String
    public var threads: Int
    /// Seconds per execution, one value per sample (each the mean over `iterationsPerSample`).
    public var samplesSeconds: [Double]
    /// The process's CPU seconds (every thread's) per execution, one per sample of
    /// `samplesSeconds`; nil in files from before it was measured.
    public var cpuSamplesSeconds: [Double]?
    public var iterationsPerSample: Int
    public var medianSeconds: Double
    public var p10Seconds: Double
    public var p90Seconds: Double
    public var madSeconds: Double
    public var minSeconds: Double
    public var flops: Double
    public var bytes: Double
    public var gflops: Double
    public var gbps: Double
    /// flops / bytes
    public var arithmeticIntensity: Double
    /// min(peak, intensity × bandwidth) for this thread count, GFLOP/s
    public var rooflineGflops: Double
    /// achieved / roofline
    public var rooflineFraction: Double
    /// "compute" or "memory": which ceiling bounds the roofline here.
    public var bound: String
    /// The ceiling's name (`RooflinePlace.ceiling`: `fma`, `L3-read`, `DRAM-rw`…); nil in
    /// files from before the cache-aware roofline (DRAM copy for every memory-bound case).
    public var ceiling: String?
    /// `rooflineFraction` above `Roofline.errorFraction`: the ceiling is wrong, and the
    /// fraction is not a result. Set by `recomputeStatistics`.
    public var ceilingError: Bool?
    /// `warm` or `cold` (`CacheMode`): how the inputs met the caches; nil in older files (warm).
    public var cache: String?
    public var speedupVsNaive: Double?
    public var speedupVsBlas: Double?
    /// The case this one is normalized by (same op, shape, threads; blas, or simd for blas).
    public var peer: String?
    /// samples / peer's samples of the same repetition (interleaved).
    public var normalizedSamples: [Double]?
    /// The fastest sample of each round (`bench --rounds`: each round a fresh process).
    /// Interference only adds time, so minima are the most repeatable figure; the gate divides
    /// them by a peer's minima of the same round.
    public var roundMinSeconds: [Double]?
    public var maxAbsError: Double
    public var maxRelError: Double
    public var nmse: Double
    public var tolerance: Double
    public var errorToTolerance: Double
    public var accuracyPass: Bool
    public var rowsChecked: Int

    /// Memberwise.
    public init(
        id: String, op: String, variant: String, shape: String, threads: Int, samplesSeconds: [Double],
        iterationsPerSample: Int, medianSeconds: Double, p10Seconds: Double, p90Seconds: Double,
        madSeconds: Double, minSeconds: Double, flops: Double, bytes: Double, gflops: Double, gbps: Double,
        arithmeticIntensity: Double, rooflineGflops: Double, rooflineFraction: Double, bound: String,
        speedupVsNaive: Double? = nil, speedupVsBlas: Double? = nil, peer: String? = nil,
        normalizedSamples: [Double]? = nil, roundMinSeconds: [Double]? = nil, maxAbsError: Double,
        maxRelError: Double, nmse: Double, tolerance: Double, errorToTolerance: Double, accuracyPass: Bool,
        rowsChecked: Int
    ) {
        self.id = id
        self.op = op
        self.variant = variant
        self.shape = shape
        self.threads = threads
        self.samplesSeconds = samplesSeconds
        self.iterationsPerSample = iterationsPerSample
        self.medianSeconds = medianSeconds
        self.p10Seconds = p10Seconds
        self.p90Seconds = p90Seconds
        self.madSeconds = madSeconds
        self.minSeconds = minSeconds
        self.flops = flops
        self.bytes = bytes
        self.gflops = gflops
        self.gbps = gbps
        self.arithmeticIntensity = arithmeticIntensity
        self.rooflineGflops = rooflineGflops
        self.rooflineFraction = rooflineFraction
        self.bound = bound
        self.speedupVsNaive = speedupVsNaive
        self.speedupVsBlas = speedupVsBlas
        self.peer = peer
        self.normalizedSamples = normalizedSamples
        self.roundMinSeconds = roundMinSeconds
        self.maxAbsError = maxAbsError
        self.maxRelError = maxRelError
        self.nmse = nmse
        self.tolerance = tolerance
        self.errorToTolerance = errorToTolerance
        self.accuracyPass = accuracyPass
        self.rowsChecked = rowsChecked
    }

    enum CodingKeys: String, CodingKey {
        case id, op, variant, shape, threads
        case samplesSeconds = "samples_seconds", cpuSamplesSeconds = "cpu_samples_seconds", iterationsPerSample = "iterations_per_sample"
        case medianSeconds = "median_seconds", p10Seconds = "p10_seconds", p90Seconds = "p90_seconds"
        case madSeconds = "mad_seconds", minSeconds = "min_seconds"
        case flops, bytes, gflops, gbps, arithmeticIntensity = "arithmetic_intensity"
        case rooflineGflops = "roofline_gflops", rooflineFraction = "roofline_fraction", bound, ceiling
        case ceilingError = "ceiling_error", cache
        case speedupVsNaive = "speedup_vs_naive", speedupVsBlas = "speedup_vs_blas"
        case peer, normalizedSamples = "normalized_samples", roundMinSeconds = "round_min_seconds"
        case maxAbsError = "max_abs_error", maxRelError = "max_rel_error", nmse, tolerance
        case errorToTolerance = "error_to_tolerance", accuracyPass = "accuracy_pass", rowsChecked = "rows_checked"
    }

    /// The roofline column: `83% L3-read`, or `ceiling error` when the fraction is above
    /// `Roofline.errorFraction` (older files without a ceiling name: `mem` or `fma`).
    public var rooflineText: String {
        if ceilingError == true || rooflineFraction > Roofline.errorFraction { return "ceiling error" }
        return Format.percent(rooflineFraction) + " " + (ceiling ?? (bound == "memory" ? "mem" : "fma"))
    }

    /// The key cases are matched by across runs.
    public var key: String { "\(id) \(shape) t=\(threads)" }

    /// Order statistics and throughput from `samplesSeconds` (after measuring or merging).
    public mutating func recomputeStatistics() {
        medianSeconds = Statistics.median(samplesSeconds)
        p10Seconds = Statistics.quantile(samplesSeconds, 0.1)
        p90Seconds = Statistics.quantile(samplesSeconds, 0.9)
        madSeconds = Statistics.mad(samplesSeconds)
        minSeconds = samplesSeconds.min() ?? .nan
        gflops = flops / medianSeconds / 1e9
        gbps = bytes / medianSeconds / 1e9
        rooflineFraction = gflops / rooflineGflops
        ceilingError = rooflineFraction > Roofline.errorFraction
    }
}

/// One term of a what-if prediction: a timing group (an operator; the linears together) whose
/// calls the swap makes cost `isolatedAfterSeconds` instead of `isolatedBeforeSeconds` per pass
/// when measured alone, and the time the base pass spent in it (median over its passes).
public struct WhatIfTerm: Codable, Equatable, Sendable {
    public var phase: String
    public var group: String
    public var inPassSeconds: Double
    public var isolatedBeforeSeconds: Double
    public var isolatedAfterSeconds: Double

    public init(phase: String, group: String, inPassSeconds: Double, isolatedBeforeSeconds: Double, isolatedAfterSeconds: Double) {
        self.phase = phase; self.group = group; self.inPassSeconds = inPassSeconds
        self.isolatedBeforeSeconds = isolatedBeforeSeconds; self.isolatedAfterSeconds = isolatedAfterSeconds
    }

    enum CodingKeys: String, CodingKey {
        case phase, group, inPassSeconds = "in_pass_seconds", isolatedBeforeSeconds = "isolated_before_seconds"
        case isolatedAfterSeconds = "isolated_after_seconds"
    }
}

/// What `opbench model --what-if` predicted for a swap of one operator's variant (or the weight
/// format) in a base plan, from the base pass's time per operator (Amdahl) and the swapped
/// operator's calls measured in isolation; the pass it belongs to measured the swap.
public struct WhatIfRecord: Codable, Equatable, Sendable {
    /// `matmul=blas`, `weights=q4_0`.
    public var swap: String
    /// The plan the swap changes (its `Plan.description`).
    public var basePlan: String
    public var predictedPrefillTokensPerSecond: Double?
    public var predictedDecodeTokensPerSecond: Double?
    /// What the prediction scaled (absent in files from before it was recorded).
    public var terms: [WhatIfTerm]?

    public init(
        swap: String, basePlan: String, predictedPrefillTokensPerSecond: Double?, predictedDecodeTokensPerSecond: Double?,
        terms: [WhatIfTerm]? = nil
    ) {
        self.swap = swap; self.basePlan = basePlan
        self.predictedPrefillTokensPerSecond = predictedPrefillTokensPerSecond
        self.predictedDecodeTokensPerSecond = predictedDecodeTokensPerSecond
        self.terms = terms
    }

    enum CodingKeys: String, CodingKey {
        case swap, basePlan = "base_plan", predictedPrefillTokensPerSecond = "predicted_prefill_tokens_per_second"
        case predictedDecodeTokensPerSecond = "predicted_decode_tokens_per_second", terms
    }
}

/// A model pass result (filled by `opbench model`): one plan on one preset.
public struct ModelResult: Codable, Equatable, Sendable {
    public var preset: String
    /// `encoder` or `decoder`.
    public var architecture: String
    /// The canonical plan text (`Plan.description`).
    public var plan: String
    /// The attention mask used (the decoder's causal mask included).
    public var pattern: String
    /// `synthetic seed N` or the safetensors path.
    public var weights: String
    public var threads: Int
    public var promptTokens: Int
    public var generatedTokens: Int
    /// One value per repetition.
    public var prefillTokensPerSecond: [Double]
    public var decodeTokensPerSecond: [Double]
    /// Mean seconds per repetition (prefill + decode) spent in each operator.
    public var opSeconds: [String: Double]
    /// FLOPs of the linear layers in one prefill (2 · tokens · linear parameters).
    public var prefillLinearFlops: Double
    /// Weight bytes one decode step reads, as the plan stores them.
    public var weightBytesPerToken: Double
    /// Final hidden states of every position against the fp64 reference pass; nil when the
    /// pass was not scored (`opbench model --reference none`), as every accuracy field then.
    public var maxAbsError: Double?
    public var cosine: Double?
    /// The smallest per-position cosine.
    public var minTokenCosine: Double?
    /// Encoders: cosine of the mean-pooled hidden state (the sentence embedding).
    public var pooledCosine: Double?
    /// Decoders: share of next-token predictions equal to the reference's.
    public var top1Agreement: Double?
    /// Decoders: mean over the predictions of KL(P_fp64 ‖ P_plan), in nats — the next-token
    /// distributions' divergence from the fp64 pass (what llama.cpp's perplexity tool reports
    /// for a quantization). Absent in files written before it existed.
    public var meanKL: Double?
    /// Plans with `auto` operators: kernel calls that found a tuning file entry (`tunedCalls`)
    /// among all calls of auto variants (`autoCalls`) in the timed passes; nil otherwise.
    public var tunedCalls: Int?
    public var autoCalls: Int?
    /// `model --what-if`: the swap this pass measured, and its prediction; nil otherwise.
    public var whatIf: WhatIfRecord?

    public init(
        preset: String, architecture: String, plan: String, pattern: String, weights: String, threads: Int,
        promptTokens: Int, generatedTokens: Int, prefillTokensPerSecond: [Double], decodeTokensPerSecond: [Double],
        opSeconds: [String: Double], prefillLinearFlops: Double, weightBytesPerToken: Double, maxAbsError: Double?,
        cosine: Double?, minTokenCosine: Double?, pooledCosine: Double?, top1Agreement: Double?, meanKL: Double? = nil
    ) {
        self.preset = preset; self.architecture = architecture; self.plan = plan; self.pattern = pattern; self.weights = weights
        self.threads = threads; self.promptTokens = promptTokens; self.generatedTokens = generatedTokens
        self.prefillTokensPerSecond = prefillTokensPerSecond; self.decodeTokensPerSecond = decodeTokensPerSecond
        self.opSeconds = opSeconds; self.prefillLinearFlops = prefillLinearFlops; self.weightBytesPerToken = weightBytesPerToken
        self.maxAbsError = maxAbsError; self.cosine = cosine; self.minTokenCosine = minTokenCosine
        self.pooledCosine = pooledCosine; self.top1Agreement = top1Agreement; self.meanKL = meanKL
    }

    /// A short label for charts: the preset, the plan keys that differ from the defaults
    /// (simd everywhere, f32 weights, the int4 variant following matmul), the pattern when
    /// sparse, and the thread count.
    public var label: String {
        var keys: [String: String] = [:]
        for term in plan.split(separator: ",") {
            let kv = term.split(separator: "=", maxSplits: 1).map(String.init)
            if kv.count == 2 { keys[kv[0]] = kv[1] }
        }
        var parts: [String] = []
        let ops = ["matmul", "softmax", "layernorm", "attention"]
        let values = Set(ops.compactMap { keys[$0] })
        if values.count == 1, let v = values.first, v != "simd" {
            parts.append("all \(v)")
        } else {
            parts += ops.compactMap { op in keys[op].flatMap { $0 == "simd" ? nil : "\(op)=\($0)" } }
        }
        if let w = keys["weights"], w != "f32" {
            parts.append(w)
            if let i = keys["int4"], i != (keys["matmul"] ?? "simd") { parts.append("int4=\(i)") }
        }
        if parts.isEmpty { parts.append("simd f32") }
        let dense = pattern == "all" || pattern == "causal"
        let sparse = pattern.hasPrefix("causal,") ? String(pattern.dropFirst(7)) : pattern
        return "\(preset) " + parts.joined(separator: " ") + (dense ? "" : " [\(sparse)]") + " t=\(threads)"
    }

    /// Median prefill GFLOP/s over the linear layers' FLOPs.
    public var prefillLinearGflops: Double {
        prefillLinearFlops / Double(max(promptTokens, 1)) * Statistics.median(prefillTokensPerSecond) / 1e9
    }

    /// Median decode weight bandwidth, GB/s (weight bytes per token × tokens/s).
    public var decodeWeightGBps: Double { weightBytesPerToken * Statistics.median(decodeTokensPerSecond) / 1e9 }

    enum CodingKeys: String, CodingKey {
        case preset, architecture, plan, pattern, weights, threads, promptTokens = "prompt_tokens", generatedTokens = "generated_tokens"
        case prefillTokensPerSecond = "prefill_tokens_per_second", decodeTokensPerSecond = "decode_tokens_per_second"
        case opSeconds = "op_seconds", prefillLinearFlops = "prefill_linear_flops", weightBytesPerToken = "weight_bytes_per_token"
        case maxAbsError = "max_abs_error", cosine, minTokenCosine = "min_token_cosine", pooledCosine = "pooled_cosine"
        case top1Agreement = "top1_agreement", meanKL = "mean_kl", tunedCalls = "tuned_calls", autoCalls = "auto_calls"
        case whatIf = "what_if"
    }
}
