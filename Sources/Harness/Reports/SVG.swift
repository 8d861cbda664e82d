import Foundation

/// Minimal inline-SVG charts for the HTML report: no scripts, no external resources.
public enum SVG {
    /// Colours in the registry's variant order (naive, simd, blas, …), then cycling.
    static let palette = ["#bab0ac", "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#9c755f"]

    /// A registered variant's colour follows its rank; any other series its place in `keys`.
    static func color(_ key: String, among keys: [String]) -> String {
        let rank = Operators.rank(ofVariant: key), registered = Operators.variantNames.count
        return palette[(rank < registered ? rank : registered + (keys.firstIndex(of: key) ?? 0)) % palette.count]
    }

    static func esc(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    /// An axis mapping values to pixels, linear or log10.
    struct Axis {
        let lo: Double, hi: Double, log: Bool, p0: Double, p1: Double
        init(_ values: [Double], log: Bool, p0: Double, p1: Double, includeZero: Bool = false) {
            // Values far outside what a chart can show (and non-finite ones) are left out, so
            // the axis and its ticks stay finite.
            let v = values.filter { $0.isFinite && abs($0) <= 1e30 && (!log || $0 >= 1e-30) }
            var lo = v.min() ?? 1, hi = v.max() ?? 10
            if log {
                lo = pow(10, floor(log10(lo))); hi = pow(10, ceil(log10(hi)))
                if lo == hi { hi = lo * 10 }
            } else {
                if includeZero { lo = min(0, lo) }
                if lo == hi { hi = lo + 1 }
                hi += (hi - lo) * 0.05
            }
            self.lo = lo; self.hi = hi; self.log = log; self.p0 = p0; self.p1 = p1
        }
        func map(_ x: Double) -> Double {
            let t = log ? (log10(max(x, lo)) - log10(lo)) / (log10(hi) - log10(lo)) : (x - lo) / (hi - lo)
            return p0 + t * (p1 - p0)
        }
        var ticks: [Double] {
            if log {
                var out: [Double] = []
                var t = lo
                while t <= hi * 1.0001, out.count < 64 { out.append(t); t *= 10 }
                return out
            }
            let raw = (hi - lo) / 5
            let mag = pow(10, floor(log10(raw)))
            let step = [1.0, 2, 5, 10].map { $0 * mag }.first { $0 >= raw } ?? raw
            var out: [Double] = []
            var t = ceil(lo / step) * step
            while t <= hi, out.count < 64 { out.append(t); t += step }
            return out
        }
    }

    static func label(_ x: Double) -> String {
        if x == 0 { return "0" }
        if abs(x) >= 1e4 || abs(x) < 1e-2 { return String(format: "%.0e", x) }
        return x == x.rounded() ? String(format: "%.0f", x) : String(format: "%.2g", x)
    }

    /// Frame, grid, ticks and axis titles of a w×h chart with the plot area inside margins.
    static func frame(w: Double, h: Double, x: Axis, y: Axis, xTitle: String, yTitle: String, title: String, xTickLabels: Bool = true)
        -> String
    {
        var s = "<text x=\"\(w / 2)\" y=\"16\" text-anchor=\"middle\" class=\"t\">\(esc(title))</text>"
        for t in y.ticks {
            let py = y.map(t)
            s +=
                "<line x1=\"\(x.p0)\" x2=\"\(x.p1)\" y1=\"\(py)\" y2=\"\(py)\" class=\"g\"/><text x=\"\(x.p0 - 4)\" y=\"\(py + 4)\" "
                + "text-anchor=\"end\">\(label(t))</text>"
        }
        if xTickLabels {
            for t in x.ticks {
                let px = x.map(t)
                s +=
                    "<line x1=\"\(px)\" x2=\"\(px)\" y1=\"\(y.p1)\" y2=\"\(y.p0)\" class=\"g\"/><text x=\"\(px)\" "
                    + "y=\"\(y.p0 + 14)\" text-anchor=\"middle\">\(label(t))</text>"
            }
        }
        s += "<rect x=\"\(x.p0)\" y=\"\(y.p1)\" width=\"\(x.p1 - x.p0)\" height=\"\(y.p0 - y.p1)\" class=\"f\"/>"
        s += "<text x=\"\((x.p0 + x.p1) / 2)\" y=\"\(h - 4)\" text-anchor=\"middle\">\(esc(xTitle))</text>"
        s += "<text transform=\"translate(12 \((y.p0 + y.p1) / 2)) rotate(-90)\" text-anchor=\"middle\">\(esc(yTitle))</text>"
        return s
    }

    static func legend(_ keys: [String], x: Double, y: Double, colors: [String: String]) -> String {
        var s = ""
        for (i, k) in keys.enumerated() {
            s += "<rect x=\"\(x)\" y=\"\(y + Double(i) * 16)\" width=\"10\" height=\"10\" fill=\"\(colors[k]!)\"/>"
            s += "<text x=\"\(x + 14)\" y=\"\(y + Double(i) * 16 + 9)\">\(esc(k))</text>"
        }
        return s
    }

    static func wrap(_ w: Double, _ h: Double, _ body: String) -> String {
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(w))\" height=\"\(Int(h))\" viewBox=\"0 0 \(Int(w)) \(Int(h))\" "
            + "font-family=\"sans-serif\" font-size=\"11\">"
            + "<style>.g{stroke:#e3e3e3}.f{fill:none;stroke:#888}.t{font-size:13px;font-weight:bold}</style>" + body + "</svg>"
    }

