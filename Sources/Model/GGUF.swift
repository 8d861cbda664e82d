import Foundation
import Kernels

/// A strict reader and a writer for GGUF files (versions 3 and 2), the model format of
/// llama.cpp and ggml.
///
/// Layout (all little-endian): the magic `GGUF`, a u32 version, a u64 tensor count, a u64
/// metadata count; the metadata as (string key, u32 type, value); the tensor infos as
/// (string name, u32 dimension count, u64 dimensions — innermost first, so a [out, in]
/// weight is stored as (in, out) — u32 ggml type, u64 offset into the data section); then
/// padding to `general.alignment` (default 32) and the data section. A string is a u64
/// byte count and UTF-8 bytes; an array a u32 element type, a u64 count and the elements
/// (arrays may nest).
///
/// Strict means every count, length and offset is checked against the bytes that are
/// there before anything is allocated; keys and tensor names are unique and valid UTF-8;
/// the alignment is a power of two; every tensor has 1–4 positive dimensions whose element
/// and byte counts do not overflow, a type this reader knows (others are refused by their
/// ggml name), rows of whole blocks, an aligned offset, and bytes inside the file that no
/// other tensor's overlap. Anything else is a `ModelError.weights` naming the file, the key
/// or tensor, and the byte offset. The file is memory-mapped, not read into memory.
public struct GGUF: Sendable {
    /// Metadata value types (`gguf_type`).
    public enum ValueType: UInt32, Sendable, CaseIterable {
        case u8 = 0, i8, u16, i16, u32, i32, f32, bool, string, array, u64, i64, f64

        /// Bytes of a scalar value; strings and arrays have variable size.
        var size: Int? {
            switch self {
            case .u8, .i8, .bool: 1
            case .u16, .i16: 2
            case .u32, .i32, .f32: 4
            case .u64, .i64, .f64: 8
            case .string, .array: nil
            }
        }
    }

    /// A metadata value.
    public indirect enum Value: Sendable, Equatable, CustomStringConvertible {
        case u8(UInt8), i8(Int8), u16(UInt16), i16(Int16), u32(UInt32), i32(Int32), f32(Float), bool(Bool)
        case string(String)
        case array(ValueType, [Value])
        case u64(UInt64), i64(Int64), f64(Double)

        public var type: ValueType {
            switch self {
            case .u8: .u8
            case .i8: .i8
            case .u16: .u16
            case .i16: .i16
            case .u32: .u32
            case .i32: .i32
            case .f32: .f32
            case .bool: .bool
            case .string: .string
            case .array: .array
            case .u64: .u64
            case .i64: .i64
            case .f64: .f64
            }
        }

        /// The value as an integer, for any integer type that holds it.
        public var int: Int? {
            switch self {
            case .u8(let v): Int(v)
            case .i8(let v): Int(v)
            case .u16(let v): Int(v)
            case .i16(let v): Int(v)
            case .u32(let v): Int(v)
            case .i32(let v): Int(v)
            case .u64(let v): Int(exactly: v)
            case .i64(let v): Int(v)
            default: nil
            }
        }

        /// The value as a double, for the float types.
        public var double: Double? {
            switch self {
            case .f32(let v): Double(v)
            case .f64(let v): v
            default: nil
            }
        }

        public var string: String? { if case .string(let s) = self { s } else { nil } }

        public var description: String {
            switch self {
            case .string(let s): "\"\(s)\""
            case .array(let t, let items):
                items.count <= 8
                    ? "[" + items.map(\.description).joined(separator: ", ") + "]"
                    : "[\(items.count) × \(t)]"
            case .u8(let v): "\(v)"
            case .i8(let v): "\(v)"
            case .u16(let v): "\(v)"
            case .i16(let v): "\(v)"
            case .u32(let v): "\(v)"
            case .i32(let v): "\(v)"
            case .f32(let v): "\(v)"
            case .bool(let v): "\(v)"
            case .u64(let v): "\(v)"
            case .i64(let v): "\(v)"
            case .f64(let v): "\(v)"
            }
        }
    }

    /// Tensor types this reader runs: floats, and the block formats of `QuantFormat`.
    public enum TensorType: Sendable, Equatable, CustomStringConvertible {
        case f32, f16, bf16
        case quantized(QuantFormat)

