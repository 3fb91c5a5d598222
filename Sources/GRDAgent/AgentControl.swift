#if canImport(Glibc)
import Glibc
#endif
import Foundation
import GRDImaging
import GRDCapture
import GRDRejectIO

/// SoC temperature and throttling, read from sysfs (no vcgencmd). Absent files mean "not a Pi"
/// or "not exposed", and are reported as null rather than guessed.
public enum SystemHealth {
    public static func cpuTemperatureCelsius(zonePath: String = "/sys/class/thermal/thermal_zone0/temp") -> Double? {
        guard let text = try? String(contentsOfFile: zonePath, encoding: .utf8),
              let milli = Double(text.trimmingCharacters(in: .whitespacesAndNewlines)) else { return nil }
        return milli / 1000
    }

    /// The firmware's get_throttled bits (under-voltage, frequency capped, throttled, soft temp
    /// limit; now and since boot).
    public static func throttledBits(path: String = "/sys/devices/platform/soc/soc:firmware/get_throttled") -> UInt32? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        let t = text.trimmingCharacters(in: .whitespacesAndNewlines)
        return UInt32(t.hasPrefix("0x") ? String(t.dropFirst(2)) : t, radix: 16)
    }

    public static func describeThrottled(_ bits: UInt32) -> [String] {
        let names: [(UInt32, String)] = [(0x1, "under-voltage now"), (0x2, "frequency capped now"), (0x4, "throttled now"),
                                          (0x8, "soft temperature limit now"), (0x10000, "under-voltage since boot"),
                                          (0x20000, "frequency capped since boot"), (0x40000, "throttled since boot"),
                                          (0x80000, "soft temperature limit since boot")]
        return names.filter { bits & $0.0 != 0 }.map(\.1)
    }

    public static func peakRSSKilobytes() -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
        }
        return nil
    }
}

extension Agent {
    func handle(_ request: [String: Any]) -> [String: Any] {
        guard let cmd = request["cmd"] as? String else {
            return ["ok": false, "error": "missing \"cmd\" (one of: status, stats, decisions, threshold, pause, resume, snapshot)"]
        }
        switch cmd {
        case "status": return status()
        case "stats": return statsReply()
        case "decisions":
            let n = max(1, min((request["n"] as? Int) ?? 20, 1000))
            let cam = request["camera"] as? String
            var all: [DecisionRecord] = []
            for p in cameras where cam == nil || p.config.name == cam { all += p.recentDecisions(n) }
            all.sort { $0.captureNanoseconds < $1.captureNanoseconds }
            return ["ok": true, "decisions": all.suffix(n).map(decisionJSON)]
        case "threshold": return threshold(request)
        case "pause", "resume":
            let targets = select(request["camera"] as? String)
            guard !targets.isEmpty else { return unknownCamera(request["camera"]) }
            for p in targets { p.isPaused = cmd == "pause" }
            Log.shared.notice("\(cmd) requested over the control socket for \(targets.map(\.config.name).joined(separator: ", "))")
            return ["ok": true, "cameras": targets.map { ["name": $0.config.name, "state": $0.state.rawValue] }]
        case "snapshot": return snapshot(request)
        default:
            return ["ok": false, "error": "unknown cmd '\(cmd)' (one of: status, stats, decisions, threshold, pause, resume, snapshot)"]
        }
    }

    func select(_ name: String?) -> [CameraPipeline] {
        cameras.filter { name == nil || $0.config.name == name }
    }

    func unknownCamera(_ name: Any?) -> [String: Any] {
        ["ok": false, "error": "no camera named '\(name ?? "")' (cameras: \(cameras.map(\.config.name).joined(separator: ", ")))"]
    }

