import Foundation
import Kernels

/// What `opbench tune` chose for one operator, shape and thread count: the variant and the
/// constants it runs with, and the side-by-side measurement that justified the choice.
public struct TuningEntry: Codable, Equatable, Sendable {
    public var op: String
    /// The shape as the operator's spec spells it canonically.
    public var shape: String
    public var threads: Int
    /// The variant `auto` runs at this shape.
    public var variant: String
    /// The variant's constants that differ from its defaults (empty: its defaults).
    public var parameters: [String: Int]
    /// What runs without tuning (simd at its defaults), measured interleaved with the choice
    /// in the final rounds: medians, seconds.
    public var defaultMedianSeconds: Double
    public var tunedMedianSeconds: Double
    /// One-sided Mann–Whitney p of "the choice is faster" over those rounds (1 when the
    /// choice is the default).
    public var pValue: Double
    /// Final rounds per side.
    public var finalSamples: Int
    /// Candidates measured, and those refused by the fp64 check (never allowed to win).
    public var candidates: Int
    public var rejected: Int
    /// The search's time budget and the time it took, seconds.
    public var budgetSeconds: Double
    public var elapsedSeconds: Double

    public init(
        op: String, shape: String, threads: Int, variant: String, parameters: [String: Int], defaultMedianSeconds: Double,
        tunedMedianSeconds: Double, pValue: Double, finalSamples: Int, candidates: Int, rejected: Int, budgetSeconds: Double,
        elapsedSeconds: Double
    ) {
        self.op = op; self.shape = shape; self.threads = threads; self.variant = variant; self.parameters = parameters
        self.defaultMedianSeconds = defaultMedianSeconds; self.tunedMedianSeconds = tunedMedianSeconds; self.pValue = pValue
        self.finalSamples = finalSamples; self.candidates = candidates; self.rejected = rejected; self.budgetSeconds = budgetSeconds
        self.elapsedSeconds = elapsedSeconds
    }

    /// `matmul 512x768x3072,nk t=1`: what entries are matched by.
    public var key: String { "\(op) \(shape) t=\(threads)" }
    /// default / tuned median.
    public var speedup: Double { defaultMedianSeconds / tunedMedianSeconds }
    /// `simd`, or `simd{KC=512,MC=96}` with the constants that differ from the defaults.
    public var choice: String {
        parameters.isEmpty
            ? variant : variant + "{" + parameters.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",") + "}"
    }

    enum CodingKeys: String, CodingKey {
        case op, shape, threads, variant, parameters, defaultMedianSeconds = "default_median_seconds"
        case tunedMedianSeconds = "tuned_median_seconds", pValue = "p_value", finalSamples = "final_samples", candidates, rejected
        case budgetSeconds = "budget_seconds", elapsedSeconds = "elapsed_seconds"
    }
}

/// A tuning file (`results/tuning/<machine>.json`): the entries of one machine, which the
/// `auto` variants follow once it is installed (`install`).
public struct TuningFile: Codable, Equatable, Sendable {
    public static let currentSchema = 1
    public static let kindName = "opbench-tuning"

    public var schemaVersion: Int
    public var kind: String
    /// The fingerprint of the machine the entries were measured on (no ceilings).
    public var machine: MachineInfo
    public var opbenchCommit: String
    public var updated: String
    public var entries: [TuningEntry]

    enum CodingKeys: String, CodingKey {
        case schemaVersion = "schema_version", kind, machine, opbenchCommit = "opbench_commit", updated, entries
    }

    public init(machine: MachineInfo, entries: [TuningEntry]) {
        var m = machine
        m.ceilings = []
        m.calibrationWarnings = nil
        m.stateProbes = nil
        schemaVersion = Self.currentSchema
        kind = Self.kindName
        self.machine = m
        opbenchCommit = machine.opbenchCommit
        updated = ISO8601DateFormatter().string(from: Date())
        self.entries = entries
    }

    /// Where this machine's tuning file lives by default: `results/tuning/<slug>.json` under
    /// the current directory.
    public static func defaultPath(for machine: MachineInfo) -> String { "results/tuning/\(machine.slug).json" }

    /// The path of the tuning file installed in this process (`install`), nil when none is.
    nonisolated(unsafe) public private(set) static var applied: String?

    /// This file with `new` entries added; an entry of the same key replaces the old one.
    public func merging(_ new: [TuningEntry], machine: MachineInfo) -> TuningFile {
        let keys = Set(new.map(\.key))
        var out = TuningFile(machine: machine, entries: entries.filter { !keys.contains($0.key) } + new)
        out.entries.sort { ($0.op, $0.shape, $0.threads) < ($1.op, $1.shape, $1.threads) }
        return out
    }

    public func write(to path: String) throws {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        try FileIO.writeAtomically(try e.encode(self), to: path)
    }

