#if canImport(Glibc)
import Glibc
#endif

/// A recorded stream is a directory: one file per frame exactly as the camera delivered it
/// (frame-000000.jpg for MJPEG, .yuyv / .grey raw) plus `index.tsv`, one line per frame:
///
///     file  sequence  timestamp_ns  format  width  height  row_stride  bytes
///
/// Plain files and a tab-separated index, so the training scripts (Python) and a line engineer
/// with a text editor can read it without this program.
public enum RecordingError: Error, CustomStringConvertible {
    case cannotCreate(String, errno: Int32)
    case cannotWrite(String, errno: Int32)
    case missingIndex(String)
    case badIndexLine(file: String, line: Int, reason: String)
    case empty(String)

    public var description: String {
        switch self {
        case let .cannotCreate(p, e): return "cannot create \(p): \(String(cString: strerror(e)))"
        case let .cannotWrite(p, e): return "cannot write \(p): \(String(cString: strerror(e)))"
        case let .missingIndex(p): return "\(p) is not a recording: it has no index.tsv (make one with `grdnet record`)"
        case let .badIndexLine(f, l, r): return "\(f) line \(l): \(r)"
        case let .empty(p): return "recording \(p) has no frames"
        }
    }
}

public let recordingIndexHeader = "file\tsequence\ttimestamp_ns\tformat\twidth\theight\trow_stride\tbytes"

func fileExtension(for format: PixelFormat) -> String {
    switch format {
    case .mjpeg: return "jpg"
    case .yuyv: return "yuyv"
    case .grey: return "grey"
    }
}

/// Writes frames into a recording directory (created if missing).
public final class RecordingWriter {
    public let directory: String
    public private(set) var framesWritten = 0
    private var index: UnsafeMutablePointer<FILE>?

    public init(directory: String) throws {
        self.directory = directory.hasSuffix("/") ? String(directory.dropLast()) : directory
        if mkdir(self.directory, 0o755) != 0 && errno != EEXIST {
            throw RecordingError.cannotCreate(self.directory, errno: errno)
        }
        let path = self.directory + "/index.tsv"
        guard let f = fopen(path, "w") else { throw RecordingError.cannotCreate(path, errno: errno) }
        index = f
        fputs(recordingIndexHeader + "\n", f)
    }

    deinit { close() }

    /// Writes one frame; returns the file name.
    @discardableResult
    public func write(_ frame: Frame) throws -> String {
        var number = String(framesWritten)
        while number.count < 6 { number = "0" + number }
        let name = "frame-\(number).\(fileExtension(for: frame.format))"
        let path = directory + "/" + name
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw RecordingError.cannotWrite(path, errno: errno) }
        defer { _ = Glibc.close(fd) }
        var done = 0
        while done < frame.bytes.count {
            let n = frame.bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + done, $0.count - done) }
            if n < 0 { if errno == EINTR { continue }; throw RecordingError.cannotWrite(path, errno: errno) }
            done += n
        }
        let line = "\(name)\t\(frame.sequence)\t\(frame.timestampNanoseconds)\t\(frame.format.rawValue)\t\(frame.width)\t\(frame.height)\t\(frame.rowStride)\t\(frame.bytes.count)\n"
        guard let index, fputs(line, index) >= 0 else {
            throw RecordingError.cannotWrite(directory + "/index.tsv", errno: errno)
        }
        framesWritten += 1
        return name
    }

    /// Flushes and closes the index.
    public func close() {
        if let f = index { fclose(f) }
        index = nil
    }
}

/// One line of a recording's index.
public struct RecordedFrame: Equatable, Sendable {
    public var file: String
    public var sequence: UInt32
    public var timestampNanoseconds: UInt64
    public var format: PixelFormat
    public var width: Int
    public var height: Int
    public var rowStride: Int
    public var byteCount: Int
}

