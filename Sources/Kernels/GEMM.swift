import CIntrinsics

// The packed SGEMM framework behind matmul.simd and int4.simd (batch > 1), BLIS-style:
// the driver owns the loops and packing; one register-blocked micro-kernel does the FMAs.
//
//   for jc in N by NC            B block:  KC×NC, packed once per (jc, pc), NR-column panels
//     for pc in K by KC
//       pack B[pc.., jc..]
//       for ic in M by MC        A block:  MC×KC, packed in MR-row panels
//         pack A[ic.., pc..]
//         for jr in NC by NR
//           for ir in MC by MR   micro-kernel: C[MR×NR] (+)= Apanel · Bpanel

/// Block sizes of the packed GEMM. MR×NR = 6×64 fills 24 of Zen 4's 32 zmm registers with
/// accumulators; MC·KC of A sits in L2, KC·NC of B in L3 (the values are in the families'
/// tuning tables, `Matmul.tuning` and `Int4.tuning`).
public struct Blocking: Sendable, Equatable, CustomStringConvertible {
    /// Rows of the register tile (accumulator rows).
    public static let mr = 6
    /// Columns of the register tile: 4 SIMD16 vectors.
    public static let nr = 64
    public var mc: Int
    public var kc: Int
    public var nc: Int

    public init(mc: Int, kc: Int, nc: Int) { self.mc = mc; self.kc = kc; self.nc = nc }

    public var description: String { "MR=\(Blocking.mr) NR=\(Blocking.nr) MC=\(mc) KC=\(kc) NC=\(nc)" }

    /// Sets `MC`, `KC` or `NC` (a tuning table's names for them); false for any other name.
    public mutating func set(_ name: String, _ value: Int) -> Bool {
        switch name {
        case "MC": mc = value
        case "KC": kc = value
        case "NC": nc = value
        default: return false
        }
        return true
    }
}

/// Something that can fill packed B panels: for columns `j0 ..< j0+nc` and depth
/// `k0 ..< k0+kc`, write ⌈nc/NR⌉ panels, each `kc × NR` floats (k-major, zero-padded
/// past nc), back to back into `dst`.
protocol PanelSource: Sendable {
    func pack(k0: Int, kc: Int, j0: Int, nc: Int, into dst: UnsafeMutablePointer<Float>)
    /// For panels packed before the call (`PrepackedPanels`): the panel of columns
    /// `j0 ..< j0+NR` from depth `k0` on, rows NR floats apart; nil for a source that packs.
    func packedPanel(k0: Int, j0: Int) -> UnsafePointer<Float>?
}

extension PanelSource {
    func packedPanel(k0: Int, j0: Int) -> UnsafePointer<Float>? { nil }
}

/// B stored `[K×N]` row-major.
struct KNPanels: PanelSource {
    let b: MatrixView
    func pack(k0: Int, kc: Int, j0: Int, nc: Int, into dst: UnsafeMutablePointer<Float>) {
        let nr = Blocking.nr
        var d = dst
        var jr = 0
        while jr < nc {
            let w = min(nr, nc - jr)
            for p in 0..<kc {
                let src = b.row(k0 + p) + j0 + jr
                if w == nr {
                    for v in 0..<4 {
                        UnsafeMutableRawPointer(d + 16 * v).storeBytes(
                            of: UnsafeRawPointer(src + 16 * v).loadUnaligned(as: Vec.self), as: Vec.self)
                    }
                } else {
                    for j in 0..<w { d[j] = src[j] }
                    for j in w..<nr { d[j] = 0 }
                }
                d += nr
            }
            jr += nr
        }
    }
}

/// B given as weights `W[N×K]` (`[out, in]`): B[k][j] = W[j][k], transposed while packing.
struct NKPanels: PanelSource {
    let w: MatrixView
    func pack(k0: Int, kc: Int, j0: Int, nc: Int, into dst: UnsafeMutablePointer<Float>) {
        packTransposed(kc: kc, nc: nc, into: dst) { jj in w.row(j0 + jj) + k0 }
    }
}

