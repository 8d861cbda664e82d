import Foundation
import Kernels
import Testing

@Suite struct AttentionTests {
    /// The patterns under test; the block mask is built for `tokens` keys.
    static func patterns(tokens: Int) -> [AttentionPattern] {
        let blocks = AttentionPattern.BlockMask.random(size: 16, tokens: tokens, density: 0.3, seed: 11)
        var sparse = blocks
        // A query block that sees no key block: its queries are all-masked rows.
        if sparse.count > 1 { for j in 0..<sparse.count { sparse.mask[1 * sparse.count + j] = false } }
        return [
            .all, .init(causal: true), .init(window: 5), .init(causal: true, window: 3), .init(global: 2),
            .init(causal: true, window: 4, global: 2), .init(window: 6, global: 3), .init(block: blocks),
            .init(causal: true, block: sparse),
            .init(window: 7, global: 1, block: sparse),
            // More global keys than one 64-key tile holds.
            .init(causal: true, window: 5, global: 70), .init(window: 9, global: 66),
        ]
    }

    /// Runs one case and checks it against the fp64 reference and its derived bound.
    /// `halfKV`: K and V rounded to fp16 and passed as halves to attention.simd's fp16 decode
    /// entry (a half-precision KV cache); the reference and the bound use the same rounded
    /// values, which fp32 holds exactly.
    static func check(
        _ variant: String, t: Int, tq: Int? = nil, heads: Int, kvHeads: Int? = nil, d: Int, pattern: AttentionPattern,
        threads: Int, seed: UInt64, halfKV: Bool = false
    ) throws {
        let kernel = try Attention.variant(variant)
        let tq = tq ?? t
        let c = heads * d, ckv = (kvHeads ?? heads) * d
        let q = randomMatrix(tq, c, pad: 3, lo: -2, hi: 2, seed: seed)
        var k = randomMatrix(t, ckv, pad: 1, lo: -2, hi: 2, seed: seed + 1)
        var v = randomMatrix(t, ckv, pad: 2, seed: seed + 2)
        var out = Matrix(rows: tq, cols: c, stride: c + 5)
        if halfKV {
            k = Matrix(rows: t, cols: ckv, stride: ckv + 1) { r, x in Half.float(Half.bits(k[r, x])) }
            v = Matrix(rows: t, cols: ckv, stride: ckv + 2) { r, x in Half.float(Half.bits(v[r, x])) }
            // Halves with strides of their own (ckv + 3, ckv + 1), so row addressing is exercised.
            let kh = (0..<t).flatMap { r in (0..<(ckv + 3)).map { x in x < ckv ? Half.bits(k[r, x]) : 0x7E00 } }
            let vh = (0..<t).flatMap { r in (0..<(ckv + 1)).map { x in x < ckv ? Half.bits(v[r, x]) : 0x7E00 } }
            try q.withView { qv in
                try out.withMutableView { ov in
                    try kh.withUnsafeBufferPointer { kp in
                        try vh.withUnsafeBufferPointer { vp in
                            try Attention.SIMD.decode(
                                q: qv, k: HalfMatrixView(base: kp.baseAddress!, rows: t, cols: ckv, stride: ckv + 3),
                                v: HalfMatrixView(base: vp.baseAddress!, rows: t, cols: ckv, stride: ckv + 1),
                                heads: heads, pattern: pattern, ov, threads: threads)
                        }
                    }
                }
            }
        } else {
            try q.withView { qv in
                try k.withView { kv in
                    try v.withView { vv in
                        try out.withMutableView { ov in
                            try kernel.run(q: qv, k: kv, v: vv, heads: heads, pattern: pattern, ov, threads: threads)
                        }
                    }
                }
            }
        }
        let (ref, absScale) = q.withView { qv in
            k.withView { kv in
                v.withView { vv in
                    Reference.attention(q: qv, k: kv, v: vv, heads: heads, pattern: pattern)
                }
            }
        }
        // The bound is the library's (`Tolerance.attentionRow`, derivation there).
        var tol: [Double] = []
        q.withView { qv in
            k.withView { kv in
                for r in 0..<tq {
                    tol += Tolerance.attentionRow(
                        q: qv, k: kv, heads: heads, pattern: pattern, row: r + t - tq, queryRow: r,
                        absScale: absScale[(r * c)..<(r * c + c)])
                }
            }
        }
        expectClose(
            out, ref, tol: { tol[$0] },
            "attention.\(variant)\(halfKV ? " fp16 K/V" : "") T=\(t) Tq=\(tq) H=\(heads) KV=\(kvHeads ?? heads) D=\(d) \(pattern) "
                + "t=\(threads)")
    }

    /// The registered variants and the ablation steps of `opbench ablation`.
    static let kernelNames = Attention.checkedNames

    @Test(arguments: kernelNames)
    func matchesReference(variant: String) throws {
        var seed: UInt64 = 100
        for (t, heads, d) in [(1, 1, 1), (3, 2, 8), (17, 1, 17), (70, 3, 16), (129, 2, 64), (200, 1, 70)] {
            for pattern in Self.patterns(tokens: t) {
                for threads in [1, 2] {
                    seed += 3
                    try Self.check(variant, t: t, heads: heads, d: d, pattern: pattern, threads: threads, seed: seed)
                }
            }
        }
    }

