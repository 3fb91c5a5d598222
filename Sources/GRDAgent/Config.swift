import Foundation
import Yams
import GRDImaging

/// The daemon's settings, read from one YAML file (`grdnetd --config /etc/grdnet/grdnet.yaml`).
///
/// YAML through Yams (libyaml) because its nodes carry the file line of every key, so every
/// error can say "grdnet.yaml:14: cameras[0].reject.delay_ms: ...". Unknown keys are errors with
/// a "did you mean" suggestion: a misspelt `dealy_ms` must not silently fall back to a default.
public struct AgentConfig: Equatable, Sendable {
    /// The model file, or nil for the built-in demo detector (`model: demo`).
    public var modelPath: String?
    /// nil = the model file's default threshold.
    public var threshold: Float?
    public var inferenceThreads: Int
    public var precision: String
    public var cameras: [CameraConfig]
    public var failSafe: FailSafePolicy
    public var readyOutput: LineConfig?
    public var alarmOutput: LineConfig?
    public var socket: SocketConfig
    /// Where the live threshold is persisted (`threshold.json`) and audit images go by default.
    public var stateDirectory: String
    public var auditFolder: String?
    /// Audit storage (`audit:`): nil = off. Its folder is `auditFolder`.
    public var audit: AuditSettings? = nil
    /// Drift monitoring (`drift:`); on by default, baseline learned at start unless configured.
    public var drift = DriftSettings()
    public var logLevel: LogLevel
    /// The file this was read from (for messages and reloads).
    public var sourcePath: String
    /// The optional HTTP listener for Prometheus (`metrics: {listen: ...}`); nil = none.
    public var metrics: MetricsListenConfig? = nil

    public init(modelPath: String?, threshold: Float?, inferenceThreads: Int = 1, precision: String = "int8",
                cameras: [CameraConfig], failSafe: FailSafePolicy = FailSafePolicy(),
                readyOutput: LineConfig? = nil, alarmOutput: LineConfig? = nil,
                socket: SocketConfig, stateDirectory: String, auditFolder: String? = nil,
                logLevel: LogLevel = .info, sourcePath: String = "<memory>") {
        self.modelPath = modelPath
        self.threshold = threshold
        self.inferenceThreads = inferenceThreads
        self.precision = precision
        self.cameras = cameras
        self.failSafe = failSafe
        self.readyOutput = readyOutput
        self.alarmOutput = alarmOutput
        self.socket = socket
        self.stateDirectory = stateDirectory
        self.auditFolder = auditFolder
        self.logLevel = logLevel
        self.sourcePath = sourcePath
    }
}

public struct CameraConfig: Equatable, Sendable {
    public enum Source: Equatable, Sendable {
        case device(String)
        /// A folder of JPEG images replayed as a camera; `loop` false stops after the last one.
        case replay(folder: String, loop: Bool)
    }
    public var name: String
    public var source: Source
    public var framesPerSecond: Double
    public var format: PixelFormat
    public var width: Int
    public var height: Int
    /// V4L2 controls by name (e.g. exposure_absolute: 100), applied at open.
    public var controls: [String: Int]
    public var crop: CropRect?
    public var roi: ROIConfig?
    /// Per-camera threshold; nil = the global one.
    public var threshold: Float?
    /// The decision must exist this long after capture, else the fail-safe policy applies.
    public var deadlineMilliseconds: Double
    public var reject: RejectConfig

    public init(name: String, source: Source, framesPerSecond: Double, format: PixelFormat = .mjpeg,
                width: Int = 640, height: Int = 480, controls: [String: Int] = [:], crop: CropRect? = nil,
                roi: ROIConfig? = nil, threshold: Float? = nil, deadlineMilliseconds: Double = 200,
                reject: RejectConfig) {
        self.name = name
        self.source = source
        self.framesPerSecond = framesPerSecond
        self.format = format
        self.width = width
        self.height = height
        self.controls = controls
        self.crop = crop
        self.roi = roi
        self.threshold = threshold
        self.deadlineMilliseconds = deadlineMilliseconds
        self.reject = reject
    }
}

