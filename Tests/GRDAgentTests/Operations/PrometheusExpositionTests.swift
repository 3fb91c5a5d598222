import XCTest
@testable import GRDAgent

final class PrometheusExpositionTests: XCTestCase {
    func testCountersGaugesAndEscaping() {
        var p = PrometheusExposition()
        p.counter("grdnet_frames_total", help: "Frames captured.\nPer camera.", labels: [("camera", "cam \"A\"\\1")], 42)
        p.counter("grdnet_frames_total", help: "ignored second help", labels: [("camera", "b")], 7)
        p.gauge("grdnet_threshold", help: "Reject threshold.", 0.125)
        XCTAssertEqual(p.text, """
            # HELP grdnet_frames_total Frames captured.\\nPer camera.
            # TYPE grdnet_frames_total counter
            grdnet_frames_total{camera="cam \\"A\\"\\\\1"} 42
            grdnet_frames_total{camera="b"} 7
            # HELP grdnet_threshold Reject threshold.
            # TYPE grdnet_threshold gauge
            grdnet_threshold 0.125

            """)
    }

    func testHistogramIsCumulativeWithInfBucket() {
        var p = PrometheusExposition()
        p.histogram("grdnet_latency_seconds", help: "Latency.", upperBounds: [0.01, 0.1], counts: [3, 2], overflow: 1, sum: 0.5)
        let lines = p.text.split(separator: "\n").map(String.init)
        XCTAssertEqual(Array(lines.suffix(5)), [
            "grdnet_latency_seconds_bucket{le=\"0.01\"} 3",
            "grdnet_latency_seconds_bucket{le=\"0.1\"} 5",
            "grdnet_latency_seconds_bucket{le=\"+Inf\"} 6",
            "grdnet_latency_seconds_sum 0.5",
            "grdnet_latency_seconds_count 6"])
    }

    func testNamesAndSpecialValues() {
        XCTAssertTrue(PrometheusExposition.isValidName("grdnet_up"))
        XCTAssertTrue(PrometheusExposition.isValidName("a:b_c9"))
        XCTAssertFalse(PrometheusExposition.isValidName("9lives"))
        XCTAssertFalse(PrometheusExposition.isValidName("with-dash"))
        XCTAssertFalse(PrometheusExposition.isValidName(""))
        XCTAssertEqual(PrometheusExposition.format(.nan), "NaN")
        XCTAssertEqual(PrometheusExposition.format(-.infinity), "-Inf")
        XCTAssertEqual(PrometheusExposition.format(3), "3")
    }
}
