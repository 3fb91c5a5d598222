#if canImport(Glibc)
import Glibc
#endif
import Foundation
import GRDImaging
import GRDCapture
import GRDRejectIO
import GRDRuntime

/// Hooks that pick the real or simulated implementation of each stage. The defaults build what
/// the config says; tests and the demo replace some of them.
public struct StageFactory {
    /// The detector for one camera (one per camera: each owns its input buffer).
    public var detector: (AgentConfig, CameraConfig) throws -> AnomalyDetector
    public var preparer: (AnomalyDetector, CameraConfig) -> FramePreparing
    public var outputLine: (LineConfig, String) throws -> OutputLine
    public var rejectSink: (OutputLine, RejectConfig) -> RejectSink
    public var source: (CameraConfig) throws -> FrameSource

    public static var standard: StageFactory {
        StageFactory(
            detector: { config, _ in
                guard let path = config.modelPath else { return DemoDetector() }
                let model = try GRDNetModel(path: path)
                let engine = try InferenceEngine(model: model, threads: config.inferenceThreads,
                                                 precision: config.precision == "fp32" ? .fp32 : .int8)
                // The parity self-test: golden vectors stored in the model file, checked at every start.
                do { try engine.selfTest() } catch { throw AgentError("\(path): self-test failed: \(error)") }
                return engine
            },
            preparer: { d, cam in
                FramePreprocessor(targetWidth: d.inputWidth, targetHeight: d.inputHeight, targetChannels: d.inputChannels, crop: cam.crop,
                                  letterboxPad: (d as? InferenceEngine)?.model.letterboxPad)
            },
            outputLine: { line, consumer in
                guard let chip = line.chip else { return SimulatedOutputLine(name: consumer) }
                return try GPIODOutputLine(chipPath: chip, offset: line.line, consumer: consumer, activeLow: line.activeLow)
            },
            rejectSink: { line, r in
                let s = RejectScheduler(line: line, delayNanoseconds: UInt64(r.delayMilliseconds * 1e6), widthNanoseconds: UInt64(r.widthMilliseconds * 1e6))
                s.realtimePriority = r.realtimePriority
                return s
            },
            source: { cam in
                switch cam.source {
                case .replay(let folder, let loop): return try FolderReplaySource(folder: folder, framesPerSecond: cam.framesPerSecond, loop: loop)
                case .device(let d):
                    var settings = CameraSettings(device: d)
                    settings.formats = [cam.format] + PixelFormat.allCases.filter { $0 != cam.format }
                    settings.width = cam.width
                    settings.height = cam.height
                    settings.framesPerSecond = cam.framesPerSecond
                    settings.otherControls = cam.controls
                    let camera = V4L2Camera(settings: settings)
                    try camera.start()  // a wrong path or format fails here, with the device named
                    return camera
                }
            })
    }

    public init(detector: @escaping (AgentConfig, CameraConfig) throws -> AnomalyDetector,
                preparer: @escaping (AnomalyDetector, CameraConfig) -> FramePreparing,
                outputLine: @escaping (LineConfig, String) throws -> OutputLine,
                rejectSink: @escaping (OutputLine, RejectConfig) -> RejectSink,
                source: @escaping (CameraConfig) throws -> FrameSource) {
        self.detector = detector; self.preparer = preparer; self.outputLine = outputLine
        self.rejectSink = rejectSink; self.source = source
    }
}

public struct AgentError: Error, CustomStringConvertible {
    public var description: String
    public init(_ d: String) { description = d }
}

