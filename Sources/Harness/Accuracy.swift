import Foundation

/// Error of an fp32 result against its fp64 reference.
public struct Accuracy: Codable, Equatable, Sendable {
    /// max |got − ref|
    public var maxAbs: Double
    /// max |got − ref| / |ref| over elements with |ref| > 0
    public var maxRel: Double
    /// √(mean (got − ref)²)
    public var rmse: Double
    /// mse(got, ref) / mse(ref, 0) (ggml's NMSE); 0 when ref is all zero and got equals it
    public var nmse: Double
    /// 10·log10(Σ ref² / Σ (got − ref)²), +inf when exact
    public var snrDB: Double
    /// cosine similarity of got and ref (1 when both are zero)
    public var cosine: Double
    /// Elements compared.
    public var count: Int

    enum CodingKeys: String, CodingKey {
        case maxAbs = "max_abs_error", maxRel = "max_rel_error", rmse, nmse, snrDB = "snr_db", cosine, count
    }

    /// Compares `got` with `ref` element by element. A non-finite value in either (a NaN, or
    /// an infinity) makes every statistic NaN: a result that is not a number is reported as
    /// such, never as a small error.
    public init<G: Collection, R: Collection>(got: G, ref: R) where G.Element: BinaryFloatingPoint, R.Element: BinaryFloatingPoint {
        precondition(got.count == ref.count, "Accuracy needs equal lengths")
        var maxAbs = 0.0, maxRel = 0.0, se = 0.0, sr = 0.0, sg = 0.0, dot = 0.0
        var nan = false
        for (g, r) in zip(got, ref) {
            let gd = Double(g), rd = Double(r)
            if !gd.isFinite || !rd.isFinite { nan = true; break }
            let e = abs(gd - rd)
            maxAbs = max(maxAbs, e)
            if rd != 0 { maxRel = max(maxRel, e / abs(rd)) }
            se += e * e; sr += rd * rd; sg += gd * gd; dot += gd * rd
        }
        let n = Double(max(1, got.count))
        self.count = got.count
        if nan {
            (self.maxAbs, self.maxRel, self.rmse, self.nmse, self.snrDB, self.cosine) = (.nan, .nan, .nan, .nan, .nan, .nan)
            return
        }
        self.maxAbs = maxAbs; self.maxRel = maxRel
        rmse = (se / n).squareRoot()
        nmse = sr > 0 ? se / sr : (se == 0 ? 0 : .infinity)
        snrDB = se == 0 ? .infinity : (sr == 0 ? -.infinity : 10 * log10(sr / se))
        cosine = (sr == 0 && sg == 0) ? 1 : (sr == 0 || sg == 0 ? 0 : dot / (sr.squareRoot() * sg.squareRoot()))
    }
}
