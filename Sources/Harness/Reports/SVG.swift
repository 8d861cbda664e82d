import Foundation

/// Minimal inline-SVG charts for the HTML report: no scripts, no external resources.
public enum SVG {
    /// Colours in the registry's variant order (naive, simd, blas, …).
    static let palette = ["#bab0ac", "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#9c755f"]
    /// Ten more, of other lightness (Tableau 20's second halves), for charts with more series.
    static let palette2 = ["#79706e", "#a0cbe8", "#ffbe7d", "#8cd17d", "#ff9d9a", "#86bcb6", "#f1ce63", "#d4a6c8", "#fabfd2", "#d7b5a6"]
    /// Marker shapes of scatter points, so colour and shape together tell up to 100 series apart.
    static let markers = ["circle", "square", "triangle", "diamond", "cross"]

    /// How one series is drawn: its colour and, in scatter charts, its marker.
    struct Style: Equatable { let color: String, marker: String }

    /// A style per key that no other key of the chart shares. When every key is a registered
    /// variant name (one run's series) each keeps its variant's colour, the same in every chart;
    /// otherwise keys take colours and markers in their order.
    static func styles(_ keys: [String]) -> [String: Style] {
        let names = Operators.variantNames
        if keys.allSatisfy({ names.contains($0) }) && names.count <= palette.count {
            return Dictionary(
                uniqueKeysWithValues: keys.map { ($0, Style(color: palette[Operators.rank(ofVariant: $0)], marker: "circle")) })
        }
        let colors = palette + palette2
        return Dictionary(
            uniqueKeysWithValues: keys.enumerated().map { i, k in
                (k, Style(color: colors[i % colors.count], marker: markers[(i / colors.count) % markers.count]))
            })
    }

    /// A marker of `style` at (x, y) with a hover title.
    static func marker(_ style: Style, x: Double, y: Double, title: String) -> String {
        let t = "<title>\(esc(title))</title>", fill = "fill=\"\(style.color)\" fill-opacity=\"0.85\""
        let (fx, fy) = (String(format: "%.1f", x), String(format: "%.1f", y))
        switch style.marker {
        case "square":
            let (sx, sy) = (String(format: "%.1f", x - 3.5), String(format: "%.1f", y - 3.5))
            return "<rect x=\"\(sx)\" y=\"\(sy)\" width=\"7\" height=\"7\" \(fill)>\(t)</rect>"
        case "triangle":
            return "<path d=\"M\(fx) \(String(format: "%.1f", y - 4.5))l4.5 8h-9z\" \(fill)>\(t)</path>"
        case "diamond":
            return "<path d=\"M\(fx) \(String(format: "%.1f", y - 5))l5 5l-5 5l-5 -5z\" \(fill)>\(t)</path>"
        case "cross":
            return "<path d=\"M\(String(format: "%.1f", x - 4)) \(String(format: "%.1f", y - 4))l8 8m0 -8l-8 8\" stroke=\"\(style.color)\" "
                + "stroke-width=\"2.2\" fill=\"none\">\(t)</path>"
        default:
            return "<circle cx=\"\(fx)\" cy=\"\(fy)\" r=\"4\" \(fill)>\(t)</circle>"
        }
    }

    /// Labels made unique: a label that two groups share gets ` #2`, ` #3` … on its repeats.
    static func unique(_ labels: [String]) -> [String] {
        var seen: [String: Int] = [:]
        return labels.map { l in
            seen[l, default: 0] += 1
            return seen[l]! == 1 ? l : "\(l) #\(seen[l]!)"
        }
    }

    /// `text` cut to `limit` characters by an ellipsis in the middle (ends kept: shapes and
    /// thread counts sit at the end of labels).
    static func shorten(_ text: String, _ limit: Int) -> String {
        guard text.count > limit, limit > 3 else { return text }
        let head = (limit - 1) / 2, tail = limit - 1 - head
        return String(text.prefix(head)) + "…" + String(text.suffix(tail))
    }

