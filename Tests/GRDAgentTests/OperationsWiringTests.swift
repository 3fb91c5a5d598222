import XCTest
import GRDImaging
import GRDCapture
import GRDRejectIO
@testable import GRDAgent

/// Audit storage and drift monitoring as the daemon uses them: config keys, the pipeline feeding
/// the store and the monitor, and what stats/status/metrics show.
final class OperationsWiringTests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "grdnet-ops-\(getpid())-\(abs(name.hashValue))"
        try FileManager.default.createDirectory(atPath: dir + "/parts", withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    final class CountingSink: RejectSink {
        var scheduled = 0
        func schedule(captureTimestampNanoseconds: UInt64, partID: UInt64) { scheduled += 1 }
        func start() {}
        func stopDraining() {}
        var counters: RejectCounters { RejectCounters() }
    }

    /// A grey part at `level` with a little texture (so focus is not zero), as a JPEG frame.
    func frame(level: Int, seed: Int) throws -> Frame {
        var img = Image(width: 256, height: 256, channels: 1)
        for y in 0..<256 { for x in 0..<256 {
            img.pixels[y * 256 + x] = UInt8(max(0, min(255, level + ((x * 7 + y * 13 + seed * 5) % 9) - 4)))
        } }
        let jpeg = try encodeJPEG(img, quality: 95)
        return Frame(timestampNanoseconds: monotonicNow(), sequence: UInt32(seed), format: .mjpeg, width: 0, height: 0,
                     bytes: jpeg, origin: "part-\(seed)")
    }

    func pipeline(threshold: Float, sink: RejectSink) -> CameraPipeline {
        let cam = CameraConfig(name: "belt", source: .replay(folder: dir + "/parts", loop: true), framesPerSecond: 10,
                               deadlineMilliseconds: 60_000,
                               reject: RejectConfig(line: LineConfig(chip: nil), delayMilliseconds: 60_000, widthMilliseconds: 5))
        let d = DemoDetector()
        return CameraPipeline(config: cam, detector: d,
                              preparer: FramePreprocessor(targetWidth: 256, targetHeight: 256, targetChannels: 1, crop: nil),
                              reject: sink, failSafe: FailSafePolicy(), threshold: threshold, roi: nil) {
            throw AgentError("not used: frames are fed by the test")
        }
    }

    // MARK: config

    func load(_ yaml: String) throws -> AgentConfig {
        let path = dir + "/grdnet.yaml"
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        return try AgentConfig.load(path: path)
    }

    let base = """
        model: demo
        threshold: 0.5
        cameras:
          - name: belt
            replay: parts
            fps: 5
            reject:
              chip: simulated
              delay_ms: 300
        socket:
          path: grdnet.sock
        state_dir: state

        """

    func errors(_ yaml: String) -> String {
        do { _ = try load(yaml); return "" } catch { return "\(error)" }
    }

    func testAuditAndDriftKeysParse() throws {
        let c = try load(base + """
            audit:
              folder: audit
              quota_mb: 20
              near_margin: 0.2
              pass_sample: 0.05
              keep_rejects: true
              queue: 8
            drift:
              window: 50
              warning_shift: 2
              alarm_shift: 4
              baseline:
                score: {mean: 0.2, sd: 0.05}
                brightness: {mean: 120, sd: 5}
                focus: {mean: 300, sd: 30}
            """)
        let a = try XCTUnwrap(c.audit)
        XCTAssertEqual(a.folder, (dir as NSString).standardizingPath + "/audit")
        XCTAssertEqual(c.auditFolder, a.folder)
        XCTAssertEqual(a.quotaBytes, 20 * 1024 * 1024)
        XCTAssertEqual(a.nearMargin, 0.2)
        XCTAssertEqual(a.passSampleRate, 0.05)
        XCTAssertEqual(a.queueSlots, 8)
        XCTAssertEqual(c.drift.window, 50)
        XCTAssertEqual(c.drift.alarmShift, 4)
        XCTAssertEqual(c.drift.baseline?[1], DriftMonitor.Baseline(mean: 120, standardDeviation: 5))
        // Defaults: drift on and learned, audit off.
        let d = try load(base)
        XCTAssertNil(d.audit)
        XCTAssertTrue(d.drift.enabled)
        XCTAssertNil(d.drift.baseline)
    }

    func testAuditAndDriftConfigErrorsNameKeyAndLine() {
        var e = errors(base + "audit:\n  folder: audit\n  quota_mb: 0\n")
        XCTAssertTrue(e.contains("grdnet.yaml:15: audit.quota_mb: must be at least 1"), e)
        e = errors(base + "audit:\n  quota_mb: 10\n")
        XCTAssertTrue(e.contains("audit.folder: missing"), e)
        e = errors(base + "audit:\n  folder: audit\n  pass_sample: 2\n")
        XCTAssertTrue(e.contains(":15: audit.pass_sample: must be at most 1"), e)
        e = errors(base + "audit:\n  folder: audit\n  quota: 5\n")
        XCTAssertTrue(e.contains(":15: audit.quota: unknown setting"), e)
        e = errors(base + "drift:\n  windw: 100\n")
        XCTAssertTrue(e.contains(":14: drift.windw: unknown setting; did you mean 'window'?"), e)
        e = errors(base + "drift:\n  warning_shift: 3\n  alarm_shift: 2\n")
        XCTAssertTrue(e.contains(":15: drift.alarm_shift: must be larger than warning_shift"), e)
        e = errors(base + "drift:\n  baseline:\n    score: {mean: 0.2}\n    brightness: {mean: 1, sd: 1}\n    focus: {mean: 1, sd: 1}\n")
        XCTAssertTrue(e.contains("drift.baseline.score.sd: missing"), e)
        e = errors(base + "drift:\n  window: 5\n")
        XCTAssertTrue(e.contains(":14: drift.window: must be at least 10"), e)
    }

    // MARK: audit through the pipeline

    func testFullAuditQueueDropsAreCountedAndInspectionGoesOn() throws {
        let store = try AuditStore(directory: dir + "/audit", quotaBytes: 1 << 30, policy: AuditPolicy(),
                                   maxPixels: 256 * 256, maxHeatmapPixels: 256 * 256, slots: 2)
        store.testingHoldWriter = true   // the disk "hangs": the writer never finishes a part
        let sink = CountingSink()
        let p = pipeline(threshold: 0, sink: sink)  // every part is rejected, every part wants auditing
        p.audit = store
        let frames = try (0..<12).map { try frame(level: 120, seed: $0) }
        let t0 = monotonicNow()
        for f in frames { p.inspect(f, deadline: 60_000_000_000) }
        let seconds = Double(monotonicNow() - t0) / 1e9
        let s = p.statistics()
        XCTAssertEqual(s.framesInspected, 12)
        XCTAssertEqual(s.rejects, 12)
        XCTAssertEqual(sink.scheduled, 12, "every reject got its pulse while the audit writer was stuck")
        let c = store.snapshot
        XCTAssertEqual(c.offered, 12)
        XCTAssertEqual(c.droppedQueueFull, 10, "2 slots held, 10 parts dropped and counted")
        XCTAssertEqual(s.auditKept, 2)
        XCTAssertLessThan(seconds, 30, "inspection must not wait for the audit writer")
        store.testingHoldWriter = false
        store.stop()
        XCTAssertEqual(store.snapshot.written, 2)
    }

    func testAuditFilesStatsMetricsAndWriteErrorsInTheDaemon() throws {
        // Good and defective parts for the demo detector (a dark blob is a defect).
        for i in 0..<6 {
            var img = Image(width: 320, height: 240, channels: 1)
            for y in 0..<240 { for x in 0..<320 { img.pixels[y * 320 + x] = UInt8(110 + (x + i * 7) % 40 / 4 + y / 24) } }
            if i % 2 == 1 { for y in 100..<116 { for x in 150..<166 { img.pixels[y * 320 + x] = 20 } } }
            try Data(try encodeJPEG(img, quality: 92)).write(to: URL(fileURLWithPath: "\(dir)/parts/\(i).jpg"))
        }
        let cfg = try load("""
            model: demo
            threshold: 0.5
            cameras:
              - name: belt
                replay: parts
                loop: false
                fps: 2
                deadline_ms: 5000
                reject:
                  chip: simulated
                  delay_ms: 5000
            socket:
              path: grdnet.sock
            state_dir: state
            audit:
              folder: audit
              quota_mb: 5
              pass_sample: 1
            """)
        var factory = StageFactory.standard
        factory.outputLine = { _, name in SimulatedOutputLine(name: name) }
        let agent = Agent(config: cfg, factory: factory, stopAfterFrames: 6)
        try agent.start()
        let end = Date().addingTimeInterval(60)
        while !agent.allFinished && Date() < end { usleep(50_000) }
        XCTAssertTrue(agent.allFinished)
        // Wait for the writer.
        while (agent.audit?.pending ?? 0) > 0 && Date() < end { usleep(20_000) }
        var stats = agent.handle(["cmd": "stats"])
        var audit = try XCTUnwrap(stats["audit"] as? [String: Any])
        let camera = try XCTUnwrap((stats["cameras"] as? [[String: Any]])?.first)
        let inspected = try XCTUnwrap(camera["frames_inspected"] as? UInt64)
        let rejects = try XCTUnwrap(camera["rejects"] as? UInt64)
        XCTAssertGreaterThanOrEqual(inspected, 4, "a slow machine may drop a frame or two (newest wins), not more")
        XCTAssertGreaterThan(rejects, 0)
        // Every part is kept: rejects, and passes (pass_sample: 1).
        XCTAssertEqual(audit["written"] as? UInt64, inspected, "\(audit)")
        XCTAssertEqual(audit["write_errors"] as? UInt64, 0)
        let names = try FileManager.default.contentsOfDirectory(atPath: cfg.audit!.folder)
        XCTAssertEqual(UInt64(names.filter { $0.hasSuffix("_reject.json") }.count), rejects, "\(names)")
        XCTAssertEqual(UInt64(names.filter { $0.hasSuffix(".overlay.jpg") }.count), inspected)
        let line = try String(contentsOfFile: cfg.audit!.folder + "/" + names.first { $0.hasSuffix("_reject.json") }!, encoding: .utf8)
        for key in ["\"camera\":\"belt\"", "\"decision\":\"reject\"", "\"model\":\"demo\"", "\"score\":", "\"threshold\":0.5", "\"time\":"] {
            XCTAssertTrue(line.contains(key), line)
        }
        let cams = try XCTUnwrap(stats["cameras"] as? [[String: Any]])
        XCTAssertNotNil(cams[0]["allocations"] as? [String: Any])
        XCTAssertNotNil(cams[0]["drift"] as? [String: Any])
        let status = agent.handle(["cmd": "status"])
        XCTAssertEqual((status["cameras"] as? [[String: Any]])?[0]["drift"] as? String, "learning")
        XCTAssertEqual(status["drift_alarm"] as? Bool, false)

        // The folder becomes unwritable (replaced by a file): errors are counted and shown.
        try FileManager.default.removeItem(atPath: cfg.audit!.folder)
        XCTAssertTrue(FileManager.default.createFile(atPath: cfg.audit!.folder, contents: Data("x".utf8)))
        let p = agent.cameras[0]
        p.inspect(try frame(level: 30, seed: 99), deadline: 60_000_000_000)   // a defect-free dark part: sampled pass
        while (agent.audit?.pending ?? 0) > 0 && Date() < end { usleep(20_000) }
        stats = agent.handle(["cmd": "stats"])
        audit = try XCTUnwrap(stats["audit"] as? [String: Any])
        XCTAssertEqual(audit["write_errors"] as? UInt64, 1, "\(audit)")
        XCTAssertTrue((audit["last_error"] as? String)?.contains("cannot write audit file") ?? false, "\(audit)")
        let text = MetricsRendering.prometheusText(stats: stats, status: agent.handle(["cmd": "status"]))
        XCTAssertTrue(text.contains("grdnet_audit_write_errors_total 1\n"), text)
        XCTAssertTrue(text.contains("grdnet_audit_written_total \(inspected)\n"), text)
        XCTAssertTrue(text.contains("grdnet_inspection_allocations_total{camera=\"belt\"}"), text)
        XCTAssertTrue(text.contains("grdnet_drift_state{camera=\"belt\"} 0\n"), text)
        agent.stop()
    }

    // MARK: drift through the pipeline

    func testDriftAlarmOnAShiftedBrightness() throws {
        let p = pipeline(threshold: 2, sink: CountingSink())   // nothing is rejected
        var settings = DriftSettings()
        settings.window = 20
        p.configureDrift(settings, baseline: nil)
        XCTAssertEqual(p.driftReport()?.learningBaseline, true)
        // Commissioning: parts at levels 118..122.
        for i in 0..<20 { p.inspect(try frame(level: 118 + i % 5, seed: i), deadline: 60_000_000_000) }
        XCTAssertEqual(p.driftReport()?.learningBaseline, false)
        let learned = try XCTUnwrap(p.takeLearnedBaseline())
        XCTAssertEqual(learned[1].mean, 120, accuracy: 1.5)
        XCTAssertNil(p.takeLearnedBaseline(), "handed out once")
        // The same process: ok once the window is full.
        for i in 0..<20 { p.inspect(try frame(level: 118 + i % 5, seed: i), deadline: 60_000_000_000) }
        XCTAssertEqual(p.driftReport()?.state, .ok)
        // The lamp dims by 30 grey levels.
        for i in 0..<20 { p.inspect(try frame(level: 88 + i % 5, seed: i), deadline: 60_000_000_000) }
        let r = try XCTUnwrap(p.driftReport())
        XCTAssertEqual(r.state, .alarm)
        let brightness = try XCTUnwrap(r.signals.first { $0.signal == .brightness })
        XCTAssertEqual(brightness.state, .alarm)
        XCTAssertLessThan(brightness.shift, -3)
        XCTAssertEqual(brightness.windowMean, 90, accuracy: 1.5)
    }

    func testConfiguredBaselineIsUsedAndDriftCanBeOff() throws {
        let p = pipeline(threshold: 2, sink: CountingSink())
        var settings = DriftSettings()
        settings.window = 10
        p.configureDrift(settings, baseline: [DriftMonitor.Baseline(mean: 0, standardDeviation: 1),
                                              DriftMonitor.Baseline(mean: 200, standardDeviation: 2),
                                              DriftMonitor.Baseline(mean: 0, standardDeviation: 1e6)])
        for i in 0..<10 { p.inspect(try frame(level: 120, seed: i), deadline: 60_000_000_000) }
        XCTAssertEqual(p.driftReport()?.learningBaseline, false)
        XCTAssertEqual(p.driftReport()?.state, .alarm, "120 against a configured 200 +- 2")
        settings.enabled = false
        p.configureDrift(settings, baseline: nil)
        XCTAssertNil(p.driftReport())
    }
}
