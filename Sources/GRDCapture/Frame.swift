@_exported import GRDImaging

/// One frame as it left the camera: raw bytes plus the facts needed to time a reject pulse.
public struct Frame: Sendable {
    /// Capture time on CLOCK_MONOTONIC, in nanoseconds (the V4L2 buffer timestamp).
    public var timestampNanoseconds: UInt64
    /// The driver's sequence number; gaps are frames the camera produced but we never saw.
    public var sequence: UInt32
    public var format: PixelFormat
    public var width: Int
    public var height: Int
    public var bytes: [UInt8]
    /// Where the frame came from: a device path or a replayed file name.
    public var origin: String

    public init(timestampNanoseconds: UInt64, sequence: UInt32, format: PixelFormat,
                width: Int, height: Int, bytes: [UInt8], origin: String) {
        self.timestampNanoseconds = timestampNanoseconds
        self.sequence = sequence
        self.format = format
        self.width = width
        self.height = height
        self.bytes = bytes
        self.origin = origin
    }
}

/// Counts kept by every source; nothing is dropped without being counted.
public struct CaptureCounters: Equatable, Sendable {
    public var delivered: UInt64 = 0
    /// Frames the driver numbered but we did not see (sequence gaps), or that we discarded to keep
    /// the newest when processing fell behind.
    public var dropped: UInt64 = 0
    public var corrupt: UInt64 = 0
    public var timeouts: UInt64 = 0
    public var reconnects: UInt64 = 0

    public init() {}
}

/// Where frames come from: a V4L2 camera or a replay of recorded images.
public protocol FrameSource: AnyObject {
    var name: String { get }
    var counters: CaptureCounters { get }
    /// Waits up to `timeoutMilliseconds` for the next frame; nil on timeout.
    func nextFrame(timeoutMilliseconds: Int) throws -> Frame?
}

/// Counts sequence gaps between consecutive frames, with 32-bit wrap-around.
public struct SequenceGapCounter: Sendable {
    public private(set) var last: UInt32?
    public private(set) var missing: UInt64 = 0

    public init() {}

    /// Records `sequence` and returns how many frames were skipped since the previous one.
    @discardableResult
    public mutating func record(_ sequence: UInt32) -> UInt64 {
        defer { last = sequence }
        guard let last else { return 0 }
        let gap = UInt64(sequence &- last &- 1)
        // A restarted stream (sequence went back) is not a gap.
        if sequence &- last == 0 || gap > UInt64(UInt32.max / 2) { return 0 }
        missing += gap
        return gap
    }
}
