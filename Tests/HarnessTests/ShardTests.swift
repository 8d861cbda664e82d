import Foundation
import Harness
import Testing
import TestSupport

@Suite struct ShardTests {
    /// The quick suite's cases, as bench plans them.
    static func cases() throws -> [BenchCase] {
        var out: [BenchCase] = []
        for spec in Operators.all {
            for text in Suites.shapes("quick", spec: spec) {
                let shape = try spec.shape(text)
                for id in Operators.variantIDs where id.op == spec.op { out.append(BenchCase(variant: id, shape: shape, threads: 1)) }
            }
        }
        return out
    }

    /// N shards cover every case exactly once, keep each shape's cases together, stay in the
    /// original order, are the same on every call, and are balanced: no shard above the
    /// longest-processing-time bound (the mean load plus the largest group).
    @Test(arguments: [1, 2, 3, 4, 7])
    func shardsPartitionTheCasesByShapeAndBalanceThem(count: Int) throws {
        let cases = try Self.cases()
        let parts = try (1...count).map { try Shard(index: $0, count: count).select(cases, minTime: 0.4) }
        #expect(parts.flatMap { $0 }.count == cases.count)
        #expect(Set(parts.flatMap { $0 }) == Set(cases))
        for part in parts {
            let positions = part.map { c in cases.firstIndex(of: c)! }
            #expect(positions == positions.sorted(), "a shard keeps the suite's order")
        }
        func group(_ c: BenchCase) -> String { "\(c.variant.op.rawValue) \(c.shape.text)" }
        for (i, part) in parts.enumerated() {
            let mine = Set(part.map(group))
            for (j, other) in parts.enumerated() where j != i { #expect(mine.isDisjoint(with: Set(other.map(group)))) }
        }
        #expect(try Shard(index: 1, count: count).select(cases, minTime: 0.4) == parts[0], "deterministic")
        // Longest processing time first: no shard exceeds the mean load by more than the
        // costliest group.
        func cost(_ cs: [BenchCase]) -> Double { cs.map { Shard.cost($0, minTime: 0.4) }.reduce(0, +) }
        let groups = Dictionary(grouping: cases, by: group).mapValues(cost)
        let bound = cost(cases) / Double(count) + groups.values.max()!
        #expect(parts.allSatisfy { cost($0) <= bound * (1 + 1e-12) }, "loads \(parts.map(cost)) over \(bound)")
    }

    @Test func specificationsFromTheFlagAndTheEnvironment() throws {
        #expect(try Shard.parse("2/4") == Shard(index: 2, count: 4))
        for bad in ["", "2", "0/4", "5/4", "a/b", "1/0", "-1/4", "1/4/5"] {
            #expect(throws: ShardError.self, "\(bad)") { try Shard.parse(bad) }
        }
        #expect(try Shard.fromEnvironment([:]) == nil)
        #expect(try Shard.fromEnvironment(["OPBENCH_SHARD_INDEX": "0", "OPBENCH_SHARD_COUNT": "3"]) == Shard(index: 1, count: 3))
        #expect(try Shard.fromEnvironment(["GTEST_SHARD_INDEX": "3", "GTEST_TOTAL_SHARDS": "4"]) == Shard(index: 4, count: 4))
        #expect(
            try Shard.fromEnvironment(["SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_MIN": "4", "SLURM_ARRAY_TASK_COUNT": "2"])
                == Shard(index: 2, count: 2))
        #expect(try Shard.fromEnvironment(["JOB_COMPLETION_INDEX": "1", "OPBENCH_SHARD_COUNT": "2"]) == Shard(index: 2, count: 2))
        let refused: [([String: String], String)] = [
            (["OPBENCH_SHARD_INDEX": "1"], "needs OPBENCH_SHARD_COUNT"), (["JOB_COMPLETION_INDEX": "0"], "completions count"),
            (["GTEST_SHARD_INDEX": "x", "GTEST_TOTAL_SHARDS": "2"], "'x' is not an integer"),
            (["OPBENCH_SHARD_INDEX": "3", "OPBENCH_SHARD_COUNT": "3"], "must be from 1 to 3"),
        ]
        for (env, fragment) in refused {
            #expect { try Shard.fromEnvironment(env) } throws: { "\($0)".contains(fragment) }
        }
    }

    @Test func mergeRefusesWhatIsNotOneRun() throws {
        var a = Synthetic.doc([Synthetic.result("matmul.simd", samples: [1e-3])])
        var b = Synthetic.doc([Synthetic.result("softmax.simd", shape: "4x4", samples: [1e-3])])
        a.settings.shard = "1/2"; b.settings.shard = "2/2"
        b.machine.hostname = "other-host"
        let merged = try Shard.merge([a, b], paths: ["a", "b"])
        #expect(merged.cases.count == 2 && merged.shardMachines?.map(\.hostname) == [a.machine.hostname, "other-host"])
        #expect(merged.settings.shard == nil)
        var c = b; c.opbenchCommit = "0123abc"
        #expect { try Shard.merge([a, c], paths: ["a", "c"]) } throws: { "\($0)".contains("mixed commits") }
        #expect { try Shard.merge([a, a], paths: ["a", "a2"]) } throws: { "\($0)".contains("both shard 1/2") }
        var d = b; d.settings.shard = "2/3"
        #expect { try Shard.merge([a, d], paths: ["a", "d"]) } throws: { "\($0)".contains("not parts of one run") }
        var e = b; e.cases = a.cases
        #expect { try Shard.merge([a, e], paths: ["a", "e"]) } throws: { "\($0)".contains("is in both a and e") }
    }
}
