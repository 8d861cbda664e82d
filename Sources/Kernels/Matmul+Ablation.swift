#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The steps of `opbench ablation --op matmul` (see `Ablation`).
extension Matmul {
    /// The ablation chain: the optimizations of `matmul.simd` one at a time, first step first.
    public static let ablation: [Ablation.Step] = [
        Ablation.Step(variant: "ablate-ijk", change: "plain i-j-k loops: each dot product walks B down a column (stride N)", threads: 1),
        Ablation.Step(
            variant: "naive", change: "loop order i-k-j: unit-stride inner loop over rows of B and C (LLVM vectorizes it)", threads: 1),
        Ablation.Step(variant: "ablate-simd16", change: "explicit SIMD16 FMA over B rows, 4 k-steps per pass over the C row", threads: 1),
        Ablation.Step(variant: "ablate-regtile", change: "6x64 register tile (24 zmm accumulators), A and B read in place", threads: 1),
        Ablation.Step(
            variant: "ablate-packed", change: "A and B packed into contiguous panels, one cache block for the whole problem", threads: 1),
        Ablation.Step(variant: "simd", change: "MC/KC/NC cache blocking (panels sized for L2/L3) = matmul.simd", threads: 1),
        Ablation.Step(variant: "simd", change: "2 threads (C split between them)", threads: 2),
    ]

    static func knOnly(_ layout: Matmul.BLayout, _ name: String) throws {
        guard layout == .kn else { throw KernelError.unsupported(op: "matmul", variant: name, reason: "ablation steps take B[K×N] only") }
    }

    /// i-j-k: C[i, j] = Σ_p A[i, p]·B[p, j] with the dot product innermost.
    struct AblateIJK: MatmulKernel {
        var name: String { "ablate-ijk" }
        var summary: String { "ablation: i-j-k loops" }
        func run(
            _ a: MatrixView, _ b: MatrixView, layout: Matmul.BLayout, bias: UnsafeBufferPointer<Float>?,
            _ c: MutableMatrixView, threads: Int
        ) throws {
            try knOnly(layout, name)
            let (m, k, n) = try Matmul.validate(a, b, layout: layout, bias: bias, c, threads: threads)
            let bp = SendablePointer(bias?.baseAddress.map { UnsafePointer($0) })
            Parallel.forEach(m, threads: threads) { rows in
                for i in rows {
                    for j in 0..<n {
                        var s = bp.pointer?[j] ?? 0
                        for p in 0..<k { s = s.addingProduct(a[i, p], b[p, j]) }
                        c[i, j] = s
                    }
                }
            }
        }
    }

    /// Explicit SIMD16 axpy: C[i, :] += A[i, p]·B[p, :], four p per pass over the C row.
    struct AblateSIMD16: MatmulKernel {
        var name: String { "ablate-simd16" }
        var summary: String { "ablation: SIMD16 axpy rows" }
        func run(
            _ a: MatrixView, _ b: MatrixView, layout: Matmul.BLayout, bias: UnsafeBufferPointer<Float>?,
            _ c: MutableMatrixView, threads: Int
        ) throws {
            try knOnly(layout, name)
            let (m, _, n) = try Matmul.validate(a, b, layout: layout, bias: bias, c, threads: threads)
            let bp = SendablePointer(bias?.baseAddress.map { UnsafePointer($0) })
            Parallel.forEach(m, threads: threads) { rows in
                Matmul.SIMD.axpyRows(
                    a.rows(rows.lowerBound, rows.count), b, bias: bp.pointer,
                    c.rows(rows.lowerBound, rows.count), cols: 0..<n)
            }
        }
    }

    /// The 6×64 register tile on unpacked operands: per k, six broadcasts of A (from six rows)
    /// and four vector loads of B's row, 24 FMAs into 24 accumulators.
    struct AblateRegTile: MatmulKernel {
        var name: String { "ablate-regtile" }
        var summary: String { "ablation: 6x64 register tile, unpacked" }
        func run(
            _ a: MatrixView, _ b: MatrixView, layout: Matmul.BLayout, bias: UnsafeBufferPointer<Float>?,
            _ c: MutableMatrixView, threads: Int
        ) throws {
            try knOnly(layout, name)
            let (m, k, n) = try Matmul.validate(a, b, layout: layout, bias: bias, c, threads: threads)
            let bp = SendablePointer(bias?.baseAddress.map { UnsafePointer($0) })
            let mr = Blocking.mr, nr = Blocking.nr
            Parallel.forEach((m + mr - 1) / mr, threads: threads) { blocks in
                Workspace.with(mr * nr) { tile in
                    for blk in blocks {
                        let i0 = blk * mr, rows = min(mr, m - i0)
                        var j0 = 0
                        while j0 < n {
                            let cols = min(nr, n - j0)
                            regTile(a, b, i0: i0, rows: rows, j0: j0, cols: cols, k: k, bias: bp.pointer, c, tile: tile)
                            j0 += nr
                        }
                    }
                }
            }
        }
    }

