import XCTest
import Glibc
import GRDImaging
import GRDRejectIO
@testable import GRDAgent

final class ControlSocketTests: XCTestCase {
    var path = ""

    override func setUp() {
        path = "/tmp/grdnet-ctl-\(getpid())-\(abs(name.hashValue) % 100000).sock"
        unlink(path)
    }

    override func tearDown() { unlink(path) }

    func startEcho(limits: ControlServer.Limits = ControlServer.Limits()) throws -> ControlServer {
        let fd = try ControlServer.bind(path: path, mode: 0o660, group: nil)
        let server = ControlServer(listenFD: fd, removeOnStop: path, limits: limits) { req in
            ["ok": true, "echo": req["cmd"] ?? NSNull()]
        }
        server.start()
        return server
    }

    func rawConnect() throws -> Int32 {
        let c = try ControlClient.connect(path: path)
        let fd = dup(c.fd)
        return fd
    }

    func testSocketModeIsSet() throws {
        let s = try startEcho()
        defer { s.stop() }
        var st = stat()
        XCTAssertEqual(stat(path, &st), 0)
        XCTAssertEqual(st.st_mode & 0o777, 0o660)
        XCTAssertEqual(st.st_mode & S_IFMT, S_IFSOCK)
    }

    func testRequestsGetRepliesAndMalformedOnesGetErrors() throws {
        let s = try startEcho()
        defer { s.stop() }
        let c = try ControlClient.connect(path: path)
        XCTAssertEqual(try c.request(["cmd": "status", "id": 7])["echo"] as? String, "status")
        try c.sendLine("this is not json")
        let bad = try JSONSerialization.jsonObject(with: Data(try c.readLine())) as? [String: Any]
        XCTAssertEqual(bad?["ok"] as? Bool, false)
        XCTAssertTrue((bad?["error"] as? String ?? "").contains("malformed"))
        // The same connection still works after an error.
        XCTAssertEqual(try c.request(["cmd": "stats"])["echo"] as? String, "stats")
        XCTAssertEqual(s.counters.rejected, 1)
    }

    func testOversizedRequestIsRefusedAndClosed() throws {
        var limits = ControlServer.Limits()
        limits.maxRequestBytes = 1024
        let s = try startEcho(limits: limits)
        defer { s.stop() }
        let c = try ControlClient.connect(path: path)
        try c.sendLine(String(repeating: "x", count: 5000))
        let reply = try JSONSerialization.jsonObject(with: Data(try c.readLine())) as? [String: Any]
        XCTAssertEqual(reply?["ok"] as? Bool, false)
        XCTAssertTrue((reply?["error"] as? String ?? "").contains("larger than"), "\(reply ?? [:])")
    }

    func testSlowClientDoesNotBlockOthersAndIsTimedOut() throws {
        var limits = ControlServer.Limits()
        limits.requestTimeoutMilliseconds = 300
        let s = try startEcho(limits: limits)
        defer { s.stop() }
        let slow = try ControlClient.connect(path: path)
        try slow.sendLine("")  // empty lines are ignored
        let partial = Array("{\"cmd\":\"sta".utf8)
        _ = partial.withUnsafeBytes { send(slow.fd, $0.baseAddress, $0.count, 0) }
        // Many other clients are served while the slow one dawdles.
        var clients: [ControlClient] = []
        for _ in 0..<20 { clients.append(try ControlClient.connect(path: path)) }
        for (i, c) in clients.enumerated() {
            XCTAssertEqual(try c.request(["cmd": "n\(i)"])["echo"] as? String, "n\(i)")
        }
        let reply = try JSONSerialization.jsonObject(with: Data(try slow.readLine())) as? [String: Any]
        XCTAssertTrue((reply?["error"] as? String ?? "").contains("not completed"), "\(reply ?? [:])")
        XCTAssertThrowsError(try slow.readLine(), "the slow client is closed after its error")
    }

