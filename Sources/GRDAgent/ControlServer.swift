#if canImport(Glibc)
import Glibc
#endif
import Foundation
import GRDRejectIO

/// The control socket: a unix stream socket speaking newline-delimited JSON.
///
/// Hand-written over poll(2) instead of swift-nio: one thread, a few dozen clients at most, one
/// line in and one line out; swift-nio would triple the binary and the dependency tree. The server
/// runs on its own thread and only takes short locks on pipeline statistics, so nothing a client
/// does (garbage, a 1 GB line, a half-sent request, never reading the reply) can stall inspection.
public final class ControlServer: @unchecked Sendable {
    public struct Limits: Sendable {
        public var maxRequestBytes = 4096
        public var maxClients = 32
        /// A client that sent part of a request and then stalls is answered and closed.
        public var requestTimeoutMilliseconds = 2_000
        /// A client that does not read its reply within this time is closed.
        public var writeTimeoutMilliseconds = 5_000
        public var maxPendingReplyBytes = 32 << 20
        public init() {}
    }

    public typealias Handler = ([String: Any]) -> [String: Any]

    let listenFD: Int32
    let ownsPath: String?
    let limits: Limits
    let handler: Handler
    private var wake: (Int32, Int32) = (-1, -1)
    private var thread: pthread_t? = nil
    private let lock = Lock()
    private var stopping = false
    /// Counters visible in stats.
    public private(set) var requestsServed: UInt64 = 0
    public private(set) var requestsRejected: UInt64 = 0
    public private(set) var clientsRefused: UInt64 = 0

    final class Client {
        let fd: Int32
        var input: [UInt8] = []
        var output: [UInt8] = []
        var outputOffset = 0
        var firstPartialAt: UInt64 = 0
        var lastWriteProgress: UInt64 = 0
        var closeAfterWrite = false
        init(fd: Int32) { self.fd = fd; input.reserveCapacity(512) }
    }

