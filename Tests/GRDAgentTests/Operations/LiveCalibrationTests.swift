import XCTest
import GRDImaging
@testable import GRDAgent

/// Writing a threshold into a config file in place.
final class ConfigThresholdEditorTests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "grdnet-edit-\(getpid())-\(abs(name.hashValue) % 100000)"
        try FileManager.default.createDirectory(atPath: dir + "/images", withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    let single = """
        # the line's settings
        model: demo
        # rejected at or above this
        threshold: 0.5   # set by hand
        cameras:
          - name: a
            replay: images
            fps: 5
            reject: {chip: simulated, delay_ms: 300, width_ms: 20}
        socket: {path: ctl.sock}
        state_dir: state
        """

    func write(_ text: String, mode: mode_t = 0o640) throws -> String {
        let p = dir + "/grdnet.yaml"
        try text.write(toFile: p, atomically: false, encoding: .utf8)
        chmod(p, mode)
        return p
    }

    func testReplacesTheTopLevelValueKeepingCommentsAndLayout() throws {
        let path = try write(single)
        let e = try ConfigThresholdEditor.write(threshold: 0.4321, camera: nil, configPath: path)
        XCTAssertEqual(e.key, "threshold")
        XCTAssertEqual(e.line, 4)
        XCTAssertFalse(e.inserted)
        let after = try String(contentsOfFile: path, encoding: .utf8)
        XCTAssertEqual(after, single.replacingOccurrences(of: "threshold: 0.5   # set by hand", with: "threshold: 0.4321   # set by hand"))
        XCTAssertEqual(try AgentConfig.load(path: path).threshold, 0.4321)
        var st = stat()
        XCTAssertEqual(stat(path, &st), 0)
        XCTAssertEqual(st.st_mode & 0o777, 0o640, "the file keeps its mode")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.contains("tmp") }, [], "no temporary file left")
    }

    func testACameraOwnThresholdWinsAndQuotedValuesAreReplaced() throws {
        let yaml = single.replacingOccurrences(of: "    fps: 5\n", with: "    fps: 5\n    threshold: \"0.7\"\n")
        let path = try write(yaml)
        let e = try ConfigThresholdEditor.write(threshold: 0.25, camera: "a", configPath: path)
        XCTAssertEqual(e.key, "cameras[0].threshold")
        let c = try AgentConfig.load(path: path)
        XCTAssertEqual(c.cameras[0].threshold, 0.25)
        XCTAssertEqual(c.threshold, 0.5, "the global value is left alone")
    }

    func testInsertsIntoTheCameraWhenThereAreSeveralAndAtTopLevelWhenMissing() throws {
        let two = single.replacingOccurrences(of: "socket:", with: """
              - name: b
                replay: images
                fps: 5
                reject: {chip: simulated, delay_ms: 300, width_ms: 20}
            socket:
            """)
        var path = try write(two)
        let e = try ConfigThresholdEditor.write(threshold: 0.61, camera: "b", configPath: path)
        XCTAssertTrue(e.inserted)
        XCTAssertEqual(e.key, "cameras[1].threshold")
        var c = try AgentConfig.load(path: path)
        XCTAssertEqual(c.cameras[1].threshold, 0.61)
        XCTAssertNil(c.cameras[0].threshold)
        XCTAssertThrowsError(try ConfigThresholdEditor.write(threshold: 0.3, camera: nil, configPath: path)) {
            XCTAssertTrue("\($0)".contains("--camera"), "\($0)")
        }
        XCTAssertThrowsError(try ConfigThresholdEditor.write(threshold: 0.3, camera: "zz", configPath: path)) {
            XCTAssertTrue("\($0)".contains("no camera named 'zz'"), "\($0)")
        }

        path = try write(single.replacingOccurrences(of: "threshold: 0.5   # set by hand\n", with: ""))
        let t = try ConfigThresholdEditor.write(threshold: 0.33, camera: "a", configPath: path)
        XCTAssertTrue(t.inserted)
        XCTAssertEqual(t.key, "threshold")
        c = try AgentConfig.load(path: path)
        XCTAssertEqual(c.threshold, 0.33)
        XCTAssertTrue(try String(contentsOfFile: path, encoding: .utf8).contains("model: demo\nthreshold: 0.33\n# rejected"))
    }

    func testAFlowStyleCameraIsRefusedWithAHint() throws {
        let flow = single.replacingOccurrences(of: "socket:", with: "  - {name: b, replay: images, fps: 5, reject: {chip: simulated, delay_ms: 300, width_ms: 20}}\nsocket:")
        let path = try write(flow)
        XCTAssertThrowsError(try ConfigThresholdEditor.write(threshold: 0.4, camera: "b", configPath: path)) {
            XCTAssertTrue("\($0)".contains("cameras[1] is written in flow style"), "\($0)")
        }
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), flow)
        // The block-style camera next to it is still edited in place.
        XCTAssertEqual(try ConfigThresholdEditor.write(threshold: 0.45, camera: "a", configPath: path).key, "cameras[0].threshold")
        XCTAssertEqual(try AgentConfig.load(path: path).cameras[0].threshold, 0.45)
    }

    func testAFileThatDoesNotValidateIsLeftUntouched() throws {
        let bad = single.replacingOccurrences(of: "state_dir: state", with: "state_dir: state\ndealy_ms: 3")
        let path = try write(bad)
        XCTAssertThrowsError(try ConfigThresholdEditor.write(threshold: 0.4, camera: nil, configPath: path)) {
            let m = "\($0)"
            XCTAssertTrue(m.contains("was not changed") && m.contains("dealy_ms") && m.contains(":12:"), m)
        }
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), bad)
    }
}

