import Harness
import Kernels

/// Runs a model with the variants a `Plan` names: prefill (a batch of tokens) and decode
/// (one token at a time against the KV cache), timing every operator call.
///
/// The KV cache is a K and a V buffer [capacity × KV·D] per layer: the K and V projections of
/// token t are written straight into row t, and attention reads all rows so far, so nothing is
/// copied between the projections and attention, and a decode step streams each cache
/// contiguously. With `kv=f16` each new K and V row is rounded to half precision as it is
/// written: the fp32 rows keep the rounded values (prefill attention and the other variants
/// read them), and a copy as halves is what attention.simd's decode path reads — the same
/// values, so both give the same result, from half the bytes.
public final class ModelRunner {
    public let weights: ModelWeights
    public let plan: Plan
    public let threads: Int
    /// The attention mask used (causal added for decoders).
    public let pattern: AttentionPattern
    /// Token capacity of the KV cache and scratch buffers.
    public let capacity: Int
    /// Tokens processed since `reset()`.
    public private(set) var position = 0
    /// Seconds spent per operator since `resetTimers()`.
    public private(set) var opSeconds: [String: Double] = [:]
    /// Which part of a pass the next calls belong to (set by whoever drives the runner).
    public var phase = CallSite.Phase.prefill
    /// When set (not nil), every operator call adds one to the count of its `CallSite`: the
    /// shapes `opbench model --what-if` measures each variant at.
    public var callLog: [CallSite: Int]?

    let matmul: any MatmulKernel
    let int4: any Int4Kernel
    let layerNorm: any LayerNormKernel
    let softmax: any SoftmaxKernel
    let attention: any AttentionKernel
    let rmsNorm: any RMSNormKernel
    let rope: any RoPEKernel
    let swiglu: any SwiGLUKernel
    let linearName: String

    // Scratch, capacity rows each.
    let kCaches: [AlignedBuffer]  // per layer [capacity × KV·D]
    let vCaches: [AlignedBuffer]  // per layer [capacity × KV·D]
    let kHalves: [AlignedBuffer]  // kv=f16: per layer [capacity × KV·D] halves
    let vHalves: [AlignedBuffer]
    let queryBuffer: AlignedBuffer  // queries [capacity × C]
    let residualBuffer: AlignedBuffer  // the residual stream [capacity × C]
    let normedBuffer: AlignedBuffer  // a norm's output, the next sublayer's input [capacity × C]
    let attnOutBuffer: AlignedBuffer  // attention's output, before the projection [capacity × C]
    let sublayerOutBuffer: AlignedBuffer  // a sublayer's output before the residual add [capacity × C]
    let mlpHiddenBuffer: AlignedBuffer  // the MLP's inner activations [capacity × F]
    let mlpUpBuffer: AlignedBuffer  // llama: the up projection [capacity × F]
    let logits: AlignedBuffer  // [vocab]
    let probs: AlignedBuffer  // [vocab]
    let embeddingRow: AlignedBuffer  // one dequantized token-embedding row [C]

