/// A fixed-size histogram of non-negative nanosecond durations (pulse start errors), allocated
/// once so the scheduler thread can record into it without touching the heap.
///
/// Hand-written rather than hdrhistogram-swift: the scheduler needs record() with no allocation,
/// no dependency and a lock it already holds; three decades of log-linear buckets are plenty.
/// Buckets: 1 us wide below 1 ms, 10 us below 10 ms, 100 us below 100 ms, 1 ms below 1 s, then
/// one overflow bucket. The exact minimum, maximum and sum are kept beside the buckets, so max is
/// exact and percentiles are exact to the bucket width (reported as the bucket's upper edge).
public final class TimingHistogram {
    public static let bucketCount = 1000 + 900 + 900 + 900 + 1
    private let buckets: UnsafeMutablePointer<UInt64>
    public private(set) var count: UInt64 = 0
    public private(set) var minimumNanoseconds: UInt64 = .max
    public private(set) var maximumNanoseconds: UInt64 = 0
    public private(set) var sumNanoseconds: UInt64 = 0

    public init() {
        buckets = .allocate(capacity: Self.bucketCount)
        buckets.initialize(repeating: 0, count: Self.bucketCount)
    }

    deinit { buckets.deallocate() }

    /// The bucket index of a duration, and the bucket's upper edge.
    static func bucket(of ns: UInt64) -> Int {
        let us = ns / 1_000
        if us < 1_000 { return Int(us) }
        if us < 10_000 { return 1_000 + Int((us - 1_000) / 10) }
        if us < 100_000 { return 1_900 + Int((us - 10_000) / 100) }
        if us < 1_000_000 { return 2_800 + Int((us - 100_000) / 1_000) }
        return bucketCount - 1
    }

    static func upperEdgeNanoseconds(ofBucket i: Int) -> UInt64 {
        let us: UInt64
        if i < 1_000 { us = UInt64(i) + 1 }
        else if i < 1_900 { us = 1_000 + UInt64(i - 1_000 + 1) * 10 }
        else if i < 2_800 { us = 10_000 + UInt64(i - 1_900 + 1) * 100 }
        else if i < 3_700 { us = 100_000 + UInt64(i - 2_800 + 1) * 1_000 }
        else { return .max }
        return us * 1_000
    }

    /// Records one duration. No allocation; not thread-safe (the owner holds its lock).
    public func record(_ ns: UInt64) {
        buckets[Self.bucket(of: ns)] &+= 1
        count &+= 1
        sumNanoseconds &+= ns
        if ns < minimumNanoseconds { minimumNanoseconds = ns }
        if ns > maximumNanoseconds { maximumNanoseconds = ns }
    }

    public func reset() {
        buckets.update(repeating: 0, count: Self.bucketCount)
        count = 0; sumNanoseconds = 0; minimumNanoseconds = .max; maximumNanoseconds = 0
    }

    /// The value below which `fraction` (0...1) of the recordings fall, to the bucket width
    /// (the bucket's upper edge, capped at the exact maximum). 0 when empty.
    public func percentileNanoseconds(_ fraction: Double) -> UInt64 {
        guard count > 0 else { return 0 }
        let rank = max(UInt64(1), UInt64((Double(count) * fraction).rounded(.up)))
        var seen: UInt64 = 0
        for i in 0..<Self.bucketCount {
            seen += buckets[i]
            if seen >= rank { return min(Self.upperEdgeNanoseconds(ofBucket: i), maximumNanoseconds) }
        }
        return maximumNanoseconds
    }

    public var meanNanoseconds: Double { count == 0 ? 0 : Double(sumNanoseconds) / Double(count) }

    /// A deep copy (allocates: call it from the reader, never from the scheduler thread).
    public func copy() -> TimingHistogram {
        let c = TimingHistogram()
        c.buckets.update(from: buckets, count: Self.bucketCount)
        c.count = count; c.sumNanoseconds = sumNanoseconds
        c.minimumNanoseconds = minimumNanoseconds; c.maximumNanoseconds = maximumNanoseconds
        return c
    }
}
