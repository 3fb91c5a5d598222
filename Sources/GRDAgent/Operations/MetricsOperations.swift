import Foundation

/// The audit, drift and allocation parts of the metrics (from the same stats/status replies).
extension MetricsRendering {
    static func appendOperations(_ p: inout PrometheusExposition, stats: [String: Any]) {
        func n(_ v: Any?) -> Double { (v as? NSNumber)?.doubleValue ?? .nan }
        let cameras = stats["cameras"] as? [[String: Any]] ?? []
        // One family at a time, every camera inside it (the exposition format wants families whole).
        func camera(_ c: [String: Any]) -> [(String, String)] { [("camera", c["name"] as? String ?? "?")] }
        let allocations: [(String, String, Bool)] = [
            ("total", "grdnet_inspection_allocations_total|malloc/calloc/realloc calls on the capture and inference threads since start.", true),
            ("after_warmup", "grdnet_inspection_allocations_after_warmup_total|Allocations on the inspection threads after the warm-up frames (0 in steady state).", true),
            ("per_frame", "grdnet_inspection_allocations_per_frame|Allocations per inspected frame over the last window of frames.", false)]
        for (key, nameHelp, isCounter) in allocations {
            let parts = nameHelp.split(separator: "|", maxSplits: 1).map(String.init)
            for c in cameras {
                guard let a = c["allocations"] as? [String: Any], let v = a[key] as? NSNumber else { continue }
                if isCounter { p.counter(parts[0], help: parts[1], labels: camera(c), v.doubleValue) }
                else { p.gauge(parts[0], help: parts[1], labels: camera(c), v.doubleValue) }
            }
        }
        for c in cameras {
            guard let d = c["drift"] as? [String: Any], let state = d["state"] as? String else { continue }
            let rank: Double = ["learning": 0, "ok": 1, "warning": 2, "alarm": 3][state] ?? .nan
            p.gauge("grdnet_drift_state", help: "Drift of passed parts: 0 learning, 1 ok, 2 warning, 3 alarm.",
                    labels: camera(c), rank)
        }
        for c in cameras {
            guard let d = c["drift"] as? [String: Any] else { continue }
            for s in d["signals"] as? [[String: Any]] ?? [] {
                p.gauge("grdnet_drift_shift_sd", help: "Window mean minus baseline mean, in baseline standard deviations.",
                        labels: camera(c) + [("signal", s["signal"] as? String ?? "?")], n(s["shift_sd"]))
            }
        }
        if let a = stats["audit"] as? [String: Any] {
            p.gauge("grdnet_audit_bytes", help: "Bytes of audit images and records on disk.", n(a["bytes_used"]))
            p.gauge("grdnet_audit_quota_bytes", help: "Audit disk quota.", n(a["quota_bytes"]))
            p.gauge("grdnet_audit_records", help: "Parts kept in the audit folder.", n(a["records"]))
            for (key, help) in [("written", "Parts written to the audit folder."),
                                ("dropped_queue_full", "Parts not audited because the writer was behind (queue full)."),
                                ("write_errors", "Audit writes that failed."),
                                ("disk_full", "Audit writes that failed because the disk was full."),
                                ("evicted_passes", "Passed parts deleted to hold the quota."),
                                ("evicted_rejects", "Rejected parts deleted to hold the quota (no pass was left).")] {
                p.counter("grdnet_audit_\(key)_total", help: help, n(a[key]))
            }
        }
        if let alarm = stats["drift_alarm"] as? Bool {
            p.gauge("grdnet_drift_alarm", help: "1 while any camera's drift monitor is in alarm.", alarm ? 1 : 0)
        }
    }
}