    /// Prepares `weights` (fp32; quantized here when the plan asks) for `plan`.
    public init(weights: ModelWeights, plan: Plan, threads: Int, pattern: AttentionPattern, capacity: Int) throws {
        let cfg = weights.config
        try cfg.validate()
        guard (1...Check.maxThreads).contains(threads) else {
            throw ModelError.invalidOption(option: "--threads", value: "\(threads)", reason: "must be from 1 to \(Check.maxThreads)")
        }
        guard capacity >= 1, capacity <= cfg.maxPositions else {
            throw ModelError.invalidTokens(reason: "\(capacity) tokens exceed \(cfg.name)'s \(cfg.maxPositions) positions")
        }
        if cfg.architecture == .encoder && pattern.causal {
            throw ModelError.invalidOption(
                option: "--attention-pattern", value: pattern.description,
                reason: "\(cfg.name) is a bidirectional encoder; causal masking is for decoders")
        }
        var prepared: ModelWeights
        switch plan.weights {
        case .stored: prepared = weights
        case .f32: prepared = weights.dequantized()
        default: prepared = try weights.dequantized().quantized(plan.weights)
        }
        matmul = try Matmul.variant(plan.matmul)
        // The fp32 linears packed once for a matmul variant that reads packed weights, as
        // ONNX Runtime and ggml pack theirs at load (the LM head stays as it is: a pass runs
        // it on one row).
        if matmul.usesPackedWeights {
            for i in prepared.layers.indices {
                for (_, path) in prepared.layers[i].linears where prepared.layers[i][keyPath: path].quantized == nil {
                    prepared.layers[i][keyPath: path].packed = PackedWeights(prepared.layers[i][keyPath: path].weight)
                }
            }
        }
        self.weights = prepared
        self.plan = plan
        self.threads = plan.threads ?? threads
        var p = pattern
        if cfg.isDecoder { p.causal = true }
        try p.validate(tokens: capacity)
        self.pattern = p
        self.capacity = capacity
        int4 = try Int4.variant(plan.int4Variant)
        layerNorm = try LayerNorm.variant(plan.layernorm)
        softmax = try Softmax.variant(plan.softmax)
        attention = try Attention.variant(plan.attention)
        rmsNorm = try RMSNorm.variant(plan.rmsnorm)
        rope = try RoPE.variant(plan.rope)
        swiglu = try SwiGLU.variant(plan.swiglu)
        linearName = (self.weights.layers.contains { $0.q.quantized != nil || $0.fc1.quantized != nil } ? Int4.op : Matmul.op).rawValue
        let c = cfg.hidden, kv = cfg.kvDim
        kCaches = (0..<cfg.layers).map { _ in AlignedBuffer(count: capacity * kv) }
        vCaches = (0..<cfg.layers).map { _ in AlignedBuffer(count: capacity * kv) }
        let halves = plan.kv == .f16 ? cfg.layers : 0
        kHalves = (0..<halves).map { _ in AlignedBuffer(count: (capacity * kv + 1) / 2) }
        vHalves = (0..<halves).map { _ in AlignedBuffer(count: (capacity * kv + 1) / 2) }
        queryBuffer = AlignedBuffer(count: capacity * c)
        residualBuffer = AlignedBuffer(count: capacity * c)
        normedBuffer = AlignedBuffer(count: capacity * c)
        attnOutBuffer = AlignedBuffer(count: capacity * c)
        sublayerOutBuffer = AlignedBuffer(count: capacity * c)
        mlpHiddenBuffer = AlignedBuffer(count: capacity * cfg.ff)
        mlpUpBuffer = AlignedBuffer(count: cfg.architecture == .llama ? capacity * cfg.ff : 1)
        logits = AlignedBuffer(count: cfg.vocab)
        probs = AlignedBuffer(count: cfg.vocab)
        embeddingRow = AlignedBuffer(count: c)
    }

    public var config: ModelConfig { weights.config }

    /// Empties the KV cache.
    public func reset() { position = 0 }
    public func resetTimers() { opSeconds = [:] }

    // MARK: - timing

    @inline(__always)
    func timed<R>(_ op: String, _ body: () throws -> R) rethrows -> R {
        let t0 = Machine.now()
        let r = try body()
        opSeconds[op, default: 0] += Machine.now() - t0
        return r
    }

    /// `timed`, and a count for the call's site in `callLog` when it is kept (the site is only
    /// built then).
    @inline(__always)
    func timed<R>(_ op: String, site: @autoclosure () -> CallSite, _ body: () throws -> R) rethrows -> R {
        let r = try timed(op, body)
        if callLog != nil { callLog![site(), default: 0] += 1 }
        return r
    }

    /// The call site of an operator call of `op` at `shape` (the operator spec's spelling).
    func site(_ op: Op, _ shape: String, tensor: String? = nil, layer: Int? = nil, format: QuantFormat? = nil) -> CallSite {
        CallSite(phase: phase, op: op.rawValue, shape: shape, tensor: tensor, layer: layer, format: format?.rawValue)
    }

    // MARK: - building blocks

    func view(_ b: AlignedBuffer, rows: Int, cols: Int) -> MutableMatrixView {
        MutableMatrixView(base: b.pointer, rows: rows, cols: cols, stride: cols)
    }

    /// The call site of a linear of M = `rows`: a matmul `M×K×N,nk`, or an int4 `M×K×N[,format]`.
    func linearSite(_ rows: Int, _ lin: Linear, tensor: String, layer: Int?) -> CallSite {
        let shape = "\(rows)x\(lin.inFeatures)x\(lin.outFeatures)"
        guard let q = lin.quantized else { return site(Matmul.op, shape + ",nk", tensor: tensor, layer: layer) }
        return site(Int4.op, shape + (q.format == .q4_0 ? "" : ",\(q.format.rawValue)"), tensor: tensor, layer: layer, format: q.format)
    }

