import XCTest
import GRDImaging
@testable import GRDAgent

/// A TCP client for the tests: connect, send, read the reply until the server closes.
private final class TCPClient {
    let fd: Int32

    init(port: UInt16, host: String = "127.0.0.1") throws {
        let v6 = host.contains(":")
        fd = socket(v6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var tv = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var rc: Int32
        if v6 {
            var a = sockaddr_in6(); a.sin6_family = sa_family_t(AF_INET6); a.sin6_port = port.bigEndian
            inet_pton(AF_INET6, host, &a.sin6_addr)
            rc = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) } }
        } else {
            var a = sockaddr_in(); a.sin_family = sa_family_t(AF_INET); a.sin_port = port.bigEndian
            inet_pton(AF_INET, host, &a.sin_addr)
            rc = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        }
        if rc != 0 { let e = errno; close(fd); throw LiveCalibrationError("connect: \(String(cString: strerror(e)))") }
    }

    deinit { close(fd) }

    func send(_ text: String) { sendBytes(Array(text.utf8)) }

    func sendBytes(_ bytes: [UInt8]) {
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + off, $0.count - off, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            off += n
        }
    }

    /// Everything until the server closes (or 5 s pass).
    func readAll() -> String {
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            out += buffer[0..<n]
        }
        return String(decoding: out, as: UTF8.self)
    }

    func get(_ request: String) -> String { send(request); return readAll() }
}

final class MetricsHTTPServerTests: XCTestCase {
    var renders = 0
    let body = "# HELP grdnet_up 1 while the daemon answers.\n# TYPE grdnet_up gauge\ngrdnet_up 1\n"

    func makeServer(_ limits: MetricsHTTPServer.Limits = MetricsHTTPServer.Limits(), host: String = "127.0.0.1") throws -> MetricsHTTPServer {
        let s = try MetricsHTTPServer(address: MetricsListenConfig(host: host, port: 0), limits: limits) { [unowned self] in
            self.renders += 1
            return self.body
        }
        s.start()
        return s
    }