        /// The ggml type number.
        public var ggmlType: UInt32 {
            switch self {
            case .f32: 0
            case .f16: 1
            case .bf16: 30
            case .quantized(let f): f.ggmlType
            }
        }

        public init?(ggmlType t: UInt32) {
            switch t {
            case 0: self = .f32
            case 1: self = .f16
            case 30: self = .bf16
            default:
                guard let f = QuantFormat.allCases.first(where: { $0.ggmlType == t }) else { return nil }
                self = .quantized(f)
            }
        }

        /// Elements per block (1 for floats) and bytes per block.
        public var block: (elements: Int, bytes: Int) {
            switch self {
            case .f32: (1, 4)
            case .f16, .bf16: (1, 2)
            case .quantized(let f): (f.blockSize, f.blockBytes)
            }
        }

        public var description: String {
            switch self {
            case .f32: "F32"
            case .f16: "F16"
            case .bf16: "BF16"
            case .quantized(let f): f.rawValue.uppercased()
            }
        }

        /// ggml's names of the types this reader refuses (so the error can name them).
        static let otherNames: [UInt32: String] = [
            6: "Q5_0", 7: "Q5_1", 9: "Q8_1", 10: "Q2_K", 11: "Q3_K", 13: "Q5_K", 15: "Q8_K", 16: "IQ2_XXS", 17: "IQ2_XS",
            18: "IQ3_XXS", 19: "IQ1_S", 20: "IQ4_NL", 21: "IQ3_S", 22: "IQ2_S", 23: "IQ4_XS", 24: "I8", 25: "I16", 26: "I32",
            27: "I64", 28: "F64", 29: "IQ1_M", 34: "TQ1_0", 35: "TQ2_0", 39: "MXFP4",
        ]
    }

    /// One tensor: its name, dimensions innermost first (ggml's `ne`), type and bytes.
    public struct Tensor: Sendable, Equatable {
        public let name: String
        /// ne[0] (the row length, contiguous) first.
        public let dims: [Int]
        public let type: TensorType
        /// Byte range in the file.
        public let range: Range<Int>

        public var elements: Int { dims.reduce(1, *) }
        /// Rows × columns of the tensor as a matrix: (product of dims[1...], dims[0]).
        public var matrixShape: (rows: Int, cols: Int) { (elements / dims[0], dims[0]) }
    }

    /// Most dimensions a ggml tensor has.
    public static let maxDims = 4
    /// Deepest nesting of arrays accepted.
    public static let maxArrayDepth = 8

    public let path: String
    public let version: UInt32
    /// The metadata in file order.
    public let metadata: [(key: String, value: Value)]
    public let tensors: [Tensor]
    public let alignment: Int
    /// Where the data section starts.
    public let dataOffset: Int
    private let data: Data
    private let keyIndex: [String: Int]
    private let tensorIndex: [String: Int]

