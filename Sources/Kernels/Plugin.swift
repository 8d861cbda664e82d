import COpBenchPlugin
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

// External variants: kernels in a shared library that implements include/opbench_plugin.h.
// Loaded variants join their operator's family (`Matmul.variants` and its siblings), so every
// tool that lists, verifies, benches or plans built-in variants takes them too.

/// A plugin that could not be loaded: the path and what was wrong with it.
public struct PluginError: Error, Equatable, CustomStringConvertible, Sendable {
    public let path: String
    public let reason: String
    public init(_ path: String, _ reason: String) { self.path = path; self.reason = reason }
    public var description: String { "plugin \(path): \(reason)" }
}

/// What a plugin variant declared about the cases it runs.
public struct PluginCaps: Sendable, Equatable {
    /// `OPBENCH_MATMUL_*` / `OPBENCH_SOFTMAX_*` bits.
    public let flags: UInt32
    /// The most threads it runs (nil: any count).
    public let maxThreads: Int?

    public var matmulKN: Bool { flags & UInt32(OPBENCH_MATMUL_KN) != 0 }
    public var matmulNK: Bool { flags & UInt32(OPBENCH_MATMUL_NK) != 0 }
    public var matmulBias: Bool { flags & UInt32(OPBENCH_MATMUL_BIAS) != 0 }
    public var softmaxCausal: Bool { flags & UInt32(OPBENCH_SOFTMAX_CAUSAL) != 0 }
}

/// What every plugin variant carries: where it came from, its names and declared capabilities.
public struct PluginVariantInfo: Sendable {
    /// The plugin's name (the middle part of the id).
    public let plugin: String
    /// The path the plugin was loaded from.
    public let path: String
    /// `<plugin>.<name>`: the variant name tools and plans use.
    public let name: String
    public let summary: String
    public let caps: PluginCaps
}

/// A plugin variant of any operator: its info and the call that turns a status code into a
/// typed error.
public protocol PluginKernel: Kernel {
    var info: PluginVariantInfo { get }
}

extension PluginKernel {
    public var name: String { info.name }
    public var summary: String { info.summary }
    public var caps: PluginCaps { info.caps }
}

/// A C function pointer is not `Sendable` to Swift; the ABI says a kernel may be called from
/// any thread (never concurrently with itself), so holding one across threads is sound.
struct CFunction<F>: @unchecked Sendable {
    let call: F
}

/// The registry of loaded plugins (process-wide; loading happens once, before any command runs).
public enum Plugins {
    struct Loaded: Sendable {
        let name: String
        let path: String
        let matmul: [PluginMatmul]
        let softmax: [PluginSoftmax]
        let layerNorm: [PluginLayerNorm]
        let rmsNorm: [PluginRMSNorm]
    }

    private static let loaded = Mutex<[Loaded]>([])

    static var all: [Loaded] { loaded.withLock { $0 } }
    static var matmul: [any MatmulKernel] { all.flatMap(\.matmul) }
    static var softmax: [any SoftmaxKernel] { all.flatMap(\.softmax) }
    static var layerNorm: [any LayerNormKernel] { all.flatMap(\.layerNorm) }
    static var rmsNorm: [any RMSNormKernel] { all.flatMap(\.rmsNorm) }

    /// The loaded plugins' names and paths, in load order.
    public static var names: [(name: String, path: String)] { all.map { ($0.name, $0.path) } }

    /// The operators the ABI covers.
    public static let operators = ["matmul", "softmax", "layernorm", "rmsnorm"]

    /// What the plugin variant `variant` (`<plugin>.<name>`) of `op` declared; nil for a
    /// built-in variant.
    public static func info(op: Op, variant: String) -> PluginVariantInfo? {
        let kernels: [any PluginKernel]
        switch op.rawValue {
        case "matmul": kernels = all.flatMap(\.matmul)
        case "softmax": kernels = all.flatMap(\.softmax)
        case "layernorm": kernels = all.flatMap(\.layerNorm)
        case "rmsnorm": kernels = all.flatMap(\.rmsNorm)
        default: return nil
        }
        return kernels.first { $0.name == variant }?.info
    }

