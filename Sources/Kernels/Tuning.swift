import Foundation
import CIntrinsics

// Every blocking, tiling and threshold constant of the kernels, one table per kernel family
// (as BLIS sets its block sizes in one `bli_blksz_init_easy` line each): what a tuner may set,
// with its legal range, and where a reader finds it. `opbench list --tuning` prints them.
// The register tile (MR×NR = 6×64, `Blocking.mr`/`.nr`) is not here: the micro-kernels are
// written for it.

/// One tunable constant: its name, current value, the values a tuner may try, what it controls.
public struct TuningParameter: Sendable, Equatable {
    public let name: String
    public let value: Int
    /// Legal values: `range`, in multiples of `multiple`.
    public let range: ClosedRange<Int>
    public let multiple: Int
    public let controls: String

    public init(_ name: String, _ value: Int, _ range: ClosedRange<Int>, multiple: Int = 1, controls: String) {
        self.name = name; self.value = value; self.range = range; self.multiple = multiple; self.controls = controls
    }

    /// Whether `value` is legal for this parameter.
    public func allows(_ value: Int) -> Bool { range.contains(value) && value % multiple == 0 }
}

/// A kernel family's table of tunable constants.
public protocol TuningTable: Sendable {
    /// The constants, with their legal ranges.
    var parameters: [TuningParameter] { get }
    /// Sets constant `name` to `value` (unchecked); false when the table has no such constant.
    mutating func set(_ name: String, _ value: Int) -> Bool
    /// The constants that can change what the family's kernels do for a call of `key`
    /// (`TuningKey`): a tuner leaves the others at their defaults.
    func relevant(to key: TuningKey) -> Set<String>
}

extension TuningTable {
    /// Every constant, unless the table says otherwise.
    public func relevant(to key: TuningKey) -> Set<String> { Set(parameters.map(\.name)) }

    /// This table with `values` set, each checked against its legal values; a
    /// `KernelError` names the first unknown constant or illegal value.
    public func setting(_ values: [String: Int], op: Op) throws -> Self {
        var table = self
        let known = parameters
        for (name, value) in values.sorted(by: { $0.key < $1.key }) {
            guard let p = known.first(where: { $0.name == name }) else {
                throw KernelError.invalidArgument(
                    op: op.rawValue, argument: "tuning parameter", value: "'\(name)'",
                    reason: "known: " + known.map(\.name).joined(separator: ", ") + Suggest.clause(name, among: known.map(\.name)))
            }
            guard p.allows(value) else {
                throw KernelError.invalidArgument(
                    op: op.rawValue, argument: name, value: "\(value)",
                    reason: "legal values are \(p.range.lowerBound)…\(p.range.upperBound)"
                        + (p.multiple > 1 ? " in multiples of \(p.multiple)" : ""))
            }
            _ = table.set(name, value)
        }
        return table
    }

    /// The constants whose values differ from `other`'s, by name.
    public func differences(from other: Self) -> [String: Int] {
        let theirs = Dictionary(uniqueKeysWithValues: other.parameters.map { ($0.name, $0.value) })
        var out: [String: Int] = [:]
        for p in parameters where theirs[p.name] != p.value { out[p.name] = p.value }
        return out
    }
}

/// The lock `TunableFamily.with` holds for the call it installs a table for (recursive: a
/// call may install another family's table inside).
public enum TableLock {
    public static let shared = NSRecursiveLock()
}

/// A kernel family whose variants read a table of tunable constants: the defaults
/// (`tuning`), and a table installed for the call in progress (`override`: set by the `auto`
/// variant from a tuning file, and by `opbench tune` while it measures a candidate). Kernels
/// read `current` once, on the calling thread, before they split work over threads.
public protocol TunableFamily: OperatorFamily {
    associatedtype Table: TuningTable
    /// The defaults.
    static var tuning: Table { get }
    /// The table installed for the call in progress, nil for the defaults.
    static var override: Table? { get set }
}

extension TunableFamily {
    /// The table the family's kernels run with now.
    public static var current: Table { override ?? tuning }

    /// Runs `body` with `table` installed (nil: the defaults), then restores what was installed.
    /// Calls from different threads take turns (`TableLock`): two interleaved installs would
    /// each restore what the other installed, and one family's table could stay installed for
    /// good (tests that run `auto` in parallel suites did this).
    public static func with<R>(_ table: Table?, _ body: () throws -> R) rethrows -> R {
        TableLock.shared.lock()
        defer { TableLock.shared.unlock() }
        let saved = override
        override = table
        defer { override = saved }
        return try body()
    }

