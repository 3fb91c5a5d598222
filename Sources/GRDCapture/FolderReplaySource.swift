#if canImport(Glibc)
import Glibc
#endif
import GRDImaging

/// Errors of replay sources, phrased for the person who pointed the daemon at a folder.
public enum ReplayError: Error, CustomStringConvertible {
    case cannotOpenFolder(String, errno: Int32)
    case noImages(String)
    case cannotRead(String, errno: Int32)

    public var description: String {
        switch self {
        case .cannotOpenFolder(let path, let e): return "cannot open image folder \(path): \(String(cString: strerror(e)))"
        case .noImages(let path): return "no .jpg/.jpeg images in \(path)"
        case .cannotRead(let path, let e): return "cannot read \(path): \(String(cString: strerror(e)))"
        }
    }
}

/// Replays a folder of JPEG images as a camera would: in name order, looping, at a frame rate,
/// stamped with CLOCK_MONOTONIC at the moment of "capture".
public final class FolderReplaySource: FrameSource {
    public let name: String
    public private(set) var counters = CaptureCounters()
    public let files: [String]
    private let loop: Bool
    private let periodNanoseconds: UInt64
    private var index = 0
    private var sequence: UInt32 = 0
    private var nextDue: UInt64 = 0
    /// Bytes of the largest file in the folder (frame buffers are sized for it once).
    private let largestFile: Int
    /// `files` as C strings.
    private let cPaths: [ContiguousArray<CChar>]

    /// - Parameters:
    ///   - folder: a directory of .jpg/.jpeg files.
    ///   - framesPerSecond: replay rate; 0 means as fast as the consumer asks.
    public init(folder: String, framesPerSecond: Double, loop: Bool = true) throws {
        guard let dir = opendir(folder) else { throw ReplayError.cannotOpenFolder(folder, errno: errno) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            let lower = name.lowercased()
            if lower.hasSuffix(".jpg") || lower.hasSuffix(".jpeg") { names.append(name) }
        }
        guard !names.isEmpty else { throw ReplayError.noImages(folder) }
        let base = folder.hasSuffix("/") ? folder : folder + "/"
        self.files = names.sorted().map { base + $0 }
        self.name = folder
        self.loop = loop
        self.periodNanoseconds = framesPerSecond > 0 ? UInt64(1e9 / framesPerSecond) : 0
        var largest = 0
        for f in files {
            var st = stat()
            if stat(f, &st) == 0 { largest = max(largest, Int(st.st_size)) }
        }
        self.largestFile = largest
        self.cPaths = files.map { $0.utf8CString }
    }

    public func nextFrame(timeoutMilliseconds: Int) throws -> Frame? {
        var frame = Frame.reusable(capacity: 0)
        return try nextFrame(into: &frame, timeoutMilliseconds: timeoutMilliseconds) ? frame : nil
    }

    /// Reads the next file into `frame`'s byte buffer, which is grown once to the largest file of
    /// the folder (measured at start) and then reused: no allocation per frame.
    public func nextFrame(into frame: inout Frame, timeoutMilliseconds: Int) throws -> Bool {
        if index >= files.count {
            guard loop else { return false }
            index = 0
        }
        let now = monotonicNanoseconds()
        if nextDue == 0 { nextDue = now }
        if periodNanoseconds > 0 && nextDue > now {
            let wait = nextDue - now
            if wait > UInt64(timeoutMilliseconds) * 1_000_000 {
                sleepNanoseconds(UInt64(timeoutMilliseconds) * 1_000_000)
                counters.timeouts += 1
                return false
            }
            sleepNanoseconds(wait)
        }
        nextDue = max(nextDue, now) &+ periodNanoseconds
        let path = files[index]
        index += 1
        try readFile(path, cPath: cPaths[index - 1], into: &frame.bytes)
        sequence &+= 1
        counters.delivered += 1
        frame.timestampNanoseconds = monotonicNanoseconds()
        frame.sequence = sequence
        frame.format = .mjpeg
        frame.width = 0
        frame.height = 0
        frame.rowStride = 0
        frame.origin = path
        return true
    }

    /// Replaces `bytes` with the file's contents, reusing its storage (grown to `largestFile`
    /// the first time, so one buffer holds every file of the folder).
    private func readFile(_ path: String, cPath: ContiguousArray<CChar>, into bytes: inout [UInt8]) throws {
        // The C string made once at start: passing a String to open() converts it (allocates) per call.
        let fd = cPath.withUnsafeBufferPointer { open($0.baseAddress!, O_RDONLY | O_CLOEXEC) }
        guard fd >= 0 else { throw ReplayError.cannotRead(path, errno: errno) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw ReplayError.cannotRead(path, errno: errno) }
        let size = Int(st.st_size)
        if bytes.capacity < max(size, largestFile) { bytes.reserveCapacity(max(size, largestFile)) }
        resizeBytes(&bytes, to: size)
        var done = 0
        while done < size {
            let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + done, size - done) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                if n == 0 { bytes.removeLast(size - done); return }  // shrank while reading
                throw ReplayError.cannotRead(path, errno: errno)
            }
            done += n
        }
    }
}

/// CLOCK_MONOTONIC in nanoseconds: the clock V4L2 stamps buffers with and rejects are timed on.
public func monotonicNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

func sleepNanoseconds(_ ns: UInt64) {
    var req = timespec(tv_sec: Int(ns / 1_000_000_000), tv_nsec: Int(ns % 1_000_000_000))
    var rem = timespec()
    while nanosleep(&req, &rem) != 0 && errno == EINTR { req = rem }
}

/// Reads a whole file with POSIX calls (no Foundation on the capture path).
public func readWholeFile(_ path: String) throws -> [UInt8] {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw ReplayError.cannotRead(path, errno: errno) }
    defer { close(fd) }
    var st = stat()
    guard fstat(fd, &st) == 0 else { throw ReplayError.cannotRead(path, errno: errno) }
    var bytes = [UInt8](repeating: 0, count: Int(st.st_size))
    var done = 0
    while done < bytes.count {
        let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + done, $0.count - done) }
        if n < 0 { if errno == EINTR { continue }; throw ReplayError.cannotRead(path, errno: errno) }
        if n == 0 { break }
        done += n
    }
    if done < bytes.count { bytes.removeSubrange(done...) }
    return bytes
}