    /// Loads the plugin at `path` and registers its variants; returns the plugin's name.
    /// Every check is made before anything is registered, so a bad plugin leaves no variant
    /// behind (and its library is closed again).
    @discardableResult
    public static func load(_ path: String) throws -> String {
        guard let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL) else {
            let why = dlerror().map { String(cString: $0) } ?? "dlopen failed"
            throw PluginError(path, "cannot be loaded: \(why)")
        }
        do {
            return try register(handle: handle, path: path)
        } catch {
            dlclose(handle)
            throw error
        }
    }

    private static func register(handle: UnsafeMutableRawPointer, path: String) throws -> String {
        guard let symbol = dlsym(handle, "opbench_plugin_entry") else {
            throw PluginError(path, "has no symbol opbench_plugin_entry (see include/opbench_plugin.h)")
        }
        typealias Entry = @convention(c) () -> UnsafePointer<opbench_plugin>?
        let entry = unsafeBitCast(symbol, to: Entry.self)
        guard let table = entry()?.pointee else { throw PluginError(path, "opbench_plugin_entry returned NULL") }
        guard table.abi_version == OPBENCH_PLUGIN_ABI_VERSION else {
            throw PluginError(
                path, "was built for plugin ABI version \(table.abi_version); this opbench speaks version \(OPBENCH_PLUGIN_ABI_VERSION)")
        }
        let name = try identifier(table.name, what: "plugin name", path: path)
        guard (1...256).contains(table.count), let list = table.variants else {
            throw PluginError(path, "declares \(table.count) variants\(table.variants == nil ? " at NULL" : ""); 1 to 256 expected")
        }
        var matmul: [PluginMatmul] = [], softmax: [PluginSoftmax] = []
        var layerNorm: [PluginLayerNorm] = [], rmsNorm: [PluginRMSNorm] = []
        var seen = Set<String>()
        for i in 0..<Int(table.count) {
            let v = list[i]
            let where_ = "variant \(i)"
            let op = try identifier(v.op, what: "\(where_): op", path: path)
            let short = try identifier(v.name, what: "\(where_): name", path: path)
            let id = "\(op).\(name).\(short)"
            guard seen.insert("\(op).\(short)").inserted else { throw PluginError(path, "\(id) is declared twice") }
            let summary = try text(v.summary, limit: 200, what: "\(id): summary", path: path)
            guard v.max_threads >= 0 else { throw PluginError(path, "\(id): max_threads \(v.max_threads) is negative") }
            let known = UInt32(OPBENCH_MATMUL_KN | OPBENCH_MATMUL_NK | OPBENCH_MATMUL_BIAS | OPBENCH_SOFTMAX_CAUSAL)
            guard v.flags & ~known == 0 else {
                throw PluginError(path, "\(id): flags 0x\(String(v.flags, radix: 16)) has bits this ABI version does not define")
            }
            let caps = PluginCaps(flags: v.flags, maxThreads: v.max_threads == 0 ? nil : Int(v.max_threads))
            let set = [v.matmul != nil, v.softmax != nil, v.layernorm != nil, v.rmsnorm != nil]
            let expected = operators.firstIndex(of: op)
            guard let expected else {
                throw PluginError(path, "\(id): unknown operator '\(op)' (the plugin ABI covers \(operators.joined(separator: ", ")))")
            }
            guard set[expected], set.filter({ $0 }).count == 1 else {
                throw PluginError(
                    path, "\(id): exactly the \(op) function must be set (set: \(set.filter { $0 }.count), \(op): \(set[expected]))")
            }
            let info = PluginVariantInfo(plugin: name, path: path, name: "\(name).\(short)", summary: summary, caps: caps)
            switch op {
            case "matmul":
                guard caps.matmulKN || caps.matmulNK else {
                    throw PluginError(path, "\(id): flags name neither layout (OPBENCH_MATMUL_KN, OPBENCH_MATMUL_NK)")
                }
                matmul.append(PluginMatmul(info: info, fn: CFunction(call: v.matmul!)))
            case "softmax": softmax.append(PluginSoftmax(info: info, fn: CFunction(call: v.softmax!)))
            case "layernorm": layerNorm.append(PluginLayerNorm(info: info, fn: CFunction(call: v.layernorm!)))
            default: rmsNorm.append(PluginRMSNorm(info: info, fn: CFunction(call: v.rmsnorm!)))
            }
        }
        let plugin = Loaded(name: name, path: path, matmul: matmul, softmax: softmax, layerNorm: layerNorm, rmsNorm: rmsNorm)
        try loaded.withLock { list in
            if let other = list.first(where: { $0.name == name }) {
                throw PluginError(path, "plugin name '\(name)' is already taken by \(other.path)")
            }
            list.append(plugin)
        }
        return name
    }

    /// A NUL-terminated identifier of 1–32 characters from [a-z0-9_-], read without running
    /// past 33 bytes.
    private static func identifier(_ p: UnsafePointer<CChar>?, what: String, path: String) throws -> String {
        let s = try text(p, limit: 32, what: what, path: path)
        let allowed = Set("abcdefghijklmnopqrstuvwxyz0123456789_-".utf8)
        guard !s.isEmpty, s.utf8.allSatisfy(allowed.contains) else {
            throw PluginError(path, "\(what) '\(s)' must be 1 to 32 of a-z, 0-9, _ and -")
        }
        return s
    }

    /// A NUL-terminated UTF-8 string of at most `limit` bytes (a longer one is refused, read
    /// no further than limit + 1 bytes).
    private static func text(_ p: UnsafePointer<CChar>?, limit: Int, what: String, path: String) throws -> String {
        guard let p else { throw PluginError(path, "\(what) is NULL") }
        let n = strnlen(p, limit + 1)
        guard n <= limit else { throw PluginError(path, "\(what) is longer than \(limit) bytes") }
        let bytes = UnsafeBufferPointer(start: UnsafeRawPointer(p).assumingMemoryBound(to: UInt8.self), count: n)
        guard let s = String(validating: bytes, as: UTF8.self) else { throw PluginError(path, "\(what) is not UTF-8") }
        guard !s.unicodeScalars.contains(where: { $0.value < 0x20 }) else { throw PluginError(path, "\(what) contains control characters") }
        return s
    }
}

