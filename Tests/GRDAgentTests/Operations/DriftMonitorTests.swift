import XCTest
@testable import GRDAgent

final class DriftMonitorTests: XCTestCase {
    func monitor() -> DriftMonitor {
        DriftMonitor(score: .init(mean: 0.2, standardDeviation: 0.05),
                     brightness: .init(mean: 100, standardDeviation: 5),
                     focus: .init(mean: 300, standardDeviation: 30), windowSize: 10)
    }

    func testLearningUntilTheWindowIsFullThenOK() {
        var m = monitor()
        for i in 0..<9 { m.record(score: 0.2, brightness: 100 + Double(i % 3) - 1, focus: 300) }
        XCTAssertEqual(m.state, .learning)
        m.record(score: 0.2, brightness: 100, focus: 300)
        XCTAssertEqual(m.state, .ok)
    }

    func testDimmingLampRaisesWarningThenAlarm() {
        var m = monitor()
        for _ in 0..<10 { m.record(score: 0.2, brightness: 92, focus: 300) }   // -1.6 sd
        XCTAssertEqual(m.state, .warning)
        XCTAssertEqual(m.report().first { $0.signal == .brightness }!.shift, -1.6, accuracy: 1e-9)
        for _ in 0..<10 { m.record(score: 0.2, brightness: 80, focus: 300) }   // -4 sd, window fully replaced
        XCTAssertEqual(m.state, .alarm)
        for _ in 0..<10 { m.record(score: 0.2, brightness: 100, focus: 300) }  // lamp replaced
        XCTAssertEqual(m.state, .ok)
    }

    func testBaselineFromSamples() {
        let b = DriftMonitor.Baseline(samples: [1, 2, 3, 4])
        XCTAssertEqual(b.mean, 2.5)
        XCTAssertEqual(b.standardDeviation, (5.0 / 3).squareRoot(), accuracy: 1e-12)
    }
}
