#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
import COpenBLAS

/// A weight matrix W[N×K] (`[out, in]`) stored as GGUF blocks, row-major: each row is
/// K/blockSize consecutive blocks — the bytes a GGUF file holds for that tensor. A second
/// copy of the same weights, rearranged into planes of 16 interleaved rows and 32-weight
/// blocks (`Int4.Planes`) for `int4.simd`'s Q4 GEMV and `int4.act8`, is built with it (as
/// ggml's CPU backend repacks at load), so such a matrix takes about twice its GGUF size in
/// memory (the K-quants' planes keep fp32 factors per 32 weights, 1.3–1.5× their blocks).
///
/// The blocks live in an `AlignedBuffer` (2 MiB pages from 256 KiB up), not in a Swift array:
/// with 4 KiB pages the hardware prefetchers stop at every page boundary, and the decode GEMV
/// read weights from DRAM at about half its speed from L3 (docs/optimization-log.md).
public struct QuantizedMatrix: Sendable, Equatable {
    public let format: QuantFormat
    /// N: output features (rows).
    public let rows: Int
    /// K: input features (columns), a multiple of the format's block size.
    public let cols: Int
    /// rows · (cols/blockSize) · blockBytes.
    public let byteCount: Int
    @usableFromInline let storage: AlignedBuffer
    /// The same blocks rearranged for `int4.simd`'s GEMV, built once with the matrix (as a
    /// GEMM packs its operand); see `Int4.Planes`.
    @usableFromInline let planes: AlignedBuffer
    /// Where the planes keep scales, minima and weight units (`Int4.Planes.Layout`).
    @usableFromInline let layout: Int4.Planes.Layout

    /// Wraps raw block bytes (copied), checking the sizes.
    public init(format: QuantFormat, rows: Int, cols: Int, bytes: [UInt8]) throws {
        try Int4.checkShape(rows: rows, cols: cols, format: format)
        let expected = rows * (cols / format.blockSize) * format.blockBytes
        guard bytes.count == expected else {
            throw KernelError.invalidArgument(
                op: "int4", argument: "bytes", value: "\(bytes.count) bytes",
                reason: "\(format.rawValue) \(rows)x\(cols) needs \(expected) bytes (\(format.blockBytes) per \(format.blockSize) weights)")
        }
        try self.init(format: format, rows: rows, cols: cols) { dst in
            bytes.withUnsafeBytes { dst.copyMemory(from: $0.baseAddress!, byteCount: expected) }
        }
    }

    /// Wraps `rows·(cols/blockSize)·blockBytes` block bytes at `bytes` (copied; e.g. a
    /// memory-mapped GGUF tensor).
    public init(format: QuantFormat, rows: Int, cols: Int, bytes: UnsafeRawPointer) throws {
        try Int4.checkShape(rows: rows, cols: cols, format: format)
        let count = rows * (cols / format.blockSize) * format.blockBytes
        try self.init(format: format, rows: rows, cols: cols) { $0.copyMemory(from: bytes, byteCount: count) }
    }

