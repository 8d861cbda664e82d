import Foundation
import Harness
import Kernels
import Testing

/// Tuning tables, the auto variants and the tuner: legal settings only, keys that the specs
/// and the kernels build alike, every candidate checked against fp64, tuning files read as
/// strictly as results files.
@Suite(.serialized) struct TuningTests {
    @Test func tablesSetOnlyLegalValues() throws {
        let t = try Matmul.tuning.setting(["KC": 512, "MC": 96], op: .matmul)
        #expect(t.blocking.kc == 512 && t.blocking.mc == 96 && t.blocking.nc == Matmul.tuning.blocking.nc)
        #expect(t.differences(from: Matmul.tuning) == ["KC": 512, "MC": 96])
        #expect(throws: KernelError.self) { try Matmul.tuning.setting(["MC": 100], op: .matmul) }  // not a multiple of MR = 6
        #expect(throws: KernelError.self) { try Matmul.tuning.setting(["KC": 9000], op: .matmul) }  // above 8192
        #expect(throws: KernelError.self) { try Matmul.tuning.setting(["kc": 512], op: .matmul) }  // names are exact
        #expect(throws: KernelError.self) { try Attention.tuning.setting(["keyTile": 100], op: .attention) }
        // Every table sets every constant it lists, to the value asked.
        for (_, table) in Tuning.tables {
            for p in table.parameters {
                var copy = table
                let known = copy.set(p.name, p.range.upperBound)
                #expect(known, "\(p.name)")
                #expect(copy.parameters.first { $0.name == p.name }?.value == p.range.upperBound, "\(p.name)")
            }
        }
    }

    /// Unless named, a search races neither naive, auto nor a variant that approximates.
    @Test func defaultRaceKeepsTheNumerics() throws {
        #expect(Tuner.defaultVariants(try Operators.named("int4")) == ["simd", "blas"])
        #expect(Tuner.defaultVariants(try Operators.named("matmul")) == ["simd", "blas"])
        #expect(Operators.all.allSatisfy { spec in Tuner.defaultVariants(spec).allSatisfy { $0 != "auto" && $0 != "naive" } })
    }

    /// Ladders stay within each constant's legal values and hold its default.
    @Test func laddersAreLegal() {
        for (_, table) in Tuning.tables {
            for p in table.parameters {
                let l = Tuner.ladder(p)
                #expect(l.contains(p.value) && l.allSatisfy(p.allows) && l == l.sorted(), "\(p.name): \(l)")
            }
        }
    }

