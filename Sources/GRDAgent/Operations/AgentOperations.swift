#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Audit storage and drift monitoring in the daemon: opening the store, the drift baselines kept
/// across restarts, what the main loop logs, and the stats/status/metrics parts.
extension Agent {
    var audit: AuditStore? { lock.withLock { auditStore } }

    /// The audit store for `config` (nil when `audit:` is not configured). Its slots hold the
    /// largest model input of the cameras.
    func openAudit(_ config: AgentConfig, pipelines: [CameraPipeline]) throws -> AuditStore? {
        guard let a = config.audit else { return nil }
        var pixels = 1, heat = 1
        for p in pipelines {
            let n = p.detector.inputWidth * p.detector.inputHeight
            pixels = max(pixels, n * p.detector.inputChannels)
            heat = max(heat, n)
        }
        do {
            let store = try AuditStore(directory: a.folder, quotaBytes: a.quotaBytes, policy: a.policy,
                                       maxPixels: pixels, maxHeatmapPixels: heat, slots: a.queueSlots)
            Log.shared.info("audit: \(a.folder), quota \(fixed(Double(a.quotaBytes) / 1048576, 0)) MiB, \(store.snapshot.records) records kept from before")
            return store
        } catch {
            throw AgentError("audit.folder \(a.folder): cannot use it: \(error)")
        }
    }

    // MARK: drift baselines

    var driftBaselineFile: String { (config.stateDirectory as NSString).appendingPathComponent("drift-baseline.json") }

    /// {"model": M, "cameras": {"a": {"score": [mean, sd], "brightness": [...], "focus": [...]}}}
    func persistedDriftBaseline(camera: String, model: String) -> [DriftMonitor.Baseline]? {
        guard let data = FileManager.default.contents(atPath: driftBaselineFile),
              let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              obj["model"] as? String == model,
              let cam = (obj["cameras"] as? [String: Any])?[camera] as? [String: Any] else { return nil }
        var out: [DriftMonitor.Baseline] = []
        for name in ["score", "brightness", "focus"] {
            guard let pair = cam[name] as? [NSNumber], pair.count == 2 else { return nil }
            out.append(DriftMonitor.Baseline(mean: pair[0].doubleValue, standardDeviation: pair[1].doubleValue))
        }
        return out
    }

