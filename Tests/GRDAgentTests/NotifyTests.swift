import XCTest
import Glibc
import GRDImaging
@testable import GRDAgent

/// READY=1 once inspecting, WATCHDOG=1 only while frames flow, STATUS= lines: what systemd sees.
final class NotifyTests: XCTestCase {
    func testReadyAndWatchdogFollowFrames() throws {
        let dir = "/tmp/grdnet-notify-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir + "/parts", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for i in 0..<4 {
            let img = Image(width: 64, height: 64, channels: 1, fill: UInt8(100 + i))
            XCTAssertTrue(FileManager.default.createFile(atPath: "\(dir)/parts/\(i).jpg", contents: Data(try encodeJPEG(img))))
        }
        // Four frames at 10 fps, then the "camera" stops (no loop): frames stop flowing.
        let yaml = """
            model: demo
            threshold: 0.5
            cameras:
              - {name: c, replay: parts, loop: false, fps: 10, deadline_ms: 500,
                 reject: {chip: simulated, delay_ms: 600, width_ms: 10}}
            fail_safe: {camera_timeout_s: 0.5}
            socket: {path: ctl.sock}
            state_dir: state
            """
        try yaml.write(toFile: dir + "/grdnet.yaml", atomically: true, encoding: .utf8)

        let sockPath = dir + "/notify.sock"
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_un(); addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in for (i, b) in sockPath.utf8.enumerated() { raw[i] = b } }
        XCTAssertEqual(withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }, 0)

        setenv("NOTIFY_SOCKET", sockPath, 1)
        setenv("WATCHDOG_USEC", "200000", 1)  // ping every 100 ms while frames flow
        defer { unsetenv("NOTIFY_SOCKET"); unsetenv("WATCHDOG_USEC") }
        let agent = Agent(config: try AgentConfig.load(path: dir + "/grdnet.yaml"))
        try agent.start()
        agent.runUntilStopped(configPath: dir + "/grdnet.yaml", maxSeconds: 2.5)
        agent.stop()

        var messages: [(UInt64, String)] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
            if n <= 0 { break }
            messages.append((0, String(decoding: buffer[0..<n], as: UTF8.self)))
        }
        let ready = messages.filter { $0.1.contains("READY=1") }
        XCTAssertEqual(ready.count, 1, "\(messages.map(\.1))")
        let pings = messages.filter { $0.1 == "WATCHDOG=1" }
        // Frames flow for ~0.4 s + 0.5 s camera timeout: a handful of pings, not 2.5 s worth (25).
        XCTAssertGreaterThanOrEqual(pings.count, 2, "\(messages.map(\.1))")
        XCTAssertLessThanOrEqual(pings.count, 14, "the watchdog must stop when frames stop: \(messages.map(\.1))")
        // The last ping comes before the camera is declared silent, and STATUS says so afterwards.
        let lastPingIndex = messages.lastIndex { $0.1 == "WATCHDOG=1" } ?? -1
        XCTAssertTrue(messages[(lastPingIndex + 1)...].contains { $0.1.contains("STATUS=NOT INSPECTING") },
                      "\(messages.map(\.1))")
    }
}

