import Foundation
import Yams

/// `audit:` in the config: evidence of rejected, near-threshold and sampled good parts on disk.
///
///     audit:
///       folder: /var/lib/grdnet/audit   # required
///       quota_mb: 1024                  # disk quota; oldest passes are deleted first, rejects last
///       near_margin: 0.1                # keep passes scoring >= threshold * (1 - near_margin)
///       pass_sample: 0.01               # and this fraction of the other passes
///       keep_rejects: true
///       queue: 4                        # parts that may wait for the writer; more are dropped (counted)
public struct AuditSettings: Equatable, Sendable {
    public var folder: String
    public var quotaBytes: UInt64
    public var nearMargin: Double
    public var passSampleRate: Double
    public var keepRejects: Bool
    public var queueSlots: Int

    public init(folder: String, quotaBytes: UInt64 = 1024 * 1024 * 1024, nearMargin: Double = 0.1,
                passSampleRate: Double = 0.01, keepRejects: Bool = true, queueSlots: Int = 4) {
        self.folder = folder
        self.quotaBytes = quotaBytes
        self.nearMargin = nearMargin
        self.passSampleRate = passSampleRate
        self.keepRejects = keepRejects
        self.queueSlots = queueSlots
    }

    public var policy: AuditPolicy {
        AuditPolicy(keepRejects: keepRejects, nearMargin: nearMargin, passSampleRate: passSampleRate)
    }
}

/// `drift:` in the config: rolling mean score, brightness and focus of passed parts against a
/// commissioning baseline.
///
///     drift:
///       enabled: true
///       window: 200            # passed parts per rolling window
///       warning_shift: 1.5     # |window mean - baseline mean| in baseline standard deviations
///       alarm_shift: 3
///       baseline:              # optional; without it the first `window` passed parts after the
///         score: {mean: 0.21, sd: 0.04}        # start are the baseline (kept in
///         brightness: {mean: 112, sd: 6}       # state_dir/drift-baseline.json across restarts
///         focus: {mean: 310, sd: 40}           # while the model file is the same)
public struct DriftSettings: Equatable, Sendable {
    public var enabled = true
    public var window = 200
    public var warningShift = 1.5
    public var alarmShift = 3.0
    /// score, brightness, focus; nil = learned from the first `window` passed parts.
    public var baseline: [DriftMonitor.Baseline]? = nil

    public init() {}
}

extension ConfigReader {
    func readAudit(_ a: Section) -> AuditSettings {
        var settings = AuditSettings(folder: "")
        if let f = a.string("folder") { settings.folder = path(f) } else {
            a.require("folder", "the folder audit images are written to")
        }
        if let q = a.number("quota_mb", min: 1, max: 10_000_000, unit: "megabytes") {
            settings.quotaBytes = UInt64(q * 1024 * 1024)
        }
        if let m = a.number("near_margin", min: 0, max: 1) { settings.nearMargin = m }
        if let p = a.number("pass_sample", min: 0, max: 1) { settings.passSampleRate = p }
        if let k = a.bool("keep_rejects") { settings.keepRejects = k }
        if let n = a.integer("queue", min: 1, max: 64) { settings.queueSlots = n }
        a.finish()
        return settings
    }

    func readDrift(_ d: Section) -> DriftSettings {
        var settings = DriftSettings()
        if let e = d.bool("enabled") { settings.enabled = e }
        if let w = d.integer("window", min: 10, max: 100_000) { settings.window = w }
        if let w = d.number("warning_shift", min: 0.1, max: 1000, unit: "standard deviations") { settings.warningShift = w }
        if let a = d.number("alarm_shift", min: 0.1, max: 1000, unit: "standard deviations") {
            settings.alarmShift = a
            if a <= settings.warningShift {
                fail(d.value("alarm_shift"), d.key("alarm_shift"),
                     "must be larger than warning_shift (\(settings.warningShift)) (got \(a))")
            }
        }
        if let b = d.section("baseline") {
            var baselines: [DriftMonitor.Baseline] = []
            for name in ["score", "brightness", "focus"] {
                guard let s = b.section(name) else {
                    b.require(name, "the commissioning mean and standard deviation ({mean: M, sd: S})")
                    continue
                }
                let mean = s.number("mean")
                let sd = s.number("sd", min: 0)
                if s.value("mean") == nil { s.require("mean", "the baseline mean of \(name)") }
                if s.value("sd") == nil { s.require("sd", "the baseline standard deviation of \(name)") }
                s.finish()
                if let mean, let sd { baselines.append(DriftMonitor.Baseline(mean: mean, standardDeviation: sd)) }
            }
            b.finish()
            if baselines.count == 3 { settings.baseline = baselines }
        }
        d.finish()
        return settings
    }
}