    func testGetMetricsHeadAndErrors() throws {
        let s = try makeServer()
        defer { s.stop() }
        XCTAssertGreaterThan(s.port, 0)

        let ok = try TCPClient(port: s.port).get("GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n")
        XCTAssertTrue(ok.hasPrefix("HTTP/1.1 200 OK\r\n"), ok)
        XCTAssertTrue(ok.contains("\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"), ok)
        XCTAssertTrue(ok.contains("\r\nContent-Length: \(body.utf8.count)\r\n"), ok)
        XCTAssertTrue(ok.hasSuffix("\r\n\r\n" + body), ok)

        let withQuery = try TCPClient(port: s.port).get("GET /metrics?x=1 HTTP/1.0\n\n")
        XCTAssertTrue(withQuery.hasPrefix("HTTP/1.1 200 OK"), withQuery)

        let head = try TCPClient(port: s.port).get("HEAD /metrics HTTP/1.1\r\n\r\n")
        XCTAssertTrue(head.hasPrefix("HTTP/1.1 200 OK"), head)
        XCTAssertTrue(head.hasSuffix("\r\n\r\n"), "HEAD has no body: \(head)")

        let notFound = try TCPClient(port: s.port).get("GET / HTTP/1.1\r\n\r\n")
        XCTAssertTrue(notFound.hasPrefix("HTTP/1.1 404 Not Found"), notFound)
        let post = try TCPClient(port: s.port).get("POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
        XCTAssertTrue(post.hasPrefix("HTTP/1.1 405 Method Not Allowed"), post)
        XCTAssertTrue(post.contains("\r\nAllow: GET, HEAD\r\n"), post)
        let garbage = try TCPClient(port: s.port).get("\u{1}\u{2}hello\r\n\r\n")
        XCTAssertTrue(garbage.hasPrefix("HTTP/1.1 400 Bad Request"), garbage)
        XCTAssertEqual(renders, 3, "only GET/HEAD /metrics render")
        XCTAssertEqual(s.counters.served, 3)
        XCTAssertEqual(s.counters.errors, 3)
    }

    func testOversizedAndSlowRequestsAreAnsweredAndDoNotStallOthers() throws {
        var limits = MetricsHTTPServer.Limits()
        limits.requestTimeoutMilliseconds = 400
        limits.maxRequestBytes = 1024
        let s = try makeServer(limits)
        defer { s.stop() }

        let big = try TCPClient(port: s.port)
        big.send("GET /metrics HTTP/1.1\r\nX-Filler: " + String(repeating: "a", count: 100_000))
        let bigReply = big.readAll()
        XCTAssertTrue(bigReply.hasPrefix("HTTP/1.1 413 Payload Too Large"), bigReply)

        let slow = try TCPClient(port: s.port)
        slow.send("GET /metr")
        let started = Date()
        // While the slow client holds its connection, others are served at once.
        for _ in 0..<5 {
            let t0 = Date()
            let r = try TCPClient(port: s.port).get("GET /metrics HTTP/1.1\r\n\r\n")
            XCTAssertTrue(r.hasPrefix("HTTP/1.1 200 OK"), r)
            XCTAssertLessThan(Date().timeIntervalSince(t0), 0.35)
        }
        let slowReply = slow.readAll()
        XCTAssertTrue(slowReply.hasPrefix("HTTP/1.1 408 Request Timeout"), slowReply)
        let waited = Date().timeIntervalSince(started)
        XCTAssertGreaterThan(waited, 0.3)
        XCTAssertLessThan(waited, 3)
    }

    func testManyClientsAtOnceAndTooManyAreRefused() throws {
        let s = try makeServer()
        defer { s.stop() }
        // 40 clients connected at the same time, requests sent in a burst, all answered.
        var clients: [TCPClient] = []
        for _ in 0..<40 { clients.append(try TCPClient(port: s.port)) }
        for c in clients { c.send("GET /metrics HTTP/1.1\r\n\r\n") }
        for c in clients { XCTAssertTrue(c.readAll().hasPrefix("HTTP/1.1 200 OK")) }
        XCTAssertEqual(s.counters.served, 40)

        var limits = MetricsHTTPServer.Limits()
        limits.maxClients = 2
        let small = try makeServer(limits)
        defer { small.stop() }
        let held = [try TCPClient(port: small.port), try TCPClient(port: small.port)]
        usleep(200_000)
        let extra = try TCPClient(port: small.port).readAll()
        XCTAssertTrue(extra.hasPrefix("HTTP/1.1 503 Service Unavailable"), extra)
        XCTAssertEqual(small.counters.refused, 1)
        for c in held { c.send("GET /metrics HTTP/1.1\r\n\r\n"); XCTAssertTrue(c.readAll().hasPrefix("HTTP/1.1 200 OK")) }
    }

    func testIPv6AndBindErrors() throws {
        if let s = try? makeServer(host: "::1") {
            defer { s.stop() }
            let r = try TCPClient(port: s.port, host: "::1").get("GET /metrics HTTP/1.1\r\n\r\n")
            XCTAssertTrue(r.hasPrefix("HTTP/1.1 200 OK"), r)
        } else {
            print("IPv6 loopback not available here: IPv6 part not run")
        }
        let s = try makeServer()
        defer { s.stop() }
        XCTAssertThrowsError(try MetricsHTTPServer(address: MetricsListenConfig(host: "127.0.0.1", port: s.port)) { "" }) {
            XCTAssertTrue("\($0)".contains("metrics.listen 127.0.0.1:\(s.port)") && "\($0)".contains("another program uses this port"), "\($0)")
        }
    }

    func testListenAddressParsing() {
        XCTAssertEqual(try MetricsListenConfig.parse("127.0.0.1:9102").get(), MetricsListenConfig(host: "127.0.0.1", port: 9102))
        XCTAssertEqual(try MetricsListenConfig.parse("localhost:9102").get().host, "127.0.0.1")
        XCTAssertEqual(try MetricsListenConfig.parse("[::1]:9102").get(), MetricsListenConfig(host: "::1", port: 9102))
        XCTAssertEqual(try MetricsListenConfig.parse("0.0.0.0:80").get().display, "0.0.0.0:80")
        for bad in ["127.0.0.1", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:http", "::1:9102", "prometheus.local:9102", "300.1.1.1:9102", ":9102"] {
            if case .success(let c) = MetricsListenConfig.parse(bad) { XCTFail("\(bad) accepted as \(c)") }
        }
    }
}

/// The `metrics:` config key and the daemon serving /metrics.
final class MetricsListenerAgentTests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws {
        dir = "/tmp/grdnet-metrics-\(getpid())-\(abs(name.hashValue) % 100000)"
        try FileManager.default.createDirectory(atPath: dir + "/parts", withIntermediateDirectories: true)
        let img = Image(width: 160, height: 120, channels: 1, fill: 120)
        XCTAssertTrue(FileManager.default.createFile(atPath: "\(dir)/parts/0.jpg", contents: Data(try encodeJPEG(img))))
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func yaml(_ metrics: String) -> String {
        """
        model: demo
        threshold: 0.5
        cameras:
          - name: belt
            replay: parts
            fps: 20
            deadline_ms: 2000
            reject: {chip: simulated, delay_ms: 2000, width_ms: 10}
        socket: {path: ctl.sock}
        state_dir: state
        \(metrics)
        """
    }

