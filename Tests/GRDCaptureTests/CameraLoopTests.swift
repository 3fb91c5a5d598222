import XCTest
@testable import GRDCapture

/// A scripted camera: the test queues buffers, unplugs and replugs; the capture thread of a real
/// `V4L2Camera` consumes them through the `CaptureDevice` protocol.
final class ScriptedDevice: CaptureDevice, @unchecked Sendable {
    let path = "/dev/video-test"
    var format: PixelFormat = .yuyv
    private let lock = NSLock()
    /// Hand-rolled (NSLocking.withLock is missing from older corelibs Foundation).
    private func locked<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }
    private var ready: [(DequeuedBuffer, [UInt8])] = []
    private var plugged = true
    private var isOpen = false
    private var storage: [Int: [UInt8]] = [:]
    private var nextIndex = 0
    private(set) var opens = 0
    private(set) var outstanding = 0   // dequeued but not yet requeued

    func open() throws -> StreamInfo {
        try locked {
            guard plugged else { throw V4L2Error(device: path, operation: "open", errno: ENOENT) }
            isOpen = true
            opens += 1
            return StreamInfo(format: format, width: 4, height: 2, bytesPerLine: 8, sizeImage: 16,
                              framesPerSecond: 30, bufferCount: 4)
        }
    }

    func deliver(_ frames: [(sequence: UInt32, bytes: [UInt8], error: Bool)]) {
        locked {
            for f in frames {
                let b = DequeuedBuffer(index: nextIndex, bytesUsed: f.bytes.count, sequence: f.sequence,
                                       timestampNanoseconds: 1_000 + UInt64(f.sequence), error: f.error)
                nextIndex += 1
                ready.append((b, f.bytes))
            }
        }
    }

    func unplug() { locked { plugged = false; ready.removeAll() } }
    private var failNextWait = false
    func failStream() { locked { failNextWait = true } }
    func replug() { locked { plugged = true } }

    func waitReadable(timeoutMilliseconds: Int) throws -> WaitResult {
        let deadline = Date().addingTimeInterval(Double(timeoutMilliseconds) / 1000)
        while Date() < deadline {
            let state: WaitResult? = locked {
                if !plugged || !isOpen { return .gone }
                if failNextWait { failNextWait = false; return .streamError }
                return ready.isEmpty ? nil : .readable
            }
            if let state { return state }
            usleep(1000)
        }
        return .timeout
    }

    func dequeue() throws -> DequeuedBuffer? {
        try locked {
            guard plugged else { throw V4L2Error(device: path, operation: "VIDIOC_DQBUF", errno: ENODEV) }
            guard !ready.isEmpty else { return nil }
            let (b, bytes) = ready.removeFirst()
            storage[b.index] = bytes
            outstanding += 1
            return b
        }
    }

    func bytes(of buffer: DequeuedBuffer) -> UnsafeRawBufferPointer {
        let bytes = locked { storage[buffer.index]! }
        // Stable for the test's lifetime: leak a copy (tests only).
        let p = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 1)
        p.copyBytes(from: bytes)
        return UnsafeRawBufferPointer(start: p.baseAddress, count: bytes.count)
    }

    func requeue(_ buffer: DequeuedBuffer) throws {
        locked { outstanding -= 1; storage[buffer.index] = nil }
    }

    func close() { locked { isOpen = false } }
}

final class CameraLoopTests: XCTestCase {
    func settings(stallMilliseconds: Int = 3000) -> CameraSettings {
        var s = CameraSettings(device: "/dev/video-test")
        s.stallTimeoutMilliseconds = stallMilliseconds
        s.reopenBackoffMilliseconds = (20, 80)
        return s
    }

    func waitUntil(_ what: String, timeout: Double = 5, _ condition: () -> Bool) {
        let end = Date().addingTimeInterval(timeout)
        while !condition() && Date() < end { usleep(2000) }
        XCTAssertTrue(condition(), "timed out waiting for: \(what)")
    }