/// The daemon: builds one CameraPipeline per configured camera, serves the control socket,
/// persists the live threshold, and reports to systemd.
public final class Agent: @unchecked Sendable {
    public private(set) var config: AgentConfig
    let factory: StageFactory
    let lock = Lock()
    private var pipelines: [CameraPipeline] = []
    /// Audit storage shared by every camera (nil = off); replaced on reload.
    var auditStore: AuditStore? = nil
    /// Drift states last logged, per camera (the main loop logs changes).
    var driftStatesLogged: [String: DriftMonitor.State] = [:]
    var auditErrorsLogged: UInt64 = 0
    private var lines: [String: OutputLine] = [:]
    /// "Inspecting" output (active while frames flow) and alarm output; nil when not configured.
    var readyLine: OutputLine? = nil
    var alarmLine: OutputLine? = nil
    private var alarmUntil: UInt64 = 0
    private var failSafeEventsSeen: UInt64 = 0
    var server: ControlServer? = nil
    var metricsServer: MetricsHTTPServer? = nil
    let startedAt = monotonicNow()
    let startedWall = Date()
    let stopAfterFrames: UInt64?
    public var onDecision: ((DecisionRecord) -> Void)?
    public private(set) var reloads = 0
    public private(set) var failedReloads = 0
    public private(set) var lastReloadError: String? = nil
    let notifier = SystemdNotifier.fromProcessEnvironment()

    public init(config: AgentConfig, factory: StageFactory = .standard, stopAfterFrames: UInt64? = nil) {
        self.config = config
        self.factory = factory
        self.stopAfterFrames = stopAfterFrames
    }

    public var cameras: [CameraPipeline] { lock.withLock { pipelines } }

    // MARK: persisted threshold

    var stateFile: String { (config.stateDirectory as NSString).appendingPathComponent("threshold.json") }

    /// Thresholds set live over the socket survive restarts and reloads, as long as the config's
    /// own threshold for that camera is unchanged; editing the config's threshold wins.
    /// {"cameras": {"a": 0.6}, "config_thresholds": {"a": 0.5}}
    func persistedThreshold(camera: String, configured: Float) -> Float? {
        guard let data = FileManager.default.contents(atPath: stateFile),
              let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let v = ((obj["cameras"] as? [String: Any])?[camera] as? NSNumber)?.floatValue,
              let b = ((obj["config_thresholds"] as? [String: Any])?[camera] as? NSNumber)?.floatValue else { return nil }
        return b == configured ? v : nil
    }

