import Foundation
import Harness
import Kernels
import Testing

@Suite struct NPYTests {
    @Test func roundTripAndNumpyCompatibleHeader() throws {
        let m = Matrix(rows: 3, cols: 5) { r, c in Float(r * 10 + c) + 0.5 }
        let data = NPY.encode(m)
        #expect(data.count % 64 == 0 || (data.count - 3 * 5 * 4) % 64 == 0, "data starts 64-byte aligned")
        let header = String(decoding: data[10..<(data.count - 60)], as: UTF8.self)
        #expect(header.hasPrefix("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 5), }"))
        #expect(try NPY.decode(data, path: "m.npy") == m)
    }

    @Test func refusesWhatItCannotRead() {
        func header(_ dict: String, payload: Int, minor: UInt8 = 0) -> Data {
            var h = dict
            h += String(repeating: " ", count: (64 - (10 + h.utf8.count + 1) % 64) % 64) + "\n"
            var d = Data([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, minor, UInt8(h.utf8.count & 0xFF), UInt8(h.utf8.count >> 8)])
            d.append(contentsOf: Array(h.utf8)); d.append(Data(count: payload))
            return d
        }
        let cases: [(Data, String)] = [
            (Data("nope".utf8), "bad magic"),
            (header("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }", payload: 32), "'<f8'"),
            (header("{'descr': '>f4', 'fortran_order': False, 'shape': (2, 2), }", payload: 16), "'>f4'"),
            (header("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", payload: 16), "fortran_order=True"),
            (header("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", payload: 15), "needs 16 data bytes, file has 15"),
            (header("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2, 2), }", payload: 32), "3 dimensions"),
            (header("{'descr': '<f4', 'fortran_order': False, 'shape': (0, 2), }", payload: 0), "empty"),
            (header("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999, 99999999999), }", payload: 16), "data bytes"),
            (header("{'descr': '<f4', 'fortran_order': False}", payload: 16), "no 'shape'"),
            (header("{'descr': '<f4', 'fortran_order': False, 'shape': (a, 2), }", payload: 16), "malformed shape"),
            // Sizes whose byte count overflows 64 bits.
            (header("{'descr': '<f4', 'fortran_order': False, 'shape': (2147483648, 2147483648), }", payload: 16), "more than 2^63"),
            (header("{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904,), }", payload: 16), "more than 2^63"),
            (header("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }", payload: 16), "malformed shape"),
            // What NumPy's reader refuses, and a duplicate key it would take the last of.
            (header("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), } junk", payload: 16), "'junk' after the dict"),
            (header("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }\u{0}", payload: 16), "NUL"),
            (header("{'descr': '<f4', 'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }", payload: 16), "'descr' given twice"),
            (header("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), 'extra': 1}", payload: 16), "unexpected key 'extra'"),
            (header("{'descr': '<f4', 'fortran_order': 0, 'shape': (2, 2), }", payload: 16), "unexpected value"),
            (header("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", payload: 16, minor: 1), "version 1.1"),
        ]
        for (data, fragment) in cases {
            do {
                _ = try NPY.decode(data, path: "x.npy")
                Issue.record("expected an error mentioning \(fragment)")
            } catch let e as FileError {
                #expect(e.description.contains(fragment), "'\(e)' should mention '\(fragment)'")
                #expect(e.description.hasPrefix("x.npy: "))
            } catch { Issue.record("unexpected \(error)") }
        }
    }

    @Test func atomicWriteLeavesNoTemporaryFiles() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("npy-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let path = dir.appendingPathComponent("a.txt").path
        try FileIO.writeAtomically("one", to: path)
        try FileIO.writeAtomically("two", to: path)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "two")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["a.txt"])
        #expect(throws: FileError.self) { try FileIO.writeAtomically("x", to: dir.appendingPathComponent("missing/b.txt").path) }
    }
}