    private init(format: QuantFormat, rows: Int, cols: Int, fill: (UnsafeMutableRawPointer) -> Void) throws {
        let expected = rows * (cols / format.blockSize) * format.blockBytes
        self.format = format; self.rows = rows; self.cols = cols; self.byteCount = expected
        let storage = AlignedBuffer(count: (expected + 3) / 4)
        fill(UnsafeMutableRawPointer(storage.pointer))
        self.storage = storage
        let nb = cols / 32, groups = Int4.Planes.rowGroups(rows)
        let layout = Int4.Planes.Layout(format, groups: groups, blocks: nb)
        self.layout = layout
        let planes = AlignedBuffer(count: (layout.unitsOffset + layout.unitBytes * groups * nb + 3) / 4)
        self.planes = planes
        let src = UnsafeRawPointer(storage.pointer), dst = UnsafeMutableRawPointer(planes.pointer)
        memset(dst, 0, layout.unitsOffset + layout.unitBytes * groups * nb)
        // Block b of row r: its scale(s) at slot (r/16·nb + b)·16 + r mod 16, its bytes in the
        // 32-bit lane r mod 16 of the unit's vectors.
        let vectors = layout.unitBytes / 64
        @inline(__always) func put(row r: Int, block b: Int, _ bytes: UnsafeRawPointer, xor flip: UInt32 = 0) {
            let unit = dst + layout.unitsOffset + ((r / 16) * nb + b) * layout.unitBytes
            for v in 0..<vectors {
                unit.storeBytes(
                    of: bytes.loadUnaligned(fromByteOffset: 4 * v, as: UInt32.self) ^ flip, toByteOffset: 64 * v + 4 * (r % 16),
                    as: UInt32.self)
            }
        }
        @inline(__always) func slot(_ r: Int, _ b: Int) -> Int { ((r / 16) * nb + b) * 16 + r % 16 }
        let bb = format.blockBytes
        switch format {
        case .q4_0, .q4_1, .q8_0:
            // fp16 scales (Q4_1: and minima) as stored; Q8_0's signed quants offset by 128 (as
            // unsigned bytes, the operand `vpdpbusd` wants unsigned).
            let off = format == .q8_0 ? 2 : format.nibbleOffset
            for r in 0..<rows {
                for b in 0..<nb {
                    let blk = src + (r * nb + b) * bb
                    dst.storeBytes(of: blk.loadUnaligned(as: UInt16.self), toByteOffset: 2 * slot(r, b), as: UInt16.self)
                    if format == .q4_1 {
                        dst.storeBytes(
                            of: blk.loadUnaligned(fromByteOffset: 2, as: UInt16.self), toByteOffset: layout.secondOffset + 2 * slot(r, b),
                            as: UInt16.self)
                    }
                    put(row: r, block: b, blk + off, xor: format == .q8_0 ? 0x8080_8080 : 0)
                }
            }
        case .q4_k, .q6_k:
            // Per 32 weights, the unsigned levels q and fp32 factors (exact products of the
            // block's fp16 d and its integer sub-block scales): Q4_K as Q4_1 (scale d·sc_s,
            // minimum −dmin·m_s; the nibbles in Q4_0's order), Q6_K as bytes q (0…63, the
            // kernel subtracts 32) with one scale d·sc per 16 weights (first and second half).
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 32) { tmp in
                let levels = tmp.baseAddress!, raw = UnsafeRawPointer(levels)
                for r in 0..<rows {
                    for sb in 0..<(cols / 256) {
                        let blk = (src + (r * (cols / 256) + sb) * bb).assumingMemoryBound(to: UInt8.self)
                        for s in 0..<8 {
                            let b = 8 * sb + s
                            let (first, second) = Int4.Planes.kLevels(blk, format: format, subBlock: s, into: levels)
                            dst.storeBytes(of: first, toByteOffset: 4 * slot(r, b), as: Float.self)
                            dst.storeBytes(of: second, toByteOffset: layout.secondOffset + 4 * slot(r, b), as: Float.self)
                            put(row: r, block: b, raw)
                        }
                    }
                }
            }
        }
    }

    /// Calls `body` with the planes (`Int4.Planes`): `scales` and `mins` hold the 32-weight
    /// block b of row r at ((r/16)·(K/32) + b)·16 + r mod 16 (`mins` is `scales` for Q4_0 and
    /// Q8_0, which have none); `nibbles` holds rows 16·g … 16·g + 15, block b, as 256 bytes at
    /// (g·(K/32) + b)·256 (Q8_0: the quants + 128 as 512 bytes at (g·(K/32) + b)·512). For the
    /// K-quants both arrays hold fp32 (read them through a raw pointer): Q4_K's scales and
    /// minima with nibbles as Q4_0's, Q6_K's first- and second-half scales with its 6-bit
    /// levels as bytes (see `Int4.Planes.kLevels`).
    @inlinable
    public func withPlanes<R>(
        _ body: (
            _ scales: UnsafePointer<UInt16>, _ mins: UnsafePointer<UInt16>,
            _ nibbles: UnsafePointer<UInt8>
        ) throws -> R
    ) rethrows -> R {
        try withExtendedLifetime(planes) {
            let raw = UnsafeRawPointer(planes.pointer)
            let scales = raw.assumingMemoryBound(to: UInt16.self)
            return try body(
                scales, (raw + layout.secondOffset).assumingMemoryBound(to: UInt16.self),
                (raw + layout.unitsOffset).assumingMemoryBound(to: UInt8.self))
        }
    }

    /// The block bytes (a copy).
    public var bytes: [UInt8] { withUnsafeBytes { Array($0) } }

    /// Calls `body` with the block bytes in place.
    @inlinable
    public func withUnsafeBytes<R>(_ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        try withExtendedLifetime(storage) {
            try body(UnsafeBufferPointer(start: UnsafeRawPointer(storage.pointer).assumingMemoryBound(to: UInt8.self), count: byteCount))
        }
    }

    public static func == (a: QuantizedMatrix, b: QuantizedMatrix) -> Bool {
        a.format == b.format && a.rows == b.rows && a.cols == b.cols
            && a.withUnsafeBytes { x in b.withUnsafeBytes { y in memcmp(x.baseAddress!, y.baseAddress!, a.byteCount) == 0 } }
    }

    /// Blocks per row (K/blockSize).
    public var blocksPerRow: Int { cols / format.blockSize }
    /// Bytes per row.
    public var rowBytes: Int { blocksPerRow * format.blockBytes }
}