    func persistThresholds() throws {
        var cams: [String: Any] = [:], base: [String: Any] = [:]
        for p in cameras {
            cams[p.config.name] = shortest(p.threshold)
            base[p.config.name] = shortest(p.configuredThreshold)
        }
        let obj: [String: Any] = ["cameras": cams, "config_thresholds": base, "config": config.sourcePath]
        let data = try JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys, .prettyPrinted])
        try FileManager.default.createDirectory(atPath: config.stateDirectory, withIntermediateDirectories: true)
        let tmp = stateFile + ".tmp"
        guard FileManager.default.createFile(atPath: tmp, contents: data) else {
            throw AgentError("cannot write \(tmp): \(String(cString: strerror(errno)))")
        }
        guard rename(tmp, stateFile) == 0 else { throw AgentError("cannot replace \(stateFile): \(String(cString: strerror(errno)))") }
    }

    // MARK: building

    /// Builds every pipeline for `config` without starting any: a failure leaves nothing behind.
    func build(_ config: AgentConfig) throws -> (pipelines: [CameraPipeline], lines: [String: OutputLine]) {
        var built: [CameraPipeline] = []
        var lines: [String: OutputLine] = [:]
        for cam in config.cameras {
            let detector: AnomalyDetector
            do { detector = try factory.detector(config, cam) } catch {
                throw AgentError("camera \(cam.name): cannot load the detector: \(error)")
            }
            var roi = try roiMask(cam.roi, width: detector.inputWidth, height: detector.inputHeight, camera: cam.name)
            if roi == nil, let engine = detector as? InferenceEngine { roi = engine.model.defaultROI }
            let line: OutputLine
            do { line = try factory.outputLine(cam.reject.line, "grdnetd-reject-\(cam.name)") } catch {
                throw AgentError("camera \(cam.name): reject line \(cam.reject.line.displayName): \(error)")
            }
            lines[cam.name] = line
            let sink = factory.rejectSink(line, cam.reject)
            guard let configured = cam.threshold ?? config.threshold ?? (detector as? InferenceEngine)?.model.defaultThreshold else {
                throw AgentError("camera \(cam.name): no threshold: the model file has no default, so set threshold: in \(config.sourcePath)")
            }
            let threshold = persistedThreshold(camera: cam.name, configured: configured) ?? configured
            let make = factory.source
            let p = CameraPipeline(config: cam, detector: detector, preparer: factory.preparer(detector, cam), reject: sink,
                                   failSafe: config.failSafe, threshold: threshold, configuredThreshold: configured, roi: roi,
                                   stopAfterFrames: stopAfterFrames, makeSource: { try make(cam) })
            p.onDecision = { [weak self] r in self?.onDecision?(r) }
            p.modelName = config.modelPath ?? "demo"
            p.configureDrift(config.drift, baseline: config.drift.baseline
                             ?? persistedDriftBaseline(camera: cam.name, model: p.modelName))
            built.append(p)
        }
        return (built, lines)
    }

    func roiMask(_ roi: ROIConfig?, width: Int, height: Int, camera: String) throws -> [UInt8]? {
        switch roi {
        case nil: return nil
        case .polygons(let polys): return rasterize(polygons: polys, width: width, height: height)
        case .mask(let path):
            let image: Image
            do { image = try loadPNGMask(path: path) } catch { throw AgentError("camera \(camera): ROI mask \(path): \(error)") }
            var out = [UInt8](repeating: 0, count: width * height)
            for y in 0..<height { for x in 0..<width {
                out[y * width + x] = image.pixels[(y * image.height / height) * image.width + x * image.width / width] != 0 ? 255 : 0
            } }
            return out
        }
    }

    // MARK: running

    public func start() throws {
        if let r = config.readyOutput {
            do { readyLine = try factory.outputLine(r, "grdnetd-ready") } catch { throw AgentError("outputs.ready \(r.displayName): \(error)") }
        }
        if let a = config.alarmOutput {
            do { alarmLine = try factory.outputLine(a, "grdnetd-alarm") } catch { throw AgentError("outputs.alarm \(a.displayName): \(error)") }
        }
        let (built, lines) = try build(config)
        let store = try openAudit(config, pipelines: built)
        lock.withLock { pipelines = built; self.lines = lines; auditStore = store }
        for p in built { p.audit = store; p.start() }
        Log.shared.level = config.logLevel
        try startServer()
        try startMetricsListener()
        for p in built {
            Log.shared.notice("camera \(p.config.name): \(describe(p.config.source)), detector: \(p.detector.detectorDescription)\((p.preparer as? FramePreprocessor)?.letterboxPad != nil ? " (frames letterboxed, as the model was trained)" : ""), threshold \(fixed(Double(p.threshold), 3)), reject line \(p.config.reject.line.displayName) at +\(fixed(p.config.reject.delayMilliseconds, 0)) ms for \(fixed(p.config.reject.widthMilliseconds, 0)) ms")
        }
    }

    func describe(_ s: CameraConfig.Source) -> String {
        switch s {
        case .device(let d): return d
        case .replay(let f, let loop): return "replay of \(f)\(loop ? " (looping)" : "")"
        }
    }

    func startServer() throws {
        let fd: Int32
        var owned: String? = nil
        if let inherited = ControlServer.inheritedSocket() {
            fd = inherited
            Log.shared.info("control socket: using the socket passed by systemd (socket activation)")
        } else {
            let dir = (config.socket.path as NSString).deletingLastPathComponent
            if !dir.isEmpty { try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
            fd = try ControlServer.bind(path: config.socket.path, mode: config.socket.mode, group: config.socket.group)
            owned = config.socket.path
            Log.shared.info("control socket: \(config.socket.path)")
        }
        let s = ControlServer(listenFD: fd, removeOnStop: owned) { [unowned self] req in self.handle(req) }
        s.start()
        server = s
    }

    public func stop() {
        server?.stop()
        server = nil
        metricsServer?.stop()
        metricsServer = nil
        try? readyLine?.set(false)
        for p in cameras { p.stop() }
        saveLearnedDriftBaselines(cameras)
        auditStore?.stop()
    }

    /// Drives the ready and alarm outputs: ready follows the frames; the alarm is raised while
    /// inspection has stopped after it was running, and for 2 s after each late or failed
    /// decision when the policy says reject_and_alarm.
    func updateOutputs(flowing: Bool, everReady: Bool, now: UInt64) {
        try? readyLine?.set(flowing)
        guard let alarm = alarmLine else { return }
        var events: UInt64 = 0
        for p in cameras {
            let s = p.statistics()
            if config.failSafe.onLateDecision == .rejectAndAlarm { events &+= s.deadlineMisses }
            if config.failSafe.onError == .rejectAndAlarm { events &+= s.errors }
        }
        if events > failSafeEventsSeen { alarmUntil = now + 2_000_000_000 }
        failSafeEventsSeen = events
        try? alarm.set((everReady && !flowing) || now < alarmUntil)
    }

    /// Replaces the config (and the detectors) only if everything new builds; otherwise keeps the
    /// running pipelines and says why.
    @discardableResult
    public func reload(path: String) -> Bool {
        do {
            let fresh = try AgentConfig.load(path: path)
            let (built, lines) = try build(fresh)
            let old = cameras
            for p in old { p.stop() }
            saveLearnedDriftBaselines(old)
            // The old store writes what it holds, then the new one indexes the folder afresh.
            auditStore?.stop()
            var store: AuditStore? = nil
            do { store = try openAudit(fresh, pipelines: built) } catch {
                Log.shared.error("audit storage is off after the reload: \(error)")
            }
            lock.withLock { pipelines = built; self.lines = lines; config = fresh; reloads += 1; lastReloadError = nil; auditStore = store }
            for p in built { p.audit = store; p.start() }
            Log.shared.level = fresh.logLevel
            if fresh.socket != config.socket { Log.shared.warning("socket settings changed: they take effect at the next restart") }
            Log.shared.notice("reloaded \(path): \(built.count) camera(s)")
            return true
        } catch {
            lock.withLock { failedReloads += 1; lastReloadError = "\(error)" }
            Log.shared.error("reload of \(path) failed, the previous configuration keeps running: \(error)")
            return false
        }
    }

    /// True when every camera inspected a frame within its timeout.
    public var framesFlowing: Bool {
        let ps = cameras
        return !ps.isEmpty && ps.allSatisfy { $0.state == .inspecting || $0.state == .paused }
    }

    public var allFinished: Bool { cameras.allSatisfy(\.finished) }

    /// One line for systemd's STATUS= and the log.
    public func summaryLine() -> String {
        var frames: UInt64 = 0, rejects: UInt64 = 0, drops: UInt64 = 0, late: UInt64 = 0
        var states: [String] = []
        for p in cameras {
            let s = p.statistics()
            frames += s.framesInspected; rejects += s.rejects; drops += s.framesDropped; late += s.deadlineMisses
            states.append("\(p.config.name) \(p.state.rawValue)")
        }
        return "\(states.joined(separator: ", ")); \(frames) parts, \(rejects) rejected, \(drops) dropped, \(late) late"
    }

    /// Runs until SIGTERM/SIGINT (or `allFinished` when a frame limit was given): reloads on
    /// SIGHUP, feeds the watchdog only while frames flow, sends READY=1 once inspecting.
    public func runUntilStopped(configPath: String, maxSeconds: Double? = nil, lingerSeconds: Double = 0) {
        var set = sigset_t()
        sigemptyset(&set)
        for s in [SIGHUP, SIGTERM, SIGINT] { sigaddset(&set, s) }
        let watchdog = SystemdNotifier.watchdogIntervalMicroseconds()
        var ready = false
        var lastPing: UInt64 = 0
        var lastStatus: UInt64 = 0
        let began = monotonicNow()
        var finishedAt: UInt64 = 0
        var wasFlowing = false
        while true {
            var ts = timespec(tv_sec: 0, tv_nsec: 100_000_000)
            let sig = sigtimedwait(&set, nil, &ts)
            if sig == SIGTERM || sig == SIGINT {
                notifier.notify("STOPPING=1\nSTATUS=stopping")
                Log.shared.notice("stopping on signal \(sig)")
                break
            }
            if sig == SIGHUP {
                notifier.notify("RELOADING=1\nSTATUS=reloading \(configPath)")
                reload(path: configPath)
                notifier.notify("READY=1\nSTATUS=\(summaryLine())")
            }
            let now = monotonicNow()
            let flowing = framesFlowing
            if flowing && !ready {
                ready = true
                wasFlowing = true
                notifier.notify("READY=1\nSTATUS=inspecting: \(summaryLine())")
                Log.shared.notice("inspecting: every camera delivers frames")
            }
            if let wd = watchdog, flowing, now &- lastPing >= wd * 1000 / 2 {
                notifier.notify("WATCHDOG=1")
                lastPing = now
            }
            if ready && flowing != wasFlowing {
                if flowing { Log.shared.notice("frames flow again: \(summaryLine())") }
                else { Log.shared.warning("NOT INSPECTING (watchdog no longer fed): \(summaryLine())") }
                lastStatus = 0
            }
            wasFlowing = flowing
            updateOutputs(flowing: flowing, everReady: ready, now: now)
            if now &- lastStatus >= 2_000_000_000 { checkOperations() }
            if now &- lastStatus >= 2_000_000_000 {
                notifier.notify("STATUS=\(flowing ? "" : "NOT INSPECTING: ")\(summaryLine())")
                lastStatus = now
            }
            if stopAfterFrames != nil && allFinished {
                if finishedAt == 0 {
                    finishedAt = now
                    Log.shared.notice("frame limit reached: \(summaryLine())\(lingerSeconds > 0 ? "; serving the socket for \(fixed(lingerSeconds, 0)) s more" : "")")
                }
                if Double(now &- finishedAt) / 1e9 >= lingerSeconds { break }
            }
            if let maxSeconds, Double(now &- began) / 1e9 >= maxSeconds { break }
        }
    }

    /// Signals must be blocked in every thread before any is started, so that sigtimedwait sees them.
    public static func blockControlSignals() {
        var set = sigset_t()
        sigemptyset(&set)
        for s in [SIGHUP, SIGTERM, SIGINT] { sigaddset(&set, s) }
        pthread_sigmask(SIG_BLOCK, &set, nil)
        signal(SIGPIPE, SIG_IGN)
    }
}