/// `grdnet calibrate --live`: scores of a running daemon's next parts, applied live and written.
final class LiveCalibrationTests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws {
        dir = "/tmp/grdnet-live-\(getpid())-\(abs(name.hashValue) % 100000)"
        try FileManager.default.createDirectory(atPath: dir + "/parts", withIntermediateDirectories: true)
        // Good parts with a faint spot of varying contrast: a spread of demo-detector scores.
        for i in 0..<12 {
            var img = Image(width: 160, height: 120, channels: 1, fill: 120)
            let contrast = UInt8(2 + (i * 7) % 23)
            for y in 55..<60 { for x in (20 + i * 9)..<(25 + i * 9) { img.pixels[y * 160 + x] = 120 - contrast } }
            XCTAssertTrue(FileManager.default.createFile(atPath: "\(dir)/parts/\(i).jpg", contents: Data(try encodeJPEG(img))))
        }
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func config(loop: Bool = true, fps: Int = 40) throws -> String {
        let yaml = """
            # commissioning notes: keep
            model: demo
            threshold: 0.9   # before calibration
            cameras:
              - name: belt
                replay: parts
                loop: \(loop)
                fps: \(fps)
                deadline_ms: 2000
                reject: {chip: simulated, delay_ms: 2000, width_ms: 10}
            socket: {path: ctl.sock}
            state_dir: state
            """
        try yaml.write(toFile: dir + "/grdnet.yaml", atomically: true, encoding: .utf8)
        return dir + "/grdnet.yaml"
    }

    func waitForFrames(_ agent: Agent, _ n: UInt64) {
        let deadline = Date().addingTimeInterval(20)
        func seen() -> UInt64 { let s = agent.cameras[0].statistics(); return s.framesInspected + s.framesDropped }
        while seen() < n && Date() < deadline { usleep(20_000) }
    }

