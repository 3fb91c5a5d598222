import XCTest
@testable import GRDCapture

final class CaptureTests: XCTestCase {
    func testSequenceGapsAreCountedAcrossWrapAround() {
        var gaps = SequenceGapCounter()
        XCTAssertEqual(gaps.record(10), 0)
        XCTAssertEqual(gaps.record(11), 0)
        XCTAssertEqual(gaps.record(14), 2)
        XCTAssertEqual(gaps.record(UInt32.max), 0)  // stream restarted backwards: not a gap
        XCTAssertEqual(gaps.record(1), 1)           // wrapped: max -> 0 missing, 1 seen
        XCTAssertEqual(gaps.missing, 3)
    }

    func testFourCCRoundTrip() {
        XCTAssertEqual(fourCC("YUYV"), 0x5659_5559)
        XCTAssertEqual(fourCCString(fourCC("MJPG")), "MJPG")
    }

    func testFolderReplayLoopsInNameOrderWithMonotonicTimestamps() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("replay-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for name in ["b.jpg", "a.jpg", "notes.txt"] {
            try Data(name.utf8).write(to: dir.appendingPathComponent(name))
        }
        let source = try FolderReplaySource(folder: dir.path, framesPerSecond: 200)
        var origins: [String] = [], stamps: [UInt64] = []
        for _ in 0..<4 {
            let f = try XCTUnwrap(source.nextFrame(timeoutMilliseconds: 1000))
            origins.append(String(f.origin.split(separator: "/").last!))
            stamps.append(f.timestampNanoseconds)
        }
        XCTAssertEqual(origins, ["a.jpg", "b.jpg", "a.jpg", "b.jpg"])
        XCTAssertEqual(stamps, stamps.sorted())
        // 200 fps: 3 periods of 5 ms at least between the first and the fourth frame.
        XCTAssertGreaterThanOrEqual(stamps[3] - stamps[0], 14_000_000)
        XCTAssertEqual(source.counters.delivered, 4)
        XCTAssertThrowsError(try FolderReplaySource(folder: dir.path + "/missing", framesPerSecond: 1))
    }

    func testRealDeviceErrorsNameTheDeviceAndTheOperation() {
        XCTAssertEqual(resolveVideoDevicePath("/dev/video3"), "/dev/video3")
        XCTAssertEqual(resolveVideoDevicePath("no-such-camera-id"), "/dev/no-such-camera-id")
        let missing = V4L2Device(settings: CameraSettings(device: "/dev/video-missing-\(getpid())"))
        XCTAssertThrowsError(try missing.open()) {
            XCTAssertTrue("\($0)".hasPrefix("/dev/video-missing-"), "\($0)")
            XCTAssertTrue("\($0)".hasSuffix(": open failed: No such file or directory"), "\($0)")
            XCTAssertTrue(($0 as? V4L2Error)?.deviceIsGone == true)
        }
        let notVideo = V4L2Device(settings: CameraSettings(device: "/dev/null"))
        XCTAssertThrowsError(try notVideo.open()) {
            XCTAssertEqual("\($0)", "/dev/null: VIDIOC_QUERYCAP (this is not a video device) failed: Inappropriate ioctl for device")
        }
        XCTAssertEqual(notVideo.fd, -1, "a failed open leaves nothing open")
    }
}
