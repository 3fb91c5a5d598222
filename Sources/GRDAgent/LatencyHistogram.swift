/// A fixed-bucket logarithmic histogram of durations (or scores), preallocated at creation.
///
/// Hand-written rather than hdrhistogram-swift: 4 sub-buckets per power of two (<= 19% error) over
/// 1 us .. ~1 hour needs 150 counters, recording is a few integer operations and never allocates,
/// and the same type serves the score histogram. Not thread-safe: the owner locks.
public struct LogHistogram: Sendable {
    /// Values below `unit` land in bucket 0.
    public let unit: UInt64
    static let subBuckets = 4
    public private(set) var counts: [UInt64]
    public private(set) var total: UInt64 = 0
    public private(set) var maximum: UInt64 = 0
    public private(set) var minimum: UInt64 = .max
    public private(set) var sum: Double = 0

    public init(unit: UInt64 = 1_000, buckets: Int = 160) {
        self.unit = unit
        counts = [UInt64](repeating: 0, count: buckets)
    }

    @inline(__always)
    static func bucket(_ v: UInt64) -> Int {
        if v < UInt64(subBuckets) { return Int(v) }
        let exponent = 63 - v.leadingZeroBitCount                     // floor(log2 v) >= 2
        let mantissa = Int((v >> UInt64(exponent - 2)) & 3)           // next 2 bits
        return (exponent - 1) * subBuckets + mantissa
    }

    /// The smallest value (in `unit`s) that falls in bucket `b`.
    static func lowerBound(_ b: Int) -> UInt64 {
        if b < subBuckets { return UInt64(b) }
        let exponent = b / subBuckets + 1
        let mantissa = UInt64(b % subBuckets)
        return (4 + mantissa) << UInt64(exponent - 2)
    }

    public mutating func record(_ value: UInt64) {
        let scaled = value / unit
        let b = min(LogHistogram.bucket(scaled), counts.count - 1)
        counts[b] &+= 1
        total &+= 1
        if value > maximum { maximum = value }
        if value < minimum { minimum = value }
        sum += Double(value)
    }

    public mutating func reset() {
        for i in counts.indices { counts[i] = 0 }
        total = 0; maximum = 0; minimum = .max; sum = 0
    }

    /// The value at quantile q (0...1): the upper edge of the bucket that holds it, capped at the
    /// recorded maximum, so the figure never understates.
    public func quantile(_ q: Double) -> UInt64 {
        guard total > 0 else { return 0 }
        let rank = UInt64((q * Double(total)).rounded(.up))
        var seen: UInt64 = 0
        for (b, c) in counts.enumerated() where c > 0 {
            seen += c
            if seen >= max(rank, 1) {
                let upper = LogHistogram.lowerBound(b + 1) * unit
                return min(max(upper, minimum), maximum)
            }
        }
        return maximum
    }

    public var mean: Double { total == 0 ? 0 : sum / Double(total) }
}

/// Scores binned linearly for the stats (score histogram around the threshold).
public struct ScoreHistogram: Sendable {
    public let lower: Float
    public let upper: Float
    public private(set) var counts: [UInt64]
    public private(set) var below: UInt64 = 0
    public private(set) var above: UInt64 = 0

    public init(lower: Float, upper: Float, bins: Int = 20) {
        self.lower = lower; self.upper = upper
        counts = [UInt64](repeating: 0, count: bins)
    }

    public mutating func record(_ score: Float) {
        guard score.isFinite else { above &+= 1; return }
        if score < lower { below &+= 1; return }
        if score >= upper { above &+= 1; return }
        let b = Int((score - lower) / (upper - lower) * Float(counts.count))
        counts[min(max(b, 0), counts.count - 1)] &+= 1
    }
}

extension LogHistogram {
    /// A copy with its own counts buffer. A plain copy would share the buffer, and the next
    /// record() on the inspection thread would then copy it (an allocation per stats request).
    func detached() -> LogHistogram {
        var c = self
        c.counts = counts.map { $0 }
        return c
    }
}

extension ScoreHistogram {
    /// A copy with its own counts buffer (see LogHistogram.detached).
    func detached() -> ScoreHistogram {
        var c = self
        c.counts = counts.map { $0 }
        return c
    }
}