    /// Grouped-query attention (KV K/V heads shared by H/KV query heads each; MQA at KV = 1):
    /// every variant and ablation step, prefill and decode, against the reference. The heads
    /// of a group must read their own group's K/V: with KV > 1 a kernel that read head h's
    /// columns, or group 0's for every head, gives another output.
    @Test(arguments: kernelNames)
    func groupedQueryAttention(variant: String) throws {
        var seed: UInt64 = 900
        for (t, tq, heads, kv, d) in [(70, 70, 4, 2, 16), (129, 129, 6, 2, 64), (130, 130, 3, 1, 24), (200, 1, 8, 2, 64), (65, 3, 4, 4, 8)]
        {
            for pattern in [AttentionPattern.all, .init(causal: true), .init(causal: true, window: 8, global: 2)] {
                for threads in [1, 2] {
                    seed += 7
                    try Self.check(
                        variant, t: t, tq: tq, heads: heads, kvHeads: kv, d: d, pattern: pattern, threads: threads, seed: seed)
                }
            }
        }
    }

    /// The fp16 KV-cache decode with grouped heads.
    @Test func groupedDecodeFromHalves() throws {
        for (tq, t, heads, kv, d) in [(1, 300, 8, 2, 64), (4, 130, 6, 3, 24), (2, 33, 4, 1, 70)] {
            for pattern in [AttentionPattern.all, .init(causal: true, window: 8, global: 1)] {
                try Self.check(
                    "simd", t: t, tq: tq, heads: heads, kvHeads: kv, d: d, pattern: pattern, threads: 2,
                    seed: UInt64(tq * 31 + t + d), halfKV: true)
            }
        }
    }

    /// Decode shape: fewer queries than keys (the newest tokens attend to a KV cache).
    @Test(arguments: Attention.variants.map(\.name))
    func queriesShorterThanKeys(variant: String) throws {
        for (tq, t) in [(1, 33), (2, 200), (4, 130), (5, 130), (64, 65)] {
            for pattern in [AttentionPattern.all, .init(causal: true), .init(causal: true, window: 8, global: 1)] {
                try Self.check(variant, t: t, tq: tq, heads: 2, d: 24, pattern: pattern, threads: 2, seed: UInt64(tq * 1000 + t))
            }
        }
    }

    /// attention.simd's decode from fp16 K and V (a half-precision KV cache), against the
    /// reference on the same values, with the same bound; D = 24 and 70 leave tails of 8
    /// and 6 halves after the 16-lane loads.
    @Test func decodeFromHalves() throws {
        for (tq, t, heads, d) in [(1, 1, 1, 16), (1, 33, 2, 24), (2, 200, 3, 64), (4, 130, 1, 70)] {
            for pattern in [AttentionPattern.all, .init(causal: true), .init(causal: true, window: 8, global: 1)] {
                for threads in [1, 2] {
                    try Self.check(
                        "simd", t: t, tq: tq, heads: heads, d: d, pattern: pattern, threads: threads,
                        seed: UInt64(tq * 1000 + t + d), halfKV: true)
                }
            }
        }
        // More queries than the decode path takes: a typed error.
        let q = Matrix(rows: 5, cols: 16), halves = [UInt16](repeating: 0, count: 5 * 16)
        var out = Matrix(rows: 5, cols: 16)
        q.withView { qv in
            out.withMutableView { ov in
                halves.withUnsafeBufferPointer { hp in
                    let kv = HalfMatrixView(base: hp.baseAddress!, rows: 5, cols: 16, stride: 16)
                    expectKernelError(["attention", "Q", "at most 4 rows"]) {
                        try Attention.SIMD.decode(q: qv, k: kv, v: kv, heads: 1, pattern: .all, ov, threads: 1)
                    }
                }
            }
        }
    }

    /// The reference itself: with `all`, it equals softmax(QKᵀ/√D)·V composed from the fp64
    /// matmul and a dense fp64 softmax; with a pattern, the same with −inf where an
    /// independently written mask says so.
    @Test func referenceEqualsMaskedDense() {
        let t = 40, d = 8
        let q = randomMatrix(t, d, seed: 1), k = randomMatrix(t, d, seed: 2), v = randomMatrix(t, d, seed: 3)
        let masks: [(AttentionPattern, (Int, Int) -> Bool)] = [
            (.all, { _, _ in true }),
            (.init(causal: true), { i, j in j <= i }),
            (.init(causal: true, window: 4, global: 3), { i, j in j <= i && (i - j < 4 || i < 3 || j < 3) }),
            (.init(window: 2), { i, j in abs(i - j) <= 1 }),
        ]
        for (pattern, allowed) in masks {
            let s = q.withView { qv in k.withView { Reference.matmul(qv, $0, layout: .nk) } }
            var expected = [Double](repeating: 0, count: t * d)
            for i in 0..<t {
                let row = (0..<t).map { j in allowed(i, j) ? s[i * t + j] / Double(d).squareRoot() : -.infinity }
                let m = row.max()!
                let e = row.map { Foundation.exp($0 - m) }
                let sum = e.reduce(0, +)
                for j in 0..<t { for x in 0..<d { expected[i * d + x] += e[j] / sum * Double(v[j, x]) } }
            }
            let got = q.withView { qv in
                k.withView { kv in v.withView { Reference.attention(q: qv, k: kv, v: $0, heads: 1, pattern: pattern).out } }
            }
            let diff = zip(got, expected).map { abs($0 - $1) }.max()!
            #expect(diff < 1e-12, "\(pattern): reference differs from masked dense by \(diff)")
        }
    }

