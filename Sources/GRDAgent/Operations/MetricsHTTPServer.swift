#if canImport(Glibc)
import Glibc
#endif
import Foundation
import GRDRejectIO
import Yams

/// `metrics: {listen: "127.0.0.1:9102"}`: where the optional Prometheus endpoint listens.
public struct MetricsListenConfig: Equatable, Sendable {
    /// An IPv4 or IPv6 literal ("localhost" is taken as 127.0.0.1).
    public var host: String
    public var port: UInt16
    public var isIPv6: Bool { host.contains(":") }
    public var display: String { isIPv6 ? "[\(host)]:\(port)" : "\(host):\(port)" }

    public init(host: String, port: UInt16) { self.host = host; self.port = port }

    /// Parses "HOST:PORT" or "[IPv6]:PORT"; the error says what is wrong in plain words.
    /// Port 0 (any free port) is accepted only when `allowAnyPort` (tests).
    public static func parse(_ text: String, allowAnyPort: Bool = false) -> Result<MetricsListenConfig, LiveCalibrationError> {
        let t = text.trimmingCharacters(in: .whitespaces)
        let host: String, portText: String
        if t.hasPrefix("[") {
            guard let close = t.firstIndex(of: "]"), t[t.index(after: close)...].hasPrefix(":") else {
                return .failure(LiveCalibrationError("expected [IPv6 address]:port, e.g. \"[::1]:9102\" (got \"\(text)\")"))
            }
            host = String(t[t.index(after: t.startIndex)..<close])
            portText = String(t[t.index(close, offsetBy: 2)...])
        } else {
            guard let colon = t.lastIndex(of: ":"), !t[..<colon].contains(":") else {
                return .failure(LiveCalibrationError("expected address:port, e.g. \"127.0.0.1:9102\" (an IPv6 address goes in brackets: \"[::1]:9102\"; got \"\(text)\")"))
            }
            host = String(t[..<colon])
            portText = String(t[t.index(after: colon)...])
        }
        guard let port = Int(portText), port >= (allowAnyPort ? 0 : 1), port <= 65535 else {
            return .failure(LiveCalibrationError("port \"\(portText)\" is not a port number from 1 to 65535 (got \"\(text)\")"))
        }
        let literal = host == "localhost" ? "127.0.0.1" : host
        var v4 = in_addr(), v6 = in6_addr()
        let ok = literal.contains(":") ? inet_pton(AF_INET6, literal, &v6) == 1 : inet_pton(AF_INET, literal, &v4) == 1
        guard !literal.isEmpty, ok else {
            return .failure(LiveCalibrationError("\"\(host)\" is not an IP address: use one of this machine's addresses, 127.0.0.1 (local scrapers only) or 0.0.0.0 (every interface)"))
        }
        return .success(MetricsListenConfig(host: literal, port: UInt16(port)))
    }
}

extension ConfigReader {
    /// The optional `metrics:` section; nil when absent (no HTTP listener).
    func readMetrics(_ top: Section) -> MetricsListenConfig? {
        guard let m = top.section("metrics") else { return nil }
        defer { m.finish() }
        guard let raw = m.string("listen") else {
            m.require("listen", "the address and port to serve /metrics on, e.g. \"127.0.0.1:9102\"")
            return nil
        }
        switch MetricsListenConfig.parse(raw) {
        case .success(let c): return c
        case .failure(let e): fail(m.value("listen"), m.key("listen"), e.description); return nil
        }
    }
}