public enum ROIConfig: Equatable, Sendable {
    /// A grey PNG at any size (resized to the model input); 0 = ignore.
    case mask(path: String)
    /// Polygons in fractions (0...1) of the inspected image; inside = inspected.
    case polygons([[ROIPoint]])
}

public struct ROIPoint: Equatable, Sendable {
    public var x: Double
    public var y: Double
    public init(x: Double, y: Double) { self.x = x; self.y = y }
}

/// A digital output: a GPIO line, or `simulated` (records edges; the demo's reject line).
public struct LineConfig: Equatable, Sendable {
    /// nil = simulated.
    public var chip: String?
    public var line: UInt32
    public var activeLow: Bool
    public init(chip: String?, line: UInt32 = 0, activeLow: Bool = false) {
        self.chip = chip; self.line = line; self.activeLow = activeLow
    }
    public var isSimulated: Bool { chip == nil }
    public var displayName: String { chip.map { "\($0):\(line)\(activeLow ? " (active-low)" : "")" } ?? "simulated" }
}

public struct RejectConfig: Equatable, Sendable {
    public var line: LineConfig
    public var delayMilliseconds: Double
    public var widthMilliseconds: Double
    /// `realtime_priority:` SCHED_FIFO priority (1...99) of the pulse scheduler thread; nil =
    /// normal scheduling. Needs RLIMIT_RTPRIO >= it (systemd: LimitRTPRIO=) or CAP_SYS_NICE; when
    /// refused the daemon runs on with normal scheduling and says so in the log, status and stats.
    public var realtimePriority: Int32?
    public init(line: LineConfig, delayMilliseconds: Double, widthMilliseconds: Double, realtimePriority: Int32? = nil) {
        self.line = line; self.delayMilliseconds = delayMilliseconds; self.widthMilliseconds = widthMilliseconds
        self.realtimePriority = realtimePriority
    }
}

/// What happens when inspection cannot decide a part in time: never a silent pass.
public struct FailSafePolicy: Equatable, Sendable {
    public enum Action: String, Equatable, Sendable, CaseIterable {
        /// Fire the reject pulse for the part.
        case reject
        /// Fire the reject pulse and raise the alarm output.
        case rejectAndAlarm = "reject_and_alarm"
    }
    /// A decision finished after the camera's deadline.
    public var onLateDecision: Action = .reject
    /// Decoding or inference failed for a frame.
    public var onError: Action = .reject
    /// A frame was replaced by a newer one before inference took it (inspection is behind the
    /// camera). Each frame is a part here, so its part gets the reject pulse; `ignore` is for a
    /// free-running camera that sees each part in several frames.
    public var onDroppedFrame: DroppedFrameAction = .reject
    public enum DroppedFrameAction: String, Equatable, Sendable, CaseIterable {
        case reject
        case ignore
    }
    /// Seconds without a frame before the camera counts as lost (alarm, READY dropped).
    public var cameraTimeoutSeconds: Double = 2
    public init() {}
}

public struct SocketConfig: Equatable, Sendable {
    public var path: String
    public var group: String?
    public var mode: UInt32
    public init(path: String, group: String? = nil, mode: UInt32 = 0o660) {
        self.path = path; self.group = group; self.mode = mode
    }
}

public enum LogLevel: String, Sendable, CaseIterable, Comparable {
    case debug, info, notice, warning, error
    var rank: Int { LogLevel.allCases.firstIndex(of: self)! }
    public static func < (a: LogLevel, b: LogLevel) -> Bool { a.rank < b.rank }
}

// MARK: - Errors

/// One problem in a config file, with the file line of the offending key.
public struct ConfigIssue: Equatable, Sendable, CustomStringConvertible {
    public var file: String
    public var line: Int?
    public var key: String
    public var message: String
    public var description: String {
        let place = line.map { "\(file):\($0)" } ?? file
        return key.isEmpty ? "\(place): \(message)" : "\(place): \(key): \(message)"
    }
}

