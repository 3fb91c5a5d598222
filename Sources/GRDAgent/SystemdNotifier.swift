#if canImport(Glibc)
import Glibc
#endif

/// sd_notify(3) without libsystemd: one datagram to $NOTIFY_SOCKET.
///
/// Hand-written because the protocol is a single sendto() and libsystemd is not on every target
/// (and not in the arm64 cross sysroot by default). A leading '@' names an abstract socket.
public struct SystemdNotifier: Sendable {
    public let socketPath: String?

    public init(environment: [String: String]) {
        socketPath = environment["NOTIFY_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
    }

    public static func fromProcessEnvironment() -> SystemdNotifier {
        var env: [String: String] = [:]
        if let v = getenv("NOTIFY_SOCKET") { env["NOTIFY_SOCKET"] = String(cString: v) }
        return SystemdNotifier(environment: env)
    }

    public var isEnabled: Bool { socketPath != nil }

    /// Watchdog period requested by the unit (WATCHDOG_USEC), if it is meant for this process.
    public static func watchdogIntervalMicroseconds() -> UInt64? {
        guard let raw = getenv("WATCHDOG_USEC"), let usec = UInt64(String(cString: raw)), usec > 0 else { return nil }
        if let pidRaw = getenv("WATCHDOG_PID"), let pid = Int32(String(cString: pidRaw)), pid != getpid() { return nil }
        return usec
    }

    /// Sends `state` (e.g. "READY=1\nSTATUS=inspecting") without ever blocking (MSG_DONTWAIT: a
    /// full notify queue must not stall the daemon). Returns false if not under systemd or
    /// the send failed; a failed notification must never stop inspection.
    @discardableResult
    public func notify(_ state: String) -> Bool {
        guard var path = socketPath else { return false }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        let abstract = path.hasPrefix("@")
        if abstract { path.removeFirst() }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let pathBytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: addr.sun_path)
        guard pathBytes.count + (abstract ? 1 : 0) < capacity else { return false }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            let offset = abstract ? 1 : 0  // abstract: sun_path[0] == 0
            for (i, b) in pathBytes.enumerated() { raw[offset + i] = b }
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + pathBytes.count + (abstract ? 1 : 0))
        let payload = Array(state.utf8)
        let sent = withUnsafePointer(to: &addr) { ptr in
            ptr.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                payload.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT), sa, length) }
            }
        }
        return sent == payload.count
    }
}