    func frame(_ seq: UInt32, _ fill: UInt8 = 7) -> (sequence: UInt32, bytes: [UInt8], error: Bool) {
        (seq, [UInt8](repeating: fill, count: 16), false)
    }

    func testFramesGapsAndCorruptBuffersAreCounted() throws {
        let dev = ScriptedDevice()
        let cam = V4L2Camera(settings: settings(), device: dev)
        try cam.start()
        defer { cam.stop() }
        var f = Frame.reusable(capacity: 16)
        dev.deliver([frame(0, 1)])
        XCTAssertTrue(try cam.nextFrame(into: &f, timeoutMilliseconds: 2000))
        XCTAssertEqual(f.sequence, 0)
        XCTAssertEqual(f.bytes, [UInt8](repeating: 1, count: 16))
        XCTAssertEqual(f.format, .yuyv)
        XCTAssertEqual(f.rowStride, 8)
        XCTAssertEqual(f.origin, "/dev/video-test")
        dev.deliver([(1, [UInt8](repeating: 0, count: 16), true)])   // driver-flagged error
        dev.deliver([(2, [], false)])                                 // empty buffer
        dev.deliver([frame(5, 5)])                                    // 3 and 4 never arrived
        XCTAssertTrue(try cam.nextFrame(into: &f, timeoutMilliseconds: 2000))
        XCTAssertEqual(f.sequence, 5)
        let c = cam.counters
        XCTAssertEqual(c.corrupt, 2)
        XCTAssertEqual(c.sequenceGaps, 2)
        XCTAssertEqual(c.delivered, 2)
        XCTAssertEqual(c.dropped, 2)
        XCTAssertFalse(try cam.nextFrame(into: &f, timeoutMilliseconds: 50))
        XCTAssertEqual(cam.counters.timeouts, 1)
        XCTAssertEqual(dev.outstanding, 0, "every dequeued buffer must go back to the driver")
    }

    func testKeepsNewestWhenBehindAndCountsWhatItSkipped() throws {
        let dev = ScriptedDevice()
        let cam = V4L2Camera(settings: settings(), device: dev)
        try cam.start()
        defer { cam.stop() }
        // Three frames queued at once: the loop drains and keeps only the last.
        dev.deliver([frame(0, 1), frame(1, 2), frame(2, 3)])
        waitUntil("first capture") { cam.counters.captured == 1 }
        // Two more captured while nobody reads: the mailbox replaces unread frames.
        dev.deliver([frame(3, 4)])
        waitUntil("second capture") { cam.counters.captured == 2 }
        dev.deliver([frame(4, 5)])
        waitUntil("third capture") { cam.counters.captured == 3 }
        var f = Frame.reusable(capacity: 16)
        XCTAssertTrue(try cam.nextFrame(into: &f, timeoutMilliseconds: 1000))
        XCTAssertEqual(f.sequence, 4)
        XCTAssertEqual(f.bytes.first, 5)
        let c = cam.counters
        XCTAssertEqual(c.discardedBehind, 2)
        XCTAssertEqual(c.replacedUnread, 2)
        XCTAssertEqual(c.sequenceGaps, 0)
        XCTAssertEqual(c.dropped, 4)
        XCTAssertEqual(dev.outstanding, 0)
    }

    func testTruncatedJPEGIsSkippedAndCounted() throws {
        let dev = ScriptedDevice()
        dev.format = .mjpeg
        let cam = V4L2Camera(settings: settings(), device: dev)
        try cam.start()
        defer { cam.stop() }
        let good: [UInt8] = [0xFF, 0xD8, 1, 2, 3, 4, 0xFF, 0xD9]
        dev.deliver([(0, Array(good.prefix(6)), false), (1, good, false)])
        var f = Frame.reusable(capacity: 16)
        XCTAssertTrue(try cam.nextFrame(into: &f, timeoutMilliseconds: 2000))
        XCTAssertEqual(f.sequence, 1)
        XCTAssertEqual(f.bytes, good)
        XCTAssertEqual(f.rowStride, 0)
        XCTAssertEqual(cam.counters.truncatedJPEG, 1)
        XCTAssertEqual(cam.counters.corrupt, 1)
        XCTAssertEqual(cam.counters.discardedBehind, 0)
    }