    /// `out = input·Wᵀ (+ bias)` for linear `lin`, tensor `tensor` (`q`, `k`, `v`, `proj`,
    /// `fc1`, `up`, `fc2`, `head`) of layer `layer`.
    func linear(_ input: MatrixView, _ lin: Linear, _ out: MutableMatrixView, tensor: String, layer: Int?) throws {
        try timed(linearName, site: linearSite(input.rows, lin, tensor: tensor, layer: layer)) {
            try withBias(lin.bias) { bias in
                if let q = lin.quantized {
                    // A tensor in a format the plan's int4 variant does not run (a plugin's
                    // `Int4Kernel.supports`) takes int4.simd, as the plan's documentation says.
                    let kernel: any Int4Kernel = int4.supports(q.format) ? int4 : Int4.SIMD()
                    try kernel.run(input, q, bias: bias, out, threads: threads)
                } else if let packed = lin.packed {
                    try matmul.run(input, packed: packed, bias: bias, out, threads: threads)
                } else {
                    try matmul.run(input, lin.weight.unsafeView, layout: .nk, bias: bias, out, threads: threads)
                }
            }
        }
    }

    func withBias<R>(_ bias: [Float]?, _ body: (UnsafeBufferPointer<Float>?) throws -> R) rethrows -> R {
        guard let bias else { return try body(nil) }
        return try bias.withUnsafeBufferPointer { try body($0) }
    }

    /// The architecture's norm: RMSNorm (γ only) for `llama`, LayerNorm otherwise.
    func norm(_ input: MatrixView, _ n: Norm, _ out: MutableMatrixView) throws {
        let shape = "\(input.rows)x\(input.cols)"
        if config.architecture == .llama {
            return try timed(RMSNorm.op.rawValue, site: site(RMSNorm.op, shape)) {
                try n.gamma.withUnsafeBufferPointer { g in try rmsNorm.run(input, gamma: g, eps: config.eps, out, threads: threads) }
            }
        }
        try timed(LayerNorm.op.rawValue, site: site(LayerNorm.op, shape)) {
            try n.gamma.withUnsafeBufferPointer { g in
                try n.beta.withUnsafeBufferPointer { b in
                    try layerNorm.run(input, gamma: g, beta: b, eps: config.eps, out, threads: threads)
                }
            }
        }
    }

    func add(_ a: MatrixView, into b: MutableMatrixView) throws {
        try timed("add") { try Elementwise.add(a, into: b, threads: threads) }
    }

    // MARK: - forward

    /// Checks token ids (and token types) against the vocabulary and the remaining capacity.
    public func validate(tokens: [Int], types: [Int]?) throws {
        let cfg = config
        guard !tokens.isEmpty else { throw ModelError.invalidTokens(reason: "no tokens given") }
        if let i = tokens.firstIndex(where: { $0 < 0 || $0 >= cfg.vocab }) {
            throw ModelError.invalidTokens(reason: "token \(i) is id \(tokens[i]), outside \(cfg.name)'s vocabulary 0..<\(cfg.vocab)")
        }
        guard position + tokens.count <= capacity else {
            throw ModelError.invalidTokens(
                reason:
                    "\(position + tokens.count) tokens exceed the capacity of \(capacity) (\(cfg.name) has \(cfg.maxPositions) positions)")
        }
        if let types {
            guard cfg.architecture == .encoder else {
                throw ModelError.invalidTokens(reason: "token types are for encoders; \(cfg.name) is a decoder")
            }
            guard types.count == tokens.count else {
                throw ModelError.invalidTokens(reason: "\(types.count) token types for \(tokens.count) tokens")
            }
            if let i = types.firstIndex(where: { $0 < 0 || $0 >= cfg.typeVocab }) {
                throw ModelError.invalidTokens(reason: "token type \(i) is \(types[i]), outside 0..<\(cfg.typeVocab)")
            }
        }
    }

