import XCTest
@testable import GRDAgent

/// The checkout this test file sits in (Tests/GRDAgentTests/..), for the shipped configs and samples.
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

final class ConfigTests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "grdnet-config-\(getpid())-\(name.hashValue)"
        try FileManager.default.createDirectory(atPath: dir + "/images", withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    let valid = """
        model: demo
        threshold: 0.4
        cameras:
          - name: a
            replay: images
            fps: 5
            deadline_ms: 100
            roi:
              polygons: [[[0.1, 0.1], [0.9, 0.1], [0.5, 0.9]]]
            reject:
              chip: simulated
              delay_ms: 250
              width_ms: 30
        socket:
          path: run/grdnet.sock
          mode: "0640"
        state_dir: state
        """

    func parse(_ yaml: String) throws -> AgentConfig {
        try AgentConfig.parse(yaml: yaml, file: dir + "/grdnet.yaml")
    }

    func issues(_ yaml: String, file: StaticString = #filePath, line: UInt = #line) -> [ConfigIssue] {
        do {
            _ = try parse(yaml)
            XCTFail("expected the config to be rejected", file: file, line: line)
            return []
        } catch let e as ConfigError { return e.issues } catch {
            XCTFail("unexpected error \(error)", file: file, line: line); return []
        }
    }

    func testValidConfigParsesWithRelativePathsResolvedAgainstTheFile() throws {
        let c = try parse(valid)
        XCTAssertNil(c.modelPath)
        XCTAssertEqual(c.threshold, 0.4)
        XCTAssertEqual(c.cameras.count, 1)
        XCTAssertEqual(c.cameras[0].source, .replay(folder: dir + "/images", loop: true))
        XCTAssertEqual(c.cameras[0].reject, RejectConfig(line: LineConfig(chip: nil), delayMilliseconds: 250, widthMilliseconds: 30))
        XCTAssertEqual(c.socket.path, dir + "/run/grdnet.sock")
        XCTAssertEqual(c.socket.mode, 0o640)
        XCTAssertEqual(c.stateDirectory, dir + "/state")
        guard case .polygons(let p)? = c.cameras[0].roi else { return XCTFail("polygons expected") }
        XCTAssertEqual(p[0].count, 3)
        XCTAssertEqual(p[0][2], ROIPoint(x: 0.5, y: 0.9))
    }

    func testUnknownKeyIsAnErrorWithLineAndSuggestion() {
        let found = issues(valid.replacingOccurrences(of: "delay_ms: 250", with: "dealy_ms: 250"))
        let typo = found.first { $0.key == "cameras[0].reject.dealy_ms" }
        XCTAssertNotNil(typo, "\(found)")
        XCTAssertEqual(typo?.line, 12)
        XCTAssertTrue(typo?.message.contains("did you mean 'delay_ms'") ?? false, typo?.message ?? "")
        // delay_ms is then missing, and that is reported too.
        XCTAssertTrue(found.contains { $0.key == "cameras[0].reject.delay_ms" && $0.message.contains("missing") }, "\(found)")
        XCTAssertTrue(typo!.description.hasPrefix(dir + "/grdnet.yaml:12: cameras[0].reject.dealy_ms:"), typo!.description)
    }

    func testWrongTypeNamesTheKeyAndLine() {
        let found = issues(valid.replacingOccurrences(of: "fps: 5", with: "fps: fast"))
        XCTAssertEqual(found.count, 1, "\(found)")
        XCTAssertEqual(found.first?.key, "cameras[0].fps")
        XCTAssertEqual(found.first?.line, 6)
        XCTAssertTrue(found.first?.message.contains("\"fast\"") ?? false)
    }

    func testRejectDelayShorterThanDeadlineIsRefused() {
        let found = issues(valid.replacingOccurrences(of: "deadline_ms: 100", with: "deadline_ms: 300"))
        XCTAssertTrue(found.contains { $0.key == "cameras[0].reject.delay_ms" && $0.message.contains("deadline_ms") }, "\(found)")
    }

    func testMissingFolderAndBadModeAreReported() {
        var y = valid.replacingOccurrences(of: "replay: images", with: "replay: nowhere")
        y = y.replacingOccurrences(of: "mode: \"0640\"", with: "mode: \"rw\"")
        let found = issues(y)
        XCTAssertTrue(found.contains { $0.key == "cameras[0].replay" && $0.message.contains("does not exist") }, "\(found)")
        XCTAssertTrue(found.contains { $0.key == "socket.mode" && $0.line == 16 }, "\(found)")
    }

    func testFailSafeCannotBeSetToPass() {
        let found = issues(valid + "\nfail_safe:\n  on_late_decision: pass\n")
        XCTAssertEqual(found.first?.key, "fail_safe.on_late_decision")
        XCTAssertTrue(found.first?.message.contains("never passes") ?? false)
    }

    func testYAMLSyntaxErrorHasALine() {
        let found = issues("model: demo\nthreshold: [0.5\ncameras: []\n")
        XCTAssertEqual(found.count, 1)
        XCTAssertNotNil(found.first?.line)
        XCTAssertTrue(found.first?.message.hasPrefix("not valid YAML") ?? false, "\(found)")
    }

    func testShippedDefaultConfigIsValid() throws {
        // deploy/grdnet.yaml is what deploy/demo runs.
        let c = try AgentConfig.load(path: repositoryRoot + "/deploy/grdnet.yaml")
        XCTAssertEqual(c.cameras.first?.reject.line.isSimulated, true)
        if let m = c.modelPath { XCTAssertTrue(FileManager.default.fileExists(atPath: m), m) }
    }

    func testPackagedPiConfigIsValidAndLeavesTheThresholdToTheModel() throws {
        // deploy/grdnet-pi.yaml is the .deb's /etc/grdnet/grdnet.yaml; install.sh rewrites its model
        // folder as done here. A fixed threshold in it would judge every model on one scale: with the
        // shipped model (standard deviations, default ~18) a 0.5 rejected nearly every good part.
        let text = try String(contentsOfFile: repositoryRoot + "/deploy/grdnet-pi.yaml", encoding: .utf8)
            .replacingOccurrences(of: "/usr/share/grdnet/models/", with: repositoryRoot + "/Models/")
        let c = try AgentConfig.parse(yaml: text, file: dir + "/grdnet.yaml")
        XCTAssertEqual(c.modelPath, repositoryRoot + "/Models/magnetic-tile.grdnet")
        XCTAssertNil(c.threshold, "a packaged threshold overrides the model's default before calibration")
        XCTAssertEqual(c.cameras.map { $0.threshold == nil }, [true])
        XCTAssertEqual(c.cameras.first?.reject.line.isSimulated, false)
        // What its comment promises: `grdnet calibrate --write-config` adds the threshold (after `model:`).
        let e = try ConfigThresholdEditor.edit(yaml: text, file: "grdnet.yaml", camera: nil, threshold: 21.5)
        XCTAssertEqual(e.key, "threshold")
        XCTAssertTrue(e.inserted)
        let lines = e.text.components(separatedBy: "\n")
        XCTAssertEqual(lines[e.line - 1], "threshold: 21.5")
        XCTAssertTrue(lines[e.line - 2].hasPrefix("model: "), lines[e.line - 2])
        XCTAssertEqual(try AgentConfig.parse(yaml: e.text, file: dir + "/grdnet.yaml").threshold, 21.5)
    }

    func testPolygonRasterisation() {
        let m = rasterize(polygons: [[ROIPoint(x: 0, y: 0), ROIPoint(x: 0.5, y: 0), ROIPoint(x: 0.5, y: 1), ROIPoint(x: 0, y: 1)]], width: 8, height: 4)
        XCTAssertEqual(m.filter { $0 == 255 }.count, 16)
        XCTAssertEqual(m[0], 255)
        XCTAssertEqual(m[7], 0)
    }

    func testEditDistanceSuggestions() {
        XCTAssertEqual(closest("thraeds", in: ["threshold", "threads"]), "threads")
        XCTAssertEqual(closest("treshold", in: ["threshold", "threads"]), "threshold")
        XCTAssertNil(closest("banana", in: ["threshold", "cameras"]))
    }
}