    func testUnplugIsRecoveredByReopeningWithoutRestartingTheProcess() throws {
        let dev = ScriptedDevice()
        let cam = V4L2Camera(settings: settings(), device: dev)
        try cam.start()
        defer { cam.stop() }
        var f = Frame.reusable(capacity: 16)
        dev.deliver([frame(0), frame(1)])
        XCTAssertTrue(try cam.nextFrame(into: &f, timeoutMilliseconds: 2000))
        dev.unplug()
        waitUntil("disconnect noticed") { cam.counters.disconnects == 1 }
        waitUntil("failed re-open attempts") { cam.counters.reopenFailures >= 2 }
        if case .reconnecting = cam.state {} else { XCTFail("state should be reconnecting, is \(cam.state)") }
        XCTAssertFalse(try cam.nextFrame(into: &f, timeoutMilliseconds: 50))
        dev.replug()
        waitUntil("re-opened") { cam.counters.reconnects == 1 }
        XCTAssertEqual(cam.state, .streaming)
        dev.deliver([frame(0, 9)])  // a new stream numbers from 0: not a gap
        XCTAssertTrue(try cam.nextFrame(into: &f, timeoutMilliseconds: 2000))
        XCTAssertEqual(f.bytes.first, 9)
        XCTAssertEqual(cam.counters.sequenceGaps, 0)
        XCTAssertEqual(dev.opens, 2)
    }

    func testDriverStreamErrorRestartsTheStream() throws {
        let dev = ScriptedDevice()
        let cam = V4L2Camera(settings: settings(), device: dev)
        try cam.start()
        defer { cam.stop() }
        dev.failStream()
        waitUntil("stream restarted") { cam.counters.streamErrors == 1 && cam.counters.reconnects == 1 }
        dev.deliver([frame(0, 3)])
        var f = Frame.reusable(capacity: 16)
        XCTAssertTrue(try cam.nextFrame(into: &f, timeoutMilliseconds: 2000))
        XCTAssertEqual(cam.counters.disconnects, 0)
        XCTAssertEqual(cam.counters.stalls, 0)
        XCTAssertEqual(dev.opens, 2)
    }

    func testSilentCameraIsRestartedAfterTheStallTimeout() throws {
        let dev = ScriptedDevice()
        let cam = V4L2Camera(settings: settings(stallMilliseconds: 300), device: dev)
        try cam.start()
        defer { cam.stop() }
        waitUntil("stall detected", timeout: 3) { cam.counters.stalls >= 1 && cam.counters.reconnects >= 1 }
        XCTAssertGreaterThanOrEqual(dev.opens, 2)
        XCTAssertEqual(cam.counters.disconnects, 0)
    }

    func testSeveralCamerasRunSideBySideOnTheirOwnThreads() throws {
        let devices = [ScriptedDevice(), ScriptedDevice(), ScriptedDevice()]
        let cams = devices.map { V4L2Camera(settings: settings(), device: $0) }
        for c in cams { try c.start() }
        defer { for c in cams { c.stop() } }
        for round in 0..<5 {
            for (i, d) in devices.enumerated() { d.deliver([frame(UInt32(round), UInt8(10 * i + round))]) }
            for (i, c) in cams.enumerated() {
                var f = Frame.reusable(capacity: 16)
                XCTAssertTrue(try c.nextFrame(into: &f, timeoutMilliseconds: 2000))
                XCTAssertEqual(f.bytes.first, UInt8(10 * i + round))
            }
        }
        for c in cams { XCTAssertEqual(c.counters.delivered, 5); XCTAssertEqual(c.counters.dropped, 0) }
    }

    func testStartFailsWithTheDeviceNamed() {
        let dev = ScriptedDevice()
        dev.unplug()
        let cam = V4L2Camera(settings: settings(), device: dev)
        XCTAssertThrowsError(try cam.start()) { XCTAssertTrue("\($0)".contains("/dev/video-test: open failed")) }
    }
}
