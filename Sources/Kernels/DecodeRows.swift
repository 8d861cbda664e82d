/// Rows of K or V as the decode path reads them: one head's stretch of a row at a time.
public protocol DecodeRows: Sendable {
    var rows: Int { get }
    /// Σ_t a[t]·row[col + t] for t < count (one 16-lane accumulator, then its lane sum).
    func dot(_ a: UnsafePointer<Float>, row: Int, col: Int, count: Int) -> Float
    /// acc[t] += p·row[col + t] for t < count (16 lanes at a time).
    func axpy(_ p: Float, row: Int, col: Int, into acc: UnsafeMutablePointer<Float>, count: Int)
}

extension MatrixView: DecodeRows {
    @inline(__always)
    public func dot(_ a: UnsafePointer<Float>, row: Int, col: Int, count: Int) -> Float {
        VectorMath.dot(a, self.row(row) + col, count: count)
    }

    @inline(__always)
    public func axpy(_ p: Float, row: Int, col: Int, into acc: UnsafeMutablePointer<Float>, count: Int) {
        let src = self.row(row) + col, pv = Vec(repeating: p)
        var t = 0
        while t + 16 <= count {
            let a = UnsafeRawPointer(acc + t).loadUnaligned(as: Vec.self).addingProduct(
                pv, UnsafeRawPointer(src + t).loadUnaligned(as: Vec.self))
            UnsafeMutableRawPointer(acc + t).storeBytes(of: a, as: Vec.self)
            t += 16
        }
        while t < count { acc[t] += p * src[t]; t += 1 }
    }
}

/// A row-major matrix of IEEE half-precision values (bits), e.g. a half-precision KV cache.
public struct HalfMatrixView: DecodeRows, @unchecked Sendable {
    public let base: UnsafePointer<UInt16>
    public let rows: Int
    public let cols: Int
    /// Distance in elements between the starts of consecutive rows (≥ cols).
    public let stride: Int

    public init(base: UnsafePointer<UInt16>, rows: Int, cols: Int, stride: Int) {
        self.base = base; self.rows = rows; self.cols = cols; self.stride = stride
    }

    /// 16 halves from `p` as floats, the lanes from `count` on 0.
    @inline(__always)
    static func load(_ p: UnsafePointer<UInt16>, _ count: Int) -> Vec {
        if count >= 16 { return VectorMath.halves(p) }
        var tmp = SIMD16<UInt16>()
        for t in 0..<count { tmp[t] = p[t] }
        return withUnsafeBytes(of: tmp) { VectorMath.halves($0.baseAddress!) }
    }

    @inline(__always)
    public func dot(_ a: UnsafePointer<Float>, row: Int, col: Int, count: Int) -> Float {
        let src = base + row * stride + col
        var acc = Vec()
        var t = 0
        while t + 16 <= count {
            acc = acc.addingProduct(UnsafeRawPointer(a + t).loadUnaligned(as: Vec.self), VectorMath.halves(src + t))
            t += 16
        }
        if t < count { acc = acc.addingProduct(VectorMath.loadPartial(a + t, count - t, fill: 0), Self.load(src + t, count - t)) }
        return VectorMath.sum(acc)
    }

    @inline(__always)
    public func axpy(_ p: Float, row: Int, col: Int, into acc: UnsafeMutablePointer<Float>, count: Int) {
        let src = base + row * stride + col, pv = Vec(repeating: p)
        var t = 0
        while t + 16 <= count {
            let a = UnsafeRawPointer(acc + t).loadUnaligned(as: Vec.self).addingProduct(pv, VectorMath.halves(src + t))
            UnsafeMutableRawPointer(acc + t).storeBytes(of: a, as: Vec.self)
            t += 16
        }
        while t < count { acc[t] += p * Half.float(src[t]); t += 1 }
    }
}