    /// Runs `tokens` (the next positions of the sequence) through the model and returns a
    /// view of their final hidden states [T × C] (valid until the next call). An encoder takes
    /// the whole sequence in one call; a decoder any number of calls (prefill, then decode).
    public func forward(_ tokens: [Int], types: [Int]? = nil) throws -> MatrixView {
        let cfg = config
        try validate(tokens: tokens, types: types)
        if cfg.architecture == .encoder && position > 0 {
            throw ModelError.invalidTokens(reason: "\(cfg.name) is an encoder: give the whole sequence in one pass (reset first)")
        }
        let t = tokens.count, c = cfg.hidden, kvc = cfg.kvDim, p0 = position
        let residual = view(residualBuffer, rows: t, cols: c)  // [T × C]
        let normed = view(normedBuffer, rows: t, cols: c)  // [T × C]
        let attnOut = view(attnOutBuffer, rows: t, cols: c)  // [T × C]
        let sublayerOut = view(sublayerOutBuffer, rows: t, cols: c)  // [T × C]
        let mlpHidden = view(mlpHiddenBuffer, rows: t, cols: cfg.ff)  // [T × F]
        let q = view(queryBuffer, rows: t, cols: c)  // [T × C], H heads of D
        // Llama: the rotation of positions p0 ..< p0 + T, once for every layer.
        let ropeTable =
            cfg.architecture == .llama
            ? try timed(RoPE.op.rawValue) {
                try RoPETable(p0: p0, count: t, rotaryDims: cfg.rotaryDims, theta: cfg.ropeTheta)
            } : nil
        // Layer i's K and V caches: all rows so far, and the rows these tokens write.
        func kv(_ i: Int) -> (k: MutableMatrixView, v: MutableMatrixView) {
            (view(kCaches[i], rows: p0 + t, cols: kvc), view(vCaches[i], rows: p0 + t, cols: kvc))
        }
        func project(_ input: MatrixView, _ l: LayerWeights, _ i: Int) throws -> (k: MatrixView, v: MatrixView) {
            let (k, v) = kv(i)
            try linear(input, l.q, q, tensor: "q", layer: i)  // q is (T, C) from W (C, C)
            try linear(input, l.k, k.rows(p0, t), tensor: "k", layer: i)  // k, v rows are (T, KV·D) from W (KV·D, C)
            try linear(input, l.v, v.rows(p0, t), tensor: "v", layer: i)
            if let ropeTable {
                let d = cfg.headDim, pairing = cfg.ropePairing
                // The spec's spelling of a rotation of `heads` heads (positions do not change its cost).
                func ropeShape(_ heads: Int) -> String {
                    "T=\(t),H=\(heads),D=\(d)" + (cfg.rotaryDims != d ? ",R=\(cfg.rotaryDims)" : "")
                        + (cfg.ropeTheta != 10000 ? ",theta=\(Int(cfg.ropeTheta))" : "") + (pairing == .neox ? ",neox" : "")
                }
                try timed(RoPE.op.rawValue, site: site(RoPE.op, ropeShape(cfg.heads))) {
                    try rope.run(q.readOnly, q, heads: cfg.heads, headDim: d, table: ropeTable, pairing: pairing, threads: threads)
                }
                let kNew = k.rows(p0, t)
                try timed(RoPE.op.rawValue, site: site(RoPE.op, ropeShape(cfg.kvHeads))) {
                    try rope.run(kNew.readOnly, kNew, heads: cfg.kvHeads, headDim: d, table: ropeTable, pairing: pairing, threads: threads)
                }
            }
            if plan.kv == .f16 {
                timed("kv-f16") {
                    storeHalves(k.rows(p0, t), into: halves(kHalves[i]) + p0 * kvc)
                    storeHalves(v.rows(p0, t), into: halves(vHalves[i]) + p0 * kvc)
                }
            }
            return (k.readOnly, v.readOnly)
        }
        // Attention of these tokens: from the halves when the cache holds them and the decode
        // path takes the step, else from the fp32 rows.
        func attend(_ i: Int, _ k: MatrixView, _ v: MatrixView, _ out: MutableMatrixView) throws {
            let tk = p0 + t
            let shape =
                "T=\(tk)" + (t != tk ? ",Tq=\(t)" : "") + ",H=\(cfg.heads)" + (cfg.kvHeads != cfg.heads ? ",KV=\(cfg.kvHeads)" : "")
                + ",D=\(cfg.headDim)" + (pattern.description == "all" ? "" : "," + pattern.description)
            try timed(Attention.op.rawValue, site: site(Attention.op, shape)) {
                if plan.kv == .f16 && plan.attention == "simd" && t <= Attention.SIMD.decodeQueries {
                    let kh = HalfMatrixView(base: UnsafePointer(halves(kHalves[i])), rows: p0 + t, cols: kvc, stride: kvc)
                    let vh = HalfMatrixView(base: UnsafePointer(halves(vHalves[i])), rows: p0 + t, cols: kvc, stride: kvc)
                    try Attention.SIMD.decode(q: q.readOnly, k: kh, v: vh, heads: cfg.heads, pattern: pattern, out, threads: threads)
                } else {
                    try attention.run(q: q.readOnly, k: k, v: v, heads: cfg.heads, pattern: pattern, out, threads: threads)
                }
            }
        }
        timed("embed") { embed(tokens, types: types, at: p0, into: residual) }  // residual is (T, C)
        switch cfg.architecture {
        case .encoder:
            // Post-norm (BERT): each sublayer's output joins the residual stream, then a norm.
            if let n = weights.embeddingNorm { try norm(residual.readOnly, n, residual) }
            for (i, l) in weights.layers.enumerated() {
                let (k, v) = try project(residual.readOnly, l, i)  // q, k, v are (T, C) from W (C, C)
                try attend(i, k, v, attnOut)  // attnOut is (T, C)
                try linear(attnOut.readOnly, l.proj, sublayerOut, tensor: "proj", layer: i)  // W (C, C)
                try add(residual.readOnly, into: sublayerOut)
                try norm(sublayerOut.readOnly, l.norm1, residual)
                try linear(residual.readOnly, l.fc1, mlpHidden, tensor: "fc1", layer: i)  // mlpHidden is (T, F) from W (F, C)
                try timed("gelu") { try Elementwise.gelu(mlpHidden, kind: cfg.gelu, threads: threads) }
                try linear(mlpHidden.readOnly, l.fc2, sublayerOut, tensor: "fc2", layer: i)  // W (C, F)
                try add(residual.readOnly, into: sublayerOut)
                try norm(sublayerOut.readOnly, l.norm2, residual)
            }
            position = p0 + t
            return residual.readOnly
        case .decoder:
            // Pre-norm (GPT-2): each sublayer reads a normed copy and adds into the residual stream.
            for (i, l) in weights.layers.enumerated() {
                try norm(residual.readOnly, l.norm1, normed)  // normed is (T, C)
                let (k, v) = try project(normed.readOnly, l, i)  // q, k, v are (T, C) from W (C, C)
                try attend(i, k, v, attnOut)  // attnOut is (T, C)
                try linear(attnOut.readOnly, l.proj, sublayerOut, tensor: "proj", layer: i)  // W (C, C)
                try add(sublayerOut.readOnly, into: residual)
                try norm(residual.readOnly, l.norm2, normed)
                try linear(normed.readOnly, l.fc1, mlpHidden, tensor: "fc1", layer: i)  // mlpHidden is (T, F) from W (F, C)
                try timed("gelu") { try Elementwise.gelu(mlpHidden, kind: cfg.gelu, threads: threads) }
                try linear(mlpHidden.readOnly, l.fc2, sublayerOut, tensor: "fc2", layer: i)  // W (C, F)
                try add(sublayerOut.readOnly, into: residual)
            }
            if let n = weights.finalNorm { try norm(residual.readOnly, n, normed) }
            position = p0 + t
            return normed.readOnly
        case .llama:
            // Pre-RMSNorm; RoPE on Q and K in `project`; grouped K/V heads; SwiGLU MLP.
            let mlpUp = view(mlpUpBuffer, rows: t, cols: cfg.ff)  // [T × F]
            for (i, l) in weights.layers.enumerated() {
                try norm(residual.readOnly, l.norm1, normed)  // normed is (T, C)
                let (k, v) = try project(normed.readOnly, l, i)  // q (T, C); k, v (T, KV·D), rotated
                try attend(i, k, v, attnOut)  // attnOut is (T, C): H heads over KV groups
                try linear(attnOut.readOnly, l.proj, sublayerOut, tensor: "proj", layer: i)  // W_o (C, C)
                try add(sublayerOut.readOnly, into: residual)
                try norm(residual.readOnly, l.norm2, normed)
                try linear(normed.readOnly, l.fc1, mlpHidden, tensor: "fc1", layer: i)  // gate (T, F) from W (F, C)
                if let up = l.up { try linear(normed.readOnly, up, mlpUp, tensor: "up", layer: i) }  // up (T, F) from W (F, C)
                try timed(SwiGLU.op.rawValue, site: site(SwiGLU.op, "\(t)x\(cfg.ff)")) {
                    try swiglu.run(mlpHidden.readOnly, mlpUp.readOnly, mlpHidden, threads: threads)
                }
                try linear(mlpHidden.readOnly, l.fc2, sublayerOut, tensor: "fc2", layer: i)  // down: W (C, F)
                try add(sublayerOut.readOnly, into: residual)
            }
            if let n = weights.finalNorm { try norm(residual.readOnly, n, normed) }
            position = p0 + t
            return normed.readOnly
        }
    }