public struct ConfigError: Error, CustomStringConvertible {
    public var issues: [ConfigIssue]
    public var description: String { issues.map(\.description).joined(separator: "\n") }
}

// MARK: - Parsing

extension AgentConfig {
    /// Reads and validates a config file. Relative paths inside it are resolved against the
    /// file's folder. Throws ConfigError listing every problem found.
    public static func load(path: String) throws -> AgentConfig {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigError(issues: [ConfigIssue(file: path, line: nil, key: "",
                message: "cannot read the configuration file (\(String(cString: strerror(errno))))")])
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigError(issues: [ConfigIssue(file: path, line: nil, key: "", message: "is not UTF-8 text")])
        }
        return try parse(yaml: text, file: path)
    }

    public static func parse(yaml: String, file: String) throws -> AgentConfig {
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch let error as YamlError {
            throw ConfigError(issues: [ConfigIssue(file: file, line: yamlErrorLine(error), key: "",
                message: "not valid YAML: \(yamlErrorSummary(error))")])
        }
        let reader = ConfigReader(file: file)
        guard let root, root.mapping != nil else {
            throw ConfigError(issues: [ConfigIssue(file: file, line: root?.mark?.line, key: "",
                message: "expected a mapping of settings (model:, cameras:, socket:, ...)")])
        }
        let config = reader.read(root)
        if !reader.issues.isEmpty || config == nil { throw ConfigError(issues: reader.issues) }
        return config!
    }
}

private func yamlErrorLine(_ error: YamlError) -> Int? {
    switch error {
    case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _): return mark.line
    default: return nil
    }
}

private func yamlErrorSummary(_ error: YamlError) -> String {
    switch error {
    case .scanner(let context, let problem, _, _), .parser(let context, let problem, _, _), .composer(let context, let problem, _, _):
        return [context?.text, problem].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: ", ")
    default: return "\(error)"
    }
}

/// Walks the YAML tree, collecting issues instead of stopping at the first.
final class ConfigReader {
    let file: String
    let baseDirectory: String
    var issues: [ConfigIssue] = []

    init(file: String) {
        self.file = file
        self.baseDirectory = (file as NSString).deletingLastPathComponent
    }

    func fail(_ node: Node?, _ key: String, _ message: String) {
        issues.append(ConfigIssue(file: file, line: node?.mark?.line, key: key, message: message))
    }

    /// A mapping whose keys are checked against the ones the reader asked for.
    final class Section {
        let reader: ConfigReader
        let node: Node
        let path: String
        var entries: [(String, Node, Node)] = []  // key, key node, value
        var known: Set<String> = []

        init(_ reader: ConfigReader, _ node: Node, _ path: String) {
            self.reader = reader; self.node = node; self.path = path
            for (k, v) in node.mapping ?? Node.Mapping([]) {
                entries.append((k.string ?? "\(k)", k, v))
            }
        }

        func key(_ name: String) -> String { path.isEmpty ? name : "\(path).\(name)" }

        func value(_ name: String) -> Node? {
            known.insert(name)
            return entries.first { $0.0 == name }?.2
        }

        func keyNode(_ name: String) -> Node? { entries.first { $0.0 == name }?.1 }

        func string(_ name: String) -> String? {
            guard let v = value(name) else { return nil }
            guard case .scalar = v, let s = v.string else { reader.fail(v, key(name), "expected text"); return nil }
            return s
        }

        func number(_ name: String, min lo: Double? = nil, max hi: Double? = nil, unit: String = "") -> Double? {
            guard let v = value(name) else { return nil }
            guard case .scalar(let s) = v, let d = Double(s.string.trimmingCharacters(in: .whitespaces)), d.isFinite else {
                reader.fail(v, key(name), "expected a number\(unit.isEmpty ? "" : " of \(unit)") (got \(describe(v)))")
                return nil
            }
            if let lo, d < lo { reader.fail(v, key(name), "must be at least \(fmt(lo))\(unit.isEmpty ? "" : " \(unit)") (got \(fmt(d)))"); return nil }
            if let hi, d > hi { reader.fail(v, key(name), "must be at most \(fmt(hi))\(unit.isEmpty ? "" : " \(unit)") (got \(fmt(d)))"); return nil }
            return d
        }

