import XCTest
@testable import GRDRejectIO

final class OutputLineTests: XCTestCase {
    func testSimulatedLineRecordsEdgesNotLevels() throws {
        var now: UInt64 = 100
        let line = SimulatedOutputLine(name: "reject", clock: { now })
        try line.set(true); now = 200
        try line.set(true); now = 300   // same level: no edge
        try line.set(false)
        XCTAssertEqual(line.edges, [RecordedEdge(timeNanoseconds: 100, active: true),
                                    RecordedEdge(timeNanoseconds: 300, active: false)])
    }

    func testMissingChipIsAClearError() {
        XCTAssertThrowsError(try GPIODOutputLine(chipPath: "/dev/gpiochip-does-not-exist", offset: 3,
                                                 consumer: "test", activeLow: false)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("/dev/gpiochip-does-not-exist"), text)
            XCTAssertTrue(text.contains("line 3"), text)
        }
        XCTAssertTrue(GPIODOutputLine.libraryDescription.hasPrefix("libgpiod v"))
    }
}