    func testCollectsOnlyNewPartsThenAppliesLiveAndWritesTheConfig() throws {
        let path = try config()
        let agent = Agent(config: try AgentConfig.load(path: path))
        try agent.start()
        defer { agent.stop() }
        waitForFrames(agent, 3)
        let before = agent.cameras[0].recentDecisions(1000).map(\.partID).max() ?? 0

        let got = try LiveScoreCollector(socketPath: dir + "/ctl.sock").collect(count: 40, timeoutSeconds: 60)
        XCTAssertEqual(got.camera, "belt")
        XCTAssertEqual(got.scores.count, 40)
        XCTAssertEqual(got.daemonThreshold, 0.9, accuracy: 1e-6)
        // Every collected score is one the daemon decided after collection started.
        let ring = agent.cameras[0].recentDecisions(1000).filter { $0.partID > before }
        XCTAssertGreaterThanOrEqual(ring.count + got.missed, 40)
        let ringScores = Set(ring.map { Double("\($0.score)")! })
        XCTAssertTrue(got.scores.allSatisfy { ringScores.contains($0) }, "scores come from the daemon's decisions")
        XCTAssertGreaterThan(Set(got.scores).count, 3, "a spread of scores, not one repeated value")

        let r = try ThresholdCalibration().calibrate(goodScores: got.scores, targetFalseRejectRate: 0.05)
        let proposed = Float(r.threshold)
        XCTAssertNotEqual(proposed, 0.9)

        // --apply: the set-threshold request, as the CLI sends it.
        let c = try ControlClient.connect(path: dir + "/ctl.sock")
        let reply = try c.request(["cmd": "threshold", "value": Double("\(proposed)")!, "camera": "belt"])
        XCTAssertEqual(reply["ok"] as? Bool, true, "\(reply)")
        XCTAssertEqual(agent.cameras[0].threshold, proposed, "changed live")
        // --write-config
        try ConfigThresholdEditor.write(threshold: proposed, camera: "belt", configPath: path)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        XCTAssertTrue(text.hasPrefix("# commissioning notes: keep\n"), text)
        XCTAssertTrue(text.contains("threshold: \(proposed)   # before calibration"), text)
        XCTAssertEqual(try AgentConfig.load(path: path).threshold, proposed, "changed in the file")
        // A reload of the written file keeps the calibrated threshold.
        XCTAssertTrue(agent.reload(path: path))
        XCTAssertEqual(agent.cameras[0].threshold, proposed)
    }

    func testTheCommandLineToolEndToEnd() throws {
        // The test bundle sits in the build folder beside the products (Linux: the folder itself).
        let url = Bundle(for: LiveCalibrationTests.self).bundleURL
        let candidates = [url.appendingPathComponent("grdnet").path, url.deletingLastPathComponent().appendingPathComponent("grdnet").path]
        guard let bin = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            // `swift build --build-tests` (Tests/run) builds it: its absence is a failure, not a skip.
            XCTFail("no grdnet binary beside the test bundle (\(candidates[0])); `swift build` makes it")
            return
        }
        let path = try config()
        let agent = Agent(config: try AgentConfig.load(path: path))
        try agent.start()
        defer { agent.stop() }
        waitForFrames(agent, 3)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: bin)
        p.arguments = ["calibrate", "--live", "40", "--target-frr", "5%", "--socket", dir + "/ctl.sock",
                       "--apply", "--write-config", path, "--timeout", "60"]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = Pipe()
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, text)
        XCTAssertTrue(text.contains("proposed threshold"), text)
        XCTAssertTrue(text.contains("good parts scored") && text.contains("40 in"), text)
        XCTAssertTrue(text.contains("set live"), text)
        let live = agent.cameras[0].threshold
        XCTAssertNotEqual(live, 0.9)
        XCTAssertEqual(try AgentConfig.load(path: path).threshold, live, "the file and the daemon agree")
    }

    func testClearErrorsForNoDaemonPausedCameraAndTooFewParts() throws {
        XCTAssertThrowsError(try LiveScoreCollector(socketPath: dir + "/nobody.sock").collect(count: 30, timeoutSeconds: 1)) {
            XCTAssertTrue("\($0)".contains("is the daemon running"), "\($0)")
        }
        // A replay that ends after 12 parts: 40 never arrive.
        let path = try config(loop: false, fps: 40)
        let agent = Agent(config: try AgentConfig.load(path: path))
        try agent.start()
        defer { agent.stop() }
        waitForFrames(agent, 12)
        XCTAssertThrowsError(try LiveScoreCollector(socketPath: dir + "/ctl.sock").collect(count: 40, timeoutSeconds: 1)) {
            XCTAssertTrue("\($0)".contains("only 0 of 40 live parts"), "\($0)")
        }
        XCTAssertThrowsError(try LiveScoreCollector(socketPath: dir + "/ctl.sock", camera: "nope").collect(count: 40, timeoutSeconds: 1)) {
            XCTAssertTrue("\($0)".contains("no camera named 'nope'"), "\($0)")
        }
        agent.cameras[0].isPaused = true
        XCTAssertThrowsError(try LiveScoreCollector(socketPath: dir + "/ctl.sock").collect(count: 40, timeoutSeconds: 5)) {
            XCTAssertTrue("\($0)".contains("paused"), "\($0)")
        }
    }
}