/// Packs `nc` rows of `kc` values each as the transposed NR-column panels a `PanelSource`
/// produces. `row(jj)` is called exactly once per row, in order; its pointer must stay valid
/// while the rest of that row's NR-row panel is requested (so a source may dequantize into a
/// per-panel buffer). The transpose goes 16 k-values at a time: each source row gives one
/// 64-byte line, and the 16 × NR destination block (4 KiB) stays in L1 while it is written
/// with stride NR. (A row-at-a-time transpose strides over the whole kc × NR panel, far
/// beyond L1; an in-register 16 × 16 transpose written with the stdlib's evenHalf/oddHalf
/// compiles to scalar lane moves. docs/optimization-log.md has both measured.)
@inline(__always)
func packTransposed(kc: Int, nc: Int, into dst: UnsafeMutablePointer<Float>, row: (Int) -> UnsafePointer<Float>) {
    let nr = Blocking.nr
    var jr = 0
    var panel = dst
    withUnsafeTemporaryAllocation(of: UnsafePointer<Float>.self, capacity: nr) { rows in
        while jr < nc {
            let width = min(nr, nc - jr)
            for jj in 0..<width { rows[jj] = row(jr + jj) }
            var pb = 0
            while pb < kc {
                let pn = min(16, kc - pb)
                if pn == 16 {
                    for jj in 0..<width {
                        let v = UnsafeRawPointer(rows[jj] + pb).loadUnaligned(as: Vec.self)
                        let d = panel + pb * nr + jj
                        for p in 0..<16 { d[p * nr] = v[p] }
                    }
                } else {
                    for jj in 0..<width {
                        let src = rows[jj] + pb
                        let d = panel + pb * nr + jj
                        for p in 0..<pn { d[p * nr] = src[p] }
                    }
                }
                pb += pn
            }
            if width < nr {
                for p in 0..<kc { for jj in width..<nr { panel[p * nr + jj] = 0 } }
            }
            panel += kc * nr
            jr += nr
        }
    }
}

enum GEMM {
    /// Floats of workspace one call of `packed` needs with `blocking`.
    static func workspaceCount(_ blk: Blocking) -> Int {
        blk.mc * blk.kc + blk.kc * (blk.nc + Blocking.nr) + Blocking.mr * Blocking.nr + 64
    }

    /// C[M×N] = A·B (+ bias) for the B that `source` packs, single-threaded.
    static func packed<S: PanelSource>(
        _ a: MatrixView, _ source: S, n: Int, bias: UnsafePointer<Float>?,
        _ c: MutableMatrixView, blocking full: Blocking
    ) {
        let m = a.rows, k = a.cols
        let mr = Blocking.mr, nr = Blocking.nr
        // Blocks no larger than the problem, so a small GEMM packs into a small, cache-resident
        // workspace instead of touching a 17 MB one.
        // MC is rounded up to whole MR panels: packed A holds ⌈MC/MR⌉ full panels.
        let blk = Blocking(mc: (min(full.mc, m) + mr - 1) / mr * mr, kc: min(full.kc, k), nc: min(full.nc, (n + nr - 1) / nr * nr))
        Workspace.with(workspaceCount(blk)) { ws in
            let packA = ws
            let packB = ws + blk.mc * blk.kc
            let tile = packB + blk.kc * (blk.nc + nr)
            var jc = 0
            while jc < n {
                let ncb = min(blk.nc, n - jc)
                var pc = 0
                while pc < k {
                    let kcb = min(blk.kc, k - pc)
                    let prepacked = source.packedPanel(k0: pc, j0: jc) != nil
                    if !prepacked { source.pack(k0: pc, kc: kcb, j0: jc, nc: ncb, into: packB) }
                    var ic = 0
                    while ic < m {
                        let mcb = min(blk.mc, m - ic)
                        packPanelsA(a, i0: ic, mc: mcb, k0: pc, kc: kcb, into: packA)
                        var jr = 0
                        while jr < ncb {
                            let nrb = min(nr, ncb - jr)
                            let bPanel = prepacked ? source.packedPanel(k0: pc, j0: jc + jr)! : UnsafePointer(packB + jr * kcb)
                            let biasJ = pc == 0 ? bias.map { $0 + jc + jr } : nil
                            var ir = 0
                            while ir < mcb {
                                let mrb = min(mr, mcb - ir)
                                microKernel(
                                    kcb, UnsafePointer(packA + ir * kcb), bPanel,
                                    c.row(ic + ir) + jc + jr, c.stride, mrb, nrb,
                                    pc == 0, biasJ, tile, prefetchB: prepacked && ir == 0)
                                ir += mr
                            }
                            jr += nr
                        }
                        ic += blk.mc
                    }
                    pc += blk.kc
                }
                jc += blk.nc
            }
        }
    }