    func issues(_ text: String) -> [ConfigIssue] {
        do { _ = try AgentConfig.parse(yaml: text, file: dir + "/grdnet.yaml"); return [] } catch let e as ConfigError { return e.issues } catch { return [] }
    }

    func testConfigKeyIsValidatedWithKeyAndLine() throws {
        let c = try AgentConfig.parse(yaml: yaml("metrics:\n  listen: \"127.0.0.1:9102\""), file: dir + "/grdnet.yaml")
        XCTAssertEqual(c.metrics, MetricsListenConfig(host: "127.0.0.1", port: 9102))
        XCTAssertNil(try AgentConfig.parse(yaml: yaml(""), file: dir + "/grdnet.yaml").metrics)

        var found = issues(yaml("metrics:\n  listen: \"127.0.0.1:99999\""))
        XCTAssertEqual(found.first?.key, "metrics.listen")
        XCTAssertEqual(found.first?.line, 12)
        XCTAssertTrue(found.first?.message.contains("from 1 to 65535") == true, "\(found)")
        XCTAssertTrue(found.first?.description.contains("grdnet.yaml:12: metrics.listen:") == true, "\(found)")
        found = issues(yaml("metrics:\n  listen: \"scraper.local:9102\""))
        XCTAssertTrue(found.first?.message.contains("not an IP address") == true, "\(found)")
        found = issues(yaml("metrics:\n  lisen: \"127.0.0.1:9102\""))
        XCTAssertTrue(found.contains { $0.key == "metrics.lisen" && $0.message.contains("did you mean 'listen'") }, "\(found)")
        XCTAssertTrue(found.contains { $0.key == "metrics.listen" && $0.message.contains("missing") }, "\(found)")
    }

    func testTheDaemonServesMetricsAndASlowScraperDoesNotStallInspection() throws {
        // A free port: bind port 0, read it, release it.
        let probe = try MetricsHTTPServer(address: MetricsListenConfig(host: "127.0.0.1", port: 0)) { "" }
        let port = probe.port
        probe.stop()
        try yaml("metrics: {listen: \"127.0.0.1:\(port)\"}").write(toFile: dir + "/grdnet.yaml", atomically: true, encoding: .utf8)
        let agent = Agent(config: try AgentConfig.load(path: dir + "/grdnet.yaml"))
        try agent.start()
        defer { agent.stop() }
        let deadline = Date().addingTimeInterval(20)
        while agent.cameras[0].statistics().framesInspected < 3 && Date() < deadline { usleep(20_000) }

        let slow = try TCPClient(port: port)
        slow.send("GET /met")   // and nothing more
        let before = agent.cameras[0].statistics().framesInspected
        usleep(600_000)
        XCTAssertGreaterThan(agent.cameras[0].statistics().framesInspected, before, "inspection goes on while a scraper stalls")

        let r = try TCPClient(port: port).get("GET /metrics HTTP/1.1\r\nHost: box\r\n\r\n")
        XCTAssertTrue(r.hasPrefix("HTTP/1.1 200 OK"), r)
        XCTAssertTrue(r.contains("grdnet_up 1"), r)
        XCTAssertTrue(r.contains("grdnet_frames_inspected_total{camera=\"belt\"}"), r)
        _ = slow
    }
}
