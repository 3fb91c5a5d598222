import XCTest
@testable import GRDCapture

final class FrameMailboxTests: XCTestCase {
    func frame(_ seq: UInt32, _ bytes: [UInt8]) -> Frame {
        Frame(timestampNanoseconds: UInt64(seq), sequence: seq, format: .grey, width: 1, height: 1, bytes: bytes, origin: "t")
    }

    func testNewestWinsAndReplacedFramesAreCounted() {
        let box = FrameMailbox()
        var p = frame(1, [1])
        XCTAssertFalse(box.put(&p))
        var p2 = frame(2, [2])
        XCTAssertTrue(box.put(&p2))
        var c = Frame.reusable(capacity: 0)
        XCTAssertTrue(box.take(into: &c, timeoutMilliseconds: 0))
        XCTAssertEqual(c.sequence, 2)
        XCTAssertFalse(box.take(into: &c, timeoutMilliseconds: 0))
        XCTAssertEqual(box.statistics.replaced, 1)
        XCTAssertEqual(box.statistics.taken, 1)
    }

    func testBuffersCirculateInsteadOfBeingCopied() {
        let box = FrameMailbox()
        var producer = Frame.reusable(capacity: 64)
        var consumer = Frame.reusable(capacity: 64)
        [UInt8](repeating: 3, count: 64).withUnsafeBytes { producer.setBytes($0) }
        let producerBuffer = producer.bytes.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress) }
        box.put(&producer)
        XCTAssertTrue(box.take(into: &consumer, timeoutMilliseconds: 0))
        XCTAssertEqual(consumer.bytes.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress) }, producerBuffer)
        // The producer got a spare buffer back, and refilling it keeps its storage.
        [UInt8](repeating: 4, count: 10).withUnsafeBytes { producer.setBytes($0) }
        let spare = producer.bytes.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress) }
        [UInt8](repeating: 5, count: 8).withUnsafeBytes { producer.setBytes($0) }
        XCTAssertEqual(producer.bytes.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress) }, spare)
        XCTAssertEqual(producer.bytes, [UInt8](repeating: 5, count: 8))
    }

    func testTakeWaitsForAProducerAndTimesOut() {
        let box = FrameMailbox()
        var c = Frame.reusable(capacity: 0)
        let t0 = monotonicNanoseconds()
        XCTAssertFalse(box.take(into: &c, timeoutMilliseconds: 80))
        let waited = monotonicNanoseconds() - t0
        XCTAssertGreaterThanOrEqual(waited, 75_000_000)
        let producer = Thread {
            usleep(30_000)
            var f = Frame(timestampNanoseconds: 1, sequence: 7, format: .grey, width: 1, height: 1, bytes: [7], origin: "t")
            box.put(&f)
        }
        producer.start()
        XCTAssertTrue(box.take(into: &c, timeoutMilliseconds: 5000))
        XCTAssertEqual(c.sequence, 7)
        box.close()
        XCTAssertFalse(box.take(into: &c, timeoutMilliseconds: 5000))
    }
}

final class NegotiationAndControlTests: XCTestCase {
    let yuyv = fourCC("YUYV"), mjpg = fourCC("MJPG"), h264 = fourCC("H264")

    func offered() -> [FormatDescription] {
        [FormatDescription(fourcc: h264, description: "H.264", compressed: true, sizes: .discrete([(1920, 1080, [30])])),
         FormatDescription(fourcc: yuyv, description: "YUYV 4:2:2", compressed: false,
                           sizes: .discrete([(640, 480, [30, 15]), (1280, 720, [10]), (1920, 1080, [5])])),
         FormatDescription(fourcc: mjpg, description: "Motion-JPEG", compressed: true,
                           sizes: .discrete([(640, 480, [30]), (1280, 720, [30])]))]
    }

    func testPrefersTheFirstDecodableFormatAndTheBestSize() throws {
        var c = try chooseFormat(device: "/dev/video0", offered: offered(), preferred: [.mjpeg, .yuyv], width: 1280, height: 720)
        XCTAssertEqual(c, FormatChoice(format: .mjpeg, fourcc: mjpg, width: 1280, height: 720))
        c = try chooseFormat(device: "/dev/video0", offered: offered(), preferred: [.yuyv], width: 800, height: 600)
        XCTAssertEqual(c.width, 1280, "smallest size covering 800x600")
        c = try chooseFormat(device: "/dev/video0", offered: offered(), preferred: [.yuyv], width: 4000, height: 3000)
        XCTAssertEqual(c.width, 1920, "largest when nothing covers")
        let stepwise = [FormatDescription(fourcc: fourCC("GREY"), description: "8-bit grey", compressed: false,
                                          sizes: .stepwise(minWidth: 16, maxWidth: 2048, stepWidth: 16, minHeight: 16, maxHeight: 1536, stepHeight: 2))]
        c = try chooseFormat(device: "/dev/video0", offered: stepwise, preferred: [.mjpeg, .grey], width: 1000, height: 5000)
        XCTAssertEqual(c, FormatChoice(format: .grey, fourcc: fourCC("GREY"), width: 1008, height: 1536))
        XCTAssertThrowsError(try chooseFormat(device: "/dev/video3", offered: [offered()[0]], preferred: [.mjpeg, .yuyv, .grey], width: 1, height: 1)) {
            XCTAssertTrue("\($0)".contains("/dev/video3: offers H264 (H.264); none of the formats"), "\($0)")
        }
    }

