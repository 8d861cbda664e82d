import Foundation

/// One of N deterministic parts of a benchmark run, for fanning a suite out over machines or
/// CI jobs (`bench --shard I/N`), and the merge of the parts back into one document.
///
/// Cases are split by shape group (the cases of one shape are measured interleaved and
/// normalized by each other, so they stay together), balanced by expected time: groups in
/// decreasing estimated cost go to the least-loaded shard (longest processing time first),
/// ties to the lowest index. The same cases and options give the same split on every machine.
public struct Shard: Equatable, Sendable, CustomStringConvertible {
    /// 1-based index, as `--shard 1/4` is written.
    public let index: Int
    public let count: Int

    public var description: String { "\(index)/\(count)" }

    public init(index: Int, count: Int) throws {
        guard count >= 1, count <= 10_000 else { throw ShardError("shard count \(count) must be from 1 to 10000") }
        guard index >= 1, index <= count else { throw ShardError("shard index \(index) must be from 1 to \(count)") }
        self.index = index; self.count = count
    }

    /// `I/N` (1-based).
    public static func parse(_ text: String) throws -> Shard {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let i = Int(parts[0]), let n = Int(parts[1]) else {
            throw ShardError("--shard '\(text)' must be I/N, e.g. 2/4")
        }
        return try Shard(index: i, count: n)
    }

    /// The shard the environment asks for, nil when none does. In order:
    /// `OPBENCH_SHARD_INDEX`/`OPBENCH_SHARD_COUNT` (0-based index), GoogleTest's
    /// `GTEST_SHARD_INDEX`/`GTEST_TOTAL_SHARDS` (0-based), Slurm job arrays'
    /// `SLURM_ARRAY_TASK_ID`/`SLURM_ARRAY_TASK_COUNT` (from `SLURM_ARRAY_TASK_MIN`, default 0),
    /// and a Kubernetes indexed Job's `JOB_COMPLETION_INDEX` (0-based) with the completions
    /// count in `OPBENCH_SHARD_COUNT`. A variable that is set but not a number is an error.
    public static func fromEnvironment(_ env: [String: String] = ProcessInfo.processInfo.environment) throws -> Shard? {
        func int(_ key: String) throws -> Int? {
            guard let text = env[key] else { return nil }
            guard let v = Int(text.trimmingCharacters(in: .whitespaces)) else { throw ShardError("\(key)='\(text)' is not an integer") }
            return v
        }
        func make(_ i: Int, _ n: Int, _ names: String) throws -> Shard {
            do { return try Shard(index: i + 1, count: n) } catch let e as ShardError { throw ShardError("\(names): \(e.message)") }
        }
        if let i = try int("OPBENCH_SHARD_INDEX") {
            guard let n = try int("OPBENCH_SHARD_COUNT") else { throw ShardError("OPBENCH_SHARD_INDEX needs OPBENCH_SHARD_COUNT") }
            return try make(i, n, "OPBENCH_SHARD_INDEX/OPBENCH_SHARD_COUNT")
        }
        if let i = try int("GTEST_SHARD_INDEX"), let n = try int("GTEST_TOTAL_SHARDS") {
            return try make(i, n, "GTEST_SHARD_INDEX/GTEST_TOTAL_SHARDS")
        }
        if let id = try int("SLURM_ARRAY_TASK_ID"), let n = try int("SLURM_ARRAY_TASK_COUNT") {
            return try make(id - (try int("SLURM_ARRAY_TASK_MIN") ?? 0), n, "SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT")
        }
        if let i = try int("JOB_COMPLETION_INDEX") {
            guard let n = try int("OPBENCH_SHARD_COUNT") else {
                throw ShardError("JOB_COMPLETION_INDEX needs the Job's completions count in OPBENCH_SHARD_COUNT")
            }
            return try make(i, n, "JOB_COMPLETION_INDEX/OPBENCH_SHARD_COUNT")
        }
        return nil
    }

    /// Estimated seconds of a case: its sampling time plus a few executions for warm-up,
    /// each from its FLOPs and bytes at a modest rate (a naive variant's much lower).
    public static func cost(_ c: BenchCase, minTime: Double) -> Double {
        let rate = c.variant.variant == "naive" ? 1e9 : 30e9
        return minTime + 4 * (c.shape.flops / rate + c.shape.memoryBytes / 20e9)
    }

    /// This shard's cases, in their original order.
    public func select(_ cases: [BenchCase], minTime: Double) -> [BenchCase] {
        var groups: [String: [Int]] = [:]
        var order: [String] = []
        for (i, c) in cases.enumerated() {
            let key = "\(c.variant.op.rawValue) \(c.shape.text)"
            if groups[key] == nil { order.append(key) }
            groups[key, default: []].append(i)
        }
        let costs = Dictionary(
            uniqueKeysWithValues: order.map { k in (k, groups[k]!.map { Self.cost(cases[$0], minTime: minTime) }.reduce(0, +)) })
        let sorted = order.sorted { costs[$0]! != costs[$1]! ? costs[$0]! > costs[$1]! : $0 < $1 }
        var load = [Double](repeating: 0, count: count)
        var mine = Set<Int>()
        for key in sorted {
            let target = load.indices.min { load[$0] != load[$1] ? load[$0] < load[$1] : $0 < $1 }!
            load[target] += costs[key]!
            if target == index - 1 { mine.formUnion(groups[key]!) }
        }
        return cases.indices.filter { mine.contains($0) }.map { cases[$0] }
    }

    /// The shards of one run as one document: every case once, the first shard's machine as
    /// the document's and every shard's in `shardMachines`. Refused: documents of different
    /// commits, shards of different splits or suites, a shard twice, and a case in two shards.
    public static func merge(_ docs: [ResultDocument], paths: [String]) throws -> ResultDocument {
        guard var merged = docs.first else { throw ShardError("merge needs at least one results file") }
        var seenCases: [String: String] = [:]
        var seenShards: [String: String] = [:]
        for (doc, path) in zip(docs, paths) {
            guard doc.opbenchCommit == merged.opbenchCommit else {
                throw ShardError("\(path) is from commit \(doc.opbenchCommit), \(paths[0]) from \(merged.opbenchCommit): mixed commits")
            }
            guard doc.settings.shardCount == merged.settings.shardCount, doc.settings.suite == merged.settings.suite else {
                throw ShardError(
                    "\(path) is shard \(doc.settings.shard ?? "–") of suite \(doc.settings.suite), \(paths[0]) shard "
                        + "\(merged.settings.shard ?? "–") of \(merged.settings.suite): not parts of one run")
            }
            if let s = doc.settings.shard {
                if let other = seenShards[s] { throw ShardError("\(path) and \(other) are both shard \(s)") }
                seenShards[s] = path
            }
            for c in doc.cases {
                if let other = seenCases[c.key] { throw ShardError("case \(c.key) is in both \(other) and \(path)") }
                seenCases[c.key] = path
            }
        }
        merged.cases = docs.flatMap(\.cases)
        merged.models = docs.flatMap(\.models)
        merged.shardMachines = docs.map(\.machine)
        if let n = merged.settings.shardCount, seenShards.count < n {
            merged.settings.command += " (merged \(seenShards.count) of \(n) shards)"
        }
        merged.settings.shard = nil
        return merged
    }
}

/// A bad shard specification or merge, with the message the CLI prints.
public struct ShardError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