    /// Binds `path` (removing a stale socket), sets its mode and group, and listens.
    public static func bind(path: String, mode: UInt32, group: String?) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw ControlError.system("socket()", errno) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else {
            close(fd); throw ControlError.message("socket path \(path) is too long for a unix socket (max 107 bytes)")
        }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in for (i, b) in bytes.enumerated() { raw[i] = b } }
        // A socket file left by a crashed daemon: remove it only if nobody answers on it.
        if access(path, F_OK) == 0 {
            if (try? ControlClient.connect(path: path)) != nil {
                close(fd); throw ControlError.message("another grdnetd is already listening on \(path)")
            }
            unlink(path)
        }
        let len = socklen_t(MemoryLayout<sockaddr_un>.size)
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, len) } }
        guard rc == 0 else { let e = errno; close(fd); throw ControlError.system("bind \(path)", e) }
        if chmod(path, mode_t(mode)) != 0 { let e = errno; close(fd); throw ControlError.system("chmod \(path)", e) }
        if let group {
            guard let gr = getgrnam(group) else { close(fd); throw ControlError.message("socket group '\(group)' does not exist (socket.group in the config)") }
            var st = stat()
            // Already right (the daemon's own primary group): skip chown, which a seccomp
            // filter without @chown would refuse.
            if stat(path, &st) == 0 && st.st_gid == gr.pointee.gr_gid { /* nothing to do */ }
            else if chown(path, uid_t.max, gr.pointee.gr_gid) != 0 { let e = errno; close(fd); throw ControlError.system("chown \(path) to group \(group)", e) }
        }
        guard listen(fd, 16) == 0 else { let e = errno; close(fd); throw ControlError.system("listen \(path)", e) }
        return fd
    }

    /// The listening socket systemd passed (socket activation: LISTEN_FDS/LISTEN_PID), if any.
    public static func inheritedSocket() -> Int32? {
        guard let pidRaw = getenv("LISTEN_PID"), let pid = Int32(String(cString: pidRaw)), pid == getpid(),
              let nRaw = getenv("LISTEN_FDS"), let n = Int(String(cString: nRaw)), n >= 1 else { return nil }
        let fd: Int32 = 3  // SD_LISTEN_FDS_START
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        unsetenv("LISTEN_PID"); unsetenv("LISTEN_FDS"); unsetenv("LISTEN_FDNAMES")
        return fd
    }

    public init(listenFD: Int32, removeOnStop path: String?, limits: Limits = Limits(), handler: @escaping Handler) {
        self.listenFD = listenFD
        self.ownsPath = path
        self.limits = limits
        self.handler = handler
    }

    public func start() {
        wake = nonBlockingWakePipe()
        _ = fcntl(listenFD, F_SETFL, fcntl(listenFD, F_GETFL) | O_NONBLOCK)
        thread = spawnThread { [unowned self] in self.loop() }
    }

    public func stop() {
        lock.withLock { stopping = true }
        var b: UInt8 = 1
        _ = write(wake.1, &b, 1)
        if let t = thread { pthread_join(t, nil); thread = nil }
        close(wake.0); close(wake.1)
        close(listenFD)
        if let p = ownsPath { unlink(p) }
    }

    public var counters: (served: UInt64, rejected: UInt64, refused: UInt64) {
        lock.withLock { (requestsServed, requestsRejected, clientsRefused) }
    }

    private func loop() {
        var clients: [Client] = []
        var pfds: [pollfd] = []
        pfds.reserveCapacity(limits.maxClients + 2)
        while !lock.withLock({ stopping }) {
            pfds.removeAll(keepingCapacity: true)
            pfds.append(pollfd(fd: wake.0, events: Int16(POLLIN), revents: 0))
            pfds.append(pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0))
            for c in clients {
                var ev = Int16(POLLIN)
                if c.outputOffset < c.output.count { ev |= Int16(POLLOUT) }
                pfds.append(pollfd(fd: c.fd, events: ev, revents: 0))
            }
            let n = poll(&pfds, nfds_t(pfds.count), 250)
            if n < 0 && errno != EINTR { Log.shared.error("control socket: poll failed: \(String(cString: strerror(errno)))"); sleepMilliseconds(100) }
            if pfds[1].revents & Int16(POLLIN) != 0 { acceptClients(&clients) }
            let now = monotonicNow()
            var closed: Set<Int32> = []
            for (i, c) in clients.enumerated() {
                let rev = pfds.count > i + 2 && pfds[i + 2].fd == c.fd ? pfds[i + 2].revents : 0
                if rev & Int16(POLLIN) != 0 || rev & Int16(POLLHUP | POLLERR) != 0 {
                    if !readFrom(c) { closed.insert(c.fd); continue }
                }
                if c.outputOffset < c.output.count {
                    if !writeTo(c, now: now) { closed.insert(c.fd); continue }
                } else if c.closeAfterWrite {
                    closed.insert(c.fd); continue
                }
                // Slow sender: part of a request, then silence.
                if !c.input.isEmpty && c.firstPartialAt != 0 &&
                    now &- c.firstPartialAt > UInt64(limits.requestTimeoutMilliseconds) * 1_000_000 {
                    reject(c, "request not completed within \(limits.requestTimeoutMilliseconds) ms (send one JSON object per line)")
                    c.input.removeAll(keepingCapacity: true)
                    c.closeAfterWrite = true
                    _ = writeTo(c, now: now)
                }
                // Slow reader.
                if c.outputOffset < c.output.count &&
                    now &- c.lastWriteProgress > UInt64(limits.writeTimeoutMilliseconds) * 1_000_000 {
                    closed.insert(c.fd)
                }
            }
            if !closed.isEmpty {
                for fd in closed { close(fd) }
                clients.removeAll { closed.contains($0.fd) }
            }
            var drain = [UInt8](repeating: 0, count: 16)
            if pfds[0].revents & Int16(POLLIN) != 0 { _ = read(wake.0, &drain, 16) }
        }
        for c in clients { close(c.fd) }
    }

    private func acceptClients(_ clients: inout [Client]) {
        while true {
            let fd = accept(listenFD, nil, nil)
            if fd < 0 { return }
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            if clients.count >= limits.maxClients {
                lock.withLock { clientsRefused &+= 1 }
                let line = Array((ControlServer.encode(["ok": false, "error": "too many clients (\(limits.maxClients)); try again"]) + "\n").utf8)
                _ = line.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                close(fd)
                continue
            }
            let c = Client(fd: fd)
            c.lastWriteProgress = monotonicNow()
            clients.append(c)
        }
    }

    /// Reads what is there and answers every complete line. False = close the client.
    private func readFrom(_ c: Client) -> Bool {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(c.fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { return c.outputOffset < c.output.count }  // peer closed; flush what we owe
            if n < 0 { return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR }
            if c.closeAfterWrite { continue }
            if c.input.isEmpty { c.firstPartialAt = monotonicNow() }
            c.input.append(contentsOf: buffer[0..<n])
            while let nl = c.input.firstIndex(of: 10) {
                let line = Array(c.input[0..<nl])
                c.input.removeSubrange(0...nl)
                c.firstPartialAt = c.input.isEmpty ? 0 : monotonicNow()
                if line.count > limits.maxRequestBytes {
                    reject(c, "request of \(line.count) bytes is larger than the limit of \(limits.maxRequestBytes)")
                    continue
                }
                answer(c, line)
            }
            if c.input.count > limits.maxRequestBytes {
                reject(c, "request larger than \(limits.maxRequestBytes) bytes without a newline; closing")
                c.input.removeAll()
                c.closeAfterWrite = true
            }
        }
    }

    private func answer(_ c: Client, _ line: [UInt8]) {
        let trimmed = line.last == 13 ? Array(line.dropLast()) : line
        if trimmed.allSatisfy({ $0 == 32 || $0 == 9 }) { return }
        guard let obj = try? JSONSerialization.jsonObject(with: Data(trimmed)), let request = obj as? [String: Any] else {
            reject(c, "malformed request: expected one JSON object per line, e.g. {\"cmd\":\"status\"}")
            return
        }
        var reply = handler(request)
        if let id = request["id"] { reply["id"] = id }
        lock.withLock { requestsServed &+= 1 }
        queue(c, ControlServer.encode(reply))
    }

    private func reject(_ c: Client, _ message: String) {
        lock.withLock { requestsRejected &+= 1 }  // counted before the reply leaves
        queue(c, ControlServer.encode(["ok": false, "error": message]))
    }

    private func queue(_ c: Client, _ text: String) {
        if c.outputOffset == c.output.count { c.output.removeAll(keepingCapacity: true); c.outputOffset = 0 }
        if c.output.count - c.outputOffset > limits.maxPendingReplyBytes { c.closeAfterWrite = true; return }
        c.output.append(contentsOf: text.utf8)
        c.output.append(10)
    }

    private func writeTo(_ c: Client, now: UInt64) -> Bool {
        while c.outputOffset < c.output.count {
            let n = c.output.withUnsafeBytes {
                send(c.fd, $0.baseAddress! + c.outputOffset, $0.count - c.outputOffset, Int32(MSG_NOSIGNAL))
            }
            if n < 0 { return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR }
            c.outputOffset += n
            c.lastWriteProgress = now
        }
        return !c.closeAfterWrite
    }

    static func encode(_ object: [String: Any]) -> String {
        guard JSONSerialization.isValidJSONObject(object),
              let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else {
            return "{\"error\":\"internal error: reply not encodable\",\"ok\":false}"
        }
        return String(decoding: data, as: UTF8.self)
    }
}

