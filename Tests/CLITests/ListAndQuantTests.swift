import Foundation
import Harness
import Kernels
import Testing

@Suite struct ListAndQuantTests {
    /// `opbench list` prints every registered variant, operator by operator in registry order.
    @Test func listsEveryRegisteredVariant() throws {
        let r = try CLI.run(["list"])
        #expect(r.status == 0)
        let ids = r.stdout.split(separator: "\n").map(String.init)
        let expected = Operators.all.flatMap { spec in spec.kernels.map { "\(spec.op.rawValue).\($0.name)" } }
        #expect(ids == expected)
        #expect(Set(ids).count == ids.count, "ids are unique")
        let ops = try CLI.run(["list", "--ops"])
        #expect(ops.stdout.split(separator: "\n").map { String($0.split(separator: " ")[0]) } == Operators.names)
    }

    /// Every tuning constant the kernels run with is inside its own declared legal range, and
    /// `opbench list --tuning` shows each.
    @Test func tuningTablesHoldLegalValues() throws {
        let r = try CLI.run(["list", "--tuning"])
        #expect(r.status == 0)
        for (family, table) in Tuning.tables {
            #expect(!table.parameters.isEmpty, "\(family)")
            for p in table.parameters {
                #expect(p.allows(p.value), "\(family) \(p.name) = \(p.value) outside \(p.range) / \(p.multiple)")
                #expect(r.stdout.contains(p.name), "list --tuning shows \(family) \(p.name)")
            }
        }
    }

    @Test(arguments: ["q4_0", "q4_1", "q8_0", "q4_k", "q6_k"])
    func quantDequantRoundTrip(format: String) throws {
        let dir = try CLI.tempDir()
        var rng = SplitMix64(seed: 42)
        let cols = QuantFormat(rawValue: format)!.blockSize == 32 ? 96 : 512
        let w = Matrix(rows: 5, cols: cols) { _, _ in Float.random(in: -2..<2, using: &rng) }
        try NPY.write(w, to: dir.appendingPathComponent("w.npy").path)
        let q = dir.appendingPathComponent("w.q4").path, back = dir.appendingPathComponent("back.npy").path
        let r1 = try CLI.run(["quant", "--format", format, "--input", dir.appendingPathComponent("w.npy").path, "--output", q])
        #expect(r1.status == 0, "\(r1.stderr)")
        #expect(r1.stdout.contains("SNR"))
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: q)))
        let expected = try w.withView { try Int4.quantize($0, format: QuantFormat(rawValue: format)!) }
        #expect(bytes == expected.bytes)
        let r2 = try CLI.run(["dequant", "--format", format, "--input", q, "--shape", "5x\(cols)", "--output", back])
        #expect(r2.status == 0, "\(r2.stderr)")
        let m = try NPY.read(back)
        #expect(m == Int4.dequantize(expected))
    }

    @Test func badInputIsOneLineAndExitTwo() throws {
        let dir = try CLI.tempDir()
        let good = dir.appendingPathComponent("g.npy").path
        try NPY.write(Matrix(rows: 2, cols: 64), to: good)
        let odd = dir.appendingPathComponent("odd.npy").path
        try NPY.write(Matrix(rows: 2, cols: 33), to: odd)
        let garbage = dir.appendingPathComponent("garbage.npy").path
        try Data("hello".utf8).write(to: URL(fileURLWithPath: garbage))
        let out = dir.appendingPathComponent("out.q4").path
        try CLI.expectError(
            ["quant", "--format", "q4_0", "--input", dir.appendingPathComponent("missing.npy").path, "--output", out],
            ["missing.npy", "no such file"])
        try CLI.expectError(["quant", "--format", "q4_0", "--input", odd, "--output", out], ["odd.npy", "multiple of 32"])
        try CLI.expectError(["quant", "--format", "q4_0", "--input", garbage, "--output", out], ["garbage.npy", "not a .npy"])
        try CLI.expectError(["quant", "--format", "q5_0", "--input", good, "--output", out], ["q5_0"])
        try CLI.expectError(["quant", "--format", "q4_k", "--input", good, "--output", out], ["g.npy", "multiple of 256", "q4_k"])
        try CLI.expectError(["quant", "--format", "q4_0", "--input", good, "--output", "/nonexistent-dir/x.q4"], ["/nonexistent-dir"])
        #expect(!FileManager.default.fileExists(atPath: out), "nothing may be written on error")
        try CLI.run(["quant", "--format", "q4_0", "--input", good, "--output", out])
        try CLI.expectError(
            ["dequant", "--format", "q4_0", "--input", out, "--shape", "3x64", "--output", dir.appendingPathComponent("x.npy").path],
            ["108 bytes", "72 bytes"])
        for shape in ["12x", "0x64", "-3", "2x64x1", "axb"] {
            try CLI.expectError(
                ["dequant", "--format", "q4_0", "--input", out, "--shape", shape, "--output", dir.appendingPathComponent("x.npy").path],
                ["--shape"])
        }
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("x.npy").path))
        try CLI.expectError(["frobnicate"], ["frobnicate"])
    }
}