// MARK: - Calling a plugin kernel

extension PluginKernel {
    /// Calls `body` with a message buffer; a status other than OPBENCH_OK becomes a
    /// `KernelError` naming the variant and carrying the plugin's message.
    func call(op: Op, _ body: (UnsafeMutablePointer<CChar>, Int) -> Int32) throws {
        try withUnsafeTemporaryAllocation(of: CChar.self, capacity: 512) { buffer in
            let message = buffer.baseAddress!
            message[0] = 0
            let status = body(message, buffer.count)
            guard status != OPBENCH_OK else { return }
            message[buffer.count - 1] = 0
            var text = String(decoding: UnsafeRawBufferPointer(start: message, count: strlen(message)), as: UTF8.self)
            if text.isEmpty { text = "returned status \(status) without a message" }
            if status == OPBENCH_UNSUPPORTED { throw KernelError.unsupported(op: op.rawValue, variant: name, reason: text) }
            throw KernelError.failed(op: op.rawValue, variant: name, reason: text)
        }
    }

    func checkThreads(_ threads: Int, op: Op) throws {
        if let most = caps.maxThreads, threads > most {
            throw KernelError.unsupported(op: op.rawValue, variant: name, reason: "runs at most \(most) threads (asked for \(threads))")
        }
    }
}

/// A matmul variant of a plugin.
public struct PluginMatmul: MatmulKernel, PluginKernel {
    public let info: PluginVariantInfo
    let fn: CFunction<opbench_matmul_fn>