final class HistogramTests: XCTestCase {
    func testQuantilesAreWithinABucketAndNeverUnderstate() {
        var h = LogHistogram(unit: 1_000)
        for v in 1...1000 { h.record(UInt64(v) * 1_000_000) }  // 1..1000 ms
        XCTAssertEqual(h.total, 1000)
        XCTAssertEqual(h.maximum, 1_000_000_000)
        let p50 = h.quantile(0.5), p99 = h.quantile(0.99)
        XCTAssertGreaterThanOrEqual(p50, 500_000_000)
        XCTAssertLessThanOrEqual(p50, 600_000_000)
        XCTAssertGreaterThanOrEqual(p99, 990_000_000)
        XCTAssertLessThanOrEqual(p99, 1_000_000_000)
    }

    func testBucketsAreContiguous() {
        var last = -1
        for v in UInt64(0)..<5000 {
            let b = LogHistogram.bucket(v)
            XCTAssertTrue(b == last || b == last + 1, "value \(v) bucket \(b) after \(last)")
            XCTAssertLessThanOrEqual(LogHistogram.lowerBound(b), v)
            XCTAssertGreaterThan(LogHistogram.lowerBound(b + 1), v)
            last = b
        }
    }

    func testScoreHistogram() {
        var s = ScoreHistogram(lower: 0, upper: 1, bins: 10)
        for v: Float in [-1, 0, 0.05, 0.55, 0.99, 1, 2, .nan] { s.record(v) }
        XCTAssertEqual(s.below, 1)
        XCTAssertEqual(s.above, 3)
        XCTAssertEqual(s.counts[0], 2)
        XCTAssertEqual(s.counts[5], 1)
        XCTAssertEqual(s.counts[9], 1)
    }
}