    /// The table installed now, read once no call with an installed table is in progress on
    /// another thread.
    public static var installed: Table? {
        TableLock.shared.lock()
        defer { TableLock.shared.unlock() }
        return override
    }

    /// The defaults' constants (for tools that hold the family as `any TunableFamily.Type`).
    public static var defaultParameters: [TuningParameter] { tuning.parameters }

    /// The constants that matter for a call of `key` (`TuningTable.relevant`).
    public static func relevant(to key: TuningKey) -> Set<String> { tuning.relevant(to: key) }

    /// The defaults with `values` set and checked (`TuningTable.setting`), type-erased.
    public static func table(_ values: [String: Int]) throws -> any TuningTable { try tuning.setting(values, op: op) }

    /// `with` for a type-erased table of this family (nil, or another family's table: the defaults).
    public static func withTable<R>(_ table: (any TuningTable)?, _ body: () throws -> R) rethrows -> R {
        try with(table as? Table, body)
    }
}

/// The tables, by kernel family.
public enum Tuning {
    /// Every family's table, for listing.
    public static var tables: [(family: String, table: any TuningTable)] {
        [
            ("matmul", Matmul.tuning), ("int4", Int4.tuning), ("attention", Attention.tuning),
            ("streaming (softmax, layernorm)", CacheControl.tuning), ("parallel", Parallel.tuning),
        ]
    }
}

extension Matmul {
    /// matmul.simd and the packed GEMM framework (`GEMM.swift`).
    public struct Tuning: TuningTable {
        /// Packed-GEMM cache blocks: MC·KC floats of A in L2, KC·NC of B in L3.
        public var blocking = Blocking(mc: 144, kc: 1024, nc: 4096)
        /// Largest M served by the unpacked paths (dot products or axpy streams).
        public var directMaxRows = 4
        /// Largest M served by the unpacked dot path for `W[N×K]` (4 W rows × 3 A rows per
        /// register block, the W rows reused from L1 across all of A's rows): packing W is a
        /// transpose, which costs more than it saves up to here. With 16 vector registers
        /// (AVX2) the block's 12 SIMD16 accumulators are 24 ymm and spill, and the packed GEMM
        /// wins from M ≈ 32 on (measured at 12, 32 and 128 rows): there the dot path stops at 16.
        public var directMaxRowsNK = opbench_vector_registers() == 32 ? 64 : 16
        /// … and up to this M when K ≤ `directMaxKNK` (4 W rows of ≤ 16 KiB stay in L1).
        public var directMaxRowsNKShortK = opbench_vector_registers() == 32 ? 128 : 16
        public var directMaxKNK = 1024
        /// Below this many multiply-adds one thread does the whole product (a second thread's
        /// wake-up and duplicated packing cost more), and a small `B[K×N]` is read in place.
        public var minParallelWork = 1 << 21
        /// The same for weights packed at load: a second thread then duplicates only the
        /// packing of A, so it pays from far fewer multiply-adds (a 12×384×384 linear, 1.8 M,
        /// ran on one thread under `minParallelWork` where the dot path had used two).
        public var minParallelWorkPacked = 1 << 18

        public var parameters: [TuningParameter] {
            [
                TuningParameter("MC", blocking.mc, 6...4096, multiple: Blocking.mr, controls: "rows of A per packed block (L2)"),
                TuningParameter("KC", blocking.kc, 16...8192, controls: "depth per packed block"),
                TuningParameter("NC", blocking.nc, 64...16384, multiple: Blocking.nr, controls: "columns of B per packed block (L3)"),
                TuningParameter("directMaxRows", directMaxRows, 0...64, controls: "largest M on the unpacked path"),
                TuningParameter("directMaxRowsNK", directMaxRowsNK, 0...512, controls: "largest M on the W[N×K] dot path"),
                TuningParameter("directMaxRowsNKShortK", directMaxRowsNKShortK, 0...512, controls: "… when K ≤ directMaxKNK"),
                TuningParameter("directMaxKNK", directMaxKNK, 0...16384, controls: "K limit of the short-K dot path"),
                TuningParameter("minParallelWork", minParallelWork, 0...(1 << 30), controls: "multiply-adds below which one thread runs"),
                TuningParameter(
                    "minParallelWorkPacked", minParallelWorkPacked, 0...(1 << 30), controls: "… with weights packed at load"),
            ]
        }