        func integer(_ name: String, min lo: Int? = nil, max hi: Int? = nil) -> Int? {
            guard let v = value(name) else { return nil }
            guard case .scalar(let s) = v, let i = Int(s.string.trimmingCharacters(in: .whitespaces)) else {
                reader.fail(v, key(name), "expected a whole number (got \(describe(v)))")
                return nil
            }
            if let lo, i < lo { reader.fail(v, key(name), "must be at least \(lo) (got \(i))"); return nil }
            if let hi, i > hi { reader.fail(v, key(name), "must be at most \(hi) (got \(i))"); return nil }
            return i
        }

        func bool(_ name: String) -> Bool? {
            guard let v = value(name) else { return nil }
            guard case .scalar(let s) = v else { reader.fail(v, key(name), "expected true or false"); return nil }
            switch s.string.lowercased() {
            case "true", "yes", "on": return true
            case "false", "no", "off": return false
            default: reader.fail(v, key(name), "expected true or false (got \(describe(v)))"); return nil
            }
        }

        func section(_ name: String) -> Section? {
            guard let v = value(name) else { return nil }
            guard v.mapping != nil else { reader.fail(v, key(name), "expected a mapping of settings"); return nil }
            return Section(reader, v, key(name))
        }

        func require(_ name: String, _ what: String) {
            if value(name) == nil { reader.fail(node, key(name), "missing; \(what)") }
        }

        /// Reports keys that nothing asked for, with the closest known key as a hint.
        func finish() {
            for (name, keyNode, _) in entries where !known.contains(name) {
                var message = "unknown setting"
                if let hint = closest(name, in: known) { message += "; did you mean '\(hint)'?" }
                else { message += "; known settings here: \(known.sorted().joined(separator: ", "))" }
                reader.fail(keyNode, key(name), message)
            }
        }
    }

    func path(_ raw: String) -> String {
        if raw.hasPrefix("/") || baseDirectory.isEmpty { return raw }
        return ((baseDirectory as NSString).appendingPathComponent(raw) as NSString).standardizingPath
    }

