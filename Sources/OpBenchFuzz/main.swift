import Foundation
import Harness
import Kernels
import Model

// libFuzzer target for every parser of untrusted input. Built only with
// `-sanitize=fuzzer,address` (Benchmarks/scripts/fuzz.sh); libFuzzer's driver gets control from
// `main`. OPBENCH_FUZZ selects the parser: npy, safetensors, gguf, shape, plan, results. A parser
// may refuse its input with an error; a crash, a hang or a leak is a finding.

typealias FuzzCallback = @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt

@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: FuzzCallback
) -> CInt

/// Runs one input through the selected parser, and what a parsed value leads to.
func fuzzOne(_ data: Data, target: String) {
    let text = String(decoding: data, as: UTF8.self)
    switch target {
    case "npy":
        _ = try? NPY.decode(data, path: "fuzz.npy")
    case "safetensors":
        if let file = try? SafeTensors(data: data, path: "fuzz.safetensors") {
            for (name, entry) in file.entries { _ = try? file.floats(name, shape: entry.shape) }
        }
    case "gguf":
        if let file = try? GGUF(data: data, path: "fuzz.gguf") {
            // Tensors up to a million elements are read (dequantized); the bytes of larger
            // ones were checked to lie inside the file, which is what can go wrong there.
            for t in file.tensors where t.elements <= 1 << 20 { _ = try? file.matrix(t) }
            _ = file.metadata.map(\.value.description)
            // The model loader: every architecture's metadata and tensor checks (a tensor must
            // lie inside the file, so what it reads is bounded by the input's size).
            _ = try? GGUFModel.load(file)
        }
    case "shape":
        for spec in Operators.all {
            if let shape = try? spec.shape(text) {
                _ = (shape.flops, shape.bytes, shape.memoryBytes, shape.canonical)
                _ = try? Workloads.checkMemory(shape)
            }
        }
    case "plan":
        _ = try? Plan.parse(text)
        _ = try? Plan.pattern(text)
    case "results":
        if let doc = try? ResultDocument.decode(data, path: "fuzz.json") {
            _ = Report.markdown([("fuzz", doc)])
            _ = Report.html([("fuzz", doc)])
            _ = Compare.cases(doc, doc, threshold: 0.05, alpha: 0.05, normalized: false)
            _ = Compare.gateCases(doc, doc, threshold: 0.05, alpha: 0.01)
        }
    default:
        FileHandle.standardError.write(Data("OPBENCH_FUZZ='\(target)': expected npy, safetensors, gguf, shape, plan or results\n".utf8))
        exit(2)
    }
}

let target = ProcessInfo.processInfo.environment["OPBENCH_FUZZ"] ?? ""
fuzzOne(Data(), target: target)  // checks the target name before libFuzzer starts
var argc = CommandLine.argc
var argv = CommandLine.unsafeArgv
let status = LLVMFuzzerRunDriver(&argc, &argv) { bytes, size in
    fuzzOne(bytes.map { Data(bytes: $0, count: size) } ?? Data(), target: ProcessInfo.processInfo.environment["OPBENCH_FUZZ"] ?? "")
    return 0
}
exit(status)
