import Harness
import Kernels
import TestSupport
import Testing

@Suite struct WorkloadTests {
    /// Analytic counts, written out from each operator's definition.
    @Test func flopAndByteCounts() throws {
        let mm = try Workloads.make(try CaseShape(op: .matmul, "3x5x7"))
        let mmFlops: Double = 2 * 3 * 5 * 7
        #expect(mm.flops == mmFlops)
        let mmBytes: Double = 4 * (15 + 35 + 21)
        #expect(mm.bytes == mmBytes)
        let sm = try Workloads.make(try CaseShape(op: .softmax, "4x10"))
        #expect(sm.flops == 200 && sm.bytes == 320)
        let ln = try Workloads.make(try CaseShape(op: .layernorm, "4x10"))
        #expect(ln.flops == 320 && ln.bytes == 400)
        let q = try Workloads.make(try CaseShape(op: .int4, "2x64x3"))
        #expect(q.flops == 768)
        let qBytes: Double = 3 * 2 * 18 + 4 * (128 + 6)  // 3 rows × 2 blocks × 18 B, x and y
        #expect(q.bytes == qBytes)
        let q1 = try Workloads.make(try CaseShape(op: .int4, "1x64x3,q4_1"))
        let q1Bytes: Double = 3 * 2 * 20 + 4 * (64 + 3)
        #expect(q1.bytes == q1Bytes)
        // Causal over T=8: 36 allowed pairs; 4·D·H per pair.
        let at = try Workloads.make(try CaseShape(op: .attention, "T=8,H=2,D=4,causal"))
        let atFlops: Double = 4 * 4 * 2 * 36, atBytes: Double = 16 * 8 * 2 * 4
        #expect(at.flops == atFlops)
        #expect(at.bytes == atBytes)
        // Window 2, bidirectional over T=5: |i−j| < 2 → 5 + 2·4 = 13 pairs.
        let w = try Workloads.make(try CaseShape(op: .attention, "T=5,H=1,D=2,window=2"))
        let wFlops: Double = 4 * 2 * 13
        #expect(w.flops == wFlops)
    }

    /// Every registered variant of every registered operator on its spec's verify shapes.
    @Test(arguments: Operators.names)
    func everyVariantVerifies(op: String) throws {
        let spec = try Operators.named(op)
        #expect(!spec.kernels.isEmpty && !spec.shapes.verify.isEmpty)
        for text in spec.shapes.verify {
            let shape = try spec.shape(text)
            let w = try Workloads.make(shape)
            for k in spec.kernels {
                // A variant that does not take the shape refuses it with a typed error.
                if shape.unsupported(variant: k.name) != nil {
                    #expect(throws: KernelError.self) { try w.runner(variant: k.name, threads: 1)() }
                    continue
                }
                for threads in [1, 2] {
                    try w.runner(variant: k.name, threads: threads)()
                    let v = w.verify()
                    #expect(v.passed, "\(op).\(k.name) \(text): err/tol \(v.worstRatio)")
                    #expect(v.accuracy.maxAbs.isFinite)
                }
            }
        }
    }