        /// By `Matmul.tuningKey` (M, K, N, 1 for W[N×K]): a threshold only where a value of
        /// its ladder (up to 4 × the default, `Tuner.ladder`) can change the path taken, the
        /// W[N×K] ones only for that layout, the parallel threshold only where it picks a path
        /// (more than one thread, or B[K×N]'s in-place path) for this many multiply-adds.
        public func relevant(to key: TuningKey) -> Set<String> {
            let m = key.sizes[0], k = key.sizes[1], n = key.sizes[2], nk = key.sizes[3] == 1
            var out: Set<String> = ["MC", "KC", "NC"]
            if m <= 4 * directMaxRows { out.insert("directMaxRows") }
            if nk && m <= 4 * directMaxRowsNK { out.insert("directMaxRowsNK") }
            if nk && m <= 4 * directMaxRowsNKShortK { out.formUnion(["directMaxRowsNKShortK", "directMaxKNK"]) }
            if (key.threads > 1 || !nk) && Double(m) * Double(n) * Double(k) < 4 * Double(minParallelWork) {
                out.insert("minParallelWork")
            }
            if key.threads > 1 && nk && Double(m) * Double(n) * Double(k) < 4 * Double(minParallelWorkPacked) {
                out.insert("minParallelWorkPacked")
            }
            return out
        }

        public mutating func set(_ name: String, _ value: Int) -> Bool {
            if blocking.set(name, value) { return true }
            switch name {
            case "directMaxRows": directMaxRows = value
            case "directMaxRowsNK": directMaxRowsNK = value
            case "directMaxRowsNKShortK": directMaxRowsNKShortK = value
            case "directMaxKNK": directMaxKNK = value
            case "minParallelWork": minParallelWork = value
            case "minParallelWorkPacked": minParallelWorkPacked = value
            default: return false
            }
            return true
        }
    }

    /// The defaults matmul.simd runs with.
    public static let tuning = Tuning()
    /// The table installed for the call in progress (`TunableFamily`).
    nonisolated(unsafe) public static var override: Tuning?
}

extension Matmul: TunableFamily {}

extension Int4 {
    /// int4.simd (GEMV and the dequantize-into-panel GEMM), int4.blas and int4.act8.
    public struct Tuning: TuningTable {
        /// GEMM blocks for batch > 1: a narrow B block, so the dequantized panel stays
        /// L2-sized (KC·NC·4 B = 1 MiB) instead of becoming a copy of W.
        public var blocking = Blocking(mc: 144, kc: 1024, nc: 256)
        /// Largest M served by the GEMV (x's rows against the nibble planes).
        public var gemvMaxRows = 4
        /// W rows per work item of the GEMV; threads take chunks from a shared counter.
        public var gemvChunkRows = 256
        /// W rows per dequantized fp32 panel of int4.blas.
        public var blasPanelRows = 64
        /// W rows per work item of int4.act8 (threads take chunks from a shared counter).
        public var act8ChunkRows = 256

        public var parameters: [TuningParameter] {
            [
                TuningParameter("MC", blocking.mc, 6...4096, multiple: Blocking.mr, controls: "rows of x per packed block"),
                TuningParameter("KC", blocking.kc, 32...8192, multiple: 32, controls: "depth per packed block (whole Q4 blocks)"),
                TuningParameter("NC", blocking.nc, 64...16384, multiple: Blocking.nr, controls: "W rows per dequantized panel block"),
                TuningParameter("gemvMaxRows", gemvMaxRows, 1...16, controls: "largest M on the GEMV path"),
                TuningParameter("gemvChunkRows", gemvChunkRows, 16...65536, multiple: 16, controls: "W rows per GEMV work item"),
                TuningParameter("blasPanelRows", blasPanelRows, 1...4096, controls: "W rows per int4.blas fp32 panel"),
                TuningParameter("act8ChunkRows", act8ChunkRows, 32...65536, multiple: 32, controls: "W rows per int4.act8 work item"),
            ]
        }

        /// By `Int4.tuningKey` (M, K, N, format): the GEMV's constants where a value of the
        /// GEMV threshold's ladder (up to 4 × its default) reaches M, the GEMM blocks where M is
        /// above the ladder's least value.
        public func relevant(to key: TuningKey) -> Set<String> {
            let m = key.sizes[0]
            var out: Set<String> = ["blasPanelRows", "act8ChunkRows"]
            if m <= 4 * gemvMaxRows { out.formUnion(["gemvMaxRows", "gemvChunkRows"]) }
            if m > max(1, gemvMaxRows / 4) { out.formUnion(["MC", "KC", "NC"]) }
            return out
        }