    /// Packs A[i0 ..< i0+mc, k0 ..< k0+kc] into MR-row panels, each `kc × MR` (k-major),
    /// rows past mc zero.
    @inline(__always)
    static func packPanelsA(_ a: MatrixView, i0: Int, mc: Int, k0: Int, kc: Int, into dst: UnsafeMutablePointer<Float>) {
        let mr = Blocking.mr
        var ir = 0
        var d = dst
        while ir < mc {
            let h = min(mr, mc - ir)
            if h == mr {
                let r0 = a.row(i0 + ir) + k0, r1 = a.row(i0 + ir + 1) + k0, r2 = a.row(i0 + ir + 2) + k0
                let r3 = a.row(i0 + ir + 3) + k0, r4 = a.row(i0 + ir + 4) + k0, r5 = a.row(i0 + ir + 5) + k0
                for p in 0..<kc {
                    d[0] = r0[p]; d[1] = r1[p]; d[2] = r2[p]; d[3] = r3[p]; d[4] = r4[p]; d[5] = r5[p]
                    d += mr
                }
            } else {
                for p in 0..<kc {
                    for r in 0..<mr { d[r] = r < h ? a.row(i0 + ir + r)[k0 + p] : 0 }
                    d += mr
                }
            }
            ir += mr
        }
    }

