import Harness
import Kernels
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
        let qBytes: Double = 3 * 2 * 18 + 4 * (128 + 6)   // 3 rows × 2 blocks × 18 B, x and y
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

    @Test func everyVariantVerifiesOnASmallShape() throws {
        for op in Op.allCases {
            let text = ["matmul": "5x33x17", "softmax": "3x40", "layernorm": "3x40", "attention": "T=40,H=2,D=8,causal,window=5,global=1", "int4": "3x64x9"][op.rawValue]!
            let w = try Workloads.make(try CaseShape(op: op, text))
            for k in Registry.kernels(for: op) {
                for threads in [1, 2] {
                    try w.runner(variant: k.name, threads: threads)()
                    let v = w.verify()
                    #expect(v.passed, "\(op).\(k.name) \(text): err/tol \(v.worstRatio)")
                    #expect(v.accuracy.maxAbs.isFinite)
                }
            }
        }
    }

    @Test func shapesAreParsedStrictly() {
        let bad: [(Op, String, String)] = [
            (.matmul, "12x", "must have the form D1xD2xD3"), (.softmax, "12x", "'' is not a positive integer"), (.matmul, "0x5x5", "'0'"), (.matmul, "-3", "D1xD2xD3"),
            (.softmax, "4x4x4", "D1xD2"), (.int4, "1x33x4", "multiple of 32"), (.int4, "1x64x4,q8_0", "MxKxN"),
            (.attention, "T=4,H=2", "T=, H= and D="), (.attention, "T=4,H=2,D=4,window=0", "window=0"),
            (.attention, "T=4,H=2,D=4,sparse", "unknown term 'sparse'"), (.attention, "T=4,H=2,D=4,block=2", "go together"),
            (.matmul, "9999999x2x2", "exceeds"),
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
}
