import Foundation
import Kernels

/// The problem size of one benchmark case, parsed from the command-line string, which is
/// kept verbatim (`text`) so results and reports show what the user wrote.
///
/// - matmul, int4: `MxKxN` — A (or x) is M×K; matmul's B is K×N; int4 weights are N×K
///   (`[out, in]`), so `1x4096x14336` is a decode GEMV against a 14336×4096 weight.
///   matmul takes an optional `,nk` (B stored as a weight W[N×K], the model's linear layers);
///   int4 an optional `,q4_1` (default Q4_0).
/// - softmax, layernorm: `ROWSxCOLS`.
/// - attention: `T=4096,H=12,D=64` plus pattern terms `causal`, `window=256`, `global=4`,
///   `block=64,density=0.125` (a seeded random block mask plus its diagonal).
public struct CaseShape: Hashable, Sendable, CustomStringConvertible {
    public enum Dims: Hashable, Sendable {
        case mkn(m: Int, k: Int, n: Int)
        case rows(rows: Int, cols: Int)
        case attention(t: Int, h: Int, d: Int)
    }

    public let op: Op
    public let text: String
    public let dims: Dims
    /// Attention only.
    public let pattern: AttentionPattern
    /// int4 only.
    public let format: QuantFormat
    /// matmul only: how B is stored.
    public let layout: Matmul.BLayout

    public var description: String { text }

    /// Parses `text` for `op`; throws a `ShapeError` naming what is wrong.
    public init(op: Op, _ text: String) throws {
        let text = text.trimmingCharacters(in: .whitespaces)
        self.op = op
        self.text = text
        var pattern = AttentionPattern.all
        var format = QuantFormat.q4_0
        var layout = Matmul.BLayout.kn
        switch op {
        case .matmul:
            var parts = text.split(separator: ",").map(String.init)
            if parts.count == 2, let l = Matmul.BLayout(rawValue: parts[1]) { layout = l; parts.removeLast() }
            guard parts.count == 1 else { throw ShapeError("matmul shape '\(text)' must be MxKxN or MxKxN,nk") }
            let d = try Shapes.dims(parts[0], count: 3, what: "matmul shape")
            dims = .mkn(m: d[0], k: d[1], n: d[2])
        case .int4:
            var parts = text.split(separator: ",").map(String.init)
            if parts.count == 2, let f = QuantFormat(rawValue: parts[1]) { format = f; parts.removeLast() }
            guard parts.count == 1 else { throw ShapeError("int4 shape '\(text)' must be MxKxN or MxKxN,q4_1") }
            let d = try Shapes.dims(parts[0], count: 3, what: "int4 shape")
            guard d[1] % 32 == 0 else { throw ShapeError("int4 shape '\(text)': K=\(d[1]) must be a multiple of 32") }
            dims = .mkn(m: d[0], k: d[1], n: d[2])
        case .softmax, .layernorm:
            let d = try Shapes.dims(text, count: 2, what: "\(op.rawValue) shape")
            dims = .rows(rows: d[0], cols: d[1])
        case .attention:
            var t: Int?, h: Int?, d: Int?
            var blockSize: Int?, density: Double?
            for term in text.split(separator: ",", omittingEmptySubsequences: false).map(String.init) {
                let kv = term.split(separator: "=", maxSplits: 1).map(String.init)
                func value() throws -> Int {
                    guard kv.count == 2, let v = Int(kv[1]), v > 0 else {
                        throw ShapeError("attention shape '\(text)': '\(term)' needs a positive integer value")
                    }
                    guard v <= Shapes.maxDim else { throw ShapeError("attention shape '\(text)': \(v) exceeds \(Shapes.maxDim)") }
                    return v
                }
                switch kv[0] {
                case "T": t = try value()
                case "H": h = try value()
                case "D": d = try value()
                case "causal" where kv.count == 1: pattern.causal = true
                case "all" where kv.count == 1: break
                case "window": pattern.window = try value()
                case "global": pattern.global = try value()
                case "block": blockSize = try value()
                case "density":
                    guard kv.count == 2, let v = Double(kv[1]), v >= 0, v <= 1 else {
                        throw ShapeError("attention shape '\(text)': density must be a number in [0, 1]")
                    }
                    density = v
                default:
                    throw ShapeError("attention shape '\(text)': unknown term '\(term)' (expected T=, H=, D=, causal, window=, global=, block=, density=)")
                }
            }
            guard let t, let h, let d else { throw ShapeError("attention shape '\(text)' must give T=, H= and D=") }
            if (blockSize == nil) != (density == nil) {
                throw ShapeError("attention shape '\(text)': block= and density= go together")
            }
            if let blockSize, let density {
                pattern.block = .random(size: blockSize, tokens: t, density: density, seed: 1)
            }
            dims = .attention(t: t, h: h, d: d)
        }
        self.pattern = pattern
        self.format = format
        self.layout = layout
    }

    /// Bytes of memory the case needs (inputs, output and the fp64 reference sample);
    /// checked before anything is allocated.
    public var memoryBytes: Double {
        switch dims {
        case let .mkn(m, k, n):
            // int4: the fp32 weights it is quantized from, the GGUF blocks and the GEMV's planes.
            let w = op == .int4 ? Double(n * k) * (4 + 2 * Double(format.blockBytes) / 32) : Double(k * n) * 4
            return Double(m * k + m * n) * 4 + w
        case let .rows(r, c): return Double(r * c) * 8 + Double(c) * 8
        case let .attention(t, h, d): return Double(t * h * d) * 16 + Double(t) * 64 * 4
        }
    }
}
