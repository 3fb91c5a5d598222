#if canImport(Glibc)
import Glibc
#endif
import CV4L2

/// What the capture loop needs from a camera. The real one is `V4L2Device`; tests drive the loop
/// with a scripted device, so drop, corrupt-frame and unplug handling are tested without hardware.
public protocol CaptureDevice: AnyObject {
    /// The path the settings named (for messages).
    var path: String { get }
    /// Opens, negotiates the format and rate, applies controls, maps buffers and starts
    /// streaming. Throws `V4L2Error` (naming device and operation) or `FormatNegotiationError`.
    func open() throws -> StreamInfo
    /// poll() for a filled buffer.
    func waitReadable(timeoutMilliseconds: Int) throws -> WaitResult
    /// VIDIOC_DQBUF without blocking; nil when no buffer is ready.
    func dequeue() throws -> DequeuedBuffer?
    /// The bytes of a dequeued buffer (valid until it is requeued).
    func bytes(of buffer: DequeuedBuffer) -> UnsafeRawBufferPointer
    /// VIDIOC_QBUF: hand the buffer back to the driver.
    func requeue(_ buffer: DequeuedBuffer) throws
    /// Stops streaming, unmaps and closes (safe to call twice).
    func close()
}

/// The negotiated stream.
public struct StreamInfo: Equatable, Sendable {
    public var format: PixelFormat
    public var width: Int
    public var height: Int
    public var bytesPerLine: Int
    public var sizeImage: Int
    /// Frames per second as read back with VIDIOC_G_PARM (nil if the driver does not say).
    public var framesPerSecond: Double?
    public var bufferCount: Int
    /// Deviations from the request, for the log ("asked for MJPG, driver gave YUYV").
    public var notes: [String]
    public var controls: [ControlReadback]

    public init(format: PixelFormat, width: Int, height: Int, bytesPerLine: Int, sizeImage: Int,
                framesPerSecond: Double?, bufferCount: Int, notes: [String] = [], controls: [ControlReadback] = []) {
        self.format = format
        self.width = width
        self.height = height
        self.bytesPerLine = bytesPerLine
        self.sizeImage = sizeImage
        self.framesPerSecond = framesPerSecond
        self.bufferCount = bufferCount
        self.notes = notes
        self.controls = controls
    }
}

public enum WaitResult: Equatable, Sendable {
    case readable
    case timeout
    /// POLLERR/POLLHUP/POLLNVAL and the device no longer answers: it is gone (unplugged).
    case gone
    /// POLLERR but the device still answers: the driver stopped the stream with an error.
    case streamError
}

public struct DequeuedBuffer: Equatable, Sendable {
    public var index: Int
    public var bytesUsed: Int
    public var sequence: UInt32
    /// CLOCK_MONOTONIC nanoseconds (the driver's stamp, or the dequeue time if the driver does
    /// not stamp with the monotonic clock).
    public var timestampNanoseconds: UInt64
    public var driverTimestamp: Bool
    /// V4L2_BUF_FLAG_ERROR: the driver says the data is damaged.
    public var error: Bool

    public init(index: Int, bytesUsed: Int, sequence: UInt32, timestampNanoseconds: UInt64,
                driverTimestamp: Bool = true, error: Bool = false) {
        self.index = index
        self.bytesUsed = bytesUsed
        self.sequence = sequence
        self.timestampNanoseconds = timestampNanoseconds
        self.driverTimestamp = driverTimestamp
        self.error = error
    }
}

/// Resolves a device name: absolute paths as given; a bare name is tried under
/// /dev/v4l/by-id/, /dev/v4l/by-path/ and /dev/.
public func resolveVideoDevicePath(_ name: String) -> String {
    if name.hasPrefix("/") { return name }
    for dir in ["/dev/v4l/by-id/", "/dev/v4l/by-path/", "/dev/"] where access(dir + name, F_OK) == 0 {
        return dir + name
    }
    return "/dev/" + name
}