    /// A constant that cannot change the path at a shape is not searched there.
    @Test func onlyRelevantConstantsAreSearched() throws {
        let big = Matmul.tuning.relevant(to: Matmul.tuningKey(m: 512, k: 512, n: 512, layout: .kn, threads: 1))
        #expect(big == ["MC", "KC", "NC"])
        let model = Matmul.tuning.relevant(to: Matmul.tuningKey(m: 128, k: 1536, n: 384, layout: .nk, threads: 1))
        #expect(model.isSuperset(of: ["directMaxRowsNK", "directMaxRowsNKShortK", "directMaxKNK"]) && !model.contains("minParallelWork"))
        let shape = try CaseShape(op: .matmul, "512x512x512")
        let pool = Tuner.candidates(shape, threads: 1, variants: ["simd", "blas"], limit: 40, seed: 7)
        #expect(pool.prefix(2).map(\.description) == ["simd", "blas"])
        #expect(
            pool.dropFirst(2).allSatisfy { $0.variant == "simd" && !$0.parameters.isEmpty && Set($0.parameters.keys).isSubset(of: big) })
        #expect(Set(pool).count == pool.count, "distinct candidates")
        #expect(pool == Tuner.candidates(shape, threads: 1, variants: ["simd", "blas"], limit: 40, seed: 7), "seeded")
        for c in pool { _ = try Matmul.tuning.setting(c.parameters, op: .matmul) }
    }

    /// For every operator's verify shapes, the key the spec builds is the key the auto variant
    /// builds from its run arguments: an entry installed at the spec's key is followed.
    @Test func specsAndKernelsBuildTheSameKeys() throws {
        defer { TunedChoices.removeAll() }
        for spec in Operators.all {
            for text in spec.shapes.verify {
                let shape = try spec.shape(text)
                for threads in [1, 2] {
                    TunedChoices.removeAll()
                    let naive = try #require(Operators.kernel(VariantID(op: spec.op, variant: "naive")))
                    TunedChoices.install(
                        TunedChoice(variant: "naive", kernel: naive, table: nil), op: spec.op, key: shape.tuningKey(threads: threads))
                    let w = try Workloads.make(shape)
                    TunedChoices.resetCounts()
                    try w.runner(variant: "auto", threads: threads)()
                    #expect(TunedChoices.hits == 1 && TunedChoices.misses == 0, "\(spec.op) \(text) t=\(threads)")
                    #expect(w.verify().passed, "\(spec.op) \(text)")
                }
            }
        }
        // Without an entry, auto is simd: a miss.
        TunedChoices.removeAll()
        let w = try Workloads.make(try CaseShape(op: .matmul, "8x16x8"))
        TunedChoices.resetCounts()
        try w.runner(variant: "auto", threads: 1)()
        #expect(TunedChoices.hits == 0 && TunedChoices.misses == 1)
    }

    /// A tuned table applies to its call only and is restored afterwards; results stay exact.
    @Test func autoInstallsTheTableForItsCallOnly() throws {
        defer { TunedChoices.removeAll() }
        let shape = try CaseShape(op: .matmul, "40x96x72,nk")
        let forced = try Matmul.tuning.setting(["directMaxRowsNK": 0, "directMaxRowsNKShortK": 0, "directMaxRows": 0], op: .matmul)
        TunedChoices.install(
            TunedChoice(variant: "simd", kernel: Matmul.SIMD(), table: forced), op: .matmul, key: shape.tuningKey(threads: 1))
        let w = try Workloads.make(shape)
        try w.runner(variant: "auto", threads: 1)()
        #expect(w.verify().passed)
        #expect(Matmul.installed == nil)
    }

    /// The tuner returns a checked choice from the raced variants; the choice replaces the
    /// default only with a significant gain, and its medians are real times.
    @Test func tunerChoosesACheckedCandidate() throws {
        let shape = try CaseShape(op: .matmul, "24x64x40,nk")
        var options = Tuner.Options(variants: ["simd", "blas", "naive"])
        options.budgetSeconds = 1.5
        options.maxSettings = 6
        var lines = 0
        let out = try Tuner.tune(shape, threads: 1, options: options) { _, fraction in
            lines += 1
            #expect(fraction >= 0)
        }
        let e = out.entry
        #expect(["simd", "blas", "naive"].contains(e.variant) && e.key == "matmul 24x64x40,nk t=1" && lines > 0)
        #expect(e.defaultMedianSeconds > 0 && e.tunedMedianSeconds > 0 && e.finalSamples >= 5 && out.rejected.isEmpty)
        #expect(e.candidates >= 3 && e.candidates <= 3 + 6)
        if e.variant == "simd" && e.parameters.isEmpty {
            #expect(e.pValue == 1 || out.note != nil || e.tunedMedianSeconds == e.defaultMedianSeconds)
        } else {
            #expect(e.pValue < options.alpha && e.speedup >= 1 + options.minGain)
        }
    }

    /// Tuning files are refused, naming the entry, whenever no run could have written them.
    @Test func badTuningFilesAreRefused() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("opbench-tuning-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let entry = TuningEntry(
            op: "matmul", shape: "128x384x1152,nk", threads: 1, variant: "simd", parameters: ["KC": 512], defaultMedianSeconds: 1e-3,
            tunedMedianSeconds: 9e-4, pValue: 1e-6, finalSamples: 9, candidates: 10, rejected: 0, budgetSeconds: 5, elapsedSeconds: 4)
        let good = TuningFile(machine: Machine.fingerprint(toolchain: false), entries: [entry])
        let path = dir.appendingPathComponent("t.json").path
        try good.write(to: path)
        #expect(try TuningFile.read(path) == good)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
        func variant(_ change: (inout [String: Any]) -> Void) throws -> String {
            var copy = json
            var entries = copy["entries"] as! [[String: Any]]
            var e = entries[0]
            change(&e)
            entries[0] = e
            copy["entries"] = entries
            let p = dir.appendingPathComponent("bad-\(UUID().uuidString).json").path
            try JSONSerialization.data(withJSONObject: copy).write(to: URL(fileURLWithPath: p))
            return p
        }
        let cases: [(String, (inout [String: Any]) -> Void)] = [
            ("unknown operator 'conv'", { $0["op"] = "conv" }),
            ("matmul shape", { $0["shape"] = "128x" }),
            ("threads 0", { $0["threads"] = 0 }),
            ("unknown variant 'fast'", { $0["variant"] = "fast" }),
            ("cannot be auto", { $0["variant"] = "auto" }),
            ("reads no constant 'keyTile'", { $0["parameters"] = ["keyTile": 256] }),
            ("multiples of 6", { $0["parameters"] = ["MC": 100] }),
            ("not a positive time", { $0["tuned_median_seconds"] = -1 }),
            ("p_value", { $0["p_value"] = 2 }),
            ("missing field 'variant'", { $0.removeValue(forKey: "variant") }),
            ("is null", { $0["threads"] = NSNull() }),
        ]
        for (fragment, change) in cases {
            let p = try variant(change)
            do {
                _ = try TuningFile.read(p)
                Issue.record("accepted a file with \(fragment)")
            } catch let e as FileError {
                #expect(e.description.contains(fragment) && e.description.contains(p), "\(e)")
            }
        }
        var twice = json
        twice["entries"] = (json["entries"] as! [Any]) + (json["entries"] as! [Any])
        let p2 = dir.appendingPathComponent("twice.json").path
        try JSONSerialization.data(withJSONObject: twice).write(to: URL(fileURLWithPath: p2))
        #expect(throws: FileError.self) { try TuningFile.read(p2) }
        for (text, fragment) in [("{", "not valid JSON"), ("{\"kind\": \"x\"}", "not an opbench tuning file"), ("[]", "not valid JSON")] {
            let p = dir.appendingPathComponent("junk-\(UUID().uuidString).json").path
            try Data(text.utf8).write(to: URL(fileURLWithPath: p))
            #expect { try TuningFile.read(p) } throws: { ($0 as? FileError)?.description.contains(fragment) == true }
        }
        var version = json
        version["schema_version"] = 99
        let p3 = dir.appendingPathComponent("v.json").path
        try JSONSerialization.data(withJSONObject: version).write(to: URL(fileURLWithPath: p3))
        #expect { try TuningFile.read(p3) } throws: { ($0 as? FileError)?.description.contains("schema_version 99") == true }
    }

    /// Merging replaces an entry of the same key and keeps the others.
    @Test func mergingKeepsOtherEntries() {
        func entry(_ shape: String, _ variant: String) -> TuningEntry {
            TuningEntry(
                op: "matmul", shape: shape, threads: 1, variant: variant, parameters: [:], defaultMedianSeconds: 1, tunedMedianSeconds: 1,
                pValue: 1, finalSamples: 5, candidates: 1, rejected: 0, budgetSeconds: 1, elapsedSeconds: 1)
        }
        let m = Machine.fingerprint(toolchain: false)
        let merged = TuningFile(machine: m, entries: [entry("8x8x8", "simd"), entry("16x16x16", "simd")])
            .merging([entry("8x8x8", "blas")], machine: m)
        #expect(merged.entries.map(\.choice).sorted() == ["blas", "simd"] && merged.entries.count == 2)
    }
}