    func read(_ root: Node) -> AgentConfig? {
        let top = Section(self, root, "")
        var modelPath: String? = nil
        if let m = top.string("model") {
            if m != "demo" {
                modelPath = path(m)
                if !FileManager.default.fileExists(atPath: modelPath!) {
                    fail(top.value("model"), "model", "file \(modelPath!) does not exist")
                }
            }
        } else {
            top.require("model", "the model file (or 'demo' for the built-in demo detector)")
        }
        let threshold = top.number("threshold", min: 0, max: 1e9)
        if top.value("threshold") == nil && modelPath == nil && top.value("model") != nil {
            top.require("threshold", "the score at or above which a part is rejected (the demo detector has no default)")
        }
        let threads = top.integer("threads", min: 1, max: 8) ?? 1
        let precision = top.string("precision") ?? "int8"
        if !["int8", "fp32"].contains(precision) { fail(top.value("precision"), "precision", "must be int8 or fp32 (got \(precision))") }
        let logLevel: LogLevel
        if let raw = top.string("log_level") {
            if let l = LogLevel(rawValue: raw) { logLevel = l } else {
                fail(top.value("log_level"), "log_level", "must be one of \(LogLevel.allCases.map(\.rawValue).joined(separator: ", "))")
                logLevel = .info
            }
        } else { logLevel = .info }
        let stateDirectory = top.string("state_dir").map(path) ?? "/var/lib/grdnet"

        var cameras: [CameraConfig] = []
        if let camNode = top.value("cameras") {
            if case .sequence(let seq) = camNode, !seq.isEmpty {
                for (i, node) in seq.enumerated() {
                    if let c = readCamera(node, index: i) { cameras.append(c) }
                }
                var seen: Set<String> = []
                for (i, c) in cameras.enumerated() where !seen.insert(c.name).inserted {
                    fail(seq[i], "cameras[\(i)].name", "'\(c.name)' is used by another camera; names must be unique")
                }
            } else {
                fail(camNode, "cameras", "expected a list with at least one camera (- name: ..., device: /dev/video0)")
            }
        } else {
            top.require("cameras", "a list with at least one camera")
        }

        var failSafe = FailSafePolicy()
        if let fs = top.section("fail_safe") {
            if let raw = fs.string("on_dropped_frame") {
                if let a = FailSafePolicy.DroppedFrameAction(rawValue: raw) { failSafe.onDroppedFrame = a } else {
                    fail(fs.value("on_dropped_frame"), fs.key("on_dropped_frame"), "must be one of \(FailSafePolicy.DroppedFrameAction.allCases.map(\.rawValue).joined(separator: ", ")) (reject: the part of a frame that was never inspected is rejected)")
                }
            }
            for (name, keyPath) in [("on_late_decision", \FailSafePolicy.onLateDecision), ("on_error", \FailSafePolicy.onError)] {
                if let raw = fs.string(name) {
                    if let a = FailSafePolicy.Action(rawValue: raw) { failSafe[keyPath: keyPath] = a } else {
                        fail(fs.value(name), fs.key(name), "must be one of \(FailSafePolicy.Action.allCases.map(\.rawValue).joined(separator: ", ")) (a late or failed decision never passes a part)")
                    }
                }
            }
            if let t = fs.number("camera_timeout_s", min: 0.1, max: 3600, unit: "seconds") { failSafe.cameraTimeoutSeconds = t }
            fs.finish()
        }

        var ready: LineConfig? = nil, alarm: LineConfig? = nil
        if let outs = top.section("outputs") {
            if let s = outs.section("ready") { ready = readLine(s) }
            if let s = outs.section("alarm") { alarm = readLine(s) }
            outs.finish()
        }

        var socket = SocketConfig(path: "/run/grdnet/grdnet.sock")
        if let s = top.section("socket") {
            if let p = s.string("path") {
                socket.path = path(p)
                if socket.path.utf8.count >= 108 { fail(s.value("path"), s.key("path"), "longer than the 107 bytes a unix socket path may have") }
            }
            socket.group = s.string("group")
            if let m = s.string("mode") {
                if let v = UInt32(m, radix: 8), v <= 0o777 { socket.mode = v } else {
                    fail(s.value("mode"), s.key("mode"), "expected an octal permission like \"0660\" (got \(m))")
                }
            }
            s.finish()
        }

        let auditSettings = top.section("audit").map(readAudit)
        let drift = top.section("drift").map(readDrift) ?? DriftSettings()
        let metrics = readMetrics(top)
        top.finish()

        guard issues.isEmpty else { return nil }
        var config = AgentConfig(modelPath: modelPath, threshold: threshold.map { Float($0) }, inferenceThreads: threads,
                                 precision: precision, cameras: cameras, failSafe: failSafe, readyOutput: ready,
                                 alarmOutput: alarm, socket: socket, stateDirectory: stateDirectory,
                                 auditFolder: auditSettings?.folder, logLevel: logLevel, sourcePath: file)
        config.audit = auditSettings
        config.drift = drift
        config.metrics = metrics
        return config
    }

    func readLine(_ s: Section) -> LineConfig? {
        let chip = s.string("chip")
        if chip == nil { s.require("chip", "a GPIO chip (/dev/gpiochip0) or 'simulated'") }
        let line = s.integer("line", min: 0, max: 4095)
        let activeLow = s.bool("active_low") ?? false
        s.finish()
        guard let chip else { return nil }
        if chip == "simulated" { return LineConfig(chip: nil) }
        if line == nil { s.require("line", "the line offset on \(chip)") }
        return LineConfig(chip: chip, line: UInt32(line ?? 0), activeLow: activeLow)
    }

