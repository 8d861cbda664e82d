import Foundation
import Kernels
import Model
import Testing

@Suite struct SafeTensorsTests {
    /// The tensors of synthetic weights, encoded as F32.
    static func encoded(_ w: ModelWeights, dropping: String? = nil, replace: [String: (SafeTensors.DType, [Int], [UInt8])] = [:]) -> Data {
        SafeTensors.encode(
            w.namedTensors().compactMap { t in
                if t.name == dropping { return nil }
                if let r = replace[t.name] { return (t.name, r.0, r.1, r.2) }
                return (t.name, .F32, t.shape, SafeTensors.bytes(t.values))
            })
    }

    @Test(arguments: ["tiny", "tiny-encoder"])
    func roundTripBothNamings(preset: String) throws {
        let cfg = try ModelConfig.preset(preset)
        let w = ModelWeights.synthetic(cfg, seed: 7)
        let file = try SafeTensors(data: Self.encoded(w), path: "mem")
        let back = try ModelWeights.load(cfg, from: file)
        #expect(back.tokenEmbedding == w.tokenEmbedding)
        #expect(back.positionEmbedding == w.positionEmbedding)
        #expect(back.tokenTypeEmbedding == w.tokenTypeEmbedding)
        for (a, b) in zip(back.layers, w.layers) {
            #expect(a.q.weight == b.q.weight && a.k.weight == b.k.weight && a.v.weight == b.v.weight && a.v.bias == b.v.bias)
            #expect(a.proj.weight == b.proj.weight && a.fc1.weight == b.fc1.weight && a.fc2.weight == b.fc2.weight)
            #expect(a.fc2.bias == b.fc2.bias && a.norm1.gamma == b.norm1.gamma && a.norm2.beta == b.norm2.beta)
        }
        #expect(back.finalNorm?.gamma == w.finalNorm?.gamma)
        #expect(back.embeddingNorm?.beta == w.embeddingNorm?.beta)
    }

    @Test func halfAndBFloat16WidenExactly() throws {
        let values: [Float] = [0, -0, 1, -2.5, 65504, 6.103515625e-05, 5.960464477539063e-08, .infinity]
        let f16 = values.flatMap { v -> [UInt8] in
            let b = Float16(v).bitPattern; return [UInt8(b & 0xFF), UInt8(b >> 8)]
        }
        let bf16 = values.flatMap { v -> [UInt8] in
            let b = UInt16(v.bitPattern >> 16); return [UInt8(b & 0xFF), UInt8(b >> 8)]
        }
        let data = SafeTensors.encode([("h", .F16, [8], f16), ("b", .BF16, [2, 4], bf16)], metadata: ["format": "pt"])
        let file = try SafeTensors(data: data, path: "mem")
        #expect(file.metadata["format"] == "pt")
        #expect(try file.floats("h", shape: [8]) == values.map { Float(Float16($0)) })
        // bf16 is the top half of the fp32 bits: widening puts them back with zero low bits.
        #expect(try file.floats("b", shape: [2, 4]) == values.map { Float(bitPattern: $0.bitPattern & 0xFFFF_0000) })
        #expect(try file.floats("b", shape: [2, 4])[4] == 65280)  // 65504 truncated to 8 significant bits
    }

    @Test func strictErrorsNameTheTensorAndValues() throws {
        let cfg = try ModelConfig.preset("tiny")
        let w = ModelWeights.synthetic(cfg, seed: 1)
        let good = Self.encoded(w)
        // Truncated file: the data buffer is shorter than the offsets say.
        expectError(["mem", "tensor 'ln_f.bias'", "outside the", "data buffer"]) {
            _ = try SafeTensors(data: good.prefix(good.count - 10), path: "mem")
        }
        expectError(["shorter than the 8-byte header length"]) { _ = try SafeTensors(data: Data([1, 2, 3]), path: "mem") }
        // Header length past the end.
        var lying = good
        lying.replaceSubrange(0..<8, with: withUnsafeBytes(of: UInt64(good.count).littleEndian) { Data($0) })
        expectError(["header length", "runs past the end"]) { _ = try SafeTensors(data: lying, path: "mem") }
        // Header not JSON.
        let garbage = withUnsafeBytes(of: UInt64(4).littleEndian) { Data($0) } + Data("{{{{".utf8)
        expectError(["not valid JSON"]) { _ = try SafeTensors(data: garbage, path: "mem") }
        // Offsets that lie: a tensor claiming more bytes than its shape needs.
        expectError(["'x'", "hold 8 bytes", "F32 [1] needs 4"]) {
            _ = try SafeTensors(data: Self.header(#"{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,8]}}"#, data: 8), path: "mem")
        }
        expectError(["'x'", "outside the 4-byte data buffer"]) {
            _ = try SafeTensors(data: Self.header(#"{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, data: 4), path: "mem")
        }
        expectError(["overlap"]) {
            _ = try SafeTensors(
                data: Self.header(
                    #"{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"y":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, data: 8
                ), path: "mem")
        }
        expectError(["hole of 4 bytes"]) {
            _ = try SafeTensors(data: Self.header(#"{"x":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, data: 8), path: "mem")
        }
        expectError(["unknown dtype 'F7'"]) {
            _ = try SafeTensors(data: Self.header(#"{"x":{"dtype":"F7","shape":[1],"data_offsets":[0,4]}}"#, data: 4), path: "mem")
        }
        expectError(["\"shape\" must be an array of non-negative integers"]) {
            _ = try SafeTensors(data: Self.header(#"{"x":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, data: 4), path: "mem")
        }
        // Missing tensor, wrong shape, wrong dtype: named by load.
        expectError(["tensor 'h.1.mlp.c_fc.bias'", "missing"]) {
            _ = try ModelWeights.load(cfg, from: SafeTensors(data: Self.encoded(w, dropping: "h.1.mlp.c_fc.bias"), path: "mem"))
        }
        expectError(["tensor 'wpe.weight'", "shape [127, 64], expected [128, 64]"]) {
            let t = [Float](repeating: 0, count: 127 * 64)
            _ = try ModelWeights.load(
                cfg,
                from: SafeTensors(data: Self.encoded(w, replace: ["wpe.weight": (.F32, [127, 64], SafeTensors.bytes(t))]), path: "mem")
            )
        }
        expectError(["tensor 'ln_f.bias'", "dtype I32, expected F32, F16 or BF16"]) {
            _ = try ModelWeights.load(
                cfg,
                from: SafeTensors(
                    data: Self.encoded(w, replace: ["ln_f.bias": (.I32, [64], [UInt8](repeating: 0, count: 256))]), path: "mem"))
        }
    }

    /// A file with header `json` and `data` zero bytes.
    static func header(_ json: String, data: Int) -> Data {
        let j = Data(json.utf8)
        return withUnsafeBytes(of: UInt64(j.count).littleEndian) { Data($0) } + j + Data(count: data)
    }
}
