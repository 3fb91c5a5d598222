import XCTest
import Glibc
@testable import GRDAgent

final class SystemdNotifierTests: XCTestCase {
    func testNotifySendsOneDatagramToTheSocket() throws {
        let path = "/tmp/grdnet-notify-\(getpid()).sock"
        unlink(path)
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { close(fd); unlink(path) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in for (i, b) in path.utf8.enumerated() { raw[i] = b } }
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        XCTAssertEqual(bound, 0)
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": path])
        XCTAssertTrue(notifier.notify("READY=1\nSTATUS=inspecting"))
        var buffer = [UInt8](repeating: 0, count: 256)
        let n = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
        XCTAssertEqual(String(decoding: buffer.prefix(max(0, n)), as: UTF8.self), "READY=1\nSTATUS=inspecting")
    }

    func testNotifyIsANoOpOutsideSystemd() {
        XCTAssertFalse(SystemdNotifier(environment: [:]).notify("READY=1"))
        XCTAssertFalse(SystemdNotifier(environment: ["NOTIFY_SOCKET": ""]).isEnabled)
    }
}

final class TextTableTests: XCTestCase {
    func testFixedFormatting() {
        XCTAssertEqual(fixed(3.14159, 2), "3.14")
        XCTAssertEqual(fixed(-0.004, 2), "0.00")
        XCTAssertEqual(fixed(-2.5, 1), "-2.5")
        XCTAssertEqual(fixed(99.995, 2), "100.00")
        XCTAssertEqual(fixed(7, 0), "7")
    }

    func testColumnsAlign() {
        var t = TextTable(["name", "score"])
        t.add(["a", "1.5"])
        t.add(["longer", "12.25"])
        XCTAssertEqual(t.render(), "name    score\n------  -----\na         1.5\nlonger  12.25")
    }
}