    func halves(_ b: AlignedBuffer) -> UnsafeMutablePointer<UInt16> {
        UnsafeMutableRawPointer(b.pointer).assumingMemoryBound(to: UInt16.self)
    }

    /// Rounds the rows of `rows` to half precision in place and writes their halves to `dst`
    /// (row-major, `rows.cols` per row).
    func storeHalves(_ rows: MutableMatrixView, into dst: UnsafeMutablePointer<UInt16>) {
        for r in 0..<rows.rows {
            let src = rows.row(r), out = dst + r * rows.cols
            for j in 0..<rows.cols {
                let h = Half.bits(src[j])
                out[j] = h
                src[j] = Half.float(h)
            }
        }
    }

    /// x[r] = E_token[tokens[r]] + E_pos[p0 + r] (+ E_type[types[r]]).
    func embed(_ tokens: [Int], types: [Int]?, at p0: Int, into residual: MutableMatrixView) {
        let c = config.hidden
        for (r, id) in tokens.enumerated() {
            let out = residual.row(r)
            let tok: UnsafePointer<Float>
            if let q = weights.tokenEmbeddingQuantized {
                let deq = Int4.dequantize(q, row: id)
                deq.withUnsafeBufferPointer { embeddingRow.pointer.update(from: $0.baseAddress!, count: c) }
                tok = UnsafePointer(embeddingRow.pointer)
            } else {
                tok = weights.tokenEmbedding.unsafeView.row(id)
            }
            if config.architecture == .llama {
                out.update(from: tok, count: c)
                continue
            }
            let pos = weights.positionEmbedding.unsafeView.row(p0 + r)
            let type =
                types.flatMap { ts in weights.tokenTypeEmbedding.map { $0.unsafeView.row(ts[r]) } }
                ?? weights.tokenTypeEmbedding?.unsafeView.row(0)
            for j in 0..<c {
                // Hugging Face's order: (token + type) + position for BERT, token + position for GPT-2.
                out[j] = type.map { (tok[j] + $0[j]) + pos[j] } ?? (tok[j] + pos[j])
            }
        }
    }

