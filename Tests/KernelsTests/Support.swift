import Foundation
import Kernels
import Testing

/// A matrix of seeded uniform values in [lo, hi), with row stride `cols + pad`.
func randomMatrix(_ rows: Int, _ cols: Int, pad: Int = 0, lo: Float = -1, hi: Float = 1, seed: UInt64) -> Matrix {
    var rng = SplitMix64(seed: seed)
    return Matrix(rows: rows, cols: cols, stride: cols + pad) { _, _ in Float.random(in: lo..<hi, using: &rng) }
}

/// Compares `got` (row-major view) with the fp64 `ref` element by element against
/// `tol(index)`; records the first mismatches and the worst ratio error/tolerance.
func expectClose(
    _ got: Matrix, _ ref: [Double], tol: (Int) -> Double, _ label: String,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(got.rows * got.cols == ref.count, "\(label): size", sourceLocation: sourceLocation)
    var failures: [String] = []
    var worst = 0.0
    for r in 0..<got.rows {
        for c in 0..<got.cols {
            let i = r * got.cols + c
            let g = Double(got[r, c])
            let t = tol(i)
            let err = abs(g - ref[i])
            let bad = !(err <= t) || (g.isNaN != ref[i].isNaN)
            if t > 0 { worst = max(worst, err / t) }
            if bad && failures.count < 5 { failures.append("[\(r),\(c)] got \(g) ref \(ref[i]) err \(err) tol \(t)") }
        }
    }
    #expect(failures.isEmpty, "\(label): \(failures.joined(separator: "; ")) (worst err/tol \(worst))", sourceLocation: sourceLocation)
}

/// Asserts that `body` throws a `KernelError` whose message contains every fragment.
func expectKernelError(_ fragments: [String], sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) {
    do {
        try body()
        Issue.record("expected a KernelError mentioning \(fragments)", sourceLocation: sourceLocation)
    } catch let e as KernelError {
        for f in fragments {
            #expect(e.description.contains(f), "message '\(e.description)' should mention '\(f)'", sourceLocation: sourceLocation)
        }
    } catch {
        Issue.record("expected KernelError, got \(error)", sourceLocation: sourceLocation)
    }
}

/// Loads a committed fixture file.
func fixture(_ name: String) throws -> Data {
    guard let url = Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Fixtures") else {
        throw CocoaError(.fileNoSuchFile, userInfo: [NSFilePathErrorKey: name])
    }
    return try Data(contentsOf: url)
}

/// Little-endian float32 values of a fixture.
func fixtureFloats(_ name: String) throws -> [Float] {
    let data = try fixture(name)
    return data.withUnsafeBytes { raw in
        (0..<(data.count / 4)).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
    }
}