    func readCamera(_ node: Node, index: Int) -> CameraConfig? {
        let at = "cameras[\(index)]"
        guard node.mapping != nil else { fail(node, at, "expected a mapping (name:, device: or replay:, fps:, reject:)"); return nil }
        let s = Section(self, node, at)
        let name = s.string("name") ?? "camera\(index)"
        var source: CameraConfig.Source? = nil
        let device = s.string("device")
        let replay = s.string("replay")
        let loop = s.bool("loop") ?? true
        switch (device, replay) {
        case (let d?, nil): source = .device(d)
        case (nil, let r?):
            let folder = path(r)
            var isDir: ObjCBool = false
            if !FileManager.default.fileExists(atPath: folder, isDirectory: &isDir) || !isDir.boolValue {
                fail(s.value("replay"), s.key("replay"), "folder \(folder) does not exist")
            }
            source = .replay(folder: folder, loop: loop)
        case (.some, .some): fail(node, at, "give either device: or replay:, not both")
        case (nil, nil): fail(node, at, "missing device: (/dev/video0) or replay: (a folder of JPEG images)")
        }
        let fps = s.number("fps", min: 0.1, max: 240, unit: "frames per second") ?? 10
        var format = PixelFormat.mjpeg
        if let f = s.string("format") {
            if let p = PixelFormat.allCases.first(where: { "\($0)" == f.lowercased() || $0.rawValue == f.uppercased() }) { format = p } else {
                fail(s.value("format"), s.key("format"), "must be one of \(PixelFormat.allCases.map { "\($0)" }.joined(separator: ", ")) (got \(f))")
            }
        }
        let width = s.integer("width", min: 16, max: 8192) ?? 640
        let height = s.integer("height", min: 16, max: 8192) ?? 480
        var controls: [String: Int] = [:]
        if let c = s.section("controls") {
            for (k, _, v) in c.entries {
                if case .scalar(let sc) = v, let i = Int(sc.string) { controls[k] = i; c.known.insert(k) } else {
                    fail(v, c.key(k), "expected a whole number"); c.known.insert(k)
                }
            }
        }
        var crop: CropRect? = nil
        if let c = s.section("crop") {
            let x = c.integer("x", min: 0) ?? 0, y = c.integer("y", min: 0) ?? 0
            let w = c.integer("width", min: 1), h = c.integer("height", min: 1)
            if w == nil { c.require("width", "the crop width in camera pixels") }
            if h == nil { c.require("height", "the crop height in camera pixels") }
            c.finish()
            if let w, let h {
                if x + w > width || y + h > height {
                    fail(s.value("crop"), c.path, "\(w)x\(h) at (\(x),\(y)) does not fit in the \(width)x\(height) image")
                }
                crop = CropRect(x: x, y: y, width: w, height: h)
            }
        }
        var roi: ROIConfig? = nil
        if let r = s.section("roi") {
            let mask = r.string("mask")
            let polys = r.value("polygons")
            switch (mask, polys) {
            case (let m?, nil):
                let p = path(m)
                if !FileManager.default.fileExists(atPath: p) { fail(r.value("mask"), r.key("mask"), "file \(p) does not exist") }
                roi = .mask(path: p)
            case (nil, let node?): roi = readPolygons(node, key: r.key("polygons")).map { .polygons($0) }
            case (.some, .some): fail(r.node, r.path, "give either mask: or polygons:, not both")
            case (nil, nil): fail(r.node, r.path, "missing mask: (a PNG) or polygons: ([[x, y], ...] in fractions 0..1)")
            }
            r.finish()
        }
        let threshold = s.number("threshold", min: 0, max: 1e9).map { Float($0) }
        let deadline = s.number("deadline_ms", min: 1, max: 60_000, unit: "milliseconds") ?? 200
        var reject: RejectConfig? = nil
        if let r = s.section("reject") {
            let line: LineConfig?
            if r.string("chip") == "simulated" {
                _ = r.integer("line"); _ = r.bool("active_low")
                line = LineConfig(chip: nil)
            } else {
                r.known.remove("chip")
                line = readLineFields(r)
            }
            let delay = r.number("delay_ms", min: 0, max: 60_000, unit: "milliseconds")
            if r.value("delay_ms") == nil { r.require("delay_ms", "milliseconds from capture to the reject station") }
            let width = r.number("width_ms", min: 1, max: 10_000, unit: "milliseconds") ?? 50
            let rtPriority = r.integer("realtime_priority", min: 1, max: 99).map { Int32($0) }
            r.finish()
            if let line, let delay {
                if delay < deadline {
                    fail(r.value("delay_ms"), r.key("delay_ms"), "\(fmt(delay)) ms is shorter than deadline_ms (\(fmt(deadline)) ms): the pulse could be due before the decision")
                }
                reject = RejectConfig(line: line, delayMilliseconds: delay, widthMilliseconds: width, realtimePriority: rtPriority)
            }
        } else {
            s.require("reject", "the reject line (chip:, line:, delay_ms:, width_ms:)")
        }
        s.finish()
        guard let source, let reject else { return nil }
        return CameraConfig(name: name, source: source, framesPerSecond: fps, format: format, width: width,
                            height: height, controls: controls, crop: crop, roi: roi, threshold: threshold,
                            deadlineMilliseconds: deadline, reject: reject)
    }