/// An int4 weight-only quantized linear variant: y[M×N] = x[M×K]·dequant(W[N×K])ᵀ (+ bias).
public protocol Int4Kernel: Kernel {
    func run(
        _ x: MatrixView, _ w: QuantizedMatrix, bias: UnsafeBufferPointer<Float>?,
        _ y: MutableMatrixView, threads: Int) throws
    /// Whether the variant runs weights in `format`; `run` throws `KernelError.unsupported`
    /// for the others, and the tools leave such cases out (saying so).
    func supports(_ format: QuantFormat) -> Bool
}

extension Int4Kernel {
    public func supports(_ format: QuantFormat) -> Bool { true }
}

/// Int4 quantization (GGUF Q4_0 / Q4_1): quantize, dequantize, and the quantized linear.
///
/// Quantization follows ggml's reference quantizer (and the gguf package, which matches it
/// byte for byte): Q4_0 takes the element of largest |x| (the first on ties) as `max`,
/// d = max / −8, id = 1/d (0 if d = 0), q = min(15, trunc(x·id + 8.5)); Q4_1 takes min and
/// max, d = (max − min)/15, q = min(15, trunc((x − min)·id + 0.5)). Every step is one fp32
/// rounding; d and m are stored as fp16 (round to nearest even) but id uses the fp32 d.
///
/// Linear accuracy vs the fp64 product of the dequantized weights: the same γ_K·Σ|x||w|
/// bound as matmul, plus one rounding when the per-block scale is applied after the sum
/// ((K + 2)·u in all).
public enum Int4: OperatorFamily {
    /// The operator name in ids, results and plans.
    public static let op = Op.int4

    /// Registered variants, in the order tools list them.
    public static let variants: [any Int4Kernel] = [Naive(), SIMD(), BLAS(), Act8(), Auto()]

    /// Throws unless K is a positive multiple of the format's block size (32, or 256 for
    /// the K-quants).
    public static func checkK(_ k: Int, format: QuantFormat) throws {
        guard k > 0, k % format.blockSize == 0 else {
            throw KernelError.invalidArgument(
                op: "int4", argument: "K", value: "\(k)",
                reason: "must be a positive multiple of \(format.blockSize) for \(format.rawValue)")
        }
    }