    /// Memory-maps and validates `path`.
    public init(path: String) throws {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw ModelError.weights(path: path, tensor: "(file)", problem: "no such file")
        }
        guard !isDir.boolValue else { throw ModelError.weights(path: path, tensor: "(file)", problem: "is a directory, expected a file") }
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped) } catch {
            throw ModelError.weights(path: path, tensor: "(file)", problem: "cannot be read (\(error.localizedDescription))")
        }
        try self.init(data: data, path: path)
    }

    /// Validates `data` (the bytes of a GGUF file); `path` names it in errors.
    public init(data: Data, path: String) throws {
        self.path = path
        self.data = data
        var r = Reader(data: data, path: path)
        let magic = try r.bytes(4, what: "magic")
        guard magic == Array("GGUF".utf8) else {
            throw r.error("(header)", "bad magic \(magic.map { String(format: "%02x", $0) }.joined()), expected 'GGUF' (47475546)")
        }
        let version = try r.u32("version")
        guard version == 3 || version == 2 else {
            throw r.error("(header)", "GGUF version \(version) is not supported (versions 2 and 3 are)")
        }
        let tensorCount = try r.count("tensor count", minBytesEach: 8 + 4 + 8 + 4 + 8)
        let kvCount = try r.count("metadata count", minBytesEach: 8 + 4 + 1)
        var metadata: [(key: String, value: Value)] = []
        var keyIndex: [String: Int] = [:]
        for _ in 0..<kvCount {
            let at = r.offset
            let key = try r.string("metadata key")
            guard keyIndex[key] == nil else { throw r.error(key, "metadata key appears twice (again at byte \(at))") }
            let type = try r.valueType(key)
            let value = try r.value(type, key: key, depth: 0)
            keyIndex[key] = metadata.count
            metadata.append((key, value))
        }
        var alignment = 32
        if let i = keyIndex["general.alignment"] {
            guard case .u32(let a) = metadata[i].value else {
                throw r.error("general.alignment", "must be a u32, found \(metadata[i].value.type)")
            }
            guard a > 0, a & (a - 1) == 0 else { throw r.error("general.alignment", "\(a) is not a power of two") }
            alignment = Int(a)
        }
        struct Info { let name: String, dims: [Int], type: TensorType, offset: Int, bytes: Int }
        var infos: [Info] = []
        var tensorIndex: [String: Int] = [:]
        for _ in 0..<tensorCount {
            let name = try r.string("tensor name")
            guard tensorIndex[name] == nil else { throw r.error(name, "tensor name appears twice") }
            let n = try r.u32("\(name): dimension count")
            guard (1...UInt32(Self.maxDims)).contains(n) else {
                throw r.error(name, "\(n) dimensions (a ggml tensor has 1 to \(Self.maxDims))")
            }
            var dims: [Int] = []
            var elements = 1
            for d in 0..<Int(n) {
                let v = try r.u64("\(name): dimension \(d)")
                guard v > 0, let dim = Int(exactly: v) else { throw r.error(name, "dimension \(d) is \(v)") }
                let (e, o) = elements.multipliedReportingOverflow(by: dim)
                guard !o, e <= Int(Int64.max) >> 4 else { throw r.error(name, "element count overflows (dimensions \(dims + [dim]))") }
                dims.append(dim); elements = e
            }
            let rawType = try r.u32("\(name): type")
            guard let type = TensorType(ggmlType: rawType) else {
                let known = TensorType.otherNames[rawType].map { "ggml type \($0)" } ?? "unknown ggml type \(rawType)"
                throw r.error(name, "\(known) is not supported (F32, F16, BF16, \(QuantFormat.names.uppercased()) are)")
            }
            let (per, bytesPer) = type.block
            guard dims[0] % per == 0 else {
                throw r.error(name, "row length \(dims[0]) is not a multiple of \(type)'s \(per)-weight block")
            }
            let offset = try r.u64("\(name): offset")
            guard let off = Int(exactly: offset), off % alignment == 0 else {
                throw r.error(name, "data offset \(offset) is not a multiple of the alignment \(alignment)")
            }
            tensorIndex[name] = infos.count
            infos.append(Info(name: name, dims: dims, type: type, offset: off, bytes: elements / per * bytesPer))
        }
        let dataOffset = (r.offset + alignment - 1) / alignment * alignment
        guard dataOffset <= data.count else {
            throw r.error("(header)", "the data section would start at byte \(dataOffset), past the end of the \(data.count)-byte file")
        }
        var tensors: [Tensor] = []
        for info in infos {
            let (start, o1) = dataOffset.addingReportingOverflow(info.offset)
            let (end, o2) = start.addingReportingOverflow(info.bytes)
            guard !o1, !o2, end <= data.count else {
                throw r.error(
                    info.name, "\(info.bytes) bytes at data offset \(info.offset) run past the end of the file (\(data.count) bytes)")
            }
            tensors.append(Tensor(name: info.name, dims: info.dims, type: info.type, range: start..<end))
        }
        let sorted = tensors.sorted { $0.range.lowerBound < $1.range.lowerBound }
        for (a, b) in zip(sorted, sorted.dropFirst()) where b.range.lowerBound < a.range.upperBound {
            throw r.error(b.name, "its bytes \(b.range) overlap tensor '\(a.name)' (\(a.range))")
        }
        self.version = version; self.metadata = metadata; self.tensors = tensors
        self.alignment = alignment; self.dataOffset = dataOffset
        self.keyIndex = keyIndex; self.tensorIndex = tensorIndex
    }

    /// The metadata value of `key`, if present.
    public subscript(key: String) -> Value? { keyIndex[key].map { metadata[$0].value } }

    /// The tensor `name`, if present.
    public func tensor(_ name: String) -> Tensor? { tensorIndex[name].map { tensors[$0] } }

    /// Calls `body` with the tensor's bytes in place (in the mapped file).
    public func withBytes<R>(_ t: Tensor, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try data.withUnsafeBytes { raw in try body(UnsafeRawBufferPointer(rebasing: raw[t.range])) }
    }

    /// The tensor as an fp32 matrix of `matrixShape` (floats widened exactly, blocks
    /// dequantized bit-identically to ggml).
    public func matrix(_ t: Tensor) throws -> Matrix {
        let (rows, cols) = t.matrixShape
        if case .quantized(let f) = t.type {
            return Int4.dequantize(try quantized(t, format: f))
        }
        var m = Matrix(rows: rows, cols: cols)
        withBytes(t) { src in
            m.withMutableView { v in
                for r in 0..<rows {
                    let dst = v.row(r)
                    for c in 0..<cols {
                        let i = r * cols + c
                        switch t.type {
                        case .f32:
                            dst[c] = Float(bitPattern: UInt32(littleEndian: src.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
                        case .f16:
                            dst[c] = Float(
                                Float16(bitPattern: UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))))
                        case .bf16:
                            dst[c] = Float(
                                bitPattern: UInt32(UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) << 16)
                        case .quantized: break
                        }
                    }
                }
            }
        }
        return m
    }

    /// The tensor's blocks as a quantized matrix of `matrixShape` (the bytes copied).
    public func quantized(_ t: Tensor, format: QuantFormat) throws -> QuantizedMatrix {
        let (rows, cols) = t.matrixShape
        return try withBytes(t) { try QuantizedMatrix(format: format, rows: rows, cols: cols, bytes: $0.baseAddress!) }
    }

    // MARK: - reading

    /// A bounds-checked little-endian cursor over the file's bytes.
    struct Reader {
        let data: Data
        let path: String
        var offset = 0

        func error(_ what: String, _ problem: String) -> ModelError {
            .weights(path: path, tensor: what, problem: problem + " (at byte \(offset))")
        }

        mutating func bytes(_ n: Int, what: String) throws -> [UInt8] {
            guard n >= 0, n <= data.count - offset else {
                throw error(what, "needs \(n) bytes, only \(data.count - offset) left in the \(data.count)-byte file")
            }
            let start = data.startIndex + offset
            offset += n
            return [UInt8](data[start..<(start + n)])
        }

        mutating func load<T: FixedWidthInteger>(_: T.Type, _ what: String) throws -> T {
            let size = MemoryLayout<T>.size
            guard size <= data.count - offset else {
                throw error(what, "needs \(size) bytes, only \(data.count - offset) left in the \(data.count)-byte file")
            }
            let v = data.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: T.self) }
            offset += size
            return T(littleEndian: v)
        }

        mutating func u32(_ what: String) throws -> UInt32 { try load(UInt32.self, what) }
        mutating func u64(_ what: String) throws -> UInt64 { try load(UInt64.self, what) }

        /// A u64 count of items that take at least `minBytesEach` bytes, checked against the
        /// bytes left.
        mutating func count(_ what: String, of owner: String = "(header)", minBytesEach: Int) throws -> Int {
            let v = try u64(what)
            guard let n = Int(exactly: v), n <= (data.count - offset) / minBytesEach else {
                throw error(owner, "\(what) \(v) cannot fit in the \(data.count - offset) bytes left")
            }
            return n
        }

        mutating func string(_ what: String) throws -> String {
            let n = try u64("\(what) length")
            guard let len = Int(exactly: n), len <= data.count - offset else {
                throw error(what, "string length \(n) runs past the end of the file (\(data.count - offset) bytes left)")
            }
            let raw = try bytes(len, what: what)
            guard let s = String(validating: raw, as: UTF8.self) else { throw error(what, "string is not valid UTF-8") }
            return s
        }

        mutating func valueType(_ key: String) throws -> ValueType {
            let t = try u32("\(key): value type")
            guard let type = ValueType(rawValue: t) else { throw error(key, "unknown metadata value type \(t)") }
            return type
        }

        mutating func value(_ type: ValueType, key: String, depth: Int) throws -> Value {
            switch type {
            case .u8: return .u8(try load(UInt8.self, key))
            case .i8: return .i8(try load(Int8.self, key))
            case .u16: return .u16(try load(UInt16.self, key))
            case .i16: return .i16(try load(Int16.self, key))
            case .u32: return .u32(try u32(key))
            case .i32: return .i32(try load(Int32.self, key))
            case .f32: return .f32(Float(bitPattern: try u32(key)))
            case .bool:
                let b = try load(UInt8.self, key)
                guard b <= 1 else { throw error(key, "bool value \(b) is neither 0 nor 1") }
                return .bool(b == 1)
            case .string: return .string(try string(key))
            case .u64: return .u64(try u64(key))
            case .i64: return .i64(try load(Int64.self, key))
            case .f64: return .f64(Double(bitPattern: try u64(key)))
            case .array:
                guard depth < GGUF.maxArrayDepth else { throw error(key, "arrays nested deeper than \(GGUF.maxArrayDepth)") }
                let element = try valueType(key)
                // Each element takes at least its scalar size (8 bytes of length for strings,
                // 12 of type and count for arrays).
                let n = try count("array length", of: key, minBytesEach: element.size ?? (element == .string ? 8 : 12))
                var items: [Value] = []
                items.reserveCapacity(n)
                for _ in 0..<n { items.append(try value(element, key: key, depth: depth + 1)) }
                return .array(element, items)
            }
        }
    }

    // MARK: - writing

    /// A tensor to write: name, dims innermost first, type, and its bytes (exactly
    /// elements/block·blockBytes of them).
    public struct TensorData: Sendable {
        public let name: String
        public let dims: [Int]
        public let type: TensorType
        public let bytes: [UInt8]
        public init(name: String, dims: [Int], type: TensorType, bytes: [UInt8]) {
            self.name = name; self.dims = dims; self.type = type; self.bytes = bytes
        }
    }

    /// Encodes a version-3 GGUF file with the default alignment of 32 (or a u32
    /// `general.alignment` in `metadata`); the result reads back with `init(data:path:)`.
    public static func encode(metadata: [(key: String, value: Value)], tensors: [TensorData]) throws -> Data {
        var alignment = 32
        if let a = metadata.first(where: { $0.key == "general.alignment" }) {
            guard case .u32(let v) = a.value, v > 0, v & (v - 1) == 0 else {
                throw ModelError.invalidOption(option: "general.alignment", value: "\(a.value)", reason: "must be a u32 power of two")
            }
            alignment = Int(v)
        }
        var out = Data()
        func put<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func putString(_ s: String) { put(UInt64(s.utf8.count)); out.append(contentsOf: Array(s.utf8)) }
        func putValue(_ v: Value) {
            switch v {
            case .u8(let x): put(x)
            case .i8(let x): put(x)
            case .u16(let x): put(x)
            case .i16(let x): put(x)
            case .u32(let x): put(x)
            case .i32(let x): put(x)
            case .f32(let x): put(x.bitPattern)
            case .bool(let x): put(UInt8(x ? 1 : 0))
            case .string(let s): putString(s)
            case .array(let t, let items):
                put(t.rawValue); put(UInt64(items.count))
                for item in items { putValue(item) }
            case .u64(let x): put(x)
            case .i64(let x): put(x)
            case .f64(let x): put(x.bitPattern)
            }
        }
        out.append(contentsOf: Array("GGUF".utf8))
        put(UInt32(3)); put(UInt64(tensors.count)); put(UInt64(metadata.count))
        for (key, value) in metadata {
            putString(key); put(value.type.rawValue); putValue(value)
        }
        var offset = 0
        var offsets: [Int] = []
        for t in tensors {
            let (per, bytesPer) = t.type.block
            let elements = t.dims.reduce(1, *)
            guard !t.dims.isEmpty, t.dims.count <= maxDims, t.dims[0] % per == 0, t.bytes.count == elements / per * bytesPer else {
                throw ModelError.weights(path: "(gguf writer)", tensor: t.name, problem: "\(t.bytes.count) bytes for \(t.type) \(t.dims)")
            }
            offsets.append(offset)
            offset += (t.bytes.count + alignment - 1) / alignment * alignment
        }
        for (t, off) in zip(tensors, offsets) {
            putString(t.name); put(UInt32(t.dims.count))
            for d in t.dims { put(UInt64(d)) }
            put(t.type.ggmlType); put(UInt64(off))
        }
        while out.count % alignment != 0 { out.append(0) }
        for t in tensors {
            out.append(contentsOf: t.bytes)
            while out.count % alignment != 0 { out.append(0) }
        }
        return out
    }
}