    func testTooManyClientsAreToldSo() throws {
        var limits = ControlServer.Limits()
        limits.maxClients = 3
        let s = try startEcho(limits: limits)
        defer { s.stop() }
        var held: [ControlClient] = []
        for _ in 0..<3 { let c = try ControlClient.connect(path: path); _ = try c.request(["cmd": "x"]); held.append(c) }
        let extra = try ControlClient.connect(path: path)
        let reply = try JSONSerialization.jsonObject(with: Data(try extra.readLine())) as? [String: Any]
        XCTAssertTrue((reply?["error"] as? String ?? "").contains("too many clients"))
        XCTAssertEqual(s.counters.refused, 1)
    }

    func testAStaleSocketFileIsReplacedButALiveOneIsNot() throws {
        let s = try startEcho()
        XCTAssertThrowsError(try ControlServer.bind(path: path, mode: 0o660, group: nil)) { e in
            XCTAssertTrue("\(e)".contains("already listening"))
        }
        s.stop()
        // Leave a dead socket file behind, as a crash would.
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_un(); addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in for (i, b) in path.utf8.enumerated() { raw[i] = b } }
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        close(fd)
        let again = try ControlServer.bind(path: path, mode: 0o660, group: nil)
        close(again)
    }
}

/// The daemon's commands over the socket, with the demo detector on replayed images.
final class AgentCommandTests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws {
        dir = "/tmp/grdnet-agent-\(getpid())-\(abs(name.hashValue) % 100000)"
        try FileManager.default.createDirectory(atPath: dir + "/parts", withIntermediateDirectories: true)
        for i in 0..<3 {
            var img = Image(width: 160, height: 120, channels: 1, fill: 120)
            if i == 1 { for y in 50..<60 { for x in 70..<80 { img.pixels[y * 160 + x] = 10 } } }
            XCTAssertTrue(FileManager.default.createFile(atPath: "\(dir)/parts/\(i).jpg", contents: Data(try encodeJPEG(img))))
        }
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func writeConfig(threshold: String) throws -> String {
        let yaml = """
            model: demo
            threshold: \(threshold)
            cameras:
              - name: belt
                replay: parts
                fps: 5
                deadline_ms: 2000
                reject: {chip: simulated, delay_ms: 2000, width_ms: 10}
            socket: {path: ctl.sock}
            state_dir: state
            """
        try yaml.write(toFile: dir + "/grdnet.yaml", atomically: true, encoding: .utf8)
        return dir + "/grdnet.yaml"
    }