    /// Throws unless rows > 0, K suits the format and the block bytes' count fits in Int.
    public static func checkShape(rows: Int, cols: Int, format: QuantFormat) throws {
        try Check.positive(rows, "rows", op: "int4")
        try checkK(cols, format: format)
        let (perRow, o1) = (cols / format.blockSize).multipliedReportingOverflow(by: format.blockBytes)
        let (_, o2) = perRow.multipliedReportingOverflow(by: rows)
        guard !o1, !o2 else {
            throw KernelError.invalidArgument(
                op: "int4", argument: "shape", value: "\(rows)x\(cols)", reason: "\(format.rawValue) block bytes overflow")
        }
    }

    // MARK: - quantize / dequantize

    /// Quantizes W[N×K] (K a multiple of the block size, all values finite) row by row.
    public static func quantize(_ w: MatrixView, format: QuantFormat) throws -> QuantizedMatrix {
        try w.validate(op: "int4", argument: "W")
        try checkShape(rows: w.rows, cols: w.cols, format: format)
        let nb = w.cols / format.blockSize
        var bytes = [UInt8](repeating: 0, count: w.rows * nb * format.blockBytes)
        try bytes.withUnsafeMutableBufferPointer { out in
            for r in 0..<w.rows {
                let row = w.row(r)
                for j in 0..<w.cols where !row[j].isFinite {
                    throw KernelError.invalidArgument(
                        op: "int4", argument: "W[\(r), \(j)]", value: "\(row[j])", reason: "weights must be finite to quantize")
                }
                for b in 0..<nb {
                    quantizeBlock(row + b * format.blockSize, format: format, into: out.baseAddress! + (r * nb + b) * format.blockBytes)
                }
            }
        }
        return try QuantizedMatrix(format: format, rows: w.rows, cols: w.cols, bytes: bytes)
    }

