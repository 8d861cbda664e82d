// The `auto` variant of every operator: the variant (and, for tunable families, the table of
// constants) that `opbench tune` chose for the shape and thread count of each call, read from
// a tuning file; simd at its defaults where the file says nothing.

/// One shape of one operator as its kernels see it at run time, with the thread count: what a
/// tuning file's entries are looked up by. Each family builds it from its run arguments
/// (`Matmul.tuningKey`, …), and the operator specs build the same key from a parsed shape, so
/// an entry tuned at `128x384x1152,nk` is found by the model pass's call of that shape.
public struct TuningKey: Hashable, Sendable {
    /// The family's sizes, in the order its `tuningKey` documents; unused lanes 0.
    public var sizes: SIMD8<Int>
    /// attention's mask (causal, window, global, block), nil for the other operators.
    public var pattern: AttentionPattern?
    public var threads: Int

    public init(_ sizes: [Int], pattern: AttentionPattern? = nil, threads: Int) {
        var s = SIMD8<Int>()
        for (i, v) in sizes.prefix(8).enumerated() { s[i] = v }
        self.sizes = s
        self.pattern = pattern
        self.threads = threads
    }

    /// A row-wise operator's key: rows, columns and an operator's flag (softmax's causal mask).
    public static func rows(_ rows: Int, _ cols: Int, flag: Int = 0, threads: Int) -> TuningKey {
        TuningKey([rows, cols, flag], threads: threads)
    }
}

/// What a tuning file chose for one shape and thread count: the variant, and the table of
/// constants it runs with (nil: its defaults).
public struct TunedChoice: Sendable {
    public let variant: String
    public let kernel: any Kernel
    public let table: (any TuningTable)?

    public init(variant: String, kernel: any Kernel, table: (any TuningTable)?) {
        self.variant = variant; self.kernel = kernel; self.table = table
    }
}

/// The choices the `auto` variants follow, by operator and key: installed from a tuning file
/// before any kernel runs (the CLI's `--tuning`), and not changed while kernels run.
public enum TunedChoices {
    nonisolated(unsafe) static var table: [Op: [TuningKey: TunedChoice]] = [:]

    /// Installs `choice` for `op` at `key` (replacing an earlier one).
    public static func install(_ choice: TunedChoice, op: Op, key: TuningKey) { table[op, default: [:]][key] = choice }

    /// Forgets every choice: `auto` runs simd at its defaults again.
    public static func removeAll() { table = [:] }

    /// How many choices are installed.
    public static var count: Int { table.values.reduce(0) { $0 + $1.count } }

    /// Lookups by `auto` variants since the last `resetCounts()` that found a choice (`hits`)
    /// and that ran simd at its defaults (`misses`): how much of a pass the tuning file covered.
    nonisolated(unsafe) public private(set) static var hits = 0
    nonisolated(unsafe) public private(set) static var misses = 0

    /// Zeroes `hits` and `misses`.
    public static func resetCounts() { (hits, misses) = (0, 0) }

    /// The choice for `op` at `key`, or nil; the key is only built when `op` has choices.
    @inline(__always)
    public static func choice(_ op: Op, _ key: @autoclosure () -> TuningKey) -> TunedChoice? {
        guard let byKey = table[op], let found = byKey[key()] else {
            misses &+= 1
            return nil
        }
        hits &+= 1
        return found
    }

    /// The kernel (as the family's kernel type `K`) and table an `auto` variant runs a call
    /// of `op` with: the choice installed for `key`, else `fallback` at its defaults.
    @inline(__always)
    static func resolve<K>(_ op: Op, _ key: @autoclosure () -> TuningKey, fallback: K) -> (kernel: K, table: (any TuningTable)?) {
        guard let c = choice(op, key()), let kernel = c.kernel as? K else { return (fallback, nil) }
        return (kernel, c.table)
    }

    /// The summary line every `auto` variant shows.
    static let summary = "the variant and constants 'opbench tune' chose for the shape and threads (--tuning FILE), else simd"
}

extension Matmul {
    /// The key of a matmul call: M, K, N, and 1 for `W[N×K]` (0 for `B[K×N]`).
    public static func tuningKey(m: Int, k: Int, n: Int, layout: BLayout, threads: Int) -> TuningKey {
        TuningKey([m, k, n, layout == .nk ? 1 : 0], threads: threads)
    }