    @inline(__always)
    static func regTile(
        _ a: MatrixView, _ b: MatrixView, i0: Int, rows: Int, j0: Int, cols: Int, k: Int,
        bias: UnsafePointer<Float>?, _ c: MutableMatrixView, tile: UnsafeMutablePointer<Float>
    ) {
        var acc = (
            Vec(), Vec(), Vec(), Vec(), Vec(), Vec(), Vec(), Vec(), Vec(), Vec(), Vec(), Vec(),
            Vec(), Vec(), Vec(), Vec(), Vec(), Vec(), Vec(), Vec(), Vec(), Vec(), Vec(), Vec()
        )
        let full = cols == Blocking.nr
        let r = (0..<6).map { a.row(i0 + Swift.min($0, rows - 1)) }
        let (r0, r1, r2, r3, r4, r5) = (r[0], r[1], r[2], r[3], r[4], r[5])
        for p in 0..<k {
            let bRow = b.row(p) + j0
            let b0: Vec, b1: Vec, b2: Vec, b3: Vec
            if full {
                let raw = UnsafeRawPointer(bRow)
                b0 = raw.loadUnaligned(as: Vec.self); b1 = raw.loadUnaligned(fromByteOffset: 64, as: Vec.self)
                b2 = raw.loadUnaligned(fromByteOffset: 128, as: Vec.self); b3 = raw.loadUnaligned(fromByteOffset: 192, as: Vec.self)
            } else {
                b0 = VectorMath.loadPartial(bRow, Swift.min(16, cols), fill: 0)
                b1 = cols > 16 ? VectorMath.loadPartial(bRow + 16, Swift.min(16, cols - 16), fill: 0) : Vec()
                b2 = cols > 32 ? VectorMath.loadPartial(bRow + 32, Swift.min(16, cols - 32), fill: 0) : Vec()
                b3 = cols > 48 ? VectorMath.loadPartial(bRow + 48, cols - 48, fill: 0) : Vec()
            }
            var v = Vec(repeating: r0[p])
            acc.0 = acc.0.addingProduct(v, b0); acc.1 = acc.1.addingProduct(v, b1); acc.2 = acc.2.addingProduct(v, b2);
            acc.3 = acc.3.addingProduct(v, b3)
            v = Vec(repeating: r1[p])
            acc.4 = acc.4.addingProduct(v, b0); acc.5 = acc.5.addingProduct(v, b1); acc.6 = acc.6.addingProduct(v, b2);
            acc.7 = acc.7.addingProduct(v, b3)
            v = Vec(repeating: r2[p])
            acc.8 = acc.8.addingProduct(v, b0); acc.9 = acc.9.addingProduct(v, b1); acc.10 = acc.10.addingProduct(v, b2);
            acc.11 = acc.11.addingProduct(v, b3)
            v = Vec(repeating: r3[p])
            acc.12 = acc.12.addingProduct(v, b0); acc.13 = acc.13.addingProduct(v, b1); acc.14 = acc.14.addingProduct(v, b2);
            acc.15 = acc.15.addingProduct(v, b3)
            v = Vec(repeating: r4[p])
            acc.16 = acc.16.addingProduct(v, b0); acc.17 = acc.17.addingProduct(v, b1); acc.18 = acc.18.addingProduct(v, b2);
            acc.19 = acc.19.addingProduct(v, b3)
            v = Vec(repeating: r5[p])
            acc.20 = acc.20.addingProduct(v, b0); acc.21 = acc.21.addingProduct(v, b1); acc.22 = acc.22.addingProduct(v, b2);
            acc.23 = acc.23.addingProduct(v, b3)
        }
        withUnsafeBytes(of: acc) { UnsafeMutableRawPointer(tile).copyMemory(from: $0.baseAddress!, byteCount: 24 * 64) }
        for rr in 0..<rows {
            let ci = c.row(i0 + rr) + j0
            for j in 0..<cols { ci[j] = tile[rr * 64 + j] + (bias?[j0 + j] ?? 0) }
        }
    }

    /// Packed panels with one cache block spanning the whole problem (no MC/KC/NC blocking).
    struct AblatePacked: MatmulKernel {
        var name: String { "ablate-packed" }
        var summary: String { "ablation: packed panels, one block" }
        func run(
            _ a: MatrixView, _ b: MatrixView, layout: Matmul.BLayout, bias: UnsafeBufferPointer<Float>?,
            _ c: MutableMatrixView, threads: Int
        ) throws {
            try knOnly(layout, name)
            let (m, k, n) = try Matmul.validate(a, b, layout: layout, bias: bias, c, threads: threads)
            let one = Blocking(mc: m, kc: k, nc: n)
            GEMM.packed(a, KNPanels(b: b), n: n, bias: bias?.baseAddress.map { UnsafePointer($0) }, c, blocking: one)
        }
    }

    public static let ablationKernels: [any MatmulKernel] = [AblateIJK(), AblateSIMD16(), AblateRegTile(), AblatePacked()]
}