/// The real kernel device node (/dev/videoN) behind a stable symlink, for messages.
public func realDevicePath(_ path: String) -> String {
    guard let resolved = realpath(path, nil) else { return path }
    defer { free(resolved) }
    return String(cString: resolved)
}

/// A V4L2 capture device through libv4l2 (open(2) + v4l2_fd_open, conversion disabled), with
/// mmap streaming. Small typed wrappers over the ioctls; every failure names the device and the
/// ioctl. Not thread-safe: owned by one capture thread.
public final class V4L2Device: CaptureDevice {
    public let path: String
    public let settings: CameraSettings
    public private(set) var fd: Int32 = -1
    private var maps: [(pointer: UnsafeMutableRawPointer, length: Int)] = []
    private var streaming = false
    /// Problems met applying controls on the last open (for the log).
    public private(set) var controlProblems: [String] = []

    public init(settings: CameraSettings) {
        self.settings = settings
        self.path = resolveVideoDevicePath(settings.device)
    }

    deinit { close() }

    private func fail(_ operation: String, _ code: Int32 = errno) -> V4L2Error {
        V4L2Error(device: path, operation: operation, errno: code)
    }

    @discardableResult
    private func xioctl(_ request: UInt, _ arg: UnsafeMutableRawPointer, _ name: String) throws -> Int32 {
        while true {
            let r = grd_v4l2_ioctl(fd, request, arg)
            if r >= 0 { return r }
            if errno == EINTR { continue }
            throw fail(name)
        }
    }