/// A minimal HTTP/1.1 server for one resource: GET /metrics in the Prometheus text format.
///
/// Hand-written over poll(2) because swift-nio is not an allowed dependency (and would be most
/// of the binary for one URL). One thread of its own, non-blocking sockets, one request per
/// connection (`Connection: close`, which every Prometheus version handles). Every client is
/// bounded: the request head must fit in `maxRequestBytes` (else 413) and arrive within
/// `requestTimeoutMilliseconds` (else 408), a reply not read within `writeTimeoutMilliseconds`
/// is dropped, and clients beyond `maxClients` get 503. The metrics are rendered on this thread
/// from the same stats/status the control socket serves (short locks only), so no client can
/// stall inspection.
public final class MetricsHTTPServer: @unchecked Sendable {
    public struct Limits: Sendable {
        public var maxRequestBytes = 8192
        public var maxClients = 64
        public var requestTimeoutMilliseconds = 5_000
        public var writeTimeoutMilliseconds = 10_000
        public init() {}
    }

    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    let listenFD: Int32
    let limits: Limits
    let render: () -> String
    /// The bound port (useful when 0 asked for any free one).
    public let port: UInt16
    private var wake: (Int32, Int32) = (-1, -1)
    private var thread: pthread_t? = nil
    private let lock = Lock()
    private var stopping = false
    private var served: UInt64 = 0
    private var errors: UInt64 = 0
    private var refused: UInt64 = 0

    final class Client {
        let fd: Int32
        var input: [UInt8] = []
        var output: [UInt8] = []
        var outputOffset = 0
        let acceptedAt: UInt64
        var lastWriteProgress: UInt64
        var answered = false
        /// Reply sent and our side shut down: reading the client's leftovers until it closes, so
        /// that closing with unread input (a TCP reset) cannot destroy the reply in flight.
        var drainingSince: UInt64 = 0
        init(fd: Int32, now: UInt64) { self.fd = fd; acceptedAt = now; lastWriteProgress = now }
    }