/// Reads and checks a recording's index.
public func readRecordingIndex(directory: String) throws -> [RecordedFrame] {
    let dir = directory.hasSuffix("/") ? String(directory.dropLast()) : directory
    let path = dir + "/index.tsv"
    guard access(path, R_OK) == 0 else { throw RecordingError.missingIndex(dir) }
    let text = String(decoding: try readWholeFile(path), as: UTF8.self)
    var frames: [RecordedFrame] = []
    for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
        let line = raw.trimmingSuffix()
        if line.isEmpty || line.hasPrefix("#") || line == recordingIndexHeader { continue }
        let f = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
        func bad(_ why: String) -> RecordingError { .badIndexLine(file: path, line: n + 1, reason: why) }
        guard f.count == 8 else { throw bad("expected 8 tab-separated fields, found \(f.count)") }
        guard !f[0].contains("/") && !f[0].isEmpty else { throw bad("frame file name '\(f[0])' must be a plain name") }
        guard let seq = UInt32(f[1]) else { throw bad("sequence '\(f[1])' is not a number") }
        guard let ts = UInt64(f[2]) else { throw bad("timestamp '\(f[2])' is not a number") }
        guard let format = PixelFormat(rawValue: f[3]) else { throw bad("format '\(f[3])' is not MJPG, YUYV or GREY") }
        guard let w = Int(f[4]), let h = Int(f[5]), let stride = Int(f[6]), let count = Int(f[7]),
              w >= 0, h >= 0, stride >= 0, count >= 0 else { throw bad("width/height/row_stride/bytes must be numbers") }
        frames.append(RecordedFrame(file: f[0], sequence: seq, timestampNanoseconds: ts, format: format,
                                    width: w, height: h, rowStride: stride, byteCount: count))
    }
    guard !frames.isEmpty else { throw RecordingError.empty(dir) }
    return frames
}

extension Substring {
    fileprivate func trimmingSuffix() -> Substring {
        var s = self
        while let last = s.last, last == "\r" || last == " " { s = s.dropLast() }
        return s
    }
}

/// Replays a recording through the `FrameSource` interface: the frames' formats, sizes and
/// sequence numbers as recorded (so recorded gaps show up again as gaps), stamped with the
/// replay's CLOCK_MONOTONIC time (rejects are timed on "now" in replay).
public final class RecordedStreamSource: FrameSource {
    public enum Pacing: Equatable, Sendable {
        /// Keep the recorded intervals between frames.
        case recorded
        /// A fixed rate.
        case framesPerSecond(Double)
        /// As fast as the consumer asks.
        case unpaced
    }

    public let name: String
    public let frames: [RecordedFrame]
    public private(set) var counters = CaptureCounters()
    private let directory: String
    private let loop: Bool
    private let pacing: Pacing
    private var position = 0
    private var nextDue: UInt64 = 0
    private var gaps = SequenceGapCounter()

    public init(directory: String, pacing: Pacing = .recorded, loop: Bool = false) throws {
        self.directory = directory.hasSuffix("/") ? String(directory.dropLast()) : directory
        self.frames = try readRecordingIndex(directory: directory)
        self.name = self.directory
        self.loop = loop
        self.pacing = pacing
    }

    private func interval(before i: Int) -> UInt64 {
        switch pacing {
        case .unpaced: return 0
        case .framesPerSecond(let fps): return fps > 0 ? UInt64(1e9 / fps) : 0
        case .recorded:
            guard i > 0 else { return 0 }
            let a = frames[i - 1].timestampNanoseconds, b = frames[i].timestampNanoseconds
            return b > a ? min(b - a, 10_000_000_000) : 0
        }
    }

    public func nextFrame(timeoutMilliseconds: Int) throws -> Frame? {
        var frame = Frame.reusable(capacity: 0)
        return try nextFrame(into: &frame, timeoutMilliseconds: timeoutMilliseconds) ? frame : nil
    }

    public func nextFrame(into frame: inout Frame, timeoutMilliseconds: Int) throws -> Bool {
        if position >= frames.count {
            guard loop else { return false }
            position = 0
            gaps = SequenceGapCounter()
        }
        let now = monotonicNanoseconds()
        if nextDue == 0 { nextDue = now }
        if nextDue > now {
            let wait = nextDue - now
            if wait > UInt64(max(0, timeoutMilliseconds)) * 1_000_000 {
                sleepNanoseconds(UInt64(max(0, timeoutMilliseconds)) * 1_000_000)
                counters.timeouts += 1
                return false
            }
            sleepNanoseconds(wait)
        }
        let entry = frames[position]
        position += 1
        if position < frames.count { nextDue = max(nextDue, now) &+ interval(before: position) }
        let bytes = try readWholeFile(directory + "/" + entry.file)
        let missed = gaps.record(entry.sequence)
        counters.sequenceGaps += missed
        counters.dropped += missed
        if bytes.count != entry.byteCount {
            // A frame file cut short (disk full while recording): counted and skipped.
            counters.corrupt += 1
            return try nextFrame(into: &frame, timeoutMilliseconds: timeoutMilliseconds)
        }
        frame.bytes = bytes
        frame.timestampNanoseconds = monotonicNanoseconds()
        frame.sequence = entry.sequence
        frame.format = entry.format
        frame.width = entry.width
        frame.height = entry.height
        frame.rowStride = entry.rowStride
        frame.origin = directory + "/" + entry.file
        counters.captured += 1
        counters.delivered += 1
        return true
    }
}