    /// chip/line/active_low read inside a larger section (the reject mapping).
    func readLineFields(_ s: Section) -> LineConfig? {
        let chip = s.string("chip")
        let line = s.integer("line", min: 0, max: 4095)
        let activeLow = s.bool("active_low") ?? false
        guard let chip else { s.require("chip", "a GPIO chip (/dev/gpiochip0) or 'simulated'"); return nil }
        guard let line else { s.require("line", "the line offset on \(chip)"); return nil }
        return LineConfig(chip: chip, line: UInt32(line), activeLow: activeLow)
    }

    func readPolygons(_ node: Node, key: String) -> [[ROIPoint]]? {
        guard case .sequence(let polys) = node, !polys.isEmpty else {
            fail(node, key, "expected a list of polygons, each a list of [x, y] points in fractions 0..1"); return nil
        }
        var out: [[ROIPoint]] = []
        for (i, poly) in polys.enumerated() {
            guard case .sequence(let pts) = poly, pts.count >= 3 else {
                fail(poly, "\(key)[\(i)]", "a polygon needs at least 3 points [x, y]"); return nil
            }
            var points: [ROIPoint] = []
            for (j, p) in pts.enumerated() {
                guard case .sequence(let xy) = p, xy.count == 2, let x = xy[0].float, let y = xy[1].float,
                      (0...1).contains(x), (0...1).contains(y) else {
                    fail(p, "\(key)[\(i)][\(j)]", "expected [x, y] with both in 0..1 (fractions of the image)"); return nil
                }
                points.append(ROIPoint(x: x, y: y))
            }
            out.append(points)
        }
        return out
    }
}

private func describe(_ node: Node) -> String {
    switch node {
    case .scalar(let s): return "\"\(s.string)\""
    case .mapping: return "a mapping"
    case .sequence: return "a list"
    default: return "\(node)"
    }
}

private func fmt(_ d: Double) -> String {
    d == d.rounded() && abs(d) < 1e15 ? String(Int(d)) : String(d)
}

/// The known key closest to `name` by edit distance, if it is close enough to be a typo.
func closest(_ name: String, in candidates: Set<String>) -> String? {
    var best: (String, Int)? = nil
    for c in candidates.sorted() {
        let d = editDistance(name.lowercased(), c.lowercased())
        if best == nil || d < best!.1 { best = (c, d) }
    }
    guard let best, best.1 <= max(2, name.count / 3) else { return nil }
    return best.0
}

func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var prev = Array(0...b.count)
    var cur = [Int](repeating: 0, count: b.count + 1)
    for i in 1...a.count {
        cur[0] = i
        for j in 1...b.count {
            let cost = a[i - 1] == b[j - 1] ? 0 : 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
        }
        swap(&prev, &cur)
    }
    return prev[b.count]
}