/// Even-odd scanline fill of polygons given in fractions of the image; 255 inside, 0 outside.
public func rasterize(polygons: [[ROIPoint]], width: Int, height: Int) -> [UInt8] {
    var mask = [UInt8](repeating: 0, count: width * height)
    for y in 0..<height {
        let py = (Double(y) + 0.5) / Double(height)
        for x in 0..<width {
            let px = (Double(x) + 0.5) / Double(width)
            var inside = false
            for poly in polygons {
                var j = poly.count - 1
                for i in 0..<poly.count {
                    let a = poly[i], b = poly[j]
                    if (a.y > py) != (b.y > py) && px < (b.x - a.x) * (py - a.y) / (b.y - a.y) + a.x { inside.toggle() }
                    j = i
                }
            }
            if inside { mask[y * width + x] = 255 }
        }
    }
    return mask
}

extension Agent {
    /// `--check-config`: builds every stage (detector, ROI, lines are not opened) and discards it.
    public func checkBuild() throws {
        for cam in config.cameras {
            let detector: AnomalyDetector
            do { detector = try factory.detector(config, cam) } catch {
                throw AgentError("camera \(cam.name): cannot load the detector: \(error)")
            }
            _ = try roiMask(cam.roi, width: detector.inputWidth, height: detector.inputHeight, camera: cam.name)
        }
    }
}