    public func run(
        _ a: MatrixView, _ b: MatrixView, layout: Matmul.BLayout, bias: UnsafeBufferPointer<Float>?,
        _ c: MutableMatrixView, threads: Int
    ) throws {
        let (m, k, n) = try Matmul.validate(a, b, layout: layout, bias: bias, c, threads: threads)
        try checkThreads(threads, op: Matmul.op)
        let layoutOK = layout == .kn ? caps.matmulKN : caps.matmulNK
        guard layoutOK else { throw KernelError.unsupported(op: "matmul", variant: name, reason: "declares no \(layout.rawValue) layout") }
        if bias != nil && !caps.matmulBias { throw KernelError.unsupported(op: "matmul", variant: name, reason: "declares no bias") }
        var args = opbench_matmul_args(
            m: Int64(m), k: Int64(k), n: Int64(n), a: a.base, lda: Int64(a.stride), b: b.base, ldb: Int64(b.stride),
            layout: layout == .kn ? OPBENCH_LAYOUT_KN : OPBENCH_LAYOUT_NK, threads: Int32(threads),
            bias: bias?.baseAddress, c: c.base, ldc: Int64(c.stride))
        try call(op: Matmul.op) { fn.call(&args, $0, $1) }
    }
}

/// A softmax variant of a plugin.
public struct PluginSoftmax: SoftmaxKernel, PluginKernel {
    public let info: PluginVariantInfo
    let fn: CFunction<opbench_softmax_fn>

    public func run(_ x: MatrixView, _ y: MutableMatrixView, options: Softmax.Options, threads: Int) throws {
        try Softmax.validate(x, y, options: options, threads: threads)
        try checkThreads(threads, op: Softmax.op)
        if options.causal && !caps.softmaxCausal {
            throw KernelError.unsupported(op: "softmax", variant: name, reason: "declares no causal mask")
        }
        var args = opbench_softmax_args(
            rows: Int64(x.rows), cols: Int64(x.cols), x: x.base, ldx: Int64(x.stride), y: y.base, ldy: Int64(y.stride),
            scale: options.scale, causal: options.causal ? 1 : 0, threads: Int32(threads))
        try call(op: Softmax.op) { fn.call(&args, $0, $1) }
    }
}

/// A layernorm variant of a plugin.
public struct PluginLayerNorm: LayerNormKernel, PluginKernel {
    public let info: PluginVariantInfo
    let fn: CFunction<opbench_norm_fn>

    public func run(
        _ x: MatrixView, gamma: UnsafeBufferPointer<Float>, beta: UnsafeBufferPointer<Float>, eps: Float, _ y: MutableMatrixView,
        threads: Int
    ) throws {
        try LayerNorm.validate(x, gamma: gamma, beta: beta, eps: eps, y, threads: threads)
        try checkThreads(threads, op: LayerNorm.op)
        var args = opbench_norm_args(
            rows: Int64(x.rows), cols: Int64(x.cols), x: x.base, ldx: Int64(x.stride), gamma: gamma.baseAddress,
            beta: beta.baseAddress, eps: eps, threads: Int32(threads), y: y.base, ldy: Int64(y.stride))
        try call(op: LayerNorm.op) { fn.call(&args, $0, $1) }
    }
}

/// An rmsnorm variant of a plugin.
public struct PluginRMSNorm: RMSNormKernel, PluginKernel {
    public let info: PluginVariantInfo
    let fn: CFunction<opbench_norm_fn>

    public func run(_ x: MatrixView, gamma: UnsafeBufferPointer<Float>, eps: Float, _ y: MutableMatrixView, threads: Int) throws {
        try RMSNorm.validate(x, gamma: gamma, eps: eps, y, threads: threads)
        try checkThreads(threads, op: RMSNorm.op)
        var args = opbench_norm_args(
            rows: Int64(x.rows), cols: Int64(x.cols), x: x.base, ldx: Int64(x.stride), gamma: gamma.baseAddress,
            beta: nil, eps: eps, threads: Int32(threads), y: y.base, ldy: Int64(y.stride))
        try call(op: RMSNorm.op) { fn.call(&args, $0, $1) }
    }
}
