import Foundation

/// A strict reader (and a small writer) for the safetensors format.
///
/// Layout: an 8-byte little-endian header length N, N bytes of UTF-8 JSON, then the data
/// buffer. The JSON maps each tensor name to `{"dtype", "shape", "data_offsets": [begin, end]}`
/// (offsets relative to the data buffer), plus an optional `"__metadata__"` string map.
/// Tensors are raw little-endian, row-major.
///
/// Strict means: the header length fits the file, the JSON is an object of well-formed
/// entries, every dtype is known, every byte range equals shape × dtype size, ranges do not
/// overlap and together cover the data buffer with no holes (the format's own rule).
/// Anything else is a `ModelError.weights` naming the file, the tensor and the values.
public struct SafeTensors: Sendable {
    /// Element types of the format.
    public enum DType: String, Sendable, CaseIterable {
        case F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL, F8_E4M3, F8_E5M2

        public var size: Int {
            switch self {
            case .F64, .I64: return 8
            case .F32, .I32: return 4
            case .F16, .BF16, .I16: return 2
            case .I8, .U8, .BOOL, .F8_E4M3, .F8_E5M2: return 1
            }
        }
    }

    public struct Entry: Sendable, Equatable {
        public let name: String
        public let dtype: DType
        public let shape: [Int]
        /// Byte range inside the data buffer.
        public let range: Range<Int>
    }

    /// Largest header accepted (the reference implementation's limit).
    public static let maxHeaderBytes = 100 << 20

    public let path: String
    public let entries: [String: Entry]
    public let metadata: [String: String]
    private let data: Data
    private let dataStart: Int

