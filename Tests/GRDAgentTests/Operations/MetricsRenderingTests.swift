import XCTest
@testable import GRDAgent

final class MetricsRenderingTests: XCTestCase {
    func testRendersCountersLatencyAndScoreHistogram() {
        let stats: [String: Any] = [
            "ok": true,
            "system": ["uptime_s": 12.5, "peak_rss_kb": 30000, "cpu_temperature_c": NSNull(), "throttled": "50000",
                       "socket_requests": 3, "socket_rejected": 1],
            "cameras": [[
                "name": "belt", "threshold": 0.5, "frames_captured": 10, "frames_inspected": 9, "frames_dropped": 1,
                "passes": 6, "rejects": 3, "deadline_misses": 0, "errors": 0, "reconnects": 2,
                "pulses": ["scheduled": 3, "fired": 3, "late": 0, "overlapped": 0, "overflow": 0, "write_errors": 0],
                "latency": ["infer": ["p50_us": 1500, "p99_us": 3000, "max_us": 4000]],
                "scores": ["lower": 0.0, "upper": 1.0, "counts": [5, 4], "below": 0, "above": 1],
            ]],
        ]
        let status: [String: Any] = ["inspecting": true, "version": "0.1.0", "model": "m.grdnet", "reloads": 0, "failed_reloads": 0]
        let text = MetricsRendering.prometheusText(stats: stats, status: status)
        for line in [
            "grdnet_inspecting 1",
            "grdnet_build_info{version=\"0.1.0\",model=\"m.grdnet\"} 1",
            "grdnet_throttled_bits 327680",
            "grdnet_peak_rss_bytes 30720000",
            "grdnet_parts_rejected_total{camera=\"belt\"} 3",
            "grdnet_camera_reconnects_total{camera=\"belt\"} 2",
            "grdnet_latency_seconds{camera=\"belt\",stage=\"infer\",quantile=\"0.99\"} 0.003",
            "grdnet_score_bucket{camera=\"belt\",le=\"0.5\"} 5",
            "grdnet_score_bucket{camera=\"belt\",le=\"1\"} 9",
            "grdnet_score_bucket{camera=\"belt\",le=\"+Inf\"} 10",
            "grdnet_score_count{camera=\"belt\"} 10",
        ] {
            XCTAssertTrue(text.contains(line + "\n"), "missing: \(line)\n\(text)")
        }
        XCTAssertFalse(text.contains("grdnet_cpu_temperature_celsius"), "no temperature when the board has none")
        // Every sample line belongs to a declared family.
        let declared = Set(text.split(separator: "\n").filter { $0.hasPrefix("# TYPE ") }.map { $0.split(separator: " ")[2] })
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let name = line.prefix { $0 != "{" && $0 != " " }
            let family = ["_bucket", "_sum", "_count"].reduce(String(name)) { n, s in
                n.hasSuffix(s) && declared.contains(Substring(n.dropLast(s.count))) ? String(n.dropLast(s.count)) : n
            }
            XCTAssertTrue(declared.contains(Substring(family)), "undeclared \(name)")
        }
    }
}