    /// Opens the node and wraps it with libv4l2 (no streaming yet).
    public func openNode() throws {
        if fd >= 0 { return }
        let raw = Glibc.open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC)
        guard raw >= 0 else { throw fail("open") }
        // Ask the kernel first: libv4l2 prints its own noise to stderr for non-video files.
        var cap = v4l2_capability()
        if ioctl(raw, GRD_VIDIOC_QUERYCAP, &cap) < 0 {
            let e = errno
            _ = Glibc.close(raw)
            throw fail(e == ENOTTY ? "VIDIOC_QUERYCAP (this is not a video device)" : "VIDIOC_QUERYCAP", e)
        }
        let wrapped = grd_v4l2_fd_open(raw)
        guard wrapped >= 0 else {
            let e = errno
            _ = Glibc.close(raw)
            throw fail("v4l2_fd_open", e)
        }
        fd = wrapped
    }

    public func capabilities() throws -> V4L2Capabilities {
        try openNode()
        return try V4L2Capabilities.query(fd: fd, device: path)
    }

    // MARK: Enumeration

    public func formats() throws -> [FormatDescription] {
        try openNode()
        var out: [FormatDescription] = []
        var index: UInt32 = 0
        while true {
            var desc = v4l2_fmtdesc()
            desc.index = index
            desc.type = V4L2_BUF_TYPE_VIDEO_CAPTURE.rawValue
            if grd_v4l2_ioctl(fd, GRD_VIDIOC_ENUM_FMT, &desc) < 0 {
                if errno == EINVAL { break }
                throw fail("VIDIOC_ENUM_FMT")
            }
            let name = withUnsafeBytes(of: desc.description) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            out.append(FormatDescription(fourcc: desc.pixelformat, description: name,
                                         compressed: desc.flags & UInt32(V4L2_FMT_FLAG_COMPRESSED) != 0,
                                         sizes: try frameSizes(desc.pixelformat)))
            index += 1
        }
        return out
    }

    private func frameSizes(_ fourcc: UInt32) throws -> FrameSizes {
        var sizes: [(width: Int, height: Int, rates: [Double])] = []
        var index: UInt32 = 0
        while true {
            var fs = v4l2_frmsizeenum()
            fs.index = index
            fs.pixel_format = fourcc
            if grd_v4l2_ioctl(fd, GRD_VIDIOC_ENUM_FRAMESIZES, &fs) < 0 {
                if errno == EINVAL || errno == ENOTTY { break }
                throw fail("VIDIOC_ENUM_FRAMESIZES")
            }
            if fs.type == V4L2_FRMSIZE_TYPE_DISCRETE.rawValue {
                let w = Int(fs.discrete.width), h = Int(fs.discrete.height)
                sizes.append((w, h, try frameRates(fourcc, w, h)))
            } else {
                let s = fs.stepwise
                return .stepwise(minWidth: Int(s.min_width), maxWidth: Int(s.max_width), stepWidth: Int(s.step_width),
                                 minHeight: Int(s.min_height), maxHeight: Int(s.max_height), stepHeight: Int(s.step_height))
            }
            index += 1
        }
        return .discrete(sizes)
    }

    private func frameRates(_ fourcc: UInt32, _ w: Int, _ h: Int) throws -> [Double] {
        var rates: [Double] = []
        var index: UInt32 = 0
        while true {
            var fi = v4l2_frmivalenum()
            fi.index = index
            fi.pixel_format = fourcc
            fi.width = UInt32(w)
            fi.height = UInt32(h)
            if grd_v4l2_ioctl(fd, GRD_VIDIOC_ENUM_FRAMEINTERVALS, &fi) < 0 {
                if errno == EINVAL || errno == ENOTTY { break }
                throw fail("VIDIOC_ENUM_FRAMEINTERVALS")
            }
            if fi.type == V4L2_FRMIVAL_TYPE_DISCRETE.rawValue {
                if fi.discrete.numerator > 0 { rates.append(Double(fi.discrete.denominator) / Double(fi.discrete.numerator)) }
            } else {
                // A range: report its fastest and slowest rate.
                let s = fi.stepwise
                if s.min.numerator > 0 { rates.append(Double(s.min.denominator) / Double(s.min.numerator)) }
                if s.max.numerator > 0 { rates.append(Double(s.max.denominator) / Double(s.max.numerator)) }
                break
            }
            index += 1
        }
        return rates.sorted(by: >)
    }

    /// The format the device is set to now (VIDIOC_G_FMT), without changing it.
    public func currentFormat() throws -> (fourcc: UInt32, width: Int, height: Int, bytesPerLine: Int) {
        try openNode()
        var f = v4l2_format()
        f.type = V4L2_BUF_TYPE_VIDEO_CAPTURE.rawValue
        try xioctl(GRD_VIDIOC_G_FMT, &f, "VIDIOC_G_FMT")
        return (f.fmt.pix.pixelformat, Int(f.fmt.pix.width), Int(f.fmt.pix.height), Int(f.fmt.pix.bytesperline))
    }

    /// The frame rate the device is set to now (VIDIOC_G_PARM), nil if it does not say.
    public func currentFrameRate() -> Double? {
        guard (try? openNode()) != nil else { return nil }
        var parm = v4l2_streamparm()
        parm.type = V4L2_BUF_TYPE_VIDEO_CAPTURE.rawValue
        guard grd_v4l2_ioctl(fd, GRD_VIDIOC_G_PARM, &parm) == 0 else { return nil }
        let t = parm.parm.capture.timeperframe
        return t.numerator > 0 && t.denominator > 0 ? Double(t.denominator) / Double(t.numerator) : nil
    }

    // MARK: Controls

    public func controls() throws -> [ControlInfo] {
        try openNode()
        var out: [ControlInfo] = []
        var id: UInt32 = GRD_CTRL_FLAG_NEXT_CTRL
        while true {
            var q = v4l2_queryctrl()
            q.id = id
            if grd_v4l2_ioctl(fd, GRD_VIDIOC_QUERYCTRL, &q) < 0 {
                if errno == EINVAL { break }
                throw fail("VIDIOC_QUERYCTRL")
            }
            id = q.id | GRD_CTRL_FLAG_NEXT_CTRL
            if q.flags & UInt32(V4L2_CTRL_FLAG_DISABLED) != 0 { continue }
            let kind: ControlInfo.Kind
            switch q.type {
            case V4L2_CTRL_TYPE_INTEGER.rawValue: kind = .integer
            case V4L2_CTRL_TYPE_BOOLEAN.rawValue: kind = .boolean
            case V4L2_CTRL_TYPE_MENU.rawValue, V4L2_CTRL_TYPE_INTEGER_MENU.rawValue: kind = .menu
            case V4L2_CTRL_TYPE_BUTTON.rawValue: kind = .button
            case V4L2_CTRL_TYPE_CTRL_CLASS.rawValue: continue
            default: kind = .other(q.type)
            }
            let name = withUnsafeBytes(of: q.name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            var menu: [(Int, String)] = []
            if kind == .menu && q.minimum <= q.maximum && q.maximum - q.minimum < 64 {
                for v in q.minimum...q.maximum {
                    var m = v4l2_querymenu()
                    m.id = q.id
                    m.index = UInt32(v)
                    if grd_v4l2_ioctl(fd, GRD_VIDIOC_QUERYMENU, &m) == 0 {
                        if q.type == V4L2_CTRL_TYPE_INTEGER_MENU.rawValue {
                            menu.append((Int(v), String(m.value)))
                        } else {
                            let label = withUnsafeBytes(of: m.name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                            menu.append((Int(v), label))
                        }
                    }
                }
            }
            out.append(ControlInfo(id: q.id, name: name, kind: kind, minimum: Int(q.minimum), maximum: Int(q.maximum),
                                   step: Int(q.step), defaultValue: Int(q.default_value),
                                   readOnly: q.flags & UInt32(V4L2_CTRL_FLAG_READ_ONLY) != 0,
                                   inactive: q.flags & UInt32(V4L2_CTRL_FLAG_INACTIVE) != 0, menu: menu))
        }
        return out
    }

    public func getControl(_ id: UInt32, name: String) throws -> Int {
        try openNode()
        var c = v4l2_control(id: id, value: 0)
        try xioctl(GRD_VIDIOC_G_CTRL, &c, "VIDIOC_G_CTRL \(name)")
        return Int(c.value)
    }

    public func setControl(_ id: UInt32, value: Int, name: String) throws {
        try openNode()
        var c = v4l2_control(id: id, value: Int32(clamping: value))
        try xioctl(GRD_VIDIOC_S_CTRL, &c, "VIDIOC_S_CTRL \(name)=\(value)")
    }

    /// Applies the settings' controls in order and reads each back.
    public func applyControls() throws -> [ControlReadback] {
        let plan = planControlWrites(settings, available: try controls())
        controlProblems = plan.problems
        var report: [ControlReadback] = []
        for w in plan.writes {
            var entry = ControlReadback(name: w.name, requested: w.requested, sent: w.value, readBack: nil, error: nil)
            do {
                try setControl(w.id, value: w.value, name: w.name)
                entry.readBack = try getControl(w.id, name: w.name)
            } catch let e as V4L2Error {
                if e.deviceIsGone { throw e }
                entry.error = "\(e)"
            }
            report.append(entry)
        }
        return report
    }

    // MARK: Streaming

    public func open() throws -> StreamInfo {
        do {
            return try openStreaming()
        } catch {
            close()
            throw error
        }
    }

    private func openStreaming() throws -> StreamInfo {
        try openNode()
        let caps = try V4L2Capabilities.query(fd: fd, device: path)
        guard caps.canCapture else {
            throw FormatNegotiationError(device: path, message: "is not a video capture device (\(caps.card), driver \(caps.driver))")
        }
        guard caps.canStream else {
            throw FormatNegotiationError(device: path, message: "does not support streaming I/O (\(caps.card))")
        }
        var notes: [String] = []
        let offered = try formats()
        let choice = try chooseFormat(device: path, offered: offered, preferred: settings.formats,
                                      width: settings.width, height: settings.height)
        var fmt = v4l2_format()
        fmt.type = V4L2_BUF_TYPE_VIDEO_CAPTURE.rawValue
        fmt.fmt.pix.width = UInt32(choice.width)
        fmt.fmt.pix.height = UInt32(choice.height)
        fmt.fmt.pix.pixelformat = choice.fourcc
        fmt.fmt.pix.field = V4L2_FIELD_NONE.rawValue
        try xioctl(GRD_VIDIOC_S_FMT, &fmt, "VIDIOC_S_FMT \(choice.format.rawValue) \(choice.width)x\(choice.height)")
        // Read back what the driver actually set.
        var got = v4l2_format()
        got.type = V4L2_BUF_TYPE_VIDEO_CAPTURE.rawValue
        try xioctl(GRD_VIDIOC_G_FMT, &got, "VIDIOC_G_FMT")
        let accepted = try acceptNegotiated(device: path, asked: choice, gotFourcc: got.fmt.pix.pixelformat,
                                            gotWidth: Int(got.fmt.pix.width), gotHeight: Int(got.fmt.pix.height))
        if choice.width != settings.width || choice.height != settings.height {
            notes.append("\(settings.width)x\(settings.height) not offered; chose \(choice.width)x\(choice.height)")
        }
        if let n = accepted.note { notes.append(n) }

        let fps = try setFrameRate(&notes)
        let controls = try applyControls()
        notes += controlProblems

        var req = v4l2_requestbuffers()
        req.count = UInt32(max(2, settings.bufferCount))
        req.type = V4L2_BUF_TYPE_VIDEO_CAPTURE.rawValue
        req.memory = V4L2_MEMORY_MMAP.rawValue
        try xioctl(GRD_VIDIOC_REQBUFS, &req, "VIDIOC_REQBUFS \(req.count)")
        guard req.count >= 2 else { throw fail("VIDIOC_REQBUFS (driver granted \(req.count) buffers)", ENOMEM) }
        for i in 0..<req.count {
            var b = v4l2_buffer()
            b.type = req.type
            b.memory = req.memory
            b.index = i
            try xioctl(GRD_VIDIOC_QUERYBUF, &b, "VIDIOC_QUERYBUF \(i)")
            guard let p = v4l2_mmap(nil, Int(b.length), PROT_READ | PROT_WRITE, MAP_SHARED, fd, Int64(b.m.offset)),
                  p != MAP_FAILED else { throw fail("mmap buffer \(i)") }
            maps.append((p, Int(b.length)))
            try xioctl(GRD_VIDIOC_QBUF, &b, "VIDIOC_QBUF \(i)")
        }
        var type = Int32(V4L2_BUF_TYPE_VIDEO_CAPTURE.rawValue)
        try xioctl(GRD_VIDIOC_STREAMON, &type, "VIDIOC_STREAMON")
        streaming = true
        return StreamInfo(format: accepted.format, width: Int(got.fmt.pix.width), height: Int(got.fmt.pix.height),
                          bytesPerLine: Int(got.fmt.pix.bytesperline), sizeImage: Int(got.fmt.pix.sizeimage),
                          framesPerSecond: fps, bufferCount: maps.count, notes: notes, controls: controls)
    }

    /// VIDIOC_S_PARM when a rate was asked for and the driver supports it; reads the rate back.
    private func setFrameRate(_ notes: inout [String]) throws -> Double? {
        var parm = v4l2_streamparm()
        parm.type = V4L2_BUF_TYPE_VIDEO_CAPTURE.rawValue
        if grd_v4l2_ioctl(fd, GRD_VIDIOC_G_PARM, &parm) < 0 { return nil }
        let supportsRate = parm.parm.capture.capability & UInt32(V4L2_CAP_TIMEPERFRAME) != 0
        if settings.framesPerSecond > 0 {
            if supportsRate {
                // timeperframe = 1000 / (fps * 1000): keeps fractional rates such as 7.5.
                parm.parm.capture.timeperframe.numerator = 1000
                parm.parm.capture.timeperframe.denominator = UInt32((settings.framesPerSecond * 1000).rounded())
                try xioctl(GRD_VIDIOC_S_PARM, &parm, "VIDIOC_S_PARM \(settings.framesPerSecond) fps")
                _ = grd_v4l2_ioctl(fd, GRD_VIDIOC_G_PARM, &parm)
            } else {
                notes.append("the driver does not let us set the frame rate; asked for \(settings.framesPerSecond) fps")
            }
        }
        let t = parm.parm.capture.timeperframe
        guard t.numerator > 0, t.denominator > 0 else { return nil }
        let fps = Double(t.denominator) / Double(t.numerator)
        if settings.framesPerSecond > 0 && abs(fps - settings.framesPerSecond) > 0.01 {
            notes.append("asked for \(settings.framesPerSecond) fps, driver runs at \(fps) fps")
        }
        return fps
    }

    public func waitReadable(timeoutMilliseconds: Int) throws -> WaitResult {
        guard fd >= 0 else { return .gone }
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        while true {
            let r = poll(&p, 1, Int32(clamping: timeoutMilliseconds))
            if r < 0 { if errno == EINTR { continue }; throw fail("poll") }
            if r == 0 { return .timeout }
            if p.revents & Int16(POLLERR | POLLHUP | POLLNVAL) != 0 {
                // Unplugged devices fail every ioctl with ENODEV; a stream error leaves them working.
                var cap = v4l2_capability()
                return grd_v4l2_ioctl(fd, GRD_VIDIOC_QUERYCAP, &cap) == 0 ? .streamError : .gone
            }
            return .readable
        }
    }

    public func dequeue() throws -> DequeuedBuffer? {
        var b = v4l2_buffer()
        b.type = V4L2_BUF_TYPE_VIDEO_CAPTURE.rawValue
        b.memory = V4L2_MEMORY_MMAP.rawValue
        while grd_v4l2_ioctl(fd, GRD_VIDIOC_DQBUF, &b) < 0 {
            if errno == EINTR { continue }
            if errno == EAGAIN { return nil }
            throw fail("VIDIOC_DQBUF")
        }
        let monotonic = (b.flags & UInt32(V4L2_BUF_FLAG_TIMESTAMP_MASK)) == UInt32(V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC)
        let stamp = UInt64(b.timestamp.tv_sec) &* 1_000_000_000 &+ UInt64(b.timestamp.tv_usec) &* 1000
        let useDriver = monotonic && stamp > 0
        return DequeuedBuffer(index: Int(b.index), bytesUsed: Int(b.bytesused), sequence: b.sequence,
                              timestampNanoseconds: useDriver ? stamp : monotonicNanoseconds(),
                              driverTimestamp: useDriver, error: b.flags & UInt32(V4L2_BUF_FLAG_ERROR) != 0)
    }

    public func bytes(of buffer: DequeuedBuffer) -> UnsafeRawBufferPointer {
        let m = maps[buffer.index]
        return UnsafeRawBufferPointer(start: m.pointer, count: min(buffer.bytesUsed, m.length))
    }

    public func requeue(_ buffer: DequeuedBuffer) throws {
        var b = v4l2_buffer()
        b.type = V4L2_BUF_TYPE_VIDEO_CAPTURE.rawValue
        b.memory = V4L2_MEMORY_MMAP.rawValue
        b.index = UInt32(buffer.index)
        try xioctl(GRD_VIDIOC_QBUF, &b, "VIDIOC_QBUF")
    }

    public func close() {
        if fd >= 0 && streaming {
            var type = Int32(V4L2_BUF_TYPE_VIDEO_CAPTURE.rawValue)
            _ = grd_v4l2_ioctl(fd, GRD_VIDIOC_STREAMOFF, &type)
        }
        streaming = false
        for m in maps { _ = v4l2_munmap(m.pointer, m.length) }
        maps.removeAll()
        if fd >= 0 { _ = v4l2_close(fd) }
        fd = -1
    }
}