    /// Each spec's shape sets parse, and its canonical spelling parses back to itself.
    @Test(arguments: Operators.names)
    func shapeSetsParseAndPrintCanonically(op: String) throws {
        let spec = try Operators.named(op)
        let sets = spec.shapes
        for text in sets.verify + sets.quick + sets.full + [sets.representative, sets.ablation] {
            let shape = try spec.shape(text)
            #expect(shape.canonical == text, "\(op) '\(text)' prints as '\(shape.canonical)'")
            #expect(try spec.shape(shape.canonical).canonical == shape.canonical)
            #expect(shape.flops > 0 && shape.bytes > 0 && shape.memoryBytes >= shape.bytes / 2)
        }
        if !spec.ablation.isEmpty { #expect(try spec.shape(sets.ablation).ablationRefusal == nil) }
    }

    /// The closed-form pair count equals a brute-force count over `allows` for every kind of
    /// pattern, including windows that reach past the ends and globals inside the window.
    @Test func attentionPairCountsMatchBruteForce() throws {
        let spec = AttentionSpec()
        for text in [
            "T=70,H=1,D=1", "T=70,H=1,D=1,causal", "T=70,H=1,D=1,window=5", "T=70,H=1,D=1,causal,window=5",
            "T=70,H=1,D=1,global=3", "T=70,H=1,D=1,causal,global=3", "T=70,H=1,D=1,window=4,global=9",
            "T=70,H=1,D=1,causal,window=100,global=2", "T=70,H=1,D=1,causal,window=1", "T=70,H=1,D=1,block=8,density=0.3",
            "T=70,H=1,D=1,causal,window=6,global=2,block=16,density=0.2",
        ] {
            let dims = try spec.parse(text)
            var pairs = 0.0
            for i in 0..<70 { for j in 0..<70 where dims.pattern.allows(i, j) { pairs += 1 } }
            #expect(spec.flops(dims) == 4 * pairs, "\(text): \(spec.flops(dims) / 4) pairs counted, \(pairs) allowed")
        }
        // A long windowed sequence is counted in O(T): this would take minutes by tiles.
        let long = try spec.parse("T=1048576,H=1,D=1,causal,window=256,global=4")
        #expect(spec.flops(long) > 0)
    }

    /// `,packed`: W[N×K] as `,nk`, packed before timing; its own canonical text (a case apart
    /// from `,nk` in results), the same FLOPs and traffic, and the panels in its memory.
    @Test func packedMatmulShapes() throws {
        let spec = MatmulSpec()
        let packed = try spec.parse("12x768x100,packed"), plain = try spec.parse("12x768x100,nk")
        #expect(packed.packed && packed.layout == .nk && !plain.packed)
        #expect(spec.canonical(packed) == "12x768x100,packed" && spec.canonical(plain) == "12x768x100,nk")
        #expect(spec.flops(packed) == spec.flops(plain) && spec.bytes(packed) == spec.bytes(plain))
        #expect(spec.memoryBytes(packed) - spec.memoryBytes(plain) == 4 * 768 * 128)
        #expect(spec.tuningKey(packed, threads: 1) == spec.tuningKey(plain, threads: 1))
    }

    @Test func shapesAreParsedStrictly() {
        let bad: [(Op, String, String)] = [
            (.attention, "", "unknown term ''"), (.attention, ",", "unknown term ''"), (.attention, "=", "unknown term '='"),
            (.attention, "T=8,H=1,D=4,", "unknown term ''"), (.attention, "T=8,,H=1,D=4", "unknown term ''"),
            (.matmul, ",64x64x64", "MxKxN"), (.matmul, "64x64x64,", "MxKxN"), (.matmul, "64x64x64,packed,nk", "MxKxN"),
            (.matmul, "64x64x64,nk,packed", "MxKxN"), (.matmul, "64x64x64,pack", "MxKxN"),
            (.attention, "T=1048576,H=1,D=1,block=1,density=0.5", "block masks are offered up to"),
            (.attention, "T=16384,H=1,D=1,block=1,density=0", "block mask is larger"),
            (.matmul, "12x", "must have the form D1xD2xD3"), (.softmax, "12x", "'' is not a positive integer"), (.matmul, "0x5x5", "'0'"),
            (.matmul, "-3", "D1xD2xD3"),
            (.softmax, "4x4x4", "D1xD2"), (.int4, "1x33x4", "multiple of 32"), (.int4, "1x64x4,q5_0", "MxKxN"),
            (.int4, "1x64x4,q4_k", "multiple of 256"),
            (.attention, "T=4,H=2", "T=, H= and D="), (.attention, "T=4,H=2,D=4,window=0", "window=0"),
            (.attention, "T=4,H=2,D=4,sparse", "unknown term 'sparse'"), (.attention, "T=4,H=2,D=4,block=2", "go together"),
            (.matmul, "9999999x2x2", "exceeds"),
            // Grouped-query and decode terms.
            (.attention, "T=8,H=4,KV=3,D=4", "KV=3 must divide H=4"), (.attention, "T=8,H=4,KV=0,D=4", "'KV=0' needs a positive"),
            (.attention, "T=8,Tq=9,H=1,D=4", "Tq=9 queries exceed T=8"), (.attention, "T=8,Tq=,H=1,D=4", "'Tq=' needs a positive"),
            (.attention, "T=8,H=4,KV=2,KV=2,D=4,kv=2", "unknown term 'kv=2'"),
        ]
        for (op, text, fragment) in bad {
            do {
                _ = try CaseShape(op: op, text)
                Issue.record("\(op) '\(text)' should be refused")
            } catch {
                #expect("\(error)".contains(fragment), "\(op) '\(text)': '\(error)' should mention '\(fragment)'")
            }
        }
        #expect(throws: ShapeError.self) { try Workloads.make(try CaseShape(op: .matmul, "1000000x1000000x2")) }
    }

    /// The grouped-query and decode terms: canonical text (KV and Tq only when they differ from
    /// H and T), FLOPs over the Tq query rows only, and bytes from the K/V heads.
    @Test func groupedQueryAndDecodeShapes() throws {
        let gqa = try CaseShape(op: .attention, "KV=8,T=4096,H=32,D=64,Tq=1,causal")
        #expect(gqa.canonical == "T=4096,Tq=1,H=32,KV=8,D=64,causal")
        #expect(try CaseShape(op: .attention, "T=64,Tq=64,H=4,KV=4,D=8").canonical == "T=64,H=4,D=8")
        // One causal query row sees all 4096 keys: 4·D·H FLOPs per key.
        #expect(gqa.flops == 4 * 64 * 32 * 4096)
        // Q and out [1 × 32·64], K and V [4096 × 8·64], fp32.
        #expect(gqa.bytes == 4 * (2 * 32 * 64 + 2 * 4096 * 8 * 64))
        let mha = try CaseShape(op: .attention, "T=4096,Tq=1,H=32,D=64,causal")
        #expect(mha.flops == gqa.flops && mha.bytes > 3.9 * gqa.bytes)
    }

    /// Cold runs rotate over enough input copies to exceed the last-level cache 4 times (at
    /// most `coldCopiesLimit`), are placed against DRAM, say so in every result, and still
    /// check the output of the copy they verify.
    @Test func coldCacheRunsRotateOverCopies() throws {
        var machine = Synthetic.machine
        machine.caches = ["L1d": "32K", "L2": "1024K", "L3": "32768K"]
        machine.ceilings = [RooflineTests.ceiling]
        let small = try CaseShape(op: .softmax, "64x64")
        #expect(Bench.coldCopies(small, machine: machine) == BenchOptions.coldCopiesLimit)
        let gemv = try CaseShape(op: .int4, "1x4096x14336")
        #expect(Bench.coldCopies(gemv, machine: machine) == 5, "4 × 32 MiB over 33.1 MB of blocks, x and y")
        var options = BenchOptions()
        options.cache = .cold
        options.minTime = 0.02
        options.repetitions = 3
        let shape = try CaseShape(op: .softmax, "256x256")
        let cases = ["simd", "naive"].map { BenchCase(variant: VariantID(op: .softmax, variant: $0), shape: shape, threads: 1) }
        let results = try Bench.run(cases, options: options, machine: machine)
        for r in results {
            let what = "\(r.key): \(r.cache ?? "-") \(r.ceiling ?? "-")"
            #expect(r.cache == "cold" && r.ceiling == "DRAM-rw" && r.accuracyPass, "\(what)")
        }
        #expect(throws: ShapeError.self) { try Workloads.checkMemory(try CaseShape(op: .matmul, "8192x8192x8192"), copies: 4096) }
    }
}