    func testStatusStatsDecisionsThresholdPauseSnapshotAndReload() throws {
        let path = try writeConfig(threshold: "0.5")
        let agent = Agent(config: try AgentConfig.load(path: path))
        try agent.start()
        defer { agent.stop() }
        let deadline = Date().addingTimeInterval(20)
        while (agent.cameras[0].statistics().framesInspected < 6) && Date() < deadline { usleep(50_000) }
        let c = try ControlClient.connect(path: dir + "/ctl.sock")

        let status = try c.request(["cmd": "status"])
        XCTAssertEqual(status["ok"] as? Bool, true)
        let cam = (status["cameras"] as? [[String: Any]])?.first
        XCTAssertEqual(cam?["detector"] as? String, "no model: demo detector")
        XCTAssertEqual(cam?["state"] as? String, "inspecting")

        let stats = try c.request(["cmd": "stats"])
        let sc = (stats["cameras"] as? [[String: Any]])?.first
        let inspected = (sc?["frames_inspected"] as? NSNumber)?.intValue ?? 0
        XCTAssertGreaterThanOrEqual(inspected, 6)
        let passes = (sc?["passes"] as? NSNumber)?.intValue ?? -1, rejects = (sc?["rejects"] as? NSNumber)?.intValue ?? -1
        XCTAssertGreaterThanOrEqual(passes + rejects, 6)
        XCTAssertGreaterThanOrEqual(rejects, 1, "one part in three carries a defect")
        XCTAssertNotNil((sc?["latency"] as? [String: Any])?["end_to_end"])

        let decisions = try c.request(["cmd": "decisions", "n": 3])["decisions"] as? [[String: Any]] ?? []
        XCTAssertEqual(decisions.count, 3)
        let all = try c.request(["cmd": "decisions", "n": 1000])["decisions"] as? [[String: Any]] ?? []
        XCTAssertGreaterThanOrEqual(all.count, 6)
        for d in all {
            let defective = (d["origin"] as? String)?.hasSuffix("/1.jpg") == true
            XCTAssertEqual(d["decision"] as? String, defective ? "reject" : "pass", "\(d)")
        }

        // Live threshold, persisted.
        let set = try c.request(["cmd": "threshold", "value": 0.9])
        XCTAssertEqual(set["ok"] as? Bool, true, "\(set)")
        XCTAssertEqual(agent.cameras[0].threshold, 0.9)
        let persisted = try String(contentsOfFile: dir + "/state/threshold.json", encoding: .utf8)
        XCTAssertTrue(persisted.contains("0.9"), persisted)
        // ... and survives a restart with the same config.
        let again = Agent(config: try AgentConfig.load(path: path))
        XCTAssertEqual(try again.build(again.config).pipelines[0].threshold, 0.9)
        XCTAssertEqual(try c.request(["cmd": "threshold", "value": "high"])["ok"] as? Bool, false)
        XCTAssertEqual(try c.request(["cmd": "threshold", "camera": "nope"])["ok"] as? Bool, false)

        // Pause stops inspection; resume restarts it.
        XCTAssertEqual(try c.request(["cmd": "pause"])["ok"] as? Bool, true)
        usleep(150_000)
        let before = agent.cameras[0].statistics().framesInspected
        usleep(400_000)
        XCTAssertEqual(agent.cameras[0].statistics().framesInspected, before)
        XCTAssertGreaterThan(agent.cameras[0].statistics().framesSkippedWhilePaused, 0)
        XCTAssertEqual(try c.request(["cmd": "resume"])["ok"] as? Bool, true)

        // Snapshot as base64 JPEGs.
        let snap = try c.request(["cmd": "snapshot"])
        let frame = Data(base64Encoded: snap["frame_jpeg_base64"] as? String ?? "") ?? Data()
        let heat = Data(base64Encoded: snap["heatmap_jpeg_base64"] as? String ?? "") ?? Data()
        XCTAssertEqual(Array(frame.prefix(2)), [0xFF, 0xD8])
        XCTAssertEqual(Array(heat.prefix(2)), [0xFF, 0xD8])
        let decoded = try JPEGDecoder().decode(Array(heat), grey: false)
        XCTAssertEqual(decoded.width, 256)

        XCTAssertEqual(try c.request(["cmd": "fly"])["ok"] as? Bool, false)

        // A bad new config keeps the old one running; a good one is applied.
        try "model: demo\nthreshold: 0.3\ncameras: []\n".write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertFalse(agent.reload(path: path))
        XCTAssertEqual(agent.cameras.count, 1)
        XCTAssertEqual(agent.failedReloads, 1)
        let after = try c.request(["cmd": "status"])
        XCTAssertTrue((after["last_reload_error"] as? String ?? "").contains("cameras"), "\(after)")
        _ = try writeConfig(threshold: "0.7")
        XCTAssertTrue(agent.reload(path: path))
        XCTAssertEqual(agent.cameras[0].threshold, 0.7, "a changed config threshold wins over the live one")
        let resumed = Date().addingTimeInterval(10)
        while agent.cameras[0].statistics().framesInspected < 2 && Date() < resumed { usleep(50_000) }
        XCTAssertGreaterThanOrEqual(agent.cameras[0].statistics().framesInspected, 2, "inspection continues after reload")
    }
}

final class LogTests: XCTestCase {
    func testJournalPrefixesAndOneLinePerMessage() {
        let log = Log()
        XCTAssertEqual(log.format(.warning, "camera a: gone\nretrying", journal: true), "<4>camera a: gone | retrying\n")
        XCTAssertEqual(log.format(.error, "x", journal: false), "grdnetd[error]: x\n")
        var lines: [String] = []
        log.sink = { lines.append($0) }
        log.level = .notice
        log.info("hidden")
        log.notice("shown")
        XCTAssertEqual(lines.count, 1)
    }
}