    /// Grouped bars: one group per label, one bar per series key.
    public static func bars(
        title: String, yTitle: String, groups: [(label: String, values: [(key: String, value: Double)])], logScale: Bool = false
    ) -> String {
        let keys = Array(Set(groups.flatMap { $0.values.map(\.key) })).sorted { orderKey($0) < orderKey($1) }
        let colors = Dictionary(uniqueKeysWithValues: keys.map { ($0, color($0, among: keys)) })
        let groupWidth = Double(max(1, keys.count)) * 14 + 16
        let w = max(420, 70 + Double(groups.count) * groupWidth + 110), h = 300.0
        let values = groups.flatMap { $0.values.map(\.value) }
        let y = Axis(values, log: logScale, p0: h - 70, p1: 28, includeZero: !logScale)
        let x = Axis([0, 1], log: false, p0: 60, p1: w - 110)
        var s = frame(w: w, h: h, x: x, y: y, xTitle: "", yTitle: yTitle, title: title, xTickLabels: false)
        for (gi, g) in groups.enumerated() {
            let gx = 64 + Double(gi) * groupWidth
            for (ki, k) in keys.enumerated() {
                guard let v = g.values.first(where: { $0.key == k })?.value, v.isFinite else { continue }
                let top = y.map(v)
                s +=
                    "<rect x=\"\(gx + Double(ki) * 14)\" y=\"\(top)\" width=\"12\" height=\"\(max(0, y.p0 - top))\" "
                    + "fill=\"\(colors[k]!)\"><title>\(esc(g.label)) \(esc(k)): \(Format.number(v))</title></rect>"
            }
            s +=
                "<text transform=\"translate(\(gx + 4) \(y.p0 + 10)) rotate(30)\" font-size=\"9\">\(esc(String(g.label.prefix(28))))</text>"
        }
        s += legend(keys, x: w - 100, y: 30, colors: colors)
        return wrap(w, h, s)
    }

    /// Scatter of labelled points, with optional horizontal/sloped ceiling lines (roofline).
    public struct Point {
        public var x: Double; public var y: Double; public var series: String; public var label: String
        public init(x: Double, y: Double, series: String, label: String) {
            self.x = x; self.y = y; self.series = series; self.label = label
        }
    }
    public struct Roof {
        public var peak: Double; public var bandwidth: Double; public var label: String
        /// Label the sloped (bandwidth) part at the left edge instead of the flat peak.
        public var labelSlope: Bool
        public init(peak: Double, bandwidth: Double, label: String, labelSlope: Bool = false) {
            self.peak = peak; self.bandwidth = bandwidth; self.label = label; self.labelSlope = labelSlope
        }
    }

