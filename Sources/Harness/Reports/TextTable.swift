import Foundation

/// A table of strings printed as aligned terminal text, Markdown or CSV — one model for
/// every printer, so the formats never disagree.
public struct TextTable: Sendable {
    public var headers: [String]
    public var rows: [[String]]
    /// Columns aligned right (numbers).
    public var rightAligned: Set<Int>

    public init(headers: [String], rows: [[String]] = [], rightAligned: Set<Int> = []) {
        self.headers = headers; self.rows = rows; self.rightAligned = rightAligned
    }

    /// Aligned plain text with a rule under the header.
    public var terminal: String {
        let widths = headers.indices.map { c in ([headers[c]] + rows.map { $0[c] }).map(\.count).max() ?? 0 }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { c, s in
                let pad = String(repeating: " ", count: widths[c] - s.count)
                return rightAligned.contains(c) ? pad + s : s + pad
            }.joined(separator: "  ").replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression)
        }
        return ([line(headers), widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")] + rows.map(line)).joined(
            separator: "\n") + "\n"
    }

    /// GitHub-flavoured Markdown.
    public var markdown: String {
        func esc(_ s: String) -> String { s.replacingOccurrences(of: "|", with: "\\|") }
        let head = "| " + headers.map(esc).joined(separator: " | ") + " |"
        let rule = "|" + headers.indices.map { rightAligned.contains($0) ? "---:|" : "---|" }.joined()
        return ([head, rule] + rows.map { "| " + $0.map(esc).joined(separator: " | ") + " |" }).joined(separator: "\n") + "\n"
    }

    /// RFC 4180 CSV.
    public var csv: String {
        func q(_ s: String) -> String {
            s.contains(where: { ",\"\n".contains($0) }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
        }
        return ([headers] + rows).map { $0.map(q).joined(separator: ",") }.joined(separator: "\n") + "\n"
    }
}

/// Number formatting shared by the reports.
public enum Format {
    /// A duration with a unit chosen for 3–4 significant digits: 812 ns, 12.3 µs, 4.56 ms, 1.23 s.
    public static func seconds(_ s: Double) -> String {
        guard s.isFinite else { return "–" }
        switch s {
        case ..<1e-6: return String(format: "%.0f ns", s * 1e9)
        case ..<1e-3: return String(format: "%.1f µs", s * 1e6)
        case ..<1: return String(format: "%.2f ms", s * 1e3)
        default: return String(format: "%.2f s", s)
        }
    }

    /// A number with `digits` significant digits, or "–".
    public static func number(_ x: Double?, _ digits: Int = 3) -> String {
        guard let x, x.isFinite else { return "–" }
        if x != 0 && (abs(x) < 1e-3 || abs(x) >= 1e6) { return String(format: "%.\(max(0, digits - 1))e", x) }
        let mag = x == 0 ? 0 : Int(floor(log10(abs(x))))
        return String(format: "%.\(max(0, digits - 1 - mag))f", x)
    }

    public static func percent(_ x: Double?) -> String {
        guard let x, x.isFinite else { return "–" }
        return String(format: "%.0f%%", x * 100)
    }

    /// A byte count in binary units: 32 KiB, 1 MiB, 1.5 GiB.
    public static func bytes(_ x: Double) -> String {
        guard x.isFinite else { return "–" }
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var v = x, i = 0
        while v >= 1024 && i < units.count - 1 { v /= 1024; i += 1 }
        return (v == v.rounded() ? "\(Int(v))" : number(v, 3)) + " " + units[i]
    }

    public static func ratio(_ x: Double?) -> String {
        guard let x, x.isFinite else { return "–" }
        return String(format: "%.2f×", x)
    }

    public static func error(_ x: Double) -> String { x.isFinite ? String(format: "%.1e", x) : (x.isNaN ? "nan" : "inf") }
    /// A cosine to 7 decimals; "–" when not measured.
    public static func cosine(_ x: Double?) -> String { x.map { String(format: "%.7f", $0) } ?? "–" }
}
