import Foundation
import Kernels

/// NumPy `.npy` files holding float32 matrices: little-endian `<f4`, C order, 1-D or 2-D
/// (1-D is read as one row). Anything else — another dtype, Fortran order, a malformed
/// or truncated header, a data size that disagrees with the shape — is refused with a
/// `FileError` naming the problem.
public enum NPY {
    static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]  // "\x93NUMPY"

    /// Parses `.npy` bytes; `path` is only used in error messages.
    ///
    /// As strict as NumPy's own reader, and stricter where NumPy is lax: versions 1.0, 2.0
    /// and 3.0 only; the header is one dict literal with exactly the keys `descr`,
    /// `fortran_order` and `shape`, each once, followed only by spaces and the closing
    /// newline; no NUL bytes; every size computed with overflow checks.
    public static func decode(_ data: Data, path: String) throws -> Matrix {
        let bytes = [UInt8](data)
        guard bytes.count >= 10, Array(bytes[0..<6]) == magic else { throw FileError(path, "not a .npy file (bad magic)") }
        let major = bytes[6], minor = bytes[7]
        guard (1...3).contains(major), minor == 0 else { throw FileError(path, "unsupported .npy version \(major).\(minor)") }
        let headerLen: Int, start: Int
        if major == 1 {
            headerLen = Int(bytes[8]) | Int(bytes[9]) << 8
            start = 10
        } else {
            guard bytes.count >= 12 else { throw FileError(path, "truncated .npy header") }
            headerLen = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
            start = 12
        }
        guard headerLen <= bytes.count - start else { throw FileError(path, "truncated .npy header (\(headerLen) bytes declared)") }
        let headerBytes = bytes[start..<(start + headerLen)]
        guard !headerBytes.contains(0) else { throw FileError(path, "malformed .npy header: a NUL byte") }
        guard let header = String(bytes: headerBytes, encoding: major == 3 ? .utf8 : .ascii) else {
            throw FileError(path, "unreadable .npy header")
        }
        var parser = HeaderParser(header, path: path)
        let fields = try parser.dictionary()
        guard let descr = fields["descr"] else { throw FileError(path, "malformed .npy header: no 'descr'") }
        guard case .string("<f4") = descr else {
            throw FileError(path, "dtype \(descr) is not supported; only little-endian float32 '<f4'")
        }
        guard let orderValue = fields["fortran_order"], case .bool(let fortran) = orderValue else {
            throw FileError(path, "malformed .npy header: 'fortran_order' must be True or False")
        }
        guard !fortran else { throw FileError(path, "fortran_order=True; only C order is supported") }
        guard let shapeValue = fields["shape"], case .tuple(let shape) = shapeValue else {
            throw FileError(path, "malformed .npy header: 'shape' must be a tuple")
        }
        let shapeText = "(" + shape.map(String.init).joined(separator: ", ") + ")"
        let (rows, cols): (Int, Int)
        switch shape.count {
        case 1: (rows, cols) = (1, shape[0])
        case 2: (rows, cols) = (shape[0], shape[1])
        default: throw FileError(path, "shape \(shapeText) has \(shape.count) dimensions; expected a matrix (2) or vector (1)")
        }
        guard rows > 0, cols > 0 else { throw FileError(path, "shape \(shapeText) is empty") }
        let dataStart = start + headerLen, available = bytes.count - dataStart
        let (count, overflow) = rows.multipliedReportingOverflow(by: cols)
        let (needed, overflow4) = count.multipliedReportingOverflow(by: 4)
        guard !overflow, !overflow4, needed == available else {
            let need = overflow || overflow4 ? "more than 2^63" : String(needed)
            throw FileError(path, "shape \(shapeText) needs \(need) data bytes, file has \(available)")
        }
        var values = [Float](repeating: 0, count: count)
        bytes.withUnsafeBytes { raw in
            for i in 0..<count {
                values[i] = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: dataStart + 4 * i, as: UInt32.self)))
            }
        }
        return Matrix(rows: rows, cols: cols, values: values)
    }

    /// A value of the header's dict literal.
    enum HeaderValue: CustomStringConvertible {
        case string(String), bool(Bool), tuple([Int])
        var description: String {
            switch self {
            case .string(let s): return "'\(s)'"
            case .bool(let b): return b ? "True" : "False"
            case .tuple(let t): return "(" + t.map(String.init).joined(separator: ", ") + ")"
            }
        }
    }

    /// Reads the header's one dict literal: `{'key': value, …}` with string, bool and
    /// int-tuple values, then only spaces and the newline.
    struct HeaderParser {
        let chars: [Character]
        let path: String
        var i = 0

        init(_ header: String, path: String) { chars = Array(header); self.path = path }

        func fail(_ what: String) -> FileError { FileError(path, "malformed .npy header: \(what)") }

        mutating func skipSpaces() { while i < chars.count, chars[i] == " " { i += 1 } }

        mutating func expect(_ c: Character) throws {
            skipSpaces()
            guard i < chars.count, chars[i] == c else { throw fail("expected '\(c)' at offset \(i)") }
            i += 1
        }

        mutating func peek() -> Character? {
            skipSpaces()
            return i < chars.count ? chars[i] : nil
        }

        mutating func string() throws -> String {
            skipSpaces()
            guard i < chars.count, chars[i] == "'" || chars[i] == "\"" else { throw fail("expected a string at offset \(i)") }
            let quote = chars[i]
            i += 1
            let begin = i
            while i < chars.count, chars[i] != quote {
                guard chars[i] != "\\", chars[i] != "\n" else { throw fail("escapes and newlines in strings are not supported") }
                i += 1
            }
            guard i < chars.count else { throw fail("unterminated string") }
            defer { i += 1 }
            return String(chars[begin..<i])
        }

        mutating func integer() throws -> Int {
            skipSpaces()
            let begin = i
            while i < chars.count, chars[i].isASCII, chars[i].isNumber { i += 1 }
            guard i > begin, i - begin <= 19, let v = Int(String(chars[begin..<i])) else {
                throw fail("expected a non-negative integer at offset \(begin)")
            }
            return v
        }

        mutating func value() throws -> HeaderValue {
            switch peek() {
            case "'", "\"": return .string(try string())
            case "(":
                i += 1
                var items: [Int] = []
                do {
                    while peek() != ")" {
                        items.append(try integer())
                        if peek() == "," { i += 1 } else { break }
                    }
                    try expect(")")
                } catch let e as FileError { throw FileError(path, "malformed shape (\(e.problem))") }
                // A one-element tuple needs its comma in Python; NumPy writes `(5,)`.
                return .tuple(items)
            default:
                for (word, v) in [("True", true), ("False", false)] where String(chars[i..<min(chars.count, i + word.count)]) == word {
                    i += word.count
                    return .bool(v)
                }
                throw fail("unexpected value at offset \(i)")
            }
        }

        mutating func dictionary() throws -> [String: HeaderValue] {
            try expect("{")
            var out: [String: HeaderValue] = [:]
            while peek() != "}" {
                let key = try string()
                try expect(":")
                guard ["descr", "fortran_order", "shape"].contains(key) else { throw fail("unexpected key '\(key)'") }
                guard out[key] == nil else { throw fail("key '\(key)' given twice") }
                out[key] = try value()
                if peek() == "," { i += 1 } else { break }
            }
            try expect("}")
            skipSpaces()
            if i < chars.count, chars[i] == "\n" { i += 1 }
            guard i == chars.count else {
                throw fail(
                    "'\(String(chars[i..<min(chars.count, i + 20)]).trimmingCharacters(in: .whitespacesAndNewlines))' after the dict")
            }
            guard out.count == 3 else {
                let missing = ["descr", "fortran_order", "shape"].filter { out[$0] == nil }.map { "'\($0)'" }
                throw fail("no " + missing.joined(separator: ", "))
            }
            return out
        }
    }

    /// Reads a float32 matrix from a `.npy` file.
    public static func read(_ path: String) throws -> Matrix { try decode(try FileIO.read(path), path: path) }

    /// Encodes a matrix as version-1.0 `.npy` bytes (`<f4`, C order, shape (rows, cols)).
    public static func encode(_ m: Matrix) -> Data {
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': (\(m.rows), \(m.cols)), }"
        // Pad so the data starts on a 64-byte boundary, header ending in '\n'.
        let total = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - total % 64) % 64) + "\n"
        var out = Data(magic + [1, 0])
        let n = UInt16(header.utf8.count)
        out.append(contentsOf: [UInt8(n & 0xFF), UInt8(n >> 8)])
        out.append(contentsOf: Array(header.utf8))
        var values = m.dense.map { $0.bitPattern.littleEndian }
        out.append(Data(bytes: &values, count: values.count * 4))
        return out
    }

    /// Writes a matrix as `.npy`, atomically.
    public static func write(_ m: Matrix, to path: String) throws { try FileIO.writeAtomically(encode(m), to: path) }
}