    /// The 6×64 register tile: C[mr×nr] = (first ? bias : C) + Apanel[kc×6]ᵀ·Bpanel[kc×64].
    /// 24 SIMD16 accumulators + 4 B vectors + 1 broadcast = 29 of 32 zmm registers. With 16
    /// vector registers (AVX2) those 24 accumulators are 48 ymm and spill to the stack on
    /// every step; there the tile is computed as four 6×16 strips (`narrowBody`: 12 ymm
    /// accumulators, 2 for B, 1 broadcast), each reading the A panel again from L1, into
    /// `tile`, and stored from there.
    @inline(never)
    static func microKernel(
        _ kc: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
        _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ mr: Int, _ nr: Int,
        _ first: Bool, _ bias: UnsafePointer<Float>?, _ tile: UnsafeMutablePointer<Float>,
        aRows: (Int, Int, Int, Int, Int, Int) = (0, 1, 2, 3, 4, 5), aStep: Int = Blocking.mr,
        bStride: Int = Blocking.nr, prefetchB: Bool = false
    ) {
        if opbench_vector_registers() < 32 {
            for strip in 0..<4 {
                narrowBody(
                    NarrowWidth1.self, kc, a, b + 16 * strip, tile + 16 * strip, Blocking.nr, bStride: bStride, aRows: aRows,
                    aStep: aStep)
            }
            storeTile(tile, into: c, ldc, mr, nr, first, bias)
            return
        }
        var c00 = Vec(), c01 = Vec(), c02 = Vec(), c03 = Vec()
        var c10 = Vec(), c11 = Vec(), c12 = Vec(), c13 = Vec()
        var c20 = Vec(), c21 = Vec(), c22 = Vec(), c23 = Vec()
        var c30 = Vec(), c31 = Vec(), c32 = Vec(), c33 = Vec()
        var c40 = Vec(), c41 = Vec(), c42 = Vec(), c43 = Vec()
        var c50 = Vec(), c51 = Vec(), c52 = Vec(), c53 = Vec()
        // A element (row r, step p) is at a[aRows.r + p·aStep]: packed panels use offsets
        // 0…5 and step 6; an A read in place (attention's P rows) its row offsets and step 1.
        let (o0, o1, o2, o3, o4, o5) = aRows
        var pa = a, pb = UnsafeRawPointer(b)
        for _ in 0..<kc {
            if prefetchB {
                // B's row 16 steps ahead (4 KiB) into L1 and 64 ahead (16 KiB) into L2: a panel
                // packed at load streams from L3 or DRAM on its first tile, and is larger than
                // L1 for K > 192.
                let ahead = pb + 16 &* bStride &* 4, far = pb + 64 &* bStride &* 4
                CacheControl.prefetch(ahead); CacheControl.prefetch(ahead + 64)
                CacheControl.prefetch(ahead + 128); CacheControl.prefetch(ahead + 192)
                CacheControl.prefetchL2(far); CacheControl.prefetchL2(far + 64)
                CacheControl.prefetchL2(far + 128); CacheControl.prefetchL2(far + 192)
            }
            let b0 = pb.loadUnaligned(as: Vec.self)
            let b1 = pb.loadUnaligned(fromByteOffset: 64, as: Vec.self)
            let b2 = pb.loadUnaligned(fromByteOffset: 128, as: Vec.self)
            let b3 = pb.loadUnaligned(fromByteOffset: 192, as: Vec.self)
            var s = Vec(repeating: pa[o0])
            c00 = c00.addingProduct(s, b0); c01 = c01.addingProduct(s, b1); c02 = c02.addingProduct(s, b2); c03 = c03.addingProduct(s, b3)
            s = Vec(repeating: pa[o1])
            c10 = c10.addingProduct(s, b0); c11 = c11.addingProduct(s, b1); c12 = c12.addingProduct(s, b2); c13 = c13.addingProduct(s, b3)
            s = Vec(repeating: pa[o2])
            c20 = c20.addingProduct(s, b0); c21 = c21.addingProduct(s, b1); c22 = c22.addingProduct(s, b2); c23 = c23.addingProduct(s, b3)
            s = Vec(repeating: pa[o3])
            c30 = c30.addingProduct(s, b0); c31 = c31.addingProduct(s, b1); c32 = c32.addingProduct(s, b2); c33 = c33.addingProduct(s, b3)
            s = Vec(repeating: pa[o4])
            c40 = c40.addingProduct(s, b0); c41 = c41.addingProduct(s, b1); c42 = c42.addingProduct(s, b2); c43 = c43.addingProduct(s, b3)
            s = Vec(repeating: pa[o5])
            c50 = c50.addingProduct(s, b0); c51 = c51.addingProduct(s, b1); c52 = c52.addingProduct(s, b2); c53 = c53.addingProduct(s, b3)
            pa += aStep
            pb += bStride &* 4
        }
        let full = mr == Blocking.mr && nr == Blocking.nr
        // Full tiles store straight into C; edge tiles go through `tile` and copy the valid part.
        let dst = full ? c : tile
        let ld = full ? ldc : Blocking.nr
        let add = full && !first
        let bv = (full && first) ? bias : nil
        storeRow(dst, add, bv, c00, c01, c02, c03)
        storeRow(dst + 1 * ld, add, bv, c10, c11, c12, c13)
        storeRow(dst + 2 * ld, add, bv, c20, c21, c22, c23)
        storeRow(dst + 3 * ld, add, bv, c30, c31, c32, c33)
        storeRow(dst + 4 * ld, add, bv, c40, c41, c42, c43)
        storeRow(dst + 5 * ld, add, bv, c50, c51, c52, c53)
        if !full { storeTile(tile, into: c, ldc, mr, nr, first, bias) }
    }