    /// Quantizes one block's `format.blockSize` floats (see the rules on `Int4` and `QuantBlocks`).
    public static func quantizeBlock(_ x: UnsafePointer<Float>, format: QuantFormat, into dst: UnsafeMutablePointer<UInt8>) {
        switch format {
        case .q8_0: return QuantBlocks.quantizeQ8_0(x, into: dst)
        case .q4_k: return QuantBlocks.quantizeQ4_K(x, into: dst)
        case .q6_k: return QuantBlocks.quantizeQ6_K(x, into: dst)
        case .q4_0, .q4_1: break
        }
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 32) { buf in
            quantizeBlock(x, format: format, into: dst, scratch: buf.baseAddress!)
        }
    }

    static func quantizeBlock(
        _ x: UnsafePointer<Float>, format: QuantFormat, into dst: UnsafeMutablePointer<UInt8>,
        scratch q: UnsafeMutablePointer<UInt8>
    ) {
        switch format {
        case .q4_0:
            var amax: Float = 0, maxv: Float = 0
            for j in 0..<32 where abs(x[j]) > amax { amax = abs(x[j]); maxv = x[j] }
            let d = maxv / -8
            let id: Float = d == 0 ? 0 : 1 / d
            for j in 0..<32 {
                let t = x[j] * id
                q[j] = nibble(t + 8.5)
            }
            storeHalf(d, dst)
        case .q4_1:
            var mn = x[0], mx = x[0]
            for j in 1..<32 { mn = Swift.min(mn, x[j]); mx = Swift.max(mx, x[j]) }
            let d = (mx - mn) / 15
            let id: Float = d == 0 ? 0 : 1 / d
            for j in 0..<32 {
                let t = (x[j] - mn) * id
                q[j] = nibble(t + 0.5)
            }
            storeHalf(d, dst)
            storeHalf(mn, dst + 2)
        case .q8_0, .q4_k, .q6_k:
            preconditionFailure("quantizeBlock(scratch:) is for Q4_0 / Q4_1")
        }
        let qs = dst + format.nibbleOffset
        for j in 0..<16 { qs[j] = q[j] | (q[j + 16] << 4) }
    }

    /// trunc(v) clipped to 0…15; NaN (from 0·inf when 1/d overflows) gives 0.
    @inline(__always)
    static func nibble(_ v: Float) -> UInt8 {
        v >= 15 ? 15 : (v >= 0 ? UInt8(v.rounded(.towardZero)) : 0)
    }

    @inline(__always)
    static func storeHalf(_ v: Float, _ p: UnsafeMutablePointer<UInt8>) {
        let h = Half.bits(v)
        p[0] = UInt8(h & 0xFF); p[1] = UInt8(h >> 8)
    }

    @inline(__always)
    static func loadHalf(_ p: UnsafePointer<UInt8>) -> Float {
        Half.float(UInt16(p[0]) | (UInt16(p[1]) << 8))
    }

    /// Dequantizes one block into `format.blockSize` floats (bit-identical to ggml / gguf).
    @inline(__always)
    public static func dequantizeBlock(_ src: UnsafePointer<UInt8>, format: QuantFormat, into y: UnsafeMutablePointer<Float>) {
        // The 8-bit and K-quant blocks by the GEMV's own SIMD unpacking (`BlockQuads`).
        @inline(__always) func store(_ v: (Vec, Vec, Vec, Vec), _ at: Int) {
            let out = UnsafeMutableRawPointer(y + at)
            out.storeBytes(of: v.0, as: Vec.self); out.storeBytes(of: v.1, toByteOffset: 64, as: Vec.self)
            out.storeBytes(of: v.2, toByteOffset: 128, as: Vec.self); out.storeBytes(of: v.3, toByteOffset: 192, as: Vec.self)
        }
        switch format {
        case .q8_0:
            let (a, b) = Q8_0Quads.pair(src)
            UnsafeMutableRawPointer(y).storeBytes(of: a, as: Vec.self)
            UnsafeMutableRawPointer(y).storeBytes(of: b, toByteOffset: 64, as: Vec.self)
            return
        case .q4_k:
            for q in 0..<4 { store(Q4_KQuads.quad(src, q), 64 * q) }
            return
        case .q6_k:
            for q in 0..<4 { store(Q6_KQuads.quad(src, q), 64 * q) }
            return
        case .q4_0, .q4_1: break
        }
        let d = loadHalf(src)
        let qs = src + format.nibbleOffset
        switch format {
        case .q4_0:
            for j in 0..<16 {
                y[j] = Float(Int(qs[j] & 0x0F) - 8) * d
                y[j + 16] = Float(Int(qs[j] >> 4) - 8) * d
            }
        case .q4_1:
            let m = loadHalf(src + 2)
            for j in 0..<16 {
                // Multiply, then add, as ggml (the product is exact; see QuantFormat).
                let p0 = Float(qs[j] & 0x0F) * d, p1 = Float(qs[j] >> 4) * d
                y[j] = p0 + m
                y[j + 16] = p1 + m
            }
        case .q8_0, .q4_k, .q6_k: break
        }
    }

    /// Dequantizes all of `w` into `out` (N×K).
    public static func dequantize(_ w: QuantizedMatrix, into out: MutableMatrixView) throws {
        try out.validate(op: "int4", argument: "output")
        guard out.rows == w.rows, out.cols == w.cols else {
            throw KernelError.shapeMismatch(op: "int4", argument: "output", expected: "\(w.rows)x\(w.cols)", got: "\(out.rows)x\(out.cols)")
        }
        w.withUnsafeBytes { buf in
            for r in 0..<w.rows { dequantizeRow(buf.baseAddress!, w, row: r, k0: 0, count: w.cols, into: out.row(r)) }
        }
    }

    /// Dequantizes `w` into a new dense matrix.
    public static func dequantize(_ w: QuantizedMatrix) -> Matrix {
        var m = Matrix(rows: w.rows, cols: w.cols)
        m.withMutableView { v in try! dequantize(w, into: v) }
        return m
    }

    /// Dequantizes one row of `w` (K floats).
    public static func dequantize(_ w: QuantizedMatrix, row: Int) -> [Float] {
        [Float](unsafeUninitializedCapacity: w.cols) { buf, count in
            w.withUnsafeBytes { dequantizeRow($0.baseAddress!, w, row: row, k0: 0, count: w.cols, into: buf.baseAddress!) }
            count = w.cols
        }
    }

    /// Dequantizes W[row, k0 ..< k0+count] (k0 and count multiples of the block size).
    @inline(__always)
    static func dequantizeRow(
        _ base: UnsafePointer<UInt8>, _ w: QuantizedMatrix, row: Int, k0: Int, count: Int,
        into y: UnsafeMutablePointer<Float>
    ) {
        let bb = w.format.blockBytes, bs = w.format.blockSize
        let src = base + row * w.rowBytes + (k0 / bs) * bb
        for b in 0..<(count / bs) { dequantizeBlock(src + b * bb, format: w.format, into: y + b * bs) }
    }

    /// Weight t (0 ≤ t < blockSize) of one block, dequantized alone: the same value, bit
    /// for bit, as `dequantizeBlock` writes there.
    @inline(__always)
    static func element(_ blk: UnsafePointer<UInt8>, format: QuantFormat, _ t: Int) -> Float {
        switch format {
        case .q4_0, .q4_1:
            let byte = blk[format.nibbleOffset + t % 16]
            let q = t < 16 ? byte & 0x0F : byte >> 4
            let d = loadHalf(blk)
            return format == .q4_0 ? Float(Int(q) - 8) * d : Float(q) * d + loadHalf(blk + 2)
        case .q8_0:
            return Float(Int8(bitPattern: blk[2 + t])) * loadHalf(blk)
        case .q4_k:
            // (d·sc)·q − dmin·m, as (d·sc)·q + (−(dmin·m)): the same rounding.
            let f = QuantBlocks.factorsQ4_K(blk, subBlock: t / 32)
            return f.scale * Float(QuantBlocks.levelQ4_K(blk, t)) + f.minimum
        case .q6_k:
            return loadHalf(blk + 208) * Float(Int8(bitPattern: blk[192 + t / 16])) * Float(Int(QuantBlocks.levelQ6_K(blk, t)) - 32)
        }
    }

    /// The minimum m added to every weight of 32-weight block b of row `row` (w = s·q + m):
    /// Q4_1's stored fp16 m, Q4_K's −dmin·m_s of that sub-block; 0 for Q4_0, Q8_0 and Q6_K.
    static func blockMinimum(_ base: UnsafePointer<UInt8>, _ w: QuantizedMatrix, row: Int, block b: Int) -> Float {
        let blk = base + row * w.rowBytes + (32 * b / w.format.blockSize) * w.format.blockBytes
        switch w.format {
        case .q4_1: return loadHalf(blk + 2)
        case .q4_k: return QuantBlocks.factorsQ4_K(blk, subBlock: b % 8).minimum
        case .q4_0, .q8_0, .q6_k: return 0
        }
    }

    /// Checks the arguments of the quantized linear; returns (M, K, N).
    @discardableResult
    public static func validate(
        _ x: MatrixView, _ w: QuantizedMatrix, bias: UnsafeBufferPointer<Float>?,
        _ y: MutableMatrixView, threads: Int
    ) throws -> (m: Int, k: Int, n: Int) {
        let op = Self.op.rawValue
        try Check.threads(threads, op: op)
        try x.validate(op: op, argument: "x")
        try y.validate(op: op, argument: "y")
        guard x.cols == w.cols else {
            throw KernelError.shapeMismatch(
                op: op, argument: "W", expected: "Nx\(x.cols) (K=\(x.cols) columns)", got: "\(w.rows)x\(w.cols)")
        }
        guard y.rows == x.rows, y.cols == w.rows else {
            throw KernelError.shapeMismatch(op: op, argument: "y", expected: "\(x.rows)x\(w.rows)", got: "\(y.rows)x\(y.cols)")
        }
        if let bias { try Check.equal(bias.count, w.rows, "bias", op: op, what: "N") }
        return (x.rows, x.cols, w.rows)
    }

    /// Throws unless `w` is Q4_0 or Q4_1 (the ablation steps of the Q4 GEMV know no other).
    static func requireQ4(_ w: QuantizedMatrix, variant: String) throws {
        guard w.format.isQ4 else {
            throw KernelError.invalidArgument(
                op: op.rawValue, argument: "W", value: w.format.rawValue, reason: "int4.\(variant) runs Q4_0 and Q4_1 only")
        }
    }

    // MARK: - naive

    /// Plain loops that dequantize each weight where it is used. Threads split rows of y.
    public struct Naive: Int4Kernel {
        public init() {}
        public var name: String { "naive" }
        public var summary: String { "plain loops, each weight dequantized inside the dot product; threads split rows" }

        public func run(
            _ x: MatrixView, _ w: QuantizedMatrix, bias: UnsafeBufferPointer<Float>?,
            _ y: MutableMatrixView, threads: Int
        ) throws {
            let (m, k, n) = try validate(x, w, bias: bias, y, threads: threads)
            let bp = SendablePointer(bias?.baseAddress.map { UnsafePointer($0) })
            w.withUnsafeBytes { buf in
                let base = SendablePointer(buf.baseAddress!)
                Parallel.forEach(m, threads: threads) { rows in
                    let bytes = base.pointer!
                    for i in rows {
                        let xi = x.row(i)
                        for j in 0..<n {
                            var s: Float = 0
                            let bs = w.format.blockSize
                            for p in 0..<k {
                                let blk = bytes + j * w.rowBytes + (p / bs) * w.format.blockBytes
                                s += xi[p] * element(blk, format: w.format, p % bs)
                            }
                            y[i, j] = s + (bp.pointer?[j] ?? 0)
                        }
                    }
                }
            }
        }
    }

    // MARK: - blas

    /// Dequantize a panel of W rows to fp32, then OpenBLAS (`sgemv` for M = 1, `sgemm`
    /// otherwise) on the panel. Threads split N into panels, each dequantizing its own;
    /// OpenBLAS runs single-threaded inside.
    public struct BLAS: Int4Kernel {
        public init() {}
        public var name: String { "blas" }
        public var tunables: [String] { ["blasPanelRows"] }
        public var summary: String { "dequantize a 64-row panel to fp32, then sgemm/sgemv on it; threads split N" }

        public func run(
            _ x: MatrixView, _ w: QuantizedMatrix, bias: UnsafeBufferPointer<Float>?,
            _ y: MutableMatrixView, threads: Int
        ) throws {
            let (m, k, n) = try validate(x, w, bias: bias, y, threads: threads)
            openblas_set_num_threads(1)
            let bp = SendablePointer(bias?.baseAddress.map { UnsafePointer($0) })
            w.withUnsafeBytes { buf in
                let base = SendablePointer(buf.baseAddress!)
                let panelRows = Int4.current.blasPanelRows
                Parallel.forEach(n, threads: threads, granule: panelRows) { cols in
                    Workspace.with(panelRows * k) { panel in
                        var j0 = cols.lowerBound
                        while j0 < cols.upperBound {
                            let rows = min(panelRows, cols.upperBound - j0)
                            for r in 0..<rows { dequantizeRow(base.pointer!, w, row: j0 + r, k0: 0, count: k, into: panel + r * k) }
                            var beta: Float = 0
                            if let b = bp.pointer {
                                for i in 0..<m { (y.row(i) + j0).update(from: b + j0, count: rows) }
                                beta = 1
                            }
                            if m == 1 {
                                cblas_sgemv(
                                    CblasRowMajor, CblasNoTrans, Int32(rows), Int32(k), 1, panel, Int32(k),
                                    x.base, 1, beta, y.base + j0, 1)
                            } else {
                                cblas_sgemm(
                                    CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(rows), Int32(k), 1,
                                    x.base, Int32(x.stride), panel, Int32(k), beta, y.base + j0, Int32(y.stride))
                            }
                            j0 += rows
                        }
                    }
                }
            }
        }
    }
}