    /// Reads and checks a tuning file: the schema, and every entry (a known operator, a shape
    /// its spec parses, a thread count, a variant, constants the variant reads with legal
    /// values, finite positive medians, each key once). A `FileError` names the entry and what
    /// is wrong. Variants of plugins that are not loaded are kept (`install` skips them).
    public static func read(_ path: String) throws -> TuningFile {
        let data = try FileIO.read(path)
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw FileError(path, "not valid JSON")
        }
        guard object["kind"] as? String == kindName else { throw FileError(path, "not an opbench tuning file (kind is not \(kindName))") }
        if let v = object["schema_version"] as? NSNumber, v.doubleValue != Double(currentSchema) {
            throw FileError(path, "schema_version \(v) is not supported (this opbench reads \(currentSchema))")
        }
        let file: TuningFile
        do { file = try JSONDecoder().decode(TuningFile.self, from: data) } catch let DecodingError.keyNotFound(key, ctx) {
            throw FileError(path, "missing field '\(key.stringValue)' in \(ResultDocument.fieldPath(ctx.codingPath))")
        } catch let DecodingError.valueNotFound(_, ctx) {
            throw FileError(path, "\(ResultDocument.fieldPath(ctx.codingPath)) is null")
        } catch let DecodingError.typeMismatch(_, ctx) {
            throw FileError(path, "\(ResultDocument.fieldPath(ctx.codingPath)) has the wrong type")
        } catch {
            throw FileError(path, "cannot be read as a tuning file")
        }
        var seen = Set<String>()
        for (i, e) in file.entries.enumerated() {
            let at = "entries[\(i)]"
            guard let spec = try? Operators.named(e.op) else { throw FileError(path, "\(at): unknown operator '\(e.op)'") }
            let shape: CaseShape
            do { shape = try spec.shape(e.shape) } catch { throw FileError(path, "\(at): \(error)") }
            guard (1...Check.maxThreads).contains(e.threads) else {
                throw FileError(path, "\(at): threads \(e.threads) is outside 1…\(Check.maxThreads)")
            }
            guard seen.insert("\(e.op) \(shape.canonical) t=\(e.threads)").inserted else {
                throw FileError(path, "\(at) (\(e.key)) appears twice")
            }
            guard e.variant != "auto" else { throw FileError(path, "\(at) (\(e.key)): the choice cannot be auto itself") }
            if let kernel = Operators.kernel(VariantID(op: spec.op, variant: e.variant)) {
                for name in e.parameters.keys where !kernel.tunables.contains(name) {
                    throw FileError(path, "\(at) (\(e.key)): \(e.op).\(e.variant) reads no constant '\(name)'")
                }
                if !e.parameters.isEmpty, let family = spec.tunableFamily {
                    do { _ = try family.table(e.parameters) } catch { throw FileError(path, "\(at) (\(e.key)): \(error)") }
                }
            } else if !e.variant.contains(".") {
                throw FileError(path, "\(at) (\(e.key)): unknown variant '\(e.variant)'")
            }
            for (name, v) in [("default_median_seconds", e.defaultMedianSeconds), ("tuned_median_seconds", e.tunedMedianSeconds)]
            where !(v.isFinite && v > 0) {
                throw FileError(path, "\(at) (\(e.key)): \(name) is \(v), not a positive time in seconds")
            }
            guard e.pValue.isFinite, (0...1).contains(e.pValue) else {
                throw FileError(path, "\(at) (\(e.key)): p_value \(e.pValue) is not in 0…1")
            }
        }
        return file
    }

    /// Installs the entries for the `auto` variants (replacing what was installed) and returns
    /// what could not be installed: entries whose plugin is not loaded run simd at that shape.
    @discardableResult
    public func install(from path: String) throws -> [String] {
        TunedChoices.removeAll()
        Self.applied = path
        var skipped: [String] = []
        for e in entries {
            let spec = try Operators.named(e.op)
            let shape = try spec.shape(e.shape)
            guard let kernel = Operators.kernel(VariantID(op: spec.op, variant: e.variant)) else {
                skipped.append("\(e.key) chose \(e.op).\(e.variant), which is not loaded: auto runs simd there")
                continue
            }
            let table = e.parameters.isEmpty ? nil : try spec.tunableFamily?.table(e.parameters)
            TunedChoices.install(
                TunedChoice(variant: e.variant, kernel: kernel, table: table), op: spec.op, key: shape.tuningKey(threads: e.threads))
        }
        return skipped
    }
}

extension OperatorSpec {
    /// The operator's family when its variants read a tuning table, else nil.
    public var tunableFamily: (any TunableFamily.Type)? { Family.self as? any TunableFamily.Type }
}

extension MachineInfo {
    /// A file name for this kind of machine: the CPU model and core count, and a hash of every
    /// fact that changes speed (`speedDifference`'s), e.g. `amd-epyc-2c-1a2b3c4d`.
    public var slug: String {
        var name = ""
        for ch in cpuModel.lowercased() {
            if ch.isLetter || ch.isNumber, ch.isASCII {
                name.append(ch)
            } else if !name.hasSuffix("-") {
                name.append("-")
            }
        }
        for noise in ["-r-", "-tm-", "-processor"] { name = name.replacingOccurrences(of: noise, with: "-") }
        while name.contains("--") { name = name.replacingOccurrences(of: "--", with: "-") }
        name = String(name.trimmingCharacters(in: CharacterSet(charactersIn: "-")).prefix(40))
        let facts =
            [
                cpuModel, "\(cores)", simdFeatures.sorted().joined(separator: ","),
                caches.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
                    .joined(separator: ","), openblasCore,
            ].joined(separator: "|")
        // FNV-1a, 64 bits: stable across runs and platforms (Swift's Hasher is seeded per process).
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in facts.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return "\(name.isEmpty ? "cpu" : name)-\(cores)c-" + String(format: "%08x", UInt32(truncatingIfNeeded: h ^ (h >> 32)))
    }
}