    func status() -> [String: Any] {
        let uptime = Double(monotonicNow() &- startedAt) / 1e9
        var cams: [[String: Any]] = []
        for p in cameras {
            let s = p.statistics()
            var c: [String: Any] = ["name": p.config.name, "state": p.state.rawValue, "source": describe(p.config.source),
                                    "detector": p.detector.detectorDescription, "threshold": shortest(p.threshold),
                                    "reject_line": p.config.reject.line.displayName,
                                    "reject_scheduling": p.reject.realtimeStatus,
                                    "frames": s.framesInspected, "rejects": s.rejects]
            if s.lastFrameNanoseconds > 0 { c["last_frame_age_s"] = Double(monotonicNow() &- s.lastFrameNanoseconds) / 1e9 }
            if let e = s.lastError { c["last_error"] = e }
            cams.append(c)
        }
        var reply: [String: Any] = [
            "ok": true, "version": ProductVersion.string, "pid": Int(getpid()), "uptime_s": uptime,
            "config": config.sourcePath, "model": config.modelPath ?? "no model: demo detector",
            "cameras": cams, "inspecting": framesFlowing, "reloads": reloads, "failed_reloads": failedReloads,
            "gpio_library": GPIODOutputLine.libraryDescription,
        ]
        if let e = lastReloadError { reply["last_reload_error"] = e }
        addOperations(toStatus: &reply)
        return reply
    }

    func histogramJSON(_ h: LogHistogram) -> [String: Any] {
        ["count": h.total, "p50_us": h.quantile(0.5) / 1000, "p99_us": h.quantile(0.99) / 1000,
         "max_us": h.maximum / 1000, "mean_us": UInt64(h.mean / 1000)]
    }

    func statsReply() -> [String: Any] {
        var cams: [[String: Any]] = []
        for p in cameras {
            let s = p.statistics()
            let pulses = p.reject.counters
            cams.append([
                "name": p.config.name, "state": p.state.rawValue, "threshold": shortest(p.threshold),
                "frames_captured": s.framesCaptured, "frames_inspected": s.framesInspected,
                "frames_dropped": s.framesDropped, "frames_dropped_rejected": s.droppedRejected, "frames_skipped_paused": s.framesSkippedWhilePaused,
                "source_dropped": s.source.dropped, "source_corrupt": s.source.corrupt, "source_timeouts": s.source.timeouts,
                "passes": s.passes, "rejects": s.rejects, "deadline_misses": s.deadlineMisses,
                "errors": s.errors, "capture_errors": s.captureErrors, "reconnects": s.reconnects + s.source.reconnects,
                "pulses": ["scheduled": pulses.scheduled, "fired": pulses.fired, "late": pulses.late, "started_late": pulses.startedLate,
                           "overlapped": pulses.overlapped, "overflow": pulses.overflow, "write_errors": pulses.writeErrors,
                           "pending": pulses.pending, "scheduling": p.reject.realtimeStatus],
                "latency": ["prepare": histogramJSON(s.prepare), "infer": histogramJSON(s.infer),
                            "decide": histogramJSON(s.decide), "end_to_end": histogramJSON(s.endToEnd)],
                "scores": ["lower": shortest(s.scores.lower), "upper": shortest(s.scores.upper), "counts": s.scores.counts,
                           "below": s.scores.below, "above": s.scores.above],
            ])
        }
        var system: [String: Any] = ["uptime_s": Double(monotonicNow() &- startedAt) / 1e9]
        system["cpu_temperature_c"] = SystemHealth.cpuTemperatureCelsius() ?? NSNull()
        if let bits = SystemHealth.throttledBits() {
            system["throttled"] = String(bits, radix: 16)
            system["throttled_flags"] = SystemHealth.describeThrottled(bits)
        } else { system["throttled"] = NSNull() }
        system["peak_rss_kb"] = SystemHealth.peakRSSKilobytes() ?? NSNull()
        let c = serverCounters
        system["socket_requests"] = c.served
        system["socket_rejected"] = c.rejected
        system["socket_clients_refused"] = c.refused
        var reply: [String: Any] = ["ok": true, "cameras": cams, "system": system]
        addOperations(toStats: &reply)
        return reply
    }

