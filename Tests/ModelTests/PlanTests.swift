import Kernels
import Model
import Testing

@Suite struct PlanTests {
    @Test func parsesAndPrintsCanonically() throws {
        let p = try Plan.parse("matmul=blas,softmax=naive,layernorm=blas,attention=simd,weights=q4_0,threads=2")
        #expect(p.matmul == "blas" && p.softmax == "naive" && p.layernorm == "blas" && p.attention == "simd")
        #expect(p.format == .q4_0 && p.threads == 2 && p.int4Variant == "blas")
        #expect(p.description == "matmul=blas,softmax=naive,layernorm=blas,attention=simd,int4=blas,weights=q4_0,threads=2")
        #expect(try Plan.parse(p.description) == p.with(int4: "blas"))
        #expect(try Plan.parse("").description == "matmul=simd,softmax=simd,layernorm=simd,attention=simd,weights=f32")
        let half = try Plan.parse("kv=f16,weights=q4_0")
        #expect(
            half.kv == .f16 && half.description == "matmul=simd,softmax=simd,layernorm=simd,attention=simd,int4=simd,weights=q4_0,kv=f16")
        #expect(try Plan.parse(half.description) == half.with(int4: "simd"))
    }

    @Test func rejectsBadPlans() {
        expectError(["--plan", "unknown key 'matmull'"]) { _ = try Plan.parse("matmull=simd") }
        expectError(["matmul=fast", "unknown variant", "naive, simd, blas"]) { _ = try Plan.parse("matmul=fast") }
        expectError(["weights=q8_0", "f32, q4_0, q4_1"]) { _ = try Plan.parse("weights=q8_0") }
        expectError(["key 'softmax' is given twice"]) { _ = try Plan.parse("softmax=simd,softmax=blas") }
        expectError(["int4=simd needs weights=q4_0 or weights=q4_1"]) { _ = try Plan.parse("int4=simd") }
        expectError(["threads=0"]) { _ = try Plan.parse("threads=0") }
        expectError(["kv=f8", "f32, f16"]) { _ = try Plan.parse("kv=f8") }
        expectError(["term 'simd' must be key=value"]) { _ = try Plan.parse("simd") }
    }

    @Test func parsesPatterns() throws {
        #expect(try Plan.pattern("all") == .all)
        #expect(try Plan.pattern("window=256,global=4") == AttentionPattern(window: 256, global: 4))
        expectError(["--attention-pattern", "window=0"]) { _ = try Plan.pattern("window=0") }
        expectError(["unknown term 'block'"]) { _ = try Plan.pattern("block=64") }
    }
}

extension Plan {
    func with(int4: String) -> Plan { var p = self; p.int4 = int4; return p }
}
