import XCTest
@testable import GRDAgent

/// `cameras[].reject.realtime_priority`: the SCHED_FIFO priority of the reject pulse thread
/// (the shipped unit allows it through LimitRTPRIO=; Tests/vm checks the thread's policy).
final class RealtimePriorityConfigTests: XCTestCase {
    func yaml(_ extra: String) -> String {
        """
        model: demo
        threshold: 0.4
        cameras:
          - name: a
            device: /dev/video0
            fps: 5
            deadline_ms: 100
            reject:
              chip: simulated
              delay_ms: 250
        \(extra)
        socket:
          path: /run/grdnet-test.sock
        state_dir: /tmp
        """
    }

    func testAbsentMeansNormalScheduling() throws {
        let c = try AgentConfig.parse(yaml: yaml(""), file: "/etc/grdnet/grdnet.yaml")
        XCTAssertNil(c.cameras[0].reject.realtimePriority)
    }

    func testPriorityIsRead() throws {
        let c = try AgentConfig.parse(yaml: yaml("      realtime_priority: 50"), file: "/etc/grdnet/grdnet.yaml")
        XCTAssertEqual(c.cameras[0].reject.realtimePriority, 50)
    }

    func testOutOfRangePriorityNamesKeyAndLine() {
        do {
            _ = try AgentConfig.parse(yaml: yaml("      realtime_priority: 120"), file: "/etc/grdnet/grdnet.yaml")
            XCTFail("priority 120 accepted")
        } catch let e as ConfigError {
            let i = e.issues.first { $0.key == "cameras[0].reject.realtime_priority" }
            XCTAssertNotNil(i, "\(e.issues)")
            XCTAssertEqual(i?.line, 11)
        } catch { XCTFail("\(error)") }
    }
}
