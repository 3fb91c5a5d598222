#if canImport(Glibc)
import Glibc
#endif
import CV4L2

/// A V4L2 error that names the device and the operation, for the line engineer's log.
public struct V4L2Error: Error, CustomStringConvertible {
    public var device: String
    public var operation: String
    public var errno: Int32

    public init(device: String, operation: String, errno: Int32) {
        self.device = device
        self.operation = operation
        self.errno = errno
    }

    /// True when the camera is gone (unplugged): the caller should close, back off and re-open.
    public var deviceIsGone: Bool { errno == ENODEV || errno == ENXIO || errno == ENOENT }

    public var description: String {
        "\(device): \(operation) failed: \(String(cString: strerror(errno)))"
    }
}

/// Packs a V4L2 four-character code.
public func fourCC(_ code: String) -> UInt32 {
    let b = Array(code.utf8) + [32, 32, 32, 32]
    return grd_fourcc(CChar(bitPattern: b[0]), CChar(bitPattern: b[1]), CChar(bitPattern: b[2]), CChar(bitPattern: b[3]))
}

/// Unpacks a V4L2 four-character code for display.
public func fourCCString(_ code: UInt32) -> String {
    let bytes = (0..<4).map { UInt8(truncatingIfNeeded: code >> (8 * UInt32($0))) }
    return String(decoding: bytes, as: UTF8.self)
}

/// What VIDIOC_QUERYCAP says about a device.
public struct V4L2Capabilities: Sendable {
    public var driver: String
    public var card: String
    public var busInfo: String
    public var canCapture: Bool
    public var canStream: Bool

    /// Queries an open device. libv4l2 wraps the fd so that its emulation layer sees the ioctl.
    public static func query(fd: Int32, device: String) throws -> V4L2Capabilities {
        var cap = v4l2_capability()
        guard grd_v4l2_ioctl(fd, GRD_VIDIOC_QUERYCAP, &cap) == 0 else {
            throw V4L2Error(device: device, operation: "VIDIOC_QUERYCAP", errno: errno)
        }
        func text<T>(_ tuple: T) -> String {
            withUnsafeBytes(of: tuple) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        }
        let caps = cap.capabilities & UInt32(V4L2_CAP_DEVICE_CAPS) != 0 ? cap.device_caps : cap.capabilities
        return V4L2Capabilities(
            driver: text(cap.driver), card: text(cap.card), busInfo: text(cap.bus_info),
            canCapture: caps & UInt32(V4L2_CAP_VIDEO_CAPTURE) != 0,
            canStream: caps & UInt32(V4L2_CAP_STREAMING) != 0)
    }
}