    public static func scatter(
        title: String, xTitle: String, yTitle: String, points: [Point], xLog: Bool, yLog: Bool,
        roofs: [Roof] = [], lines: Bool = false
    ) -> String {
        let w = 640.0, h = 380.0
        let keys = Array(Set(points.map(\.series))).sorted { orderKey($0) < orderKey($1) }
        let colors = Dictionary(uniqueKeysWithValues: keys.map { ($0, color($0, among: keys)) })
        var xs = points.map(\.x), ys = points.map(\.y)
        for r in roofs { ys.append(r.peak); xs.append(r.peak / r.bandwidth) }
        let x = Axis(xs, log: xLog, p0: 60, p1: w - 150), y = Axis(ys, log: yLog, p0: h - 40, p1: 28)
        var s = frame(w: w, h: h, x: x, y: y, xTitle: xTitle, yTitle: yTitle, title: title)
        for (i, r) in roofs.enumerated() {
            // Roofline: min(peak, AI·bandwidth), drawn over the x range.
            var path = ""
            let n = 60
            for k in 0...n {
                let ai = xLog ? x.lo * pow(x.hi / x.lo, Double(k) / Double(n)) : x.lo + (x.hi - x.lo) * Double(k) / Double(n)
                let v = min(r.peak, ai * r.bandwidth)
                path += (k == 0 ? "M" : "L") + String(format: "%.1f %.1f", x.map(ai), y.map(max(v, y.lo)))
            }
            if r.labelSlope {
                s += "<path d=\"\(path)\" fill=\"none\" stroke=\"#999\" stroke-width=\"0.8\"/>"
                let v = min(r.peak, x.lo * r.bandwidth)
                let ty = Swift.min(Swift.max(y.map(Swift.max(v, y.lo)) - 3, y.p1 + 10), y.p0 - 3)
                s += "<text x=\"\(x.p0 + 4)\" y=\"\(ty)\" font-size=\"9\" fill=\"#777\">\(esc(r.label))</text>"
                continue
            }
            s += "<path d=\"\(path)\" fill=\"none\" stroke=\"#333\" stroke-dasharray=\"\(i == 0 ? "none" : "4 3")\"/>"
            s += "<text x=\"\(x.p1 - 4)\" y=\"\(y.map(r.peak) - 4)\" text-anchor=\"end\" fill=\"#333\">\(esc(r.label))</text>"
        }
        if lines {
            for k in keys {
                let pts = points.filter { $0.series == k }.sorted { $0.x < $1.x }
                guard pts.count > 1 else { continue }
                let d = pts.enumerated().map {
                    ($0.offset == 0 ? "M" : "L") + String(format: "%.1f %.1f", x.map($0.element.x), y.map($0.element.y))
                }.joined()
                s += "<path d=\"\(d)\" fill=\"none\" stroke=\"\(colors[k]!)\" stroke-width=\"1.5\"/>"
            }
        }
        for p in points where p.x.isFinite && p.y.isFinite {
            s +=
                "<circle cx=\"\(x.map(p.x))\" cy=\"\(y.map(p.y))\" r=\"4\" fill=\"\(colors[p.series]!)\" "
                + "fill-opacity=\"0.85\"><title>\(esc(p.label))</title></circle>"
        }
        s += legend(keys, x: w - 140, y: 30, colors: colors)
        return wrap(w, h, s)
    }

    /// Stacked horizontal bars: one bar per row, segments per key (e.g. time per operator).
    public static func stacked(title: String, xTitle: String, rows: [(label: String, parts: [(key: String, value: Double)])]) -> String {
        let keys = Array(Set(rows.flatMap { $0.parts.map(\.key) })).sorted()
        let colors = Dictionary(uniqueKeysWithValues: keys.enumerated().map { ($0.element, palette[$0.offset % palette.count]) })
        let w = 700.0, h = 60 + Double(rows.count) * 26 + 30
        let total = rows.map { $0.parts.map(\.value).reduce(0, +) }.max() ?? 1
        let x = Axis([0, total], log: false, p0: 200, p1: w - 130, includeZero: true)
        var s = "<text x=\"\(w / 2)\" y=\"16\" text-anchor=\"middle\" class=\"t\">\(esc(title))</text>"
        for (i, r) in rows.enumerated() {
            let y = 30 + Double(i) * 26
            s += "<text x=\"196\" y=\"\(y + 13)\" text-anchor=\"end\">\(esc(String(r.label.prefix(34))))</text>"
            var acc = 0.0
            for part in r.parts {
                let x0 = x.map(acc), x1 = x.map(acc + part.value)
                s +=
                    "<rect x=\"\(x0)\" y=\"\(y)\" width=\"\(max(0, x1 - x0))\" height=\"18\" "
                    + "fill=\"\(colors[part.key]!)\"><title>\(esc(part.key)): \(Format.number(part.value))</title></rect>"
                acc += part.value
            }
        }
        for t in x.ticks { s += "<text x=\"\(x.map(t))\" y=\"\(h - 18)\" text-anchor=\"middle\">\(label(t))</text>" }
        s += "<text x=\"\((x.p0 + x.p1) / 2)\" y=\"\(h - 4)\" text-anchor=\"middle\">\(esc(xTitle))</text>"
        s += legend(keys, x: w - 120, y: 30, colors: colors)
        return wrap(w, h, s)
    }

    /// Series order: registered variant names by rank (a series "simd (run)" by its first
    /// word), then by name.
    static func orderKey(_ k: String) -> OrderKey {
        OrderKey(rank: Operators.rank(ofVariant: String(k.split(separator: " ").first ?? "")), name: k)
    }

    struct OrderKey: Comparable {
        let rank: Int, name: String
        static func < (l: OrderKey, r: OrderKey) -> Bool { (l.rank, l.name) < (r.rank, r.name) }
    }
}