    /// The interval form kernels mask with says exactly what `allows` says.
    @Test func keyIntervalMatchesAllows() {
        let t = 150
        for pattern in Self.patterns(tokens: t) {
            guard let _ = pattern.keyInterval(0) else { #expect(pattern.block != nil); continue }
            for i in 0..<t {
                let (lo, hi) = pattern.keyInterval(i)!
                for j in 0..<t {
                    let inInterval = (j >= lo && j <= hi) || (j < pattern.global && (!pattern.causal || j <= i))
                    #expect(inInterval == pattern.allows(i, j), "\(pattern) (\(i), \(j))")
                }
            }
        }
    }

    @Test func tileClassification() {
        // Every tile's class must agree with the element-wise pattern.
        let t = 100
        for pattern in Self.patterns(tokens: t) {
            for (q0, q1, k0, k1) in [(0, 6, 0, 64), (6, 12, 64, 100), (90, 96, 0, 64), (30, 36, 20, 84), (96, 100, 64, 100)] {
                var any = false, all = true
                for i in q0..<q1 { for j in k0..<k1 { if pattern.allows(i, j) { any = true } else { all = false } } }
                let cls = pattern.classify(q0..<q1, k0..<k1)
                if !any { #expect(cls == .empty, "\(pattern) tile \(q0)..\(q1)x\(k0)..\(k1)") }
                if any { #expect(cls != .empty, "\(pattern) tile \(q0)..\(q1)x\(k0)..\(k1) wrongly empty") }
                if cls == .full { #expect(all, "\(pattern) tile \(q0)..\(q1)x\(k0)..\(k1) wrongly full") }
            }
        }
    }

    @Test func badInput() throws {
        let q = Matrix(rows: 4, cols: 12), k = Matrix(rows: 4, cols: 12), kShort = Matrix(rows: 3, cols: 12),
            kWide = Matrix(rows: 4, cols: 10)
        let kEight = Matrix(rows: 4, cols: 8), kHalf = Matrix(rows: 4, cols: 6)
        var out = Matrix(rows: 4, cols: 12)
        for kernel in Attention.variants {
            q.withView { qv in
                k.withView { kv in
                    out.withMutableView { ov in
                        expectKernelError(["attention", "window", "0"]) {
                            try kernel.run(q: qv, k: kv, v: kv, heads: 2, pattern: .init(window: 0), ov, threads: 1)
                        }
                        expectKernelError(["attention", "heads", "0"]) {
                            try kernel.run(q: qv, k: kv, v: kv, heads: 0, pattern: .all, ov, threads: 1)
                        }
                        expectKernelError(["attention", "H=5"]) {
                            try kernel.run(q: qv, k: kv, v: kv, heads: 5, pattern: .all, ov, threads: 1)
                        }
                        expectKernelError(["attention", "threads"]) {
                            try kernel.run(q: qv, k: kv, v: kv, heads: 2, pattern: .all, ov, threads: 0)
                        }
                        let badMask = AttentionPattern(block: .init(size: 2, count: 3, mask: [Bool](repeating: true, count: 9)))
                        expectKernelError(["attention", "block mask", "2x2", "3x3"]) {
                            try kernel.run(q: qv, k: kv, v: kv, heads: 2, pattern: badMask, ov, threads: 1)
                        }
                        kShort.withView { ks in
                            expectKernelError(["attention", "'K'", "at least Tq=4"]) {
                                try kernel.run(q: qv, k: ks, v: ks, heads: 2, pattern: .all, ov, threads: 1)
                            }
                        }
                        kWide.withView { kw in
                            expectKernelError(["attention", "'K'", "4x10"]) {
                                try kernel.run(q: qv, k: kw, v: kv, heads: 2, pattern: .all, ov, threads: 1)
                            }
                        }
                        // K/V heads that do not divide the query heads (H=3, D=4, K 8 wide: KV=2),
                        // and V narrower than K (H=2, D=6, K 12 wide, V 6 wide).
                        kEight.withView { k8 in
                            expectKernelError(["attention", "'K'", "KV dividing H=3", "4x8"]) {
                                try kernel.run(q: qv, k: k8, v: k8, heads: 3, pattern: .all, ov, threads: 1)
                            }
                        }
                        kHalf.withView { kh in
                            expectKernelError(["attention", "'V'", "4x12", "4x6"]) {
                                try kernel.run(q: qv, k: kv, v: kh, heads: 2, pattern: .all, ov, threads: 1)
                            }
                        }
                    }
                }
            }
        }
    }
}