    /// The valid mr × nr part of a tile (row stride NR) into C: written (plus the bias) on the
    /// first K block, added after.
    @inline(__always)
    static func storeTile(
        _ tile: UnsafeMutablePointer<Float>, into c: UnsafeMutablePointer<Float>, _ ldc: Int, _ mr: Int, _ nr: Int, _ first: Bool,
        _ bias: UnsafePointer<Float>?
    ) {
        for i in 0..<mr {
            let ci = c + i * ldc, ti = tile + i * Blocking.nr
            if first {
                if let bias { for j in 0..<nr { ci[j] = ti[j] + bias[j] } } else { for j in 0..<nr { ci[j] = ti[j] } }
            } else {
                for j in 0..<nr { ci[j] += ti[j] }
            }
        }
    }

    /// A narrower register tile, 6 × 16·W.vectors (W.vectors = 1…3): C = Apanel[kc×6]ᵀ·B
    /// over the first 16·W.vectors columns of B (row p at b + p·bStride), all 6 rows stored
    /// to c (row stride ldc), overwriting. For tiles whose useful columns are a few 16-lane
    /// groups — attention's window edges — where the 6×64 tile would compute masked columns.
    /// A element (row r, step p) is at a[aRows.r + p·aStep], as in `microKernel`.
    @inline(__always)
    static func narrowBody<W: NarrowWidth>(
        _: W.Type, _ kc: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
        _ c: UnsafeMutablePointer<Float>, _ ldc: Int, bStride: Int,
        aRows: (Int, Int, Int, Int, Int, Int) = (0, 1, 2, 3, 4, 5), aStep: Int = Blocking.mr
    ) {
        let n = W.vectors
        let (o0, o1, o2, o3, o4, o5) = aRows
        var c00 = Vec(), c01 = Vec(), c02 = Vec(), c10 = Vec(), c11 = Vec(), c12 = Vec()
        var c20 = Vec(), c21 = Vec(), c22 = Vec(), c30 = Vec(), c31 = Vec(), c32 = Vec()
        var c40 = Vec(), c41 = Vec(), c42 = Vec(), c50 = Vec(), c51 = Vec(), c52 = Vec()
        var pa = a, pb = UnsafeRawPointer(b)
        for _ in 0..<kc {
            let b0 = pb.loadUnaligned(as: Vec.self)
            let b1 = n > 1 ? pb.loadUnaligned(fromByteOffset: 64, as: Vec.self) : Vec()
            let b2 = n > 2 ? pb.loadUnaligned(fromByteOffset: 128, as: Vec.self) : Vec()
            var s = Vec(repeating: pa[o0])
            c00 = c00.addingProduct(s, b0); if n > 1 { c01 = c01.addingProduct(s, b1) }; if n > 2 { c02 = c02.addingProduct(s, b2) }
            s = Vec(repeating: pa[o1])
            c10 = c10.addingProduct(s, b0); if n > 1 { c11 = c11.addingProduct(s, b1) }; if n > 2 { c12 = c12.addingProduct(s, b2) }
            s = Vec(repeating: pa[o2])
            c20 = c20.addingProduct(s, b0); if n > 1 { c21 = c21.addingProduct(s, b1) }; if n > 2 { c22 = c22.addingProduct(s, b2) }
            s = Vec(repeating: pa[o3])
            c30 = c30.addingProduct(s, b0); if n > 1 { c31 = c31.addingProduct(s, b1) }; if n > 2 { c32 = c32.addingProduct(s, b2) }
            s = Vec(repeating: pa[o4])
            c40 = c40.addingProduct(s, b0); if n > 1 { c41 = c41.addingProduct(s, b1) }; if n > 2 { c42 = c42.addingProduct(s, b2) }
            s = Vec(repeating: pa[o5])
            c50 = c50.addingProduct(s, b0); if n > 1 { c51 = c51.addingProduct(s, b1) }; if n > 2 { c52 = c52.addingProduct(s, b2) }
            pa += aStep
            pb += bStride &* 4
        }
        @inline(__always) func store(_ r: Int, _ x0: Vec, _ x1: Vec, _ x2: Vec) {
            let raw = UnsafeMutableRawPointer(c + r * ldc)
            raw.storeBytes(of: x0, as: Vec.self)
            if n > 1 { raw.storeBytes(of: x1, toByteOffset: 64, as: Vec.self) }
            if n > 2 { raw.storeBytes(of: x2, toByteOffset: 128, as: Vec.self) }
        }
        store(0, c00, c01, c02); store(1, c10, c11, c12); store(2, c20, c21, c22)
        store(3, c30, c31, c32); store(4, c40, c41, c42); store(5, c50, c51, c52)
    }