    /// Writes the baselines learned since the last call (main loop, reload, stop).
    func saveLearnedDriftBaselines(_ pipelines: [CameraPipeline]) {
        var learned: [(String, String, [DriftMonitor.Baseline])] = []
        for p in pipelines { if let b = p.takeLearnedBaseline() { learned.append((p.config.name, p.modelName, b)) } }
        guard !learned.isEmpty else { return }
        var obj = (FileManager.default.contents(atPath: driftBaselineFile)
            .flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }) ?? [:]
        var cams = obj["cameras"] as? [String: Any] ?? [:]
        if let model = learned.first?.1, obj["model"] as? String != model { cams = [:]; obj["model"] = model }
        for (name, _, b) in learned {
            cams[name] = ["score": [b[0].mean, b[0].standardDeviation], "brightness": [b[1].mean, b[1].standardDeviation],
                          "focus": [b[2].mean, b[2].standardDeviation]]
            Log.shared.notice("camera \(name): drift baseline learned from the first passed parts: score \(fixed(b[0].mean, 3)) ± \(fixed(b[0].standardDeviation, 3)), brightness \(fixed(b[1].mean, 1)) ± \(fixed(b[1].standardDeviation, 1)), focus \(fixed(b[2].mean, 1)) ± \(fixed(b[2].standardDeviation, 1)) (kept in \(driftBaselineFile))")
        }
        obj["cameras"] = cams
        do {
            try FileManager.default.createDirectory(atPath: config.stateDirectory, withIntermediateDirectories: true)
            let data = try JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys, .prettyPrinted])
            let tmp = driftBaselineFile + ".tmp"
            guard FileManager.default.createFile(atPath: tmp, contents: data), rename(tmp, driftBaselineFile) == 0 else {
                throw AgentError("cannot write \(driftBaselineFile): \(String(cString: strerror(errno)))")
            }
        } catch {
            Log.shared.warning("drift baseline not kept for the next start: \(error)")
        }
    }

    /// Every 2 s from the main loop: saves learned baselines, logs drift state changes and new
    /// audit write errors (not per part: once per check).
    func checkOperations() {
        let ps = cameras
        saveLearnedDriftBaselines(ps)
        for p in ps {
            guard let d = p.driftReport(), !d.learningBaseline else { continue }
            let before = driftStatesLogged[p.config.name] ?? .learning
            guard d.state != before else { continue }
            driftStatesLogged[p.config.name] = d.state
            let detail = d.signals.filter { $0.state >= .warning }
                .map { "\($0.signal.rawValue) \(fixed($0.windowMean, 3)) vs \(fixed($0.baseline.mean, 3)) (\(fixed($0.shift, 1)) sd)" }
                .joined(separator: ", ")
            switch d.state {
            case .alarm: Log.shared.error("camera \(p.config.name): DRIFT ALARM: \(detail)")
            case .warning: Log.shared.warning("camera \(p.config.name): drift warning: \(detail)")
            case .ok where before > .ok: Log.shared.notice("camera \(p.config.name): drift back to normal")
            default: break
            }
        }
        if let a = audit?.snapshot, a.writeErrors > auditErrorsLogged {
            Log.shared.warning("audit: \(a.writeErrors - auditErrorsLogged) write error(s)\(a.diskFull > 0 ? " (\(a.diskFull) disk full so far)" : ""): \(a.lastError ?? "")")
            auditErrorsLogged = a.writeErrors
        }
    }

    /// True when any camera's drift monitor is in alarm.
    var driftAlarm: Bool { cameras.contains { $0.driftReport()?.state == .alarm } }

    // MARK: replies

    func auditJSON() -> Any {
        guard let store = audit, let a = config.audit else { return NSNull() }
        let c = store.snapshot
        var j: [String: Any] = ["folder": a.folder, "quota_bytes": a.quotaBytes, "bytes_used": c.bytesUsed, "records": c.records,
                                "offered": c.offered, "written": c.written, "dropped_queue_full": c.droppedQueueFull,
                                "write_errors": c.writeErrors, "disk_full": c.diskFull, "evicted_passes": c.evictedPasses,
                                "evicted_rejects": c.evictedRejects, "pending": store.pending,
                                "near_margin": a.nearMargin, "pass_sample": a.passSampleRate]
        if let e = c.lastError { j["last_error"] = e }
        return j
    }

    func driftJSON(_ p: CameraPipeline) -> Any {
        guard let d = p.driftReport() else { return NSNull() }
        var j: [String: Any] = ["state": d.state.rawValue, "learning_baseline": d.learningBaseline,
                                "parts_in_window": d.partsInWindow, "window": config.drift.window,
                                "warning_shift": config.drift.warningShift, "alarm_shift": config.drift.alarmShift]
        j["signals"] = d.signals.map { s -> [String: Any] in
            ["signal": s.signal.rawValue, "baseline_mean": s.baseline.mean, "baseline_sd": s.baseline.standardDeviation,
             "window_mean": s.windowMean.isFinite ? s.windowMean : NSNull(), "shift_sd": s.shift, "state": s.state.rawValue]
        }
        return j
    }

    func allocationJSON(_ s: CameraStatistics) -> [String: Any] {
        ["counted": s.allocationsCounted, "total": s.allocationsTotal,
         "after_warmup": s.allocationsAfterWarmup, "warmup_frames": CameraPipeline.allocationWarmupFrames,
         "last_allocating_frame": s.lastAllocatingFrame, "frames": s.framesInspected,
         "window_frames": s.allocationWindowFrames, "window_total": s.allocationWindowTotal,
         "per_frame": s.allocationWindowFrames > 0 ? Double(s.allocationWindowTotal) / Double(s.allocationWindowFrames) : NSNull()]
    }

    /// Adds the audit, drift and allocation figures to a stats reply.
    func addOperations(toStats reply: inout [String: Any]) {
        var cams = reply["cameras"] as? [[String: Any]] ?? []
        let ps = cameras
        for i in cams.indices {
            guard let p = ps.first(where: { $0.config.name == cams[i]["name"] as? String }) else { continue }
            let s = p.statistics()
            cams[i]["allocations"] = allocationJSON(s)
            cams[i]["drift"] = driftJSON(p)
            cams[i]["audit_kept"] = s.auditKept
        }
        reply["cameras"] = cams
        reply["audit"] = auditJSON()
        reply["drift_alarm"] = driftAlarm
    }

    /// Adds the drift state per camera and the audit summary to a status reply.
    func addOperations(toStatus reply: inout [String: Any]) {
        var cams = reply["cameras"] as? [[String: Any]] ?? []
        let ps = cameras
        for i in cams.indices {
            guard let p = ps.first(where: { $0.config.name == cams[i]["name"] as? String }) else { continue }
            cams[i]["drift"] = p.driftReport()?.state.rawValue ?? "off"
        }
        reply["cameras"] = cams
        reply["drift_alarm"] = driftAlarm
        reply["audit"] = auditJSON()
    }
}