    /// The next-token distribution from the last of `hidden`'s rows (decoders): the LM head
    /// (`ModelWeights.head`: the tied token embedding, or Llama's own), then the plan's
    /// softmax. Returns the probabilities (valid until the next call) and their argmax.
    public func nextToken(after hidden: MatrixView) throws -> (probabilities: UnsafeBufferPointer<Float>, top1: Int) {
        let cfg = config
        guard cfg.isDecoder else {
            throw ModelError.invalidOption(option: "--preset", value: cfg.name, reason: "an encoder has no LM head")
        }
        let last = hidden.rows(hidden.rows - 1, 1)
        let lv = view(logits, rows: 1, cols: cfg.vocab), pv = view(probs, rows: 1, cols: cfg.vocab)
        try linear(last, weights.head, lv, tensor: "head", layer: nil)
        try timed(Softmax.op.rawValue, site: site(Softmax.op, "1x\(cfg.vocab)")) {
            try softmax.run(lv.readOnly, pv, options: .init(), threads: threads)
        }
        var best = 0
        for j in 1..<cfg.vocab where probs.pointer[j] > probs.pointer[best] { best = j }
        return (UnsafeBufferPointer(start: probs.pointer, count: cfg.vocab), best)
    }

    /// The logits behind the last `nextToken` (valid until the next call).
    public var lastLogits: UnsafeBufferPointer<Float> { UnsafeBufferPointer(start: logits.pointer, count: config.vocab) }
}

extension ModelRunner {
    /// The LM head's logits for every row of `hidden` (decoders), [rows × vocab]: the same
    /// head (in the plan's weight format) as `nextToken`, over all positions.
    public func logits(_ hidden: MatrixView) throws -> Matrix {
        let cfg = config
        guard cfg.isDecoder else {
            throw ModelError.invalidOption(option: "--save-logits", value: cfg.name, reason: "an encoder has no LM head")
        }
        var out = Matrix(rows: hidden.rows, cols: cfg.vocab)
        try out.withMutableView { ov in
            try linear(hidden, weights.head, ov, tensor: "head", layer: nil)
        }
        return out
    }
}

extension Linear {
    init(weight: Matrix, bias: [Float]?, quantized: QuantizedMatrix?) {
        self.init(weight: weight, bias: bias)
        self.quantized = quantized
    }
}