extension Op {
    /// The 4-bit quantized linear layer.
    public static let int4 = Op(rawValue: "int4")
}

extension Int4.Planes {
    /// Where a matrix's planes keep what, in bytes from the start of their buffer.
    @usableFromInline
    struct Layout: Sendable {
        /// The second per-block array: Q4_1's minima (fp16); Q4_K's minima and Q6_K's
        /// second-half scales (fp32); 0, the scales themselves, for Q4_0 and Q8_0.
        @usableFromInline let secondOffset: Int
        /// The units of weight bytes, after the scales (64-byte aligned).
        @usableFromInline let unitsOffset: Int
        /// Bytes per unit (16 rows × 32 weights): 256 of nibbles or 512 of bytes.
        @usableFromInline let unitBytes: Int

        @usableFromInline
        init(_ format: QuantFormat, groups: Int, blocks nb: Int) {
            let slots = groups * nb * 16
            let (second, scaleBytes): (Int, Int)
            switch format {
            case .q4_0, .q8_0: (second, scaleBytes) = (0, 2 * slots)
            case .q4_1: (second, scaleBytes) = (2 * slots, 4 * slots)
            case .q4_k, .q6_k: (second, scaleBytes) = (4 * slots, 8 * slots)
            }
            secondOffset = second
            unitsOffset = (scaleBytes + 63) & ~63
            unitBytes = format == .q8_0 || format == .q6_k ? 512 : 256
        }
    }