public enum ControlError: Error, CustomStringConvertible {
    case system(String, Int32)
    case message(String)
    public var description: String {
        switch self {
        case .system(let what, let e): return "\(what) failed: \(String(cString: strerror(e)))"
        case .message(let m): return m
        }
    }
}

/// The CLI's side: connect, send one request line, read one reply line.
public final class ControlClient {
    let fd: Int32
    var pending: [UInt8] = []

    init(fd: Int32) { self.fd = fd }
    deinit { close(fd) }

    public static func connect(path: String, timeoutMilliseconds: Int = 5_000) throws -> ControlClient {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw ControlError.system("socket()", errno) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { close(fd); throw ControlError.message("socket path too long: \(path)") }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in for (i, b) in bytes.enumerated() { raw[i] = b } }
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        guard rc == 0 else {
            let e = errno; close(fd)
            if e == ENOENT || e == ECONNREFUSED {
                throw ControlError.message("no grdnetd is listening on \(path) (\(String(cString: strerror(e)))); is the daemon running? (systemctl status grdnetd, or --socket PATH)")
            }
            if e == EACCES { throw ControlError.message("permission denied on \(path): add your user to the socket's group (usually grdnet)") }
            throw ControlError.system("connect \(path)", e)
        }
        var tv = timeval(tv_sec: timeoutMilliseconds / 1000, tv_usec: Int((timeoutMilliseconds % 1000) * 1000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        return ControlClient(fd: fd)
    }

    /// Sends one request and waits for its reply.
    public func request(_ object: [String: Any]) throws -> [String: Any] {
        try sendLine(ControlServer.encode(object))
        let line = try readLine()
        guard let obj = try? JSONSerialization.jsonObject(with: Data(line)), let reply = obj as? [String: Any] else {
            throw ControlError.message("the daemon sent a reply that is not JSON")
        }
        return reply
    }

    public func sendLine(_ text: String) throws {
        let bytes = Array((text + "\n").utf8)
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + off, $0.count - off, Int32(MSG_NOSIGNAL)) }
            if n < 0 { if errno == EINTR { continue }; throw ControlError.system("send", errno) }
            off += n
        }
    }

    public func readLine() throws -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            if let nl = pending.firstIndex(of: 10) {
                let line = Array(pending[0..<nl])
                pending.removeSubrange(0...nl)
                return line
            }
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { throw ControlError.message("the daemon closed the connection") }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN { throw ControlError.message("no reply from the daemon within the timeout") }
                throw ControlError.system("recv", errno)
            }
            pending.append(contentsOf: buffer[0..<n])
        }
    }
}

/// The self-pipe both poll() servers (control socket, metrics listener) wake their thread with on
/// stop: non-blocking and close-on-exec at both ends.
func nonBlockingWakePipe() -> (Int32, Int32) {
    var fds: [Int32] = [0, 0]
    _ = pipe(&fds)
    for fd in fds {
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
    }
    return (fds[0], fds[1])
}