    var serverCounters: (served: UInt64, rejected: UInt64, refused: UInt64) { server?.counters ?? (0, 0, 0) }

    func decisionJSON(_ d: DecisionRecord) -> [String: Any] {
        ["part": d.partID, "camera": d.camera, "time_ms": d.wallMilliseconds, "capture_ns": d.captureNanoseconds,
         "score": shortest(d.score), "threshold": shortest(d.threshold), "decision": d.reject ? "reject" : "pass",
         "reason": d.reason, "latency_us": d.latencyMicroseconds, "origin": d.origin]
    }

    func threshold(_ request: [String: Any]) -> [String: Any] {
        let targets = select(request["camera"] as? String)
        guard !targets.isEmpty else { return unknownCamera(request["camera"]) }
        if let raw = request["value"] {
            guard let n = raw as? NSNumber, n.doubleValue.isFinite, n.doubleValue >= 0 else {
                return ["ok": false, "error": "threshold value must be a number >= 0 (got \(raw))"]
            }
            for p in targets { p.threshold = n.floatValue }
            Log.shared.notice("threshold set to \(n) over the control socket for \(targets.map(\.config.name).joined(separator: ", "))")
            do { try persistThresholds() } catch {
                return ["ok": false, "error": "threshold applied but not persisted: \(error)",
                        "cameras": targets.map { ["name": $0.config.name, "threshold": shortest($0.threshold)] }]
            }
        }
        return ["ok": true, "persisted_in": stateFile,
                "cameras": targets.map { ["name": $0.config.name, "threshold": shortest($0.threshold)] }]
    }

    /// The latest inspected frame (at model size) and its heatmap as JPEGs: base64 in the reply,
    /// or written next to `path` (path.jpg and path-heatmap.jpg) when the request names one.
    func snapshot(_ request: [String: Any]) -> [String: Any] {
        guard let p = select(request["camera"] as? String).first else { return unknownCamera(request["camera"]) }
        guard let snap = p.snapshot() else { return ["ok": false, "error": "camera \(p.config.name) has not inspected a frame yet"] }
        do {
            let frameJPEG = try encodeJPEG(snap.image, quality: 90)
            let grey = snap.image
            // The part in grey, anomalies in red in proportion to the heat (as audit overlays).
            let heat = snap.heat.withUnsafeBufferPointer { heatmapOverlay(base: grey, heatmap: $0, opacity: 1) }
            let heatJPEG = try encodeJPEG(heat, quality: 90)
            var reply: [String: Any] = ["ok": true, "camera": p.config.name, "decision": decisionJSON(snap.record),
                                        "width": grey.width, "height": grey.height]
            if let path = request["path"] as? String {
                let heatPath = path.hasSuffix(".jpg") ? String(path.dropLast(4)) + "-heatmap.jpg" : path + "-heatmap.jpg"
                guard FileManager.default.createFile(atPath: path, contents: Data(frameJPEG)),
                      FileManager.default.createFile(atPath: heatPath, contents: Data(heatJPEG)) else {
                    return ["ok": false, "error": "cannot write \(path) from the daemon (it writes as its own user; use base64 replies with --out instead)"]
                }
                reply["frame_path"] = path
                reply["heatmap_path"] = heatPath
            } else {
                reply["frame_jpeg_base64"] = Data(frameJPEG).base64EncodedString()
                reply["heatmap_jpeg_base64"] = Data(heatJPEG).base64EncodedString()
            }
            return reply
        } catch {
            return ["ok": false, "error": "snapshot encoding failed: \(error)"]
        }
    }
}

/// A Float as the Double that prints like it (0.9, not 0.8999999761581421) for JSON replies.
func shortest(_ f: Float) -> Double { Double("\(f)") ?? Double(f) }
