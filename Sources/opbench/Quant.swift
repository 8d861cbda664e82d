import ArgumentParser
import Foundation
import Harness
import Kernels

extension QuantFormat: ExpressibleByArgument {}

struct Quant: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Quantize a float32 [rows, cols] .npy to raw GGUF block bytes (Q4_0, Q4_1, Q8_0, Q4_K, Q6_K).",
        discussion:
            "The output holds the blocks row after row and nothing else: the bytes a GGUF file stores for the tensor. cols must be "
            + "a multiple of 32 (256 for q4_k and q6_k)."
    )

    @Option(help: "q4_0, q4_1, q8_0, q4_k or q6_k") var format: QuantFormat
    @Option(help: "Input .npy (float32, C order, 2-D).") var input: String
    @Option(help: "Output file for the block bytes.") var output: String

    func run() throws {
        let w = try NPY.read(input)
        let q: QuantizedMatrix
        do { q = try w.withView { try Int4.quantize($0, format: format) } } catch let e as KernelError {
            throw FileError(input, "\(e)")
        }
        let back = Int4.dequantize(q)
        // Blocks whose scale (or minimum) is beyond fp16's range: ggml and the gguf package
        // store it as ±inf, and so does OpBench (the bytes stay identical); their weights
        // dequantize to non-finite values, so the error is reported over the other blocks.
        let bytes = q.bytes, bs = format.blockSize, perRow = q.blocksPerRow
        let back32 = back.dense, ref32 = w.dense
        let finite = (0..<(w.rows * perRow)).map { b in
            let start = (b / perRow) * w.cols + (b % perRow) * bs
            return back32[start..<(start + bs)].allSatisfy(\.isFinite)
        }
        let overflowing = finite.filter { !$0 }.count
        let acc: Accuracy
        if overflowing == 0 {
            acc = Accuracy(got: back32, ref: ref32)
        } else {
            // The weights of the finite blocks only, block by block.
            var got: [Float] = [], ref: [Float] = []
            for b in finite.indices where finite[b] {
                let start = (b / perRow) * w.cols + (b % perRow) * bs
                got += back32[start..<(start + bs)]
                ref += ref32[start..<(start + bs)]
            }
            acc = Accuracy(got: got, ref: ref)
        }
        try FileIO.writeAtomically(Data(bytes), to: output)
        print(
            "\(format.rawValue): \(w.rows)x\(w.cols) -> \(q.bytes.count) bytes "
                + "(\(String(format: "%.4f", Double(q.bytes.count * 8) / Double(w.rows * w.cols))) bits/weight) written to \(output)"
        )
        if overflowing > 0 {
            let message =
                "\(input): \(overflowing) of \(finite.count) blocks have a scale or minimum beyond fp16's range (max 65504); "
                + "stored as inf, as ggml and the gguf package do, so their weights dequantize to inf or nan\n"
            FileHandle.standardError.write(Data(("warning: " + message).utf8))
        }
        let over = overflowing > 0 ? " over the \(finite.count - overflowing) finite blocks" : ""
        print(String(format: "quantization error%@: max abs %.6g, RMSE %.6g, SNR %.2f dB", over, acc.maxAbs, acc.rmse, acc.snrDB))
    }
}

struct Dequant: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Dequantize raw GGUF block bytes (Q4_0, Q4_1, Q8_0, Q4_K, Q6_K) to a float32 .npy.")

    @Option(help: "q4_0, q4_1, q8_0, q4_k or q6_k") var format: QuantFormat
    @Option(help: "Input file of block bytes.") var input: String
    @Option(help: "ROWSxCOLS of the weight matrix (cols a multiple of the block size: 32, or 256 for q4_k and q6_k).")
    var shape: String
    @Option(help: "Output .npy.") var output: String

    func run() throws {
        let dims = try Shapes.dims(shape, count: 2, what: "--shape")
        try Int4.checkShape(rows: dims[0], cols: dims[1], format: format)
        let data = try FileIO.read(input)
        let q: QuantizedMatrix
        do { q = try QuantizedMatrix(format: format, rows: dims[0], cols: dims[1], bytes: [UInt8](data)) } catch let e as KernelError {
            throw FileError(input, "\(e)")
        }
        try NPY.write(Int4.dequantize(q), to: output)
        print("\(format.rawValue): \(dims[0])x\(dims[1]) dequantized to \(output)")
    }
}
