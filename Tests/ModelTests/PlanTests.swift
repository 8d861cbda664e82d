import Kernels
import Model
import Testing

@Suite struct PlanTests {
    @Test func parsesAndPrintsCanonically() throws {
        let p = try Plan.parse("matmul=blas,softmax=naive,layernorm=blas,attention=simd,weights=q4_0,threads=2")
        #expect(p.matmul == "blas" && p.softmax == "naive" && p.layernorm == "blas" && p.attention == "simd")
        #expect(p.weights == .q4_0 && p.threads == 2 && p.int4Variant == "blas")
        #expect(p.description == "matmul=blas,softmax=naive,layernorm=blas,attention=simd,int4=blas,weights=q4_0,threads=2")
        #expect(try Plan.parse(p.description) == p.with(int4: "blas"))
        #expect(try Plan.parse("").description == "matmul=simd,softmax=simd,layernorm=simd,attention=simd,weights=f32")
        let half = try Plan.parse("kv=f16,weights=q4_0")
        #expect(
            half.kv == .f16 && half.description == "matmul=simd,softmax=simd,layernorm=simd,attention=simd,int4=simd,weights=q4_0,kv=f16")
        #expect(try Plan.parse(half.description) == half.with(int4: "simd"))
        // The Llama-family operators: in the text only when they are not simd.
        let llama = try Plan.parse("rope=blas,rmsnorm=naive,swiglu=simd")
        #expect(llama.rope == "blas" && llama.rmsnorm == "naive" && llama.swiglu == "simd")
        #expect(llama.description == "matmul=simd,softmax=simd,layernorm=simd,attention=simd,rmsnorm=naive,rope=blas,weights=f32")
        #expect(try Plan.parse(llama.description) == llama)
    }

    @Test func rejectsBadPlans() {
        expectError(["--plan", "unknown key 'matmull'"]) { _ = try Plan.parse("matmull=simd") }
        expectError(["matmul=fast", "unknown variant", "naive, simd, blas"]) { _ = try Plan.parse("matmul=fast") }
        expectError(["weights=q5_0", "f32, q4_0, q4_1, q8_0, q4_k, q6_k, q4_k_m"]) { _ = try Plan.parse("weights=q5_0") }
        expectError(["key 'softmax' is given twice"]) { _ = try Plan.parse("softmax=simd,softmax=blas") }
        expectError(["int4=simd needs quantized weights"]) { _ = try Plan.parse("int4=simd") }
        expectError(["threads=0"]) { _ = try Plan.parse("threads=0") }
        expectError(["kv=f8", "f32, f16"]) { _ = try Plan.parse("kv=f8") }
        expectError(["term 'simd' must be key=value"]) { _ = try Plan.parse("simd") }
        expectError(["swiglu=blas", "unknown variant", "naive, simd"]) { _ = try Plan.parse("swiglu=blas") }
        expectError(["unknown key 'rop'", "did you mean 'rope'"]) { _ = try Plan.parse("rop=simd") }
    }

    /// Q4_K_M as llama.cpp lays it out for 12 layers: Q6_K for the head and for v and fc2 in
    /// layers 0, 3, 6, 9 (the first eighth: layer 0; every third from there) and 10, 11 (the
    /// last eighth); Q4_K elsewhere; widths that are not whole super-blocks fall back.
    @Test func q4_k_mMix() {
        let s = Plan.Weights.q4_k_m
        #expect(s.format(tensor: "head", layer: nil, layers: 12, k: 768) == .q6_k)
        let more = (0..<12).filter { s.format(tensor: "v", layer: $0, layers: 12, k: 768) == .q6_k }
        #expect(more == [0, 3, 6, 9, 10, 11])
        #expect((0..<12).filter { s.format(tensor: "fc2", layer: $0, layers: 12, k: 3072) == .q6_k } == more)
        #expect((0..<12).allSatisfy { s.format(tensor: "q", layer: $0, layers: 12, k: 768) == .q4_k })
        #expect(s.format(tensor: "q", layer: 1, layers: 12, k: 384) == .q4_1)
        #expect(s.format(tensor: "v", layer: 0, layers: 12, k: 384) == .q8_0)
        #expect(Plan.Weights.q8_0.format(tensor: "q", layer: 1, layers: 6, k: 384) == .q8_0)
        #expect(Plan.Weights.f32.format(tensor: "q", layer: 1, layers: 6, k: 384) == nil)
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
