import Foundation
import Kernels

/// NumPy `.npy` files holding float32 matrices: little-endian `<f4`, C order, 1-D or 2-D
/// (1-D is read as one row). Anything else — another dtype, Fortran order, a malformed
/// or truncated header, a data size that disagrees with the shape — is refused with a
/// `FileError` naming the problem.
public enum NPY {
    static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]  // "\x93NUMPY"

    /// Parses `.npy` bytes; `path` is only used in error messages.
    public static func decode(_ data: Data, path: String) throws -> Matrix {
        let bytes = [UInt8](data)
        guard bytes.count >= 10, Array(bytes[0..<6]) == magic else { throw FileError(path, "not a .npy file (bad magic)") }
        let major = bytes[6]
        let headerLen: Int, start: Int
        switch major {
        case 1: headerLen = Int(bytes[8]) | Int(bytes[9]) << 8; start = 10
        case 2, 3:
            guard bytes.count >= 12 else { throw FileError(path, "truncated .npy header") }
            headerLen = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24; start = 12
        default: throw FileError(path, "unsupported .npy version \(major)")
        }
        guard start + headerLen <= bytes.count else { throw FileError(path, "truncated .npy header (\(headerLen) bytes declared)") }
        guard let header = String(bytes: bytes[start..<(start + headerLen)], encoding: major == 3 ? .utf8 : .ascii) else {
            throw FileError(path, "unreadable .npy header")
        }
        let descr = try field(header, "descr", path)
        guard descr == "'<f4'" else { throw FileError(path, "dtype \(descr) is not supported; only little-endian float32 '<f4'") }
        let order = try field(header, "fortran_order", path)
        guard order == "False" else { throw FileError(path, "fortran_order=\(order); only C order is supported") }
        let shapeText = try field(header, "shape", path)
        guard shapeText.hasPrefix("("), shapeText.hasSuffix(")") else { throw FileError(path, "malformed shape \(shapeText)") }
        let dims = shapeText.dropFirst().dropLast().split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter {
            !$0.isEmpty
        }
        let shape = try dims.map { d -> Int in
            guard let v = Int(d), v >= 0 else { throw FileError(path, "malformed shape \(shapeText)") }
            return v
        }
        let (rows, cols): (Int, Int)
        switch shape.count {
        case 1: (rows, cols) = (1, shape[0])
        case 2: (rows, cols) = (shape[0], shape[1])
        default: throw FileError(path, "shape \(shapeText) has \(shape.count) dimensions; expected a matrix (2) or vector (1)")
        }
        guard rows > 0, cols > 0 else { throw FileError(path, "shape \(shapeText) is empty") }
        let dataStart = start + headerLen
        let (count, overflow) = rows.multipliedReportingOverflow(by: cols)
        guard !overflow, count <= (bytes.count - dataStart) / 4, bytes.count - dataStart == count * 4 else {
            throw FileError(
                path,
                "shape \(shapeText) needs \(overflow ? "too many" : String(count * 4)) data bytes, file has \(bytes.count - dataStart)")
        }
        var values = [Float](repeating: 0, count: count)
        bytes.withUnsafeBytes { raw in
            for i in 0..<count {
                values[i] = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: dataStart + 4 * i, as: UInt32.self)))
            }
        }
        return Matrix(rows: rows, cols: cols, values: values)
    }

    static func field(_ header: String, _ key: String, _ path: String) throws -> String {
        guard let r = header.range(of: "'\(key)':") else { throw FileError(path, "malformed .npy header: no '\(key)'") }
        let rest = header[r.upperBound...].drop { $0 == " " }
        if rest.hasPrefix("(") {
            guard let close = rest.firstIndex(of: ")") else { throw FileError(path, "malformed .npy header: unclosed \(key)") }
            return String(rest[...close])
        }
        let end = rest.firstIndex { $0 == "," || $0 == "}" } ?? rest.endIndex
        return rest[..<end].trimmingCharacters(in: .whitespaces)
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