    /// The tuned choice for each call (`TunedChoices`), else simd at its defaults.
    public struct Auto: MatmulKernel {
        public init() {}
        public var name: String { "auto" }
        public var summary: String { TunedChoices.summary }
        public var runsByDefault: Bool { false }

        public func run(
            _ a: MatrixView, _ b: MatrixView, layout: BLayout, bias: UnsafeBufferPointer<Float>?,
            _ c: MutableMatrixView, threads: Int
        ) throws {
            try tuned(m: a.rows, k: a.cols, n: layout == .kn ? b.cols : b.rows, layout: layout, threads: threads) {
                try $0.run(a, b, layout: layout, bias: bias, c, threads: threads)
            }
        }

        /// True: the tuned choice for a shape may be simd, which reads the panels.
        public var usesPackedWeights: Bool { true }

        public func run(
            _ a: MatrixView, packed w: PackedWeights, bias: UnsafeBufferPointer<Float>?,
            _ c: MutableMatrixView, threads: Int
        ) throws {
            try tuned(m: a.rows, k: a.cols, n: w.rows, layout: .nk, threads: threads) {
                try $0.run(a, packed: w, bias: bias, c, threads: threads)
            }
        }

        /// Runs `body` with the tuned choice for the call (its table installed), else simd.
        func tuned(m: Int, k: Int, n: Int, layout: BLayout, threads: Int, _ body: (any MatmulKernel) throws -> Void) throws {
            let (kernel, table) = TunedChoices.resolve(
                op, tuningKey(m: m, k: k, n: n, layout: layout, threads: threads), fallback: SIMD() as any MatmulKernel)
            try Matmul.withTable(table) { try body(kernel) }
        }
    }
}

extension Int4 {
    /// The key of a quantized linear: M, K, N and the weight format's position in `QuantFormat.allCases`.
    public static func tuningKey(m: Int, k: Int, n: Int, format: QuantFormat, threads: Int) -> TuningKey {
        TuningKey([m, k, n, QuantFormat.allCases.firstIndex(of: format) ?? -1], threads: threads)
    }

    /// The tuned choice for each call (`TunedChoices`), else simd at its defaults.
    public struct Auto: Int4Kernel {
        public init() {}
        public var name: String { "auto" }
        public var summary: String { TunedChoices.summary }
        public var runsByDefault: Bool { false }

        public func run(
            _ x: MatrixView, _ w: QuantizedMatrix, bias: UnsafeBufferPointer<Float>?,
            _ y: MutableMatrixView, threads: Int
        ) throws {
            let (kernel, table) = TunedChoices.resolve(
                op, tuningKey(m: x.rows, k: w.cols, n: w.rows, format: w.format, threads: threads), fallback: SIMD() as any Int4Kernel)
            try Int4.withTable(table) { try kernel.run(x, w, bias: bias, y, threads: threads) }
        }
    }
}

extension Attention {
    /// The key of an attention call: Tq, Tk, H, KV, D and the mask.
    public static func tuningKey(
        tq: Int, tk: Int, heads: Int, kvHeads: Int, headDim: Int, pattern: AttentionPattern, threads: Int
    ) -> TuningKey {
        TuningKey([tq, tk, heads, kvHeads, headDim], pattern: pattern, threads: threads)
    }

    /// The tuned choice for each call (`TunedChoices`), else simd at its defaults.
    public struct Auto: AttentionKernel {
        public init() {}
        public var name: String { "auto" }
        public var summary: String { TunedChoices.summary }
        public var runsByDefault: Bool { false }

        public func run(
            q: MatrixView, k: MatrixView, v: MatrixView, heads: Int, pattern: AttentionPattern,
            _ out: MutableMatrixView, threads: Int
        ) throws {
            let (kernel, table) = TunedChoices.resolve(
                op,
                tuningKey(
                    tq: q.rows, tk: k.rows, heads: heads, kvHeads: heads > 0 && q.cols % heads == 0 ? k.cols / (q.cols / heads) : 0,
                    headDim: heads > 0 ? q.cols / heads : 0, pattern: pattern, threads: threads),
                fallback: SIMD() as any AttentionKernel)
            try Attention.withTable(table) {
                try kernel.run(q: q, k: k, v: v, heads: heads, pattern: pattern, out, threads: threads)
            }
        }
    }
}