    @inline(never)
    static func narrowKernel1(
        _ kc: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ bStride: Int
    ) {
        narrowBody(NarrowWidth1.self, kc, a, b, c, ldc, bStride: bStride)
    }
    @inline(never)
    static func narrowKernel2(
        _ kc: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ bStride: Int
    ) {
        narrowBody(NarrowWidth2.self, kc, a, b, c, ldc, bStride: bStride)
    }
    @inline(never)
    static func narrowKernel3(
        _ kc: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ bStride: Int
    ) {
        narrowBody(NarrowWidth3.self, kc, a, b, c, ldc, bStride: bStride)
    }

    /// C[6 × 16·vectors] = Apanelᵀ·B for vectors = 1…4 (4: the full `microKernel`).
    @inline(__always)
    static func kernel(
        vectors: Int, _ kc: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
        _ c: UnsafeMutablePointer<Float>, _ ldc: Int, bStride: Int, tile: UnsafeMutablePointer<Float>
    ) {
        switch vectors {
        case 1: narrowKernel1(kc, a, b, c, ldc, bStride)
        case 2: narrowKernel2(kc, a, b, c, ldc, bStride)
        case 3: narrowKernel3(kc, a, b, c, ldc, bStride)
        default: microKernel(kc, a, b, c, ldc, Blocking.mr, Blocking.nr, true, nil, tile, bStride: bStride)
        }
    }

    @inline(__always)
    static func storeRow(
        _ p: UnsafeMutablePointer<Float>, _ add: Bool, _ bias: UnsafePointer<Float>?,
        _ x0: Vec, _ x1: Vec, _ x2: Vec, _ x3: Vec
    ) {
        var v0 = x0, v1 = x1, v2 = x2, v3 = x3
        let raw = UnsafeMutableRawPointer(p)
        if add {
            v0 += raw.loadUnaligned(as: Vec.self)
            v1 += raw.loadUnaligned(fromByteOffset: 64, as: Vec.self)
            v2 += raw.loadUnaligned(fromByteOffset: 128, as: Vec.self)
            v3 += raw.loadUnaligned(fromByteOffset: 192, as: Vec.self)
        } else if let bias {
            let rb = UnsafeRawPointer(bias)
            v0 += rb.loadUnaligned(as: Vec.self)
            v1 += rb.loadUnaligned(fromByteOffset: 64, as: Vec.self)
            v2 += rb.loadUnaligned(fromByteOffset: 128, as: Vec.self)
            v3 += rb.loadUnaligned(fromByteOffset: 192, as: Vec.self)
        }
        raw.storeBytes(of: v0, as: Vec.self)
        raw.storeBytes(of: v1, toByteOffset: 64, as: Vec.self)
        raw.storeBytes(of: v2, toByteOffset: 128, as: Vec.self)
        raw.storeBytes(of: v3, toByteOffset: 192, as: Vec.self)
    }