    func testReadBackAcceptsOnlyDecodableFormatsAndReportsChanges() throws {
        let asked = FormatChoice(format: .mjpeg, fourcc: mjpg, width: 1280, height: 720)
        // vivid answers MJPG requests with YUYV.
        let r = try acceptNegotiated(device: "/dev/video0", asked: asked, gotFourcc: yuyv, gotWidth: 640, gotHeight: 480)
        XCTAssertEqual(r.format, .yuyv)
        XCTAssertEqual(r.note, "asked for MJPG, driver gave YUYV; asked for 1280x720, driver gave 640x480")
        XCTAssertNil(try acceptNegotiated(device: "d", asked: asked, gotFourcc: mjpg, gotWidth: 1280, gotHeight: 720).note)
        XCTAssertThrowsError(try acceptNegotiated(device: "d", asked: asked, gotFourcc: h264, gotWidth: 1280, gotHeight: 720))
    }

    func cameraControls() -> [ControlInfo] {
        [ControlInfo(id: V4L2ControlID.brightness, name: "Brightness", kind: .integer, minimum: 0, maximum: 255, step: 1, defaultValue: 128),
         ControlInfo(id: V4L2ControlID.exposureAuto, name: "Auto Exposure", kind: .menu, minimum: 0, maximum: 3, step: 1, defaultValue: 3),
         ControlInfo(id: V4L2ControlID.exposureAbsolute, name: "Exposure Time, Absolute", kind: .integer, minimum: 3, maximum: 2047, step: 1, defaultValue: 250),
         ControlInfo(id: V4L2ControlID.autogain, name: "Gain, Automatic", kind: .boolean, minimum: 0, maximum: 1, step: 1, defaultValue: 1),
         ControlInfo(id: V4L2ControlID.gain, name: "Gain", kind: .integer, minimum: 0, maximum: 100, step: 10, defaultValue: 0),
         ControlInfo(id: V4L2ControlID.autoWhiteBalance, name: "White Balance, Automatic", kind: .boolean, minimum: 0, maximum: 1, step: 1, defaultValue: 1),
         ControlInfo(id: V4L2ControlID.whiteBalanceTemperature, name: "White Balance Temperature", kind: .integer, minimum: 2800, maximum: 6500, step: 1, defaultValue: 4600),
         ControlInfo(id: 0x00980910, name: "Pixel Rate", kind: .integer, minimum: 0, maximum: 1, step: 1, defaultValue: 0, readOnly: true)]
    }

    func testSettingsMapToOrderedControlWritesAutoModesOffFirst() {
        var s = CameraSettings(device: "/dev/video0")
        s.exposureMicroseconds = 10_000
        s.gain = 47
        s.whiteBalanceKelvin = 9000
        s.focus = 30
        s.otherControls = ["Brightness": 140, "contrast": 3, "pixel_rate": 1]
        let plan = planControlWrites(s, available: cameraControls())
        XCTAssertEqual(plan.writes.map(\.name), ["auto_exposure", "exposure_time_absolute", "gain_automatic", "gain",
                                                 "white_balance_automatic", "white_balance_temperature", "brightness"])
        XCTAssertEqual(plan.writes.map(\.value), [1, 100, 0, 50, 0, 6500, 140])
        XCTAssertTrue(plan.problems.contains { $0.hasPrefix("focus: this camera has no manual focus control") })
        XCTAssertTrue(plan.problems.contains { $0.hasPrefix("contrast: no such control on this camera (it has: brightness, auto_exposure") })
        XCTAssertTrue(plan.problems.contains("pixel_rate: the camera reports this control as read-only; 1 ignored"))
        XCTAssertTrue(plan.problems.contains("white_balance_temperature: 9000 is outside what the camera accepts; using 6500"))
        XCTAssertTrue(plan.problems.contains("gain: 47 is outside what the camera accepts; using 50"))
    }