extension Softmax {
    /// The tuned choice for each call (`TunedChoices`, keyed by rows, columns and the causal
    /// mask), else simd.
    public struct Auto: SoftmaxKernel {
        public init() {}
        public var name: String { "auto" }
        public var summary: String { TunedChoices.summary }
        public var runsByDefault: Bool { false }

        public func run(_ x: MatrixView, _ y: MutableMatrixView, options: Options, threads: Int) throws {
            let key = TuningKey.rows(x.rows, x.cols, flag: options.causal ? 1 : 0, threads: threads)
            try TunedChoices.resolve(op, key, fallback: SIMD() as any SoftmaxKernel).kernel.run(x, y, options: options, threads: threads)
        }
    }
}

extension LayerNorm {
    /// The tuned choice for each call (`TunedChoices`, keyed by rows and columns), else simd.
    public struct Auto: LayerNormKernel {
        public init() {}
        public var name: String { "auto" }
        public var summary: String { TunedChoices.summary }
        public var runsByDefault: Bool { false }

        public func run(
            _ x: MatrixView, gamma: UnsafeBufferPointer<Float>, beta: UnsafeBufferPointer<Float>,
            eps: Float, _ y: MutableMatrixView, threads: Int
        ) throws {
            let kernel = TunedChoices.resolve(op, .rows(x.rows, x.cols, threads: threads), fallback: SIMD() as any LayerNormKernel).kernel
            try kernel.run(x, gamma: gamma, beta: beta, eps: eps, y, threads: threads)
        }
    }
}

extension RMSNorm {
    /// The tuned choice for each call (`TunedChoices`, keyed by rows and columns), else simd.
    public struct Auto: RMSNormKernel {
        public init() {}
        public var name: String { "auto" }
        public var summary: String { TunedChoices.summary }
        public var runsByDefault: Bool { false }

        public func run(_ x: MatrixView, gamma: UnsafeBufferPointer<Float>, eps: Float, _ y: MutableMatrixView, threads: Int) throws {
            let kernel = TunedChoices.resolve(op, .rows(x.rows, x.cols, threads: threads), fallback: SIMD() as any RMSNormKernel).kernel
            try kernel.run(x, gamma: gamma, eps: eps, y, threads: threads)
        }
    }
}

extension SwiGLU {
    /// The tuned choice for each call (`TunedChoices`, keyed by rows and columns), else simd.
    public struct Auto: SwiGLUKernel {
        public init() {}
        public var name: String { "auto" }
        public var summary: String { TunedChoices.summary }
        public var runsByDefault: Bool { false }

        public func run(_ gate: MatrixView, _ up: MatrixView, _ y: MutableMatrixView, threads: Int) throws {
            let kernel = TunedChoices.resolve(op, .rows(gate.rows, gate.cols, threads: threads), fallback: SIMD() as any SwiGLUKernel)
                .kernel
            try kernel.run(gate, up, y, threads: threads)
        }
    }
}

extension RoPE {
    /// The key of a rotary embedding: T, H, D, the rotary dimensions R, and 1 for the neox pairing.
    public static func tuningKey(tokens: Int, heads: Int, headDim: Int, rotaryDims: Int, pairing: RoPEPairing, threads: Int) -> TuningKey {
        TuningKey([tokens, heads, headDim, rotaryDims, pairing == .neox ? 1 : 0], threads: threads)
    }

    /// The tuned choice for each call (`TunedChoices`), else simd.
    public struct Auto: RoPEKernel {
        public init() {}
        public var name: String { "auto" }
        public var summary: String { TunedChoices.summary }
        public var runsByDefault: Bool { false }

        public func run(
            _ x: MatrixView, _ y: MutableMatrixView, heads: Int, headDim: Int, table: RoPETable, pairing: RoPEPairing,
            threads: Int
        ) throws {
            let key = tuningKey(
                tokens: x.rows, heads: heads, headDim: headDim, rotaryDims: table.rotaryDims, pairing: pairing, threads: threads)
            let kernel = TunedChoices.resolve(op, key, fallback: SIMD() as any RoPEKernel).kernel
            try kernel.run(x, y, heads: heads, headDim: headDim, table: table, pairing: pairing, threads: threads)
        }
    }
}