        public mutating func set(_ name: String, _ value: Int) -> Bool {
            if blocking.set(name, value) { return true }
            switch name {
            case "gemvMaxRows": gemvMaxRows = value
            case "gemvChunkRows": gemvChunkRows = value
            case "blasPanelRows": blasPanelRows = value
            case "act8ChunkRows": act8ChunkRows = value
            default: return false
            }
            return true
        }
    }

    /// The defaults int4's variants run with.
    public static let tuning = Tuning()
    /// The table installed for the call in progress (`TunableFamily`).
    nonisolated(unsafe) public static var override: Tuning?
}

extension Int4: TunableFamily {}

extension Attention {
    /// attention.simd's tiles and attention.blas's blocks.
    public struct Tuning: TuningTable {
        /// Keys per tile of the online softmax: several 64-key K panels, so the per-tile work
        /// (new maxima, corrections, the P·V call's read-modify-write of O) is shared by more
        /// keys; the 16-key groups keep partial tiles from computing what is masked.
        public var keyTile = 256
        /// Up to this many queries (decode steps) take the unpacked path: packing K and V for
        /// a tile of 6 queries costs more than it saves when only 1–4 rows use it.
        public var decodeRows = 4
        /// Queries and keys per block of attention.blas's sgemm calls.
        public var blasBlock = 64

        public var parameters: [TuningParameter] {
            [
                TuningParameter("keyTile", keyTile, 64...4096, multiple: 64, controls: "keys per online-softmax tile"),
                TuningParameter("decodeRows", decodeRows, 1...16, controls: "largest query count on the decode path"),
                TuningParameter("blasBlock", blasBlock, 1...1024, controls: "block edge of attention.blas"),
            ]
        }

        /// By `Attention.tuningKey` (Tq, Tk, …): the decode threshold where a value of its
        /// ladder (up to 4 × its default) reaches Tq, the key tile where the tile path can run.
        public func relevant(to key: TuningKey) -> Set<String> {
            let tq = key.sizes[0]
            var out: Set<String> = ["blasBlock"]
            if tq <= 4 * decodeRows { out.insert("decodeRows") }
            if tq > max(1, decodeRows / 4) { out.insert("keyTile") }
            return out
        }

        public mutating func set(_ name: String, _ value: Int) -> Bool {
            switch name {
            case "keyTile": keyTile = value
            case "decodeRows": decodeRows = value
            case "blasBlock": blasBlock = value
            default: return false
            }
            return true
        }
    }

    /// The defaults attention's variants run with.
    public static let tuning = Tuning()
    /// The table installed for the call in progress (`TunableFamily`).
    nonisolated(unsafe) public static var override: Tuning?
}

extension Attention: TunableFamily {}

extension CacheControl {
    /// When the row kernels (softmax.simd, layernorm.simd) prefetch and stream.
    public struct Tuning: TuningTable {
        /// Arrays of at least this many bytes are prefetched and streamed: half of this
        /// machine's 32 MiB L3. An output that large evicts most of the cache whatever the
        /// stores are; a smaller one (every activation of the model passes) is left in cache
        /// for the next kernel.
        public var streamingThresholdBytes = 16 << 20

        public var parameters: [TuningParameter] {
            [
                TuningParameter(
                    "streamingThresholdBytes", streamingThresholdBytes, 0...(1 << 34),
                    controls: "array size from which rows are prefetched and stored streaming")
            ]
        }

        public mutating func set(_ name: String, _ value: Int) -> Bool {
            guard name == "streamingThresholdBytes" else { return false }
            streamingThresholdBytes = value
            return true
        }
    }

    /// The table the row kernels run with.
    public static let tuning = Tuning()
}

extension Parallel {
    /// The worker pool.
    public struct Tuning: TuningTable {
        /// Iterations a worker spins on its ticket before it sleeps (tens of µs here).
        public var spinLimit = 20_000

        public var parameters: [TuningParameter] {
            [TuningParameter("spinLimit", spinLimit, 0...10_000_000, controls: "spins before a worker sleeps")]
        }

        public mutating func set(_ name: String, _ value: Int) -> Bool {
            guard name == "spinLimit" else { return false }
            spinLimit = value
            return true
        }
    }

    /// The table the worker pool runs with.
    public static let tuning = Tuning()
}