    /// Reads and validates `path`.
    public init(path: String) throws {
        let data: Data
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw ModelError.weights(path: path, tensor: "(file)", problem: "no such file")
        }
        guard !isDir.boolValue else { throw ModelError.weights(path: path, tensor: "(file)", problem: "is a directory, expected a file") }
        do { data = try Data(contentsOf: URL(fileURLWithPath: path), options: .mappedIfSafe) } catch {
            throw ModelError.weights(path: path, tensor: "(file)", problem: "cannot be read (\(error.localizedDescription))")
        }
        try self.init(data: data, path: path)
    }

    /// Validates `data` (the bytes of a safetensors file); `path` names it in errors.
    public init(data: Data, path: String) throws {
        func fail(_ tensor: String, _ problem: String) -> ModelError { .weights(path: path, tensor: tensor, problem: problem) }
        guard data.count >= 8 else { throw fail("(header)", "file is \(data.count) bytes, shorter than the 8-byte header length") }
        let n = data.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        guard n <= UInt64(Self.maxHeaderBytes) else {
            throw fail("(header)", "header length \(n) exceeds the \(Self.maxHeaderBytes)-byte limit")
        }
        guard n <= UInt64(data.count - 8) else {
            throw fail("(header)", "header length \(n) runs past the end of the \(data.count)-byte file (truncated?)")
        }
        let headerEnd = 8 + Int(n)
        let json: Any
        do { json = try JSONSerialization.jsonObject(with: data.subdata(in: data.startIndex + 8..<data.startIndex + headerEnd)) } catch {
            throw fail("(header)", "header is not valid JSON")
        }
        guard let object = json as? [String: Any] else { throw fail("(header)", "header is not a JSON object") }
        try HeaderScan.check([UInt8](data[(data.startIndex + 8)..<(data.startIndex + headerEnd)]), fail: fail)
        let dataSize = data.count - headerEnd
        var entries: [String: Entry] = [:]
        var metadata: [String: String] = [:]
        for (name, value) in object {
            if name == "__metadata__" {
                guard let m = value as? [String: Any] else { throw fail(name, "must be an object of strings") }
                for (k, v) in m {
                    guard let s = v as? String else { throw fail(name, "value of '\(k)' is not a string") }
                    metadata[k] = s
                }
                continue
            }
            guard let e = value as? [String: Any] else { throw fail(name, "entry is not an object") }
            guard let dt = e["dtype"] as? String else { throw fail(name, "missing \"dtype\"") }
            guard let dtype = DType(rawValue: dt) else {
                throw fail(name, "unknown dtype '\(dt)' (known: \(DType.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            guard let shapeAny = e["shape"] as? [Any], let shape = Self.integers(shapeAny), shape.allSatisfy({ $0 >= 0 }) else {
                throw fail(name, "\"shape\" must be an array of non-negative integers")
            }
            guard let offAny = e["data_offsets"] as? [Any], let off = Self.integers(offAny), off.count == 2 else {
                throw fail(name, "\"data_offsets\" must be two integers [begin, end]")
            }
            guard off[0] >= 0, off[0] <= off[1], off[1] <= dataSize else {
                throw fail(name, "data_offsets [\(off[0]), \(off[1])] lie outside the \(dataSize)-byte data buffer")
            }
            var count = 1
            for d in shape {
                let (p, o) = count.multipliedReportingOverflow(by: d)
                guard !o, p <= dataSize else { throw fail(name, "shape \(shape) is larger than the file") }
                count = p
            }
            guard off[1] - off[0] == count * dtype.size else {
                throw fail(
                    name,
                    "data_offsets [\(off[0]), \(off[1])] hold \(off[1] - off[0]) bytes, but \(dt) \(shape) needs \(count * dtype.size)")
            }
            entries[name] = Entry(name: name, dtype: dtype, shape: shape, range: off[0]..<off[1])
        }
        // Ranges must tile the data buffer exactly.
        var end = 0
        for e in entries.values.sorted(by: { ($0.range.lowerBound, $0.range.upperBound) < ($1.range.lowerBound, $1.range.upperBound) }) {
            if e.range.lowerBound < end {
                throw fail(e.name, "data_offsets [\(e.range.lowerBound), \(e.range.upperBound)] overlap another tensor")
            }
            if e.range.lowerBound > end {
                throw fail(e.name, "a hole of \(e.range.lowerBound - end) bytes precedes this tensor at offset \(end)")
            }
            end = e.range.upperBound
        }
        guard end == dataSize else { throw fail("(data)", "tensors cover \(end) bytes but the data buffer has \(dataSize)") }
        self.path = path; self.entries = entries; self.metadata = metadata
        self.data = data; self.dataStart = headerEnd
    }

    private static func integers(_ xs: [Any]) -> [Int]? {
        var out: [Int] = []
        for x in xs {
            guard let n = x as? NSNumber, let i = Int(exactly: n.doubleValue) else { return nil }
            out.append(i)
        }
        return out
    }

    /// The tensor `name` as fp32 (F32 copied, F16 and BF16 widened exactly), after checking
    /// that it exists, is a float type and has exactly `shape`.
    public func floats(_ name: String, shape: [Int]) throws -> [Float] {
        guard let e = entries[name] else { throw ModelError.weights(path: path, tensor: name, problem: "missing from the file") }
        guard e.shape == shape else {
            throw ModelError.weights(path: path, tensor: name, problem: "shape \(e.shape), expected \(shape)")
        }
        guard [.F32, .F16, .BF16].contains(e.dtype) else {
            throw ModelError.weights(path: path, tensor: name, problem: "dtype \(e.dtype.rawValue), expected F32, F16 or BF16")
        }
        let count = shape.reduce(1, *)
        var out = [Float](repeating: 0, count: count)
        let start = data.startIndex + dataStart + e.range.lowerBound
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            let src = raw.baseAddress! + (start - data.startIndex)
            out.withUnsafeMutableBufferPointer { dst in
                switch e.dtype {
                case .F32:
                    for i in 0..<count {
                        dst[i] = Float(bitPattern: UInt32(littleEndian: src.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
                    }
                case .F16:
                    for i in 0..<count {
                        dst[i] = Float(Float16(bitPattern: UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))))
                    }
                case .BF16:
                    for i in 0..<count {
                        dst[i] = Float(
                            bitPattern: UInt32(UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) << 16)
                    }
                default: break
                }
            }
        }
        return out
    }

    /// Encodes tensors as a safetensors file (ranges in the given order, no padding).
    public static func encode(
        _ tensors: [(name: String, dtype: DType, shape: [Int], bytes: [UInt8])],
        metadata: [String: String] = [:]
    ) -> Data {
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        for t in tensors {
            header[t.name] =
                ["dtype": t.dtype.rawValue, "shape": t.shape, "data_offsets": [offset, offset + t.bytes.count]] as [String: Any]
            offset += t.bytes.count
        }
        var json = (try? JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])) ?? Data("{}".utf8)
        while json.count % 8 != 0 { json.append(0x20) }  // the format pads the header with spaces to 8 bytes
        var out = Data()
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(json)
        for t in tensors { out.append(contentsOf: t.bytes) }
        return out
    }

    /// Little-endian bytes of fp32 values (for `encode`).
    public static func bytes(_ values: [Float]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(values.count * 4)
        for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { out.append(contentsOf: $0) } }
        return out
    }
}

