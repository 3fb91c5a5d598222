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
    /// Bytes per pixel row as the driver laid them out (YUYV/GREY); 0 = packed.
    public var rowStride: Int

    public init(timestampNanoseconds: UInt64, sequence: UInt32, format: PixelFormat,
                width: Int, height: Int, bytes: [UInt8], origin: String, rowStride: Int = 0) {
        self.timestampNanoseconds = timestampNanoseconds
        self.sequence = sequence
        self.format = format
        self.width = width
        self.height = height
        self.bytes = bytes
        self.origin = origin
        self.rowStride = rowStride
    }

    /// An empty frame whose byte buffer can hold `capacity` bytes: hand it to
    /// `FrameSource.nextFrame(into:timeoutMilliseconds:)` and keep reusing it.
    public static func reusable(capacity: Int) -> Frame {
        var bytes = [UInt8]()
        bytes.reserveCapacity(capacity)
        return Frame(timestampNanoseconds: 0, sequence: 0, format: .grey, width: 0, height: 0, bytes: bytes, origin: "")
    }

    /// Replaces the bytes with `source`, reusing the buffer when its capacity suffices.
    public mutating func setBytes(_ source: UnsafeRawBufferPointer) {
        let n = source.count
        resizeBytes(&bytes, to: n)
        guard n > 0, let src = source.baseAddress else { return }
        bytes.withUnsafeMutableBytes { dst in dst.baseAddress!.copyMemory(from: src, byteCount: n) }
    }
}

/// Counts kept by every source; nothing is dropped without being counted.
public struct CaptureCounters: Equatable, Sendable {
    /// Frames handed to the consumer.
    public var delivered: UInt64 = 0
    /// Good frames taken from the device (delivered, or replaced before the consumer came).
    public var captured: UInt64 = 0
    /// All frames lost on the way: `sequenceGaps + discardedBehind + replacedUnread`.
    public var dropped: UInt64 = 0
    /// Frames the driver numbered but we never saw (gaps in `sequence`).
    public var sequenceGaps: UInt64 = 0
    /// Older frames found queued behind a newer one and skipped to keep the newest.
    public var discardedBehind: UInt64 = 0
    /// Frames replaced in the mailbox before the consumer took them (processing slower than
    /// the camera).
    public var replacedUnread: UInt64 = 0
    /// Buffers the driver flagged as damaged (V4L2_BUF_FLAG_ERROR) or that came back empty,
    /// plus truncated JPEGs; all skipped.
    public var corrupt: UInt64 = 0
    /// MJPEG frames without an end-of-image marker (cut short in transfer); part of `corrupt`.
    public var truncatedJPEG: UInt64 = 0
    /// Consumer waits that ended without a frame.
    public var timeouts: UInt64 = 0
    /// The camera went silent for longer than the stall timeout; the stream was restarted.
    public var stalls: UInt64 = 0
    /// The driver stopped the stream with an error (POLLERR, or DQBUF/QBUF failing with the
    /// device still present); the stream was restarted.
    public var streamErrors: UInt64 = 0
    /// The device vanished (unplugged: ENODEV, POLLERR/POLLHUP).
    public var disconnects: UInt64 = 0
    /// Successful re-opens after a disconnect or stall.
    public var reconnects: UInt64 = 0
    /// Re-open attempts that failed (the device was still gone).
    public var reopenFailures: UInt64 = 0

    public init() {}
}

/// Where frames come from: a V4L2 camera or a replay of recorded images.
public protocol FrameSource: AnyObject {
    var name: String { get }
    var counters: CaptureCounters { get }
    /// Waits up to `timeoutMilliseconds` for the next frame; nil on timeout (or end of replay).
    func nextFrame(timeoutMilliseconds: Int) throws -> Frame?
    /// As `nextFrame(timeoutMilliseconds:)`, but fills `frame`, reusing its byte buffer (no
    /// allocation per frame once the buffers have grown). Returns false on timeout.
    func nextFrame(into frame: inout Frame, timeoutMilliseconds: Int) throws -> Bool
}

extension FrameSource {
    public func nextFrame(into frame: inout Frame, timeoutMilliseconds: Int) throws -> Bool {
        guard let next = try nextFrame(timeoutMilliseconds: timeoutMilliseconds) else { return false }
        frame = next
        return true
    }
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