    /// Moves label positions (each wanted at `y`) apart to at least `gap` pixels, keeping their
    /// order and staying within `lo…hi` where possible.
    static func spread(_ wanted: [Double], gap: Double, lo: Double, hi: Double) -> [Double] {
        let order = wanted.indices.sorted { wanted[$0] < wanted[$1] }
        var out = wanted
        var last = -Double.infinity
        for i in order {
            out[i] = max(wanted[i], last + gap, lo)
            last = out[i]
        }
        // Pushed past the bottom: shift the whole run back up.
        if let m = out.max(), m > hi {
            let shift = m - hi
            for i in out.indices { out[i] -= shift }
        }
        return out
    }

    static func esc(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    /// An axis mapping values to pixels, linear or log10.
    struct Axis {
        let lo: Double, hi: Double, log: Bool, p0: Double, p1: Double
        /// Ticks at whole numbers only (thread counts).
        var integer = false
        init(_ values: [Double], log: Bool, p0: Double, p1: Double, includeZero: Bool = false, integer: Bool = false) {
            self.integer = integer
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
            var step = [1.0, 2, 5, 10].map { $0 * mag }.first { $0 >= raw } ?? raw
            if integer { step = max(1, step.rounded(.up)) }
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

    /// Height of the legend `legend(keys:…, width:)` draws: rows of as many columns as fit.
    static func legendHeight(_ keys: [String], width: Double) -> Double {
        guard !keys.isEmpty else { return 0 }
        let column = min(width, Double(min(keys.map(\.count).max() ?? 0, 70)) * 6.2 + 24)
        let perRow = max(1, Int(width / column))
        return Double((keys.count + perRow - 1) / perRow) * 15 + 6
    }

    /// The legend under a chart: every key in full (up to 70 characters), a swatch or marker
    /// each, in as many columns as fit `width`, from (`x`, `y`).
    static func legend(_ keys: [String], x: Double, y: Double, width: Double, styles: [String: Style], markers: Bool = false) -> String {
        let column = min(width, Double(min(keys.map(\.count).max() ?? 0, 70)) * 6.2 + 24)
        let perRow = max(1, Int(width / column))
        var s = ""
        for (i, k) in keys.enumerated() {
            let lx = x + Double(i % perRow) * column, ly = y + Double(i / perRow) * 15
            let st = styles[k]!
            s +=
                markers
                ? marker(st, x: lx + 5, y: ly + 5, title: k)
                : "<rect x=\"\(lx)\" y=\"\(ly)\" width=\"10\" height=\"10\" fill=\"\(st.color)\"><title>\(esc(k))</title></rect>"
            s += "<text x=\"\(lx + 14)\" y=\"\(ly + 9)\">\(esc(shorten(k, 70)))<title>\(esc(k))</title></text>"
        }
        return s
    }

    /// The chart's SVG element: its own size, scaled down by the page when narrower.
    static func wrap(_ w: Double, _ h: Double, _ body: String) -> String {
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(w))\" height=\"\(Int(h))\" viewBox=\"0 0 \(Int(w)) \(Int(h))\" "
            + "style=\"max-width:100%;height:auto\" font-family=\"sans-serif\" font-size=\"11\">"
            + "<style>.g{stroke:#e3e3e3}.f{fill:none;stroke:#888}.t{font-size:13px;font-weight:bold}</style>" + body + "</svg>"
    }

    /// Grouped bars: one group per label, one bar per series key; a log axis when the values
    /// span more than 30× (or `logScale`), labels unique and whole up to 48 characters.
    public static func bars(
        title: String, yTitle: String, groups: [(label: String, values: [(key: String, value: Double)])], logScale: Bool? = nil
    ) -> String {
        let keys = Array(Set(groups.flatMap { $0.values.map(\.key) })).sorted { orderKey($0) < orderKey($1) }
        let st = styles(keys)
        let labels = unique(groups.map { shorten($0.label, 48) })
        let barWidth = keys.count > 6 ? 8.0 : 12
        let groupWidth = Double(max(1, keys.count)) * (barWidth + 2) + 16
        // Wide enough for the groups and for the last group's label, which runs right at 35°.
        let lastLabel = 74 + Double(max(0, groups.count - 1)) * groupWidth + Double(labels.last?.count ?? 0) * 4.6 + 12
        let w = max(480, 80 + Double(groups.count) * groupWidth + 20, lastLabel)
        let values = groups.flatMap { $0.values.map(\.value) }.filter { $0.isFinite && $0 > 0 }
        let log = logScale ?? ((values.max() ?? 1) / max(values.min() ?? 1, 1e-300) > 30)
        // Room under the plot for the rotated labels (about 4.4 px across per character at 35°).
        let labelRoom = Double(labels.map(\.count).max() ?? 0) * 4.4 + 16
        let legendH = legendHeight(keys, width: w - 80)
        let plotBottom = 28 + 230.0
        let h = plotBottom + labelRoom + 20 + legendH
        let y = Axis(values, log: log, p0: plotBottom, p1: 28, includeZero: !log)
        let x = Axis([0, 1], log: false, p0: 64, p1: w - 16)
        var s = frame(
            w: w, h: plotBottom + 20, x: x, y: y, xTitle: "", yTitle: yTitle + (log ? " (log)" : ""), title: title, xTickLabels: false)
        for (gi, g) in groups.enumerated() {
            let gx = 70 + Double(gi) * groupWidth
            for (ki, k) in keys.enumerated() {
                guard let v = g.values.first(where: { $0.key == k })?.value, v.isFinite, !log || v > 0 else { continue }
                let top = y.map(v)
                s +=
                    "<rect x=\"\(gx + Double(ki) * (barWidth + 2))\" y=\"\(top)\" width=\"\(barWidth)\" height=\"\(max(0, y.p0 - top))\" "
                    + "fill=\"\(st[k]!.color)\"><title>\(esc(g.label)) \(esc(k)): \(Format.number(v))</title></rect>"
            }
            s +=
                "<text transform=\"translate(\(gx + 4) \(y.p0 + 10)) rotate(35)\" font-size=\"9\">\(esc(labels[gi]))"
                + "<title>\(esc(g.label))</title></text>"
        }
        s += legend(keys, x: 64, y: plotBottom + labelRoom + 14, width: w - 80, styles: st)
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
        roofs: [Roof] = [], lines: Bool = false, xInteger: Bool = false
    ) -> String {
        let w = 680.0, plotH = 340.0
        let keys = Array(Set(points.map(\.series))).sorted { orderKey($0) < orderKey($1) }
        let st = styles(keys)
        var xs = points.map(\.x), ys = points.map(\.y)
        for r in roofs { ys.append(r.peak); xs.append(r.peak / r.bandwidth) }
        let x = Axis(xs, log: xLog, p0: 60, p1: w - 16, integer: xInteger), y = Axis(ys, log: yLog, p0: plotH - 40, p1: 28)
        let legendH = legendHeight(keys, width: w - 70)
        let h = plotH + legendH + 6
        var s = frame(w: w, h: plotH, x: x, y: y, xTitle: xTitle, yTitle: yTitle, title: title)
        // Ceiling labels: peaks at the right end of their flat part, slopes at the left edge,
        // each set moved apart so no two overlap.
        var peakLabels: [(y: Double, text: String)] = [], slopeLabels: [(y: Double, text: String)] = []
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
                s += "<path d=\"\(path)\" fill=\"none\" stroke=\"#999\" stroke-width=\"0.8\"><title>\(esc(r.label))</title></path>"
                let v = min(r.peak, x.lo * r.bandwidth)
                slopeLabels.append((y.map(Swift.max(v, y.lo)) - 3, r.label))
                continue
            }
            s +=
                "<path d=\"\(path)\" fill=\"none\" stroke=\"#333\" stroke-dasharray=\"\(i == 0 ? "none" : "4 3")\">"
                + "<title>\(esc(r.label))</title></path>"
            if !peakLabels.contains(where: { $0.text == r.label }) { peakLabels.append((y.map(r.peak) - 4, r.label)) }
        }
        let peakY = spread(peakLabels.map(\.y), gap: 11, lo: y.p1 + 10, hi: y.p0 - 3)
        for (l, py) in zip(peakLabels, peakY) {
            s += "<text x=\"\(x.p1 - 4)\" y=\"\(py)\" text-anchor=\"end\" fill=\"#333\">\(esc(l.text))</text>"
        }
        let slopeY = spread(slopeLabels.map(\.y), gap: 10, lo: y.p1 + 10, hi: y.p0 - 3)
        for (l, sy) in zip(slopeLabels, slopeY) {
            s += "<text x=\"\(x.p0 + 4)\" y=\"\(sy)\" font-size=\"9\" fill=\"#777\">\(esc(l.text))</text>"
        }
        if lines {
            for k in keys {
                let pts = points.filter { $0.series == k }.sorted { $0.x < $1.x }
                guard pts.count > 1 else { continue }
                let d = pts.enumerated().map {
                    ($0.offset == 0 ? "M" : "L") + String(format: "%.1f %.1f", x.map($0.element.x), y.map($0.element.y))
                }.joined()
                s += "<path d=\"\(d)\" fill=\"none\" stroke=\"\(st[k]!.color)\" stroke-width=\"1.5\"/>"
            }
        }
        for p in points where p.x.isFinite && p.y.isFinite {
            s += marker(st[p.series]!, x: x.map(p.x), y: y.map(p.y), title: p.label)
        }
        s += legend(keys, x: 60, y: plotH + 2, width: w - 70, styles: st, markers: true)
        return wrap(w, h, s)
    }

