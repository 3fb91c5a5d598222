import Foundation

/// Renders the daemon's `stats` and `status` replies (the control socket's JSON) as Prometheus
/// metrics. Working from the replies, not from live objects, means the CLI (`grdnet metrics`), a
/// scrape endpoint and tests all produce the same text from the same numbers.
public enum MetricsRendering {
    public static func prometheusText(stats: [String: Any], status: [String: Any]) -> String {
        var p = PrometheusExposition()
        func n(_ v: Any?) -> Double { (v as? NSNumber)?.doubleValue ?? .nan }
        func d(_ v: Any?) -> [String: Any] { v as? [String: Any] ?? [:] }

        p.gauge("grdnet_up", help: "1 while the daemon answers on its control socket.", 1)
        p.gauge("grdnet_inspecting", help: "1 while frames flow and parts are inspected.",
                (status["inspecting"] as? Bool) == true ? 1 : 0)
        let version = status["version"] as? String ?? "unknown"
        let model = status["model"] as? String ?? "unknown"
        p.gauge("grdnet_build_info", help: "Version and model of the running daemon.",
                labels: [("version", version), ("model", model)], 1)
        let system = d(stats["system"])
        p.gauge("grdnet_uptime_seconds", help: "Seconds since the daemon started.", n(system["uptime_s"]))
        if let t = system["cpu_temperature_c"] as? NSNumber {
            p.gauge("grdnet_cpu_temperature_celsius", help: "SoC temperature.", t.doubleValue)
        }
        if let hex = system["throttled"] as? String, let bits = UInt32(hex, radix: 16) {
            p.gauge("grdnet_throttled_bits", help: "Raspberry Pi firmware get_throttled bits (0 = never throttled).", Double(bits))
        }
        if let rss = system["peak_rss_kb"] as? NSNumber {
            p.gauge("grdnet_peak_rss_bytes", help: "Peak resident memory of the daemon.", rss.doubleValue * 1024)
        }
        p.counter("grdnet_socket_requests_total", help: "Control socket requests answered.", n(system["socket_requests"]))
        p.counter("grdnet_socket_rejected_total", help: "Control socket requests refused as malformed, oversized or slow.", n(system["socket_rejected"]))
        p.counter("grdnet_reloads_total", help: "Configuration reloads (SIGHUP) that took effect.", n(status["reloads"]))
        p.counter("grdnet_reload_failures_total", help: "Configuration reloads refused (the old configuration kept running).", n(status["failed_reloads"]))

        let counters: [(String, String, String)] = [
            ("frames_captured", "grdnet_frames_captured_total", "Frames received from the camera."),
            ("frames_inspected", "grdnet_frames_inspected_total", "Frames inspected (a decision was made)."),
            ("frames_dropped", "grdnet_frames_dropped_total", "Frames replaced by a newer one before inspection."),
            ("frames_dropped_rejected", "grdnet_frames_dropped_rejected_total", "Dropped frames whose part was rejected (fail-safe)."),
            ("source_dropped", "grdnet_camera_frames_lost_total", "Frames the camera produced that never arrived (sequence gaps)."),
            ("source_corrupt", "grdnet_camera_frames_corrupt_total", "Corrupt or truncated frames skipped."),
            ("source_timeouts", "grdnet_camera_timeouts_total", "Waits for a frame that timed out."),
            ("passes", "grdnet_parts_passed_total", "Parts passed."),
            ("rejects", "grdnet_parts_rejected_total", "Parts rejected (by score or by the fail-safe)."),
            ("deadline_misses", "grdnet_deadline_misses_total", "Decisions later than the deadline (rejected by the fail-safe)."),
            ("errors", "grdnet_inspection_errors_total", "Inspections that failed (rejected by the fail-safe)."),
            ("reconnects", "grdnet_camera_reconnects_total", "Camera re-opens after it was lost."),
        ]
        let cameras = stats["cameras"] as? [[String: Any]] ?? []
        for (key, name, help) in counters {
            for c in cameras {
                p.counter(name, help: help, labels: [("camera", c["name"] as? String ?? "?")], n(c[key]))
            }
        }
        for c in cameras {
            let cam = [("camera", c["name"] as? String ?? "?")]
            p.gauge("grdnet_threshold", help: "Reject threshold in force.", labels: cam, n(c["threshold"]))
            let pulses = d(c["pulses"])
            for (key, help) in [("scheduled", "Reject pulses scheduled."), ("fired", "Reject pulses fired."),
                                ("late", "Reject pulses whose start was already past (fired at once)."),
                                ("started_late", "Reject pulses started over 1 ms late by a held-up scheduler thread."),
                                ("overlapped", "Reject pulses that overlapped an active one."),
                                ("overflow", "Reject pulses beyond the scheduler's capacity (line held active)."),
                                ("write_errors", "GPIO writes that failed.")] {
                p.counter("grdnet_reject_pulses_\(key)_total", help: help, labels: cam, n(pulses[key]))
            }
            for (stage, latency) in d(c["latency"]).sorted(by: { $0.key < $1.key }) {
                let l = d(latency)
                for (q, key) in [("0.5", "p50_us"), ("0.99", "p99_us"), ("1", "max_us")] {
                    p.gauge("grdnet_latency_seconds", help: "Latency per stage (quantile 1 = maximum).",
                            labels: cam + [("stage", stage), ("quantile", q)], n(l[key]) / 1e6)
                }
            }
            let scores = d(c["scores"])
            if let counts = scores["counts"] as? [NSNumber], !counts.isEmpty {
                let lower = n(scores["lower"]), upper = n(scores["upper"])
                let width = (upper - lower) / Double(counts.count)
                // Scores below `lower` fall in the first bucket: cumulative buckets start there.
                var c64 = counts.map { $0.uint64Value }
                c64[0] += (scores["below"] as? NSNumber)?.uint64Value ?? 0
                let bounds = (1...counts.count).map { lower + Double($0) * width }
                let sum = zip(bounds, c64).reduce(0.0) { $0 + ($1.0 - width / 2) * Double($1.1) }
                p.histogram("grdnet_score", help: "Anomaly scores of inspected parts (sum approximated from bucket centres).",
                            labels: cam, upperBounds: bounds, counts: c64,
                            overflow: (scores["above"] as? NSNumber)?.uint64Value ?? 0, sum: sum)
            }
        }
        appendOperations(&p, stats: stats)
        return p.text
    }
}