/// What JSONSerialization lets through but the safetensors format (and its Rust reader) does
/// not: a key given twice in one object (JSONSerialization keeps one silently), and a shape or
/// offset that is not written as a non-negative integer (`4096.0`, `false`, `1e3`).
enum HeaderScan {
    static func check(_ bytes: [UInt8], fail: @escaping (String, String) -> ModelError) throws {
        var scanner = Scanner(bytes: bytes, fail: fail)
        try scanner.value(integers: nil)
        scanner.skipSpaces()
        guard scanner.at == bytes.count else { throw fail("(header)", "header has bytes after its JSON object") }
    }

    struct Scanner {
        let bytes: [UInt8]
        let fail: (String, String) -> ModelError
        var at = 0
        var depth = 0
        /// The entry being read (a key of the header object), for messages.
        var tensor = "(header)"

        mutating func skipSpaces() { while at < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[at]) { at += 1 } }

        func error(_ problem: String) -> ModelError { fail(tensor, problem) }

        mutating func expect(_ c: Character) throws {
            skipSpaces()
            guard at < bytes.count, bytes[at] == UInt8(ascii: c.unicodeScalars.first!) else { throw error("expected '\(c)' at byte \(at)") }
            at += 1
        }

        /// Whether the next byte (after spaces) is `c`; consumes it if so.
        mutating func take(_ c: Character) -> Bool {
            skipSpaces()
            guard at < bytes.count, bytes[at] == UInt8(ascii: c.unicodeScalars.first!) else { return false }
            at += 1
            return true
        }

        mutating func string() throws -> String {
            try expect("\"")
            let begin = at
            while at < bytes.count, bytes[at] != UInt8(ascii: "\"") { at += bytes[at] == UInt8(ascii: "\\") ? 2 : 1 }
            guard at < bytes.count else { throw error("unterminated string") }
            defer { at += 1 }
            return String(decoding: bytes[begin..<at], as: UTF8.self)
        }

        /// One JSON value. `integers` names the key whose array this is when its elements must
        /// be non-negative integer literals.
        mutating func value(integers: String?) throws {
            skipSpaces()
            guard at < bytes.count else { throw error("header ends inside a value") }
            depth += 1
            defer { depth -= 1 }
            guard depth <= 64 else { throw error("header nests deeper than 64 levels") }
            if take("{") {
                var keys = Set<String>()
                if take("}") { return }
                repeat {
                    skipSpaces()
                    let key = try string()
                    if depth == 1 { tensor = key }
                    guard keys.insert(key).inserted else { throw fail(depth == 1 ? key : tensor, "key '\(key)' given twice in the header") }
                    try expect(":")
                    // Entries are the objects at depth 2; their shape and offsets are integer arrays.
                    try value(integers: depth == 2 && (key == "shape" || key == "data_offsets") ? key : nil)
                } while take(",")
                try expect("}")
            } else if take("[") {
                if take("]") { return }
                repeat {
                    if let key = integers {
                        skipSpaces()
                        let begin = at
                        while at < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[at]) { at += 1 }
                        let next = at < bytes.count ? bytes[at] : 0
                        guard at > begin, !"._eE".utf8.contains(next) else {
                            let rule = key == "shape" ? "an array of non-negative integers" : "two integers [begin, end]"
                            throw error("\"\(key)\" must be \(rule), written as integers (byte \(begin))")
                        }
                    } else {
                        try value(integers: nil)
                    }
                } while take(",")
                try expect("]")
            } else if bytes[at] == UInt8(ascii: "\"") {
                _ = try string()
            } else {
                // A number, true, false or null: JSONSerialization checks its spelling.
                while at < bytes.count, !",]} \t\r\n".utf8.contains(bytes[at]) { at += 1 }
            }
        }
    }
}
