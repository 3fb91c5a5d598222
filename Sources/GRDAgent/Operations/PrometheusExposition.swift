/// The Prometheus text exposition format (version 0.0.4), written by hand.
///
/// Hand-written instead of swift-prometheus/swift-metrics: those need tools 6.1+, and the format
/// is small and fixed (https://prometheus.io/docs/instrumenting/exposition_formats/): `# HELP`,
/// `# TYPE`, then `name{label="value"} number` lines; histograms as cumulative `_bucket{le=...}`
/// plus `_sum` and `_count`.
public struct PrometheusExposition {
    public enum MetricType: String {
        case counter, gauge, histogram
    }

    public private(set) var text = ""
    private var declared: Set<String> = []

    public init() {}

    /// True for names Prometheus accepts: [a-zA-Z_:][a-zA-Z0-9_:]*.
    public static func isValidName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first else { return false }
        func ok(_ c: Unicode.Scalar, first: Bool) -> Bool {
            (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || c == "_" || c == ":" || (!first && c >= "0" && c <= "9")
        }
        guard ok(first, first: true) else { return false }
        return name.unicodeScalars.dropFirst().allSatisfy { ok($0, first: false) }
    }

    /// Escapes a label value: backslash, double quote and line feed.
    public static func escapeLabelValue(_ value: String) -> String {
        var out = ""
        out.reserveCapacity(value.count)
        for c in value {
            switch c {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.append(c)
            }
        }
        return out
    }

    /// Escapes HELP text: backslash and line feed.
    public static func escapeHelp(_ value: String) -> String {
        value.replacingEveryOccurrence("\\", with: "\\\\").replacingEveryOccurrence("\n", with: "\\n")
    }

    /// Formats a sample value as Prometheus expects (`+Inf`, `-Inf`, `NaN`, shortest round-trip).
    public static func format(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value == .infinity { return "+Inf" }
        if value == -.infinity { return "-Inf" }
        if value == value.rounded() && abs(value) < 1e15 { return String(Int64(value)) }
        return String(value)
    }

    /// Declares a metric family once (HELP + TYPE); later samples of the family follow it.
    public mutating func declare(_ name: String, _ type: MetricType, help: String) {
        precondition(PrometheusExposition.isValidName(name), "invalid metric name \(name)")
        guard declared.insert(name).inserted else { return }
        text += "# HELP \(name) \(PrometheusExposition.escapeHelp(help))\n"
        text += "# TYPE \(name) \(type.rawValue)\n"
    }

    /// Appends one sample line.
    public mutating func sample(_ name: String, labels: [(String, String)] = [], _ value: Double) {
        text += name
        if !labels.isEmpty {
            text += "{"
            text += labels.map { "\($0.0)=\"\(PrometheusExposition.escapeLabelValue($0.1))\"" }.joined(separator: ",")
            text += "}"
        }
        text += " " + PrometheusExposition.format(value) + "\n"
    }

    public mutating func counter(_ name: String, help: String, labels: [(String, String)] = [], _ value: Double) {
        declare(name, .counter, help: help)
        sample(name, labels: labels, value)
    }

    public mutating func gauge(_ name: String, help: String, labels: [(String, String)] = [], _ value: Double) {
        declare(name, .gauge, help: help)
        sample(name, labels: labels, value)
    }

    /// A histogram from per-bucket (non-cumulative) counts with upper bounds `upperBounds`
    /// (ascending; observations above the last bound go to `overflow`).
    public mutating func histogram(_ name: String, help: String, labels: [(String, String)] = [],
                                   upperBounds: [Double], counts: [UInt64], overflow: UInt64, sum: Double) {
        precondition(upperBounds.count == counts.count, "one count per bucket")
        declare(name, .histogram, help: help)
        var cumulative: UInt64 = 0
        for (bound, count) in zip(upperBounds, counts) {
            cumulative += count
            sample(name + "_bucket", labels: labels + [("le", PrometheusExposition.format(bound))], Double(cumulative))
        }
        cumulative += overflow
        sample(name + "_bucket", labels: labels + [("le", "+Inf")], Double(cumulative))
        sample(name + "_sum", labels: labels, sum)
        sample(name + "_count", labels: labels, Double(cumulative))
    }
}

extension String {
    /// Replaces every occurrence of `target` (no Foundation needed).
    func replacingEveryOccurrence(_ target: String, with replacement: String) -> String {
        guard !target.isEmpty else { return self }
        var out = ""
        var rest = self[...]
        while let range = rest.firstRange(ofLiteral: target) {
            out += rest[..<range.lowerBound]
            out += replacement
            rest = rest[range.upperBound...]
        }
        out += rest
        return out
    }
}

extension Substring {
    /// First occurrence of `needle` (Character-wise), without Foundation.
    func firstRange(ofLiteral needle: String) -> Range<Substring.Index>? {
        let n = Array(needle)
        guard !n.isEmpty else { return nil }
        var i = startIndex
        while i < endIndex {
            var j = i
            var k = 0
            while k < n.count && j < endIndex && self[j] == n[k] {
                j = index(after: j)
                k += 1
            }
            if k == n.count { return i..<j }
            i = index(after: i)
        }
        return nil
    }
}
