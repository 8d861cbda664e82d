import Foundation
import Kernels
import Model
import Testing

/// The GGUF reader against a file the `gguf` package wrote (make_gguf_fixture.py), the
/// writer by round trip, and every kind of malformed file refused with the key or tensor named.
@Suite struct GGUFTests {
    static func fixturePath(_ name: String) -> String { Bundle.module.url(forResource: "Fixtures/" + name, withExtension: nil)!.path }

    @Test func readsTheGGUFPackagesFile() throws {
        let g = try GGUF(path: Self.fixturePath("tiny.gguf"))
        #expect(g.version == 3 && g.alignment == 64 && g.dataOffset % 64 == 0)
        #expect(g["general.architecture"] == .string("llama"))
        #expect(g["opbench.string"] == .string("gr\u{fc}\u{df}e, GGUF"))
        #expect(g["opbench.u8"] == .u8(200) && g["opbench.i8"] == .i8(-100))
        #expect(g["opbench.u16"] == .u16(60000) && g["opbench.i16"] == .i16(-30000))
        #expect(g["opbench.i32"] == .i32(-2_000_000_000) && g["opbench.f32"] == .f32(1.5) && g["opbench.bool"] == .bool(true))
        #expect(g["opbench.u64"] == .u64((1 << 63) + 5) && g["opbench.i64"] == .i64(-(1 << 62)) && g["opbench.f64"] == .f64(-0.125))
        #expect(g["opbench.ints"] == .array(.i32, [.i32(1), .i32(2), .i32(3)]))
        #expect(g["opbench.strings"] == .array(.string, [.string("a"), .string(""), .string("long string")]))
        #expect(g["opbench.nested"] == .array(.array, [.array(.i32, [.i32(1), .i32(2)]), .array(.i32, [.i32(3)])]))
        let expected: [(String, [Int], GGUF.TensorType)] = [
            ("t.f32", [40, 3], .f32), ("t.f16", [32, 2], .f16), ("t.q8_0", [64, 4], .quantized(.q8_0)),
            ("t.q4_0", [64, 2], .quantized(.q4_0)), ("t.q4_k", [256, 3], .quantized(.q4_k)), ("t.q6_k", [512, 2], .quantized(.q6_k)),
        ]
        #expect(g.tensors.map(\.name) == expected.map(\.0))
        let raw = try Data(contentsOf: URL(fileURLWithPath: Self.fixturePath("tiny_values.f32")))
        var values = raw.withUnsafeBytes { b in
            (0..<(raw.count / 4)).map { Float(bitPattern: UInt32(littleEndian: b.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) }
        }[...]
        for (t, e) in zip(g.tensors, expected) {
            #expect(t.dims == e.1 && t.type == e.2, "\(t.name)")
            let m = try g.matrix(t)
            #expect(m.rows == e.1[1] && m.cols == e.1[0])
            let want = values.prefix(t.elements)
            values = values.dropFirst(t.elements)
            let bad = zip(m.dense, want).filter { $0.0.bitPattern != $0.1.bitPattern }.count
            #expect(bad == 0, "\(t.name): \(bad) values differ from gguf's")
        }
        #expect(values.isEmpty)
    }

    /// encode → parse gives back the metadata, the tensors and their bytes.
    @Test func writerRoundTrips() throws {
        let w = Matrix(rows: 3, cols: 256) { r, c in Float(r * 256 + c).squareRoot() * (c % 2 == 0 ? 1 : -1) }
        let q = try w.withView { try Int4.quantize($0, format: .q4_k) }
        let f32 = w.dense.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) }
        let meta: [(key: String, value: GGUF.Value)] = [
            ("general.architecture", .string("gpt2")), ("gpt2.block_count", .u32(12)),
            ("tokenizer.ggml.tokens", .array(.string, [.string("<s>"), .string("é")])),
            ("x.nested", .array(.array, [.array(.u8, [.u8(1)])])),
        ]
        let data = try GGUF.encode(
            metadata: meta,
            tensors: [
                .init(name: "a", dims: [256, 3], type: .f32, bytes: f32),
                .init(name: "b", dims: [256, 3], type: .quantized(.q4_k), bytes: q.bytes),
            ])
        let g = try GGUF(data: data, path: "mem.gguf")
        #expect(g.metadata.map(\.key) == meta.map(\.key) && g.metadata.map(\.value) == meta.map(\.value))
        #expect(try g.matrix(g.tensor("a")!) == w)
        #expect(try g.quantized(g.tensor("b")!, format: .q4_k) == q)
    }

    // MARK: - malformed files

    /// Raw GGUF bytes, built piece by piece so that any field can lie.
    struct Raw {
        var bytes: [UInt8] = []
        mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
        mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
        mutating func str(_ s: String) { u64(UInt64(s.utf8.count)); bytes += Array(s.utf8) }
        mutating func header(version: UInt32 = 3, tensors: UInt64, kvs: UInt64) {
            bytes += Array("GGUF".utf8); u32(version); u64(tensors); u64(kvs)
        }
        mutating func tensor(_ name: String, dims: [UInt64], type: UInt32, offset: UInt64) {
            str(name); u32(UInt32(dims.count))
            for d in dims { u64(d) }
            u32(type); u64(offset)
        }
        mutating func pad(_ a: Int = 32) { while bytes.count % a != 0 { bytes.append(0) } }
        var data: Data { Data(bytes) }
    }

    /// One F32 tensor "w" of 8 floats, optionally after one metadata entry.
    static func file(kv: ((inout Raw) -> Void)? = nil, dims: [UInt64] = [8], type: UInt32 = 0, offset: UInt64 = 0, data: Int = 32) -> Data {
        var r = Raw()
        r.header(tensors: 1, kvs: kv == nil ? 0 : 1)
        kv?(&r)
        r.tensor("w", dims: dims, type: type, offset: offset)
        r.pad()
        r.bytes += [UInt8](repeating: 0, count: data)
        return r.data
    }

    @Test func validBaseFileParses() throws {
        let g = try GGUF(data: Self.file(), path: "ok.gguf")
        #expect(g.tensors.count == 1 && g.tensors[0].range.count == 32)
    }

    @Test func malformedFilesAreRefusedByName() {
        func refuse(_ data: Data, _ fragments: [String], sourceLocation: SourceLocation = #_sourceLocation) {
            expectError(["bad.gguf"] + fragments, sourceLocation: sourceLocation) { _ = try GGUF(data: data, path: "bad.gguf") }
        }
        var r = Raw()
        r.bytes = Array("GGML".utf8) + [3, 0, 0, 0]
        refuse(r.data, ["bad magic"])
        refuse(Data(), ["magic", "needs 4 bytes"])
        for v: UInt32 in [1, 4, 0xFFFF_FFFF] {
            r = Raw(); r.header(version: v, tensors: 0, kvs: 0)
            refuse(r.data, ["version \(v)"])
        }
        r = Raw(); r.header(tensors: 1 << 60, kvs: 0)
        refuse(r.data, ["tensor count", "cannot fit"])
        r = Raw(); r.header(tensors: 0, kvs: UInt64.max)
        refuse(r.data, ["metadata count", "cannot fit"])
        // Metadata that lies.
        refuse(
            Self.file {
                $0.u64(1 << 40); $0.bytes += [0x61]
            }, ["metadata key", "string length 1099511627776"])
        refuse(
            Self.file {
                $0.u64(2); $0.bytes += [0xC3, 0x28]; $0.u32(4); $0.u32(1)
            }, ["metadata key", "not valid UTF-8"])
        refuse(
            Self.file {
                $0.str("k"); $0.u32(13)
            }, ["'k'", "unknown metadata value type 13"])
        refuse(
            Self.file {
                $0.str("k"); $0.u32(7); $0.bytes += [2]
            }, ["'k'", "bool value 2"])
        refuse(
            Self.file {
                $0.str("k"); $0.u32(8); $0.u64(1 << 50)
            }, ["'k'", "string length"])
        refuse(
            Self.file {
                $0.str("k"); $0.u32(9); $0.u32(4); $0.u64(1 << 40)
            }, ["'k'", "array length", "cannot fit"])
        refuse(
            Self.file {
                $0.str("k"); $0.u32(9); $0.u32(99); $0.u64(1)
            }, ["'k'", "unknown metadata value type 99"])
        refuse(
            Self.file { raw in
                raw.str("k"); raw.u32(9)  // an array of arrays of … nine deep
                for _ in 0..<9 { raw.u32(9); raw.u64(1) }
                raw.u32(4); raw.u64(0)
            }, ["'k'", "nested deeper than 8"])
        refuse(
            Self.file {
                $0.str("general.alignment"); $0.u32(4); $0.u32(48)
            }, ["general.alignment", "48 is not a power of two"])
        refuse(
            Self.file {
                $0.str("general.alignment"); $0.u32(4); $0.u32(0)
            }, ["general.alignment", "0 is not a power of two"])
        refuse(
            Self.file {
                $0.str("general.alignment"); $0.u32(10); $0.u64(32)
            }, ["general.alignment", "must be a u32"])
        // Duplicates.
        r = Raw(); r.header(tensors: 0, kvs: 2)
        r.str("a"); r.u32(4); r.u32(1); r.str("a"); r.u32(4); r.u32(2)
        refuse(r.data, ["'a'", "appears twice"])
        r = Raw(); r.header(tensors: 2, kvs: 0)
        r.tensor("w", dims: [8], type: 0, offset: 0); r.tensor("w", dims: [8], type: 0, offset: 32); r.pad();
        r.bytes += [UInt8](repeating: 0, count: 64)
        refuse(r.data, ["'w'", "appears twice"])
        // Tensor infos that lie.
        refuse(Self.file(dims: []), ["'w'", "0 dimensions"])
        refuse(Self.file(dims: [1, 1, 1, 1, 1]), ["'w'", "5 dimensions"])
        refuse(Self.file(dims: [8, 0]), ["'w'", "dimension 1 is 0"])
        refuse(Self.file(dims: [1 << 31, 1 << 31, 1 << 31]), ["'w'", "overflows"])
        refuse(Self.file(dims: [UInt64.max]), ["'w'", "dimension 0 is"])
        refuse(Self.file(type: 99), ["'w'", "unknown ggml type 99"])
        refuse(Self.file(type: 13), ["'w'", "Q5_K is not supported"])
        refuse(Self.file(dims: [48], type: 12), ["'w'", "row length 48", "256-weight block"])
        refuse(Self.file(offset: 4), ["'w'", "offset 4 is not a multiple of the alignment 32"])
        refuse(Self.file(offset: 1 << 62), ["'w'", "past the end of the file"])
        refuse(Self.file(data: 31), ["'w'", "32 bytes", "past the end"])
        refuse(Self.file(dims: [1 << 30, 1 << 20]), ["'w'", "past the end"])
        r = Raw(); r.header(tensors: 2, kvs: 0)
        r.tensor("a", dims: [16], type: 0, offset: 0); r.tensor("b", dims: [8], type: 0, offset: 32); r.pad();
        r.bytes += [UInt8](repeating: 0, count: 64)
        refuse(r.data, ["'b'", "overlap tensor 'a'"])
    }

    /// Every prefix of a valid file is refused (none crashes or reads past its end).
    @Test func everyTruncationIsRefused() throws {
        let w = Matrix(rows: 2, cols: 32) { r, c in Float(r - c) }
        let q = try w.withView { try Int4.quantize($0, format: .q8_0) }
        let full = try GGUF.encode(
            metadata: [("general.architecture", .string("gpt2")), ("n", .array(.string, [.string("x"), .string("yz")]))],
            tensors: [.init(name: "q", dims: [32, 2], type: .quantized(.q8_0), bytes: q.bytes)])
        // The padding after the last tensor's bytes may go; nothing before it.
        let end = try GGUF(data: full, path: "full.gguf").tensors[0].range.upperBound
        #expect(end < full.count)
        _ = try GGUF(data: full.prefix(end), path: "cut.gguf")
        for n in 0..<end {
            #expect(throws: ModelError.self, "prefix of \(n) bytes") { _ = try GGUF(data: full.prefix(n), path: "cut.gguf") }
        }
    }

    /// Version 2 has version 3's layout (both use 64-bit counts): a file that says 2 reads
    /// the same; version 1 (32-bit counts) is refused.
    @Test func version2Reads() throws {
        var data = try GGUF.encode(
            metadata: [("general.architecture", .string("gpt2"))],
            tensors: [.init(name: "w", dims: [4], type: .f32, bytes: [UInt8](repeating: 0, count: 16))])
        data[4] = 2
        let g = try GGUF(data: data, path: "v2.gguf")
        #expect(g.version == 2 && g.tensors.map(\.name) == ["w"] && g["general.architecture"] == .string("gpt2"))
        data[4] = 1
        expectError(["v1.gguf", "version 1"]) { _ = try GGUF(data: data, path: "v1.gguf") }
    }

    @Test func missingFile() {
        expectError(["/nonexistent/x.gguf", "no such file"]) { _ = try GGUF(path: "/nonexistent/x.gguf") }
    }
}
