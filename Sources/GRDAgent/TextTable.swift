/// Plain-text tables for the CLI: columns padded to their widest cell, numbers right-aligned.
///
/// Hand-written (no TextTable dependency): a dozen lines, and the output must be identical on
/// Swift 6.0.3 and 6.3 without Foundation's String(format:).
public struct TextTable {
    public var header: [String]
    public var rows: [[String]] = []

    public init(_ header: [String]) { self.header = header }

    public mutating func add(_ row: [String]) { rows.append(row) }

    public func render() -> String {
        var widths = header.map(\.count)
        for row in rows {
            for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], cell.count) }
        }
        func line(_ cells: [String]) -> String {
            var out = ""
            for (i, cell) in cells.enumerated() where i < widths.count {
                let pad = String(repeating: " ", count: widths[i] - cell.count)
                let numeric = i > 0 && cell.first.map { $0.isNumber || $0 == "-" || $0 == "+" } == true
                out += (i == 0 ? "" : "  ") + (numeric ? pad + cell : cell + (i == cells.count - 1 ? "" : pad))
            }
            return out
        }
        var lines = [line(header)]
        lines.append(widths.map { String(repeating: "-", count: $0) }.joined(separator: "  "))
        lines += rows.map(line)
        return lines.joined(separator: "\n")
    }
}

/// Formats `value` with exactly `decimals` digits after the point (no Foundation).
public func fixed(_ value: Double, _ decimals: Int) -> String {
    guard value.isFinite else { return value.isNaN ? "nan" : (value > 0 ? "inf" : "-inf") }
    var p = 1.0
    for _ in 0..<decimals { p *= 10 }
    let negative = value < 0
    let scaled = (abs(value) * p).rounded()
    guard scaled < 9.0e18 else { return String(value) }
    let n = UInt64(scaled)
    let whole = n / UInt64(p)
    var text = String(whole)
    if decimals > 0 {
        var frac = String(n % UInt64(p))
        while frac.count < decimals { frac = "0" + frac }
        text += "." + frac
    }
    return (negative && n != 0 ? "-" : "") + text
}