    /// Binds and listens; throws with the address and the reason (in use, not allowed, ...).
    public init(address: MetricsListenConfig, limits: Limits = Limits(), render: @escaping () -> String) throws {
        self.limits = limits
        self.render = render
        let family = address.isIPv6 ? AF_INET6 : AF_INET
        let fd = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else {
            let e = errno
            var why = String(cString: strerror(e))
            if e == EAFNOSUPPORT || e == EPERM || e == EACCES {
                why += "; under systemd the unit allows unix sockets only: install the drop-in from /usr/share/doc/grdnet-edge/examples/grdnetd-metrics.conf (see deploy/RASPBERRY-PI.md)"
            }
            throw LiveCalibrationError("metrics.listen \(address.display): cannot open an \(address.isIPv6 ? "IPv6" : "IPv4") socket: \(why)")
        }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var rc: Int32
        if address.isIPv6 {
            var a = sockaddr_in6()
            a.sin6_family = sa_family_t(AF_INET6)
            a.sin6_port = address.port.bigEndian
            _ = inet_pton(AF_INET6, address.host, &a.sin6_addr)
            rc = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) } }
        } else {
            var a = sockaddr_in()
            a.sin_family = sa_family_t(AF_INET)
            a.sin_port = address.port.bigEndian
            _ = inet_pton(AF_INET, address.host, &a.sin_addr)
            rc = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        }
        if rc == 0 { rc = listen(fd, 64) }
        guard rc == 0 else {
            let e = errno; close(fd)
            throw LiveCalibrationError("metrics.listen \(address.display): cannot listen: \(String(cString: strerror(e)))\(e == EADDRINUSE ? " (another program uses this port)" : e == EADDRNOTAVAIL ? " (not an address of this machine)" : "")")
        }
        var storage = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        port = withUnsafePointer(to: &storage) { p -> UInt16 in
            address.isIPv6 ? p.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin6_port) }
                           : p.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin_port) }
        }
        listenFD = fd
    }

    public func start() {
        wake = nonBlockingWakePipe()
        _ = fcntl(listenFD, F_SETFL, fcntl(listenFD, F_GETFL) | O_NONBLOCK)
        thread = spawnThread { [unowned self] in self.loop() }
    }

    public func stop() {
        lock.withLock { stopping = true }
        if thread != nil {
            var b: UInt8 = 1
            _ = write(wake.1, &b, 1)
            pthread_join(thread!, nil); thread = nil
            close(wake.0); close(wake.1)
        }
        close(listenFD)
    }

    /// Scrapes answered with 200, requests answered with an error status, clients refused (503).
    public var counters: (served: UInt64, errors: UInt64, refused: UInt64) { lock.withLock { (served, errors, refused) } }

    private func loop() {
        var clients: [Client] = []
        var pfds: [pollfd] = []
        pfds.reserveCapacity(limits.maxClients + 2)
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !lock.withLock({ stopping }) {
            pfds.removeAll(keepingCapacity: true)
            pfds.append(pollfd(fd: wake.0, events: Int16(POLLIN), revents: 0))
            pfds.append(pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0))
            for c in clients {
                let sending = c.answered && c.drainingSince == 0
                pfds.append(pollfd(fd: c.fd, events: sending ? Int16(POLLOUT) : Int16(POLLIN), revents: 0))
            }
            let n = poll(&pfds, nfds_t(pfds.count), 100)
            if n < 0 && errno != EINTR { sleepMilliseconds(50) }
            if pfds[0].revents & Int16(POLLIN) != 0 { _ = Glibc.read(wake.0, &buffer, buffer.count) }
            if pfds[1].revents & Int16(POLLIN) != 0 { accept(&clients) }
            let now = monotonicNow()
            var closed: Set<Int32> = []
            for (i, c) in clients.enumerated() {
                let rev = pfds.count > i + 2 && pfds[i + 2].fd == c.fd ? pfds[i + 2].revents : 0
                if !c.answered && rev & Int16(POLLIN | POLLHUP | POLLERR) != 0 {
                    if !read(c, &buffer) { closed.insert(c.fd); continue }
                }
                if !c.answered && now &- c.acceptedAt > UInt64(limits.requestTimeoutMilliseconds) * 1_000_000 {
                    respond(c, 408, "Request Timeout", "the request was not complete within \(limits.requestTimeoutMilliseconds) ms\n")
                }
                if c.drainingSince != 0 {
                    if rev != 0 && !discard(c, &buffer) { closed.insert(c.fd); continue }
                    if now &- c.drainingSince > 1_000_000_000 { closed.insert(c.fd) }
                    continue
                }
                if c.answered {
                    if !flush(c, now: now) { closed.insert(c.fd); continue }
                    if c.outputOffset >= c.output.count {
                        shutdown(c.fd, Int32(SHUT_WR))
                        c.drainingSince = now
                        continue
                    }
                    if now &- c.lastWriteProgress > UInt64(limits.writeTimeoutMilliseconds) * 1_000_000 { closed.insert(c.fd) }
                }
            }
            if !closed.isEmpty {
                for fd in closed { close(fd) }
                clients.removeAll { closed.contains($0.fd) }
            }
        }
        for c in clients { close(c.fd) }
    }

    private func accept(_ clients: inout [Client]) {
        while true {
            let fd = Glibc.accept(listenFD, nil, nil)
            if fd < 0 { return }
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            if clients.count >= limits.maxClients {
                lock.withLock { refused &+= 1 }
                let reply = Array(MetricsHTTPServer.head(503, "Service Unavailable", length: 0, extra: "Retry-After: 1\r\n").utf8)
                _ = reply.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                close(fd)
                continue
            }
            clients.append(Client(fd: fd, now: monotonicNow()))
        }
    }

    /// Reads what arrived; answers once the request head is complete. False = close now.
    private func read(_ c: Client, _ buffer: inout [UInt8]) -> Bool {
        while !c.answered {
            let n = buffer.withUnsafeMutableBytes { recv(c.fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { return false }
            if n < 0 { return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR }
            c.input.append(contentsOf: buffer[0..<n])
            if let end = MetricsHTTPServer.headEnd(c.input) {
                answer(c, Array(c.input[0..<end]))
            } else if c.input.count > limits.maxRequestBytes {
                respond(c, 413, "Payload Too Large", "the request head is larger than \(limits.maxRequestBytes) bytes\n")
            }
        }
        return true
    }

    /// Reads and drops input after the reply; false once the client closed (or failed).
    private func discard(_ c: Client, _ buffer: inout [UInt8]) -> Bool {
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(c.fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { return false }
            if n < 0 { return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR }
        }
    }

    /// Index of the end of the request head (the empty line), if it has arrived.
    static func headEnd(_ b: [UInt8]) -> Int? {
        var i = 0
        while i + 1 < b.count {
            if b[i] == 10 && b[i + 1] == 10 { return i }
            if i + 3 < b.count && b[i] == 13 && b[i + 1] == 10 && b[i + 2] == 13 && b[i + 3] == 10 { return i }
            i += 1
        }
        return nil
    }

    private func answer(_ c: Client, _ head: [UInt8]) {
        if head.count > limits.maxRequestBytes {
            respond(c, 413, "Payload Too Large", "the request head is larger than \(limits.maxRequestBytes) bytes\n"); return
        }
        let firstLine = head.split(separator: 10, maxSplits: 1, omittingEmptySubsequences: false).first ?? []
        let parts = String(decoding: firstLine, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            .split(separator: " ", omittingEmptySubsequences: true)
        guard parts.count == 3, parts[2].hasPrefix("HTTP/1.") else {
            respond(c, 400, "Bad Request", "expected a request line like: GET /metrics HTTP/1.1\n"); return
        }
        let method = String(parts[0])
        let path = parts[1].split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
        guard path == "/metrics" else {
            respond(c, 404, "Not Found", "only /metrics is served here\n"); return
        }
        guard method == "GET" || method == "HEAD" else {
            respond(c, 405, "Method Not Allowed", "use GET or HEAD\n", extra: "Allow: GET, HEAD\r\n"); return
        }
        let body = Array(render().utf8)
        lock.withLock { served &+= 1 }
        c.output = Array(MetricsHTTPServer.head(200, "OK", length: body.count, contentType: MetricsHTTPServer.contentType).utf8)
        if method == "GET" { c.output += body }
        c.answered = true
    }

    private func respond(_ c: Client, _ code: Int, _ reason: String, _ body: String, extra: String = "") {
        lock.withLock { errors &+= 1 }
        let b = Array(body.utf8)
        c.output = Array(MetricsHTTPServer.head(code, reason, length: b.count, extra: extra).utf8) + b
        c.answered = true
    }

    static func head(_ code: Int, _ reason: String, length: Int, contentType: String = "text/plain; charset=utf-8", extra: String = "") -> String {
        "HTTP/1.1 \(code) \(reason)\r\nContent-Type: \(contentType)\r\nContent-Length: \(length)\r\n\(extra)Connection: close\r\n\r\n"
    }

    private func flush(_ c: Client, now: UInt64) -> Bool {
        while c.outputOffset < c.output.count {
            let n = c.output.withUnsafeBytes { send(c.fd, $0.baseAddress! + c.outputOffset, $0.count - c.outputOffset, Int32(MSG_NOSIGNAL)) }
            if n < 0 { return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR }
            c.outputOffset += n
            c.lastWriteProgress = now
        }
        return true
    }
}

extension Agent {
    /// Starts the HTTP listener when the config has `metrics.listen`. Its address takes effect at
    /// start only (a reload keeps the running listener), like the control socket's.
    func startMetricsListener() throws {
        guard let address = config.metrics else { return }
        let server = try MetricsHTTPServer(address: address) { [unowned self] in
            MetricsRendering.prometheusText(stats: self.statsReply(), status: self.status())
        }
        server.start()
        metricsServer = server
        Log.shared.info("metrics: http://\(address.display)/metrics")
    }
}