    func testControlKeysAndClamping() {
        XCTAssertEqual(controlKey("White Balance Temperature"), "white_balance_temperature")
        XCTAssertEqual(controlKey("Exposure Time, Absolute"), "exposure_time_absolute")
        let c = ControlInfo(id: 1, name: "x", kind: .integer, minimum: -10, maximum: 20, step: 4, defaultValue: 0)
        XCTAssertEqual(c.clamp(100), 18)
        XCTAssertEqual(c.clamp(-100), -10)
        XCTAssertEqual(c.clamp(1), 2)
        XCTAssertEqual(c.clamp(-3), -2)
    }

    func testJPEGEndMarkerDetection() {
        func check(_ b: [UInt8]) -> Bool { b.withUnsafeBytes { jpegHasEndMarker($0) } }
        XCTAssertTrue(check([0xFF, 0xD8, 0, 0xFF, 0xD9]))
        XCTAssertTrue(check([0xFF, 0xD8, 0, 0xFF, 0xD9, 0, 0, 0]))   // padding after EOI
        XCTAssertFalse(check([0xFF, 0xD8, 0, 1, 2, 3]))
        XCTAssertFalse(check([0xFF, 0xD9]))
        XCTAssertFalse(check([0x00, 0xD8, 0xFF, 0xD9]))
        XCTAssertFalse(check([]))
    }
}

final class RecordedStreamTests: XCTestCase {
    func testRecordThenReplayKeepsFormatsSequencesAndPacing() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("rec-\(getpid())-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let writer = try RecordingWriter(directory: dir)
        let t0: UInt64 = 5_000_000_000
        for (i, seq) in [UInt32(10), 11, 14].enumerated() {
            let f = Frame(timestampNanoseconds: t0 + UInt64(i) * 40_000_000, sequence: seq, format: .yuyv,
                          width: 4, height: 2, bytes: [UInt8](repeating: UInt8(i), count: 16), origin: "/dev/video0", rowStride: 8)
            XCTAssertEqual(try writer.write(f), "frame-00000\(i).yuyv")
        }
        writer.close()
        let index = try String(contentsOfFile: dir + "/index.tsv", encoding: .utf8)
        XCTAssertTrue(index.hasPrefix(recordingIndexHeader + "\nframe-000000.yuyv\t10\t5000000000\tYUYV\t4\t2\t8\t16\n"), index)

        let replay = try RecordedStreamSource(directory: dir, pacing: .recorded)
        var f = Frame.reusable(capacity: 16)
        var stamps: [UInt64] = []
        var seqs: [UInt32] = []
        while try replay.nextFrame(into: &f, timeoutMilliseconds: 1000) {
            stamps.append(f.timestampNanoseconds)
            seqs.append(f.sequence)
            XCTAssertEqual(f.format, .yuyv)
            XCTAssertEqual(f.rowStride, 8)
            XCTAssertEqual(f.bytes, [UInt8](repeating: UInt8(seqs.count - 1), count: 16))
        }
        XCTAssertEqual(seqs, [10, 11, 14])
        XCTAssertGreaterThanOrEqual(stamps[2] - stamps[0], 75_000_000, "recorded 40 ms intervals are kept")
        XCTAssertEqual(replay.counters.sequenceGaps, 2)
        XCTAssertEqual(replay.counters.delivered, 3)
    }

    func testBadRecordingsAreClearErrors() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("rec-bad-\(getpid())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        XCTAssertThrowsError(try RecordedStreamSource(directory: dir)) { XCTAssertTrue("\($0)".contains("has no index.tsv")) }
        try (recordingIndexHeader + "\nframe-000000.jpg\t1\t2\tH264\t4\t2\t0\t16\n").write(toFile: dir + "/index.tsv", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try RecordedStreamSource(directory: dir)) {
            XCTAssertTrue("\($0)".hasSuffix("index.tsv line 2: format 'H264' is not MJPG, YUYV or GREY"), "\($0)")
        }
        // A frame file shorter than the index says is counted as corrupt and skipped.
        try (recordingIndexHeader + "\na.grey\t1\t2\tGREY\t2\t2\t0\t4\nb.grey\t2\t3\tGREY\t2\t2\t0\t4\n").write(toFile: dir + "/index.tsv", atomically: true, encoding: .utf8)
        try Data([1, 2]).write(to: URL(fileURLWithPath: dir + "/a.grey"))
        try Data([1, 2, 3, 4]).write(to: URL(fileURLWithPath: dir + "/b.grey"))
        let replay = try RecordedStreamSource(directory: dir, pacing: .unpaced)
        let f = try XCTUnwrap(replay.nextFrame(timeoutMilliseconds: 100))
        XCTAssertEqual(f.sequence, 2)
        XCTAssertEqual(replay.counters.corrupt, 1)
        XCTAssertNil(try replay.nextFrame(timeoutMilliseconds: 100))
    }
}