    /// The 32 weights of sub-block s (0…7) of a K-quant super-block as unsigned levels in
    /// `levels` and two fp32 factors, so that weight t is exactly (before the one rounding the
    /// dequantization does):
    /// - Q4_K: first·q_t + second, first = d·sc_s, second = −(dmin·m_s) (both products exact:
    ///   11 + 6 bits); `levels` holds the nibbles in Q4_0's order (byte i: q_i | q_{i+16} << 4).
    /// - Q6_K: first·(q_t − 32) for t < 16 and second·(q_t − 32) for t ≥ 16, the scales
    ///   d·sc_{2s} and d·sc_{2s+1} (11 + 8 bits, exact); `levels` holds the 32 levels q_t
    ///   (0…63) as bytes.
    static func kLevels(_ blk: UnsafePointer<UInt8>, format: QuantFormat, subBlock s: Int, into levels: UnsafeMutablePointer<UInt8>)
        -> (first: Float, second: Float)
    {
        switch format {
        case .q4_k:
            let t0 = 32 * s
            for i in 0..<16 { levels[i] = QuantBlocks.levelQ4_K(blk, t0 + i) | QuantBlocks.levelQ4_K(blk, t0 + i + 16) << 4 }
            let f = QuantBlocks.factorsQ4_K(blk, subBlock: s)
            return (f.scale, f.minimum)
        case .q6_k:
            for l in 0..<32 { levels[l] = QuantBlocks.levelQ6_K(blk, 32 * s + l) }
            let d = Int4.loadHalf(blk + 208)
            return (d * Float(Int8(bitPattern: blk[192 + 2 * s])), d * Float(Int8(bitPattern: blk[193 + 2 * s])))
        case .q4_0, .q4_1, .q8_0: preconditionFailure("kLevels reads the K-quants only")
        }
    }
}