    /// `microKernel`'s `aRows` for an A read in place: the offsets of `rows` (≤ MR) rows
    /// `stride` apart; rows past the edge repeat the last one (their results are discarded).
    @inline(__always)
    static func rowOffsets(_ rows: Int, stride: Int) -> (Int, Int, Int, Int, Int, Int) {
        @inline(__always) func o(_ r: Int) -> Int { min(r, rows - 1) * stride }
        return (o(0), o(1), o(2), o(3), o(4), o(5))
    }

    /// C = A·B (+ bias) for B[K×N] with N a multiple of NR, read in place: A's rows by
    /// their offsets, B's rows by its stride, no packing and no blocking. For problems below
    /// `Matmul.tuning.minParallelWork`, where everything fits in L2 and packing would be a
    /// large part of the work.
    static func inPlace(_ a: MatrixView, _ b: MatrixView, bias: UnsafePointer<Float>?, _ c: MutableMatrixView) {
        let m = a.rows, k = a.cols, n = b.cols, mr = Blocking.mr, nr = Blocking.nr, lda = a.stride
        Workspace.with(mr * nr) { tile in
            var jr = 0
            while jr < n {
                var ir = 0
                while ir < m {
                    let rows = min(mr, m - ir)
                    microKernel(
                        k, a.row(ir), b.base + jr, c.row(ir) + jr, c.stride, rows, nr, true, bias.map { $0 + jr }, tile,
                        aRows: rowOffsets(rows, stride: lda), aStep: 1, bStride: b.stride)
                    ir += mr
                }
                jr += nr
            }
        }
    }

    /// C[M×N] = A·B (+ bias) by the packed GEMM over threads (`splitC`): each part multiplies
    /// its rows of A by the B panels `source(cols)` gives for its columns. `bias` and `c` are
    /// whole (N entries, M × N); `minWork` as in `splitC`.
    static func packedSplit<S: PanelSource>(
        _ a: MatrixView, bias: SendablePointer<UnsafePointer<Float>>, _ c: MutableMatrixView, k: Int, threads: Int,
        minWork: Int = Matmul.current.minParallelWork, blocking: Blocking, source: @Sendable (Range<Int>) -> S
    ) {
        splitC(m: c.rows, n: c.cols, k: k, threads: threads, minWork: minWork) { rows, cols in
            let cPart = MutableMatrixView(
                base: c.row(rows.lowerBound) + cols.lowerBound, rows: rows.count, cols: cols.count, stride: c.stride)
            packed(
                a.rows(rows.lowerBound, rows.count), source(cols), n: cols.count, bias: bias.pointer.map { $0 + cols.lowerBound },
                cPart, blocking: blocking)
        }
    }

    /// Splits C over threads — by rows (MR granule) when there are enough, else by
    /// columns (NR granule) — and runs `body(rows, cols)` on each part.
    /// One thread below `minWork` multiply-adds (default `Matmul.current.minParallelWork`).
    static func splitC(
        m: Int, n: Int, k: Int, threads: Int, minWork: Int = Matmul.current.minParallelWork,
        _ body: @Sendable (Range<Int>, Range<Int>) -> Void
    ) {
        if threads == 1 || m * n * k < minWork { body(0..<m, 0..<n); return }
        if m >= Blocking.mr * 4 * threads || n < Blocking.nr * threads {
            Parallel.forEach(m, threads: threads, granule: Blocking.mr) { rows in body(rows, 0..<n) }
        } else {
            Parallel.forEach(n, threads: threads, granule: Blocking.nr) { cols in body(0..<m, cols) }
        }
    }
}

/// The width of a `GEMM.narrowBody` instance, in SIMD16 vectors (a compile-time constant
/// once specialized, so the unused accumulators vanish).
protocol NarrowWidth { static var vectors: Int { get } }
enum NarrowWidth1: NarrowWidth { static var vectors: Int { 1 } }
enum NarrowWidth2: NarrowWidth { static var vectors: Int { 2 } }
enum NarrowWidth3: NarrowWidth { static var vectors: Int { 3 } }
