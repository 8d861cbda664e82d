/// Weights `W[N×K]` (`[out, in]`) packed once, as a model packs its fp32 linears at load (as
/// ONNX Runtime's MLAS and ggml's CPU_REPACK do with theirs): the NR-column, k-major panels
/// the packed GEMM's micro-kernel reads, each K × NR floats, zero past N. `GEMM.packed` packs
/// the same panels on every call; from these it only packs A. A matmul variant whose
/// `usesPackedWeights` is true reads them in `run(_:packed:…)`; the others read `weight`.
public struct PackedWeights: @unchecked Sendable {
    /// The weights as given; a variant that does not read the panels multiplies by these.
    public let weight: Matrix
    /// ⌈N/NR⌉ panels of K × NR floats, back to back.
    let panels: AlignedBuffer

    /// Packs `weight` (N × K); its storage stays shared, not copied.
    public init(_ weight: Matrix) {
        self.weight = weight
        let n = weight.rows, k = weight.cols
        panels = AlignedBuffer(count: Self.floats(rows: n, cols: k))
        let view = weight.unsafeView
        withExtendedLifetime(weight) {
            if k > 0 { packTransposed(kc: k, nc: n, into: panels.pointer) { view.row($0) } }
        }
    }

    /// N.
    public var rows: Int { weight.rows }
    /// K.
    public var cols: Int { weight.cols }

    /// Floats the panels of an N × K matrix take: K · NR · ⌈N/NR⌉.
    public static func floats(rows n: Int, cols k: Int) -> Int { k * Blocking.nr * ((n + Blocking.nr - 1) / Blocking.nr) }

    /// The panel of columns `j ..< j+NR` (`j` a multiple of NR) from depth `k0` on: rows of NR
    /// floats, K − k0 of them.
    func panel(column j: Int, depth k0: Int) -> UnsafePointer<Float> {
        UnsafePointer(panels.pointer + (j / Blocking.nr) * cols * Blocking.nr + k0 * Blocking.nr)
    }
}

/// Prepacked B for `GEMM.packed`: the panels of `weights` from column `j0` (a multiple of NR)
/// on; nothing to pack.
struct PrepackedPanels: PanelSource {
    let weights: PackedWeights
    let j0: Int
    func pack(k0: Int, kc: Int, j0: Int, nc: Int, into dst: UnsafeMutablePointer<Float>) {}
    func packedPanel(k0: Int, j0 j: Int) -> UnsafePointer<Float>? { weights.panel(column: j0 + j, depth: k0) }
}