    /// Stacked horizontal bars: one bar per row, segments per key (e.g. time per operator),
    /// each bar's total at its end; labels unique and whole up to 60 characters.
    public static func stacked(title: String, xTitle: String, rows: [(label: String, parts: [(key: String, value: Double)])]) -> String {
        let keys = Array(Set(rows.flatMap { $0.parts.map(\.key) })).sorted()
        let st = styles(keys)
        let labels = unique(rows.map { shorten($0.label, 60) })
        let left = min(380, Double(labels.map(\.count).max() ?? 10) * 6.2 + 12)
        let w = max(700, left + 420)
        let legendH = legendHeight(keys, width: w - 20)
        let barsH = 30 + Double(rows.count) * 24
        let h = barsH + 34 + legendH
        let total = rows.map { $0.parts.map(\.value).reduce(0, +) }.max() ?? 1
        let x = Axis([0, total], log: false, p0: left, p1: w - 70, includeZero: true)
        var s = "<text x=\"\(w / 2)\" y=\"16\" text-anchor=\"middle\" class=\"t\">\(esc(title))</text>"
        for (i, r) in rows.enumerated() {
            let y = 30 + Double(i) * 24
            s += "<text x=\"\(left - 4)\" y=\"\(y + 12)\" text-anchor=\"end\">\(esc(labels[i]))<title>\(esc(r.label))</title></text>"
            var acc = 0.0
            for part in r.parts {
                let x0 = x.map(acc), x1 = x.map(acc + part.value)
                s +=
                    "<rect x=\"\(x0)\" y=\"\(y)\" width=\"\(max(0, x1 - x0))\" height=\"17\" fill=\"\(st[part.key]!.color)\">"
                    + "<title>\(esc(r.label)) — \(esc(part.key)): \(Format.number(part.value))</title></rect>"
                acc += part.value
            }
            s += "<text x=\"\(x.map(acc) + 4)\" y=\"\(y + 12)\" font-size=\"9\">\(Format.number(acc))</text>"
        }
        for t in x.ticks { s += "<text x=\"\(x.map(t))\" y=\"\(barsH + 10)\" text-anchor=\"middle\">\(label(t))</text>" }
        s += "<text x=\"\((x.p0 + x.p1) / 2)\" y=\"\(barsH + 24)\" text-anchor=\"middle\">\(esc(xTitle))</text>"
        s += legend(keys, x: 10, y: barsH + 30, width: w - 20, styles: st)
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
