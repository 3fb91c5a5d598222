#if canImport(Glibc)
import Glibc
#endif

/// Where a camera stands, for stats and the log.
public enum CameraState: Equatable, Sendable {
    case stopped
    case streaming
    /// The device is gone or failed; re-open attempts are running. The text says why.
    case reconnecting(String)
}

/// A camera as a `FrameSource`: its own capture thread dequeues buffers as fast as the camera
/// delivers them, skips damaged ones, and hands the newest good frame to the consumer through a
/// single-slot `FrameMailbox`. Unplug and stalls are recovered by closing, backing off and
/// re-opening, without the consumer noticing more than a pause (and the counters).
///
/// The device is abstracted by `CaptureDevice`, normally a `V4L2Device`.
public final class V4L2Camera: FrameSource, @unchecked Sendable {
    public let name: String
    public let settings: CameraSettings
    private let device: CaptureDevice
    private let mailbox: FrameMailbox
    private let lock = ConditionLock()
    // Guarded by `lock`:
    private var sharedCounters = CaptureCounters()
    private var sharedState = CameraState.stopped
    private var sharedStream: StreamInfo?
    private var running = false
    private var thread: pthread_t?
    /// The consumer side of `nextFrame(timeoutMilliseconds:)` (the copy-returning variant).
    private var consumerFrame = Frame.reusable(capacity: 0)

    /// Opens a V4L2 camera from settings (nothing happens until `start()` or the first frame).
    public convenience init(settings: CameraSettings) {
        self.init(settings: settings, device: V4L2Device(settings: settings))
    }

    /// With any `CaptureDevice` (tests use a scripted one).
    public init(settings: CameraSettings, device: CaptureDevice) {
        self.settings = settings
        self.device = device
        self.name = device.path
        self.mailbox = FrameMailbox(capacity: 0)
    }

    deinit { stop() }

    public var counters: CaptureCounters {
        var c = lock.withLock { sharedCounters }
        let m = mailbox.statistics
        c.replacedUnread = m.replaced
        c.delivered = m.taken
        c.dropped = c.sequenceGaps &+ c.discardedBehind &+ c.replacedUnread
        return c
    }

    public var state: CameraState { lock.withLock { sharedState } }
    /// The negotiated stream of the current (or last) open.
    public var stream: StreamInfo? { lock.withLock { sharedStream } }

    /// Opens the camera in the calling thread (so a wrong path or format fails here, with a clear
    /// error) and starts the capture thread. Later failures are recovered by the thread.
    public func start() throws {
        if lock.withLock({ running }) { return }
        let info = try device.open()
        lock.withLock {
            sharedStream = info
            sharedState = .streaming
            running = true
        }
        mailbox.reopen()
        let box = Unmanaged.passRetained(self).toOpaque()
        var tid = pthread_t()
        let rc = pthread_create(&tid, nil, { raw in
            let camera = Unmanaged<V4L2Camera>.fromOpaque(raw!).takeRetainedValue()
            camera.captureLoop(alreadyOpen: true)
            return nil
        }, box)
        if rc != 0 {
            Unmanaged<V4L2Camera>.fromOpaque(box).release()
            lock.withLock { running = false; sharedState = .stopped }
            device.close()
            throw V4L2Error(device: name, operation: "start capture thread", errno: rc)
        }
        lock.withLock { thread = tid }
    }

    /// Stops the capture thread and closes the device.
    public func stop() {
        let t: pthread_t? = lock.withLock {
            running = false
            let t = thread
            thread = nil
            return t
        }
        mailbox.close()
        if let t {
            if pthread_equal(t, pthread_self()) == 0 { pthread_join(t, nil) } else { pthread_detach(t) }
        }
    }

    public func nextFrame(timeoutMilliseconds: Int) throws -> Frame? {
        guard try nextFrame(into: &consumerFrame, timeoutMilliseconds: timeoutMilliseconds) else { return nil }
        return consumerFrame
    }

    /// The allocation-free path: swaps the newest frame into `frame` (its old buffer is reused
    /// by the capture thread).
    public func nextFrame(into frame: inout Frame, timeoutMilliseconds: Int) throws -> Bool {
        if !lock.withLock({ running }) { try start() }
        if mailbox.take(into: &frame, timeoutMilliseconds: timeoutMilliseconds) { return true }
        lock.withLock { sharedCounters.timeouts &+= 1 }
        return false
    }

    private var isRunning: Bool { lock.withLock { running } }

    private func count(_ body: (inout CaptureCounters) -> Void) {
        lock.withLock { body(&sharedCounters) }
    }

    /// Sleeps up to `milliseconds` in short slices, returning early when stopped.
    private func pause(milliseconds: Int) {
        var left = milliseconds
        while left > 0 && isRunning {
            let slice = min(left, 50)
            sleepNanoseconds(UInt64(slice) * 1_000_000)
            left -= slice
        }
    }

    /// The capture thread. Every path that loses a frame counts it.
    func captureLoop(alreadyOpen: Bool) {
        var open = alreadyOpen
        var gaps = SequenceGapCounter()
        var producer = Frame.reusable(capacity: stream?.sizeImage ?? 0)
        var info = stream
        var backoff = settings.reopenBackoffMilliseconds.first
        var lastFrameAt = monotonicNanoseconds()
        let pollSlice = 100

        enum Loss { case disconnect, stall, streamError }
        func lost(_ why: String, _ kind: Loss) {
            device.close()
            open = false
            count {
                switch kind {
                case .disconnect: $0.disconnects &+= 1
                case .stall: $0.stalls &+= 1
                case .streamError: $0.streamErrors &+= 1
                }
            }
            lock.withLock { sharedState = .reconnecting(why) }
            backoff = settings.reopenBackoffMilliseconds.first
        }

        while isRunning {
            if !open {
                do {
                    let newInfo = try device.open()
                    info = newInfo
                    open = true
                    gaps = SequenceGapCounter()   // a new stream numbers from 0 again
                    lastFrameAt = monotonicNanoseconds()
                    backoff = settings.reopenBackoffMilliseconds.first
                    lock.withLock {
                        sharedStream = newInfo
                        sharedState = .streaming
                        sharedCounters.reconnects &+= 1
                    }
                } catch {
                    count { $0.reopenFailures &+= 1 }
                    lock.withLock { sharedState = .reconnecting("\(error)") }
                    pause(milliseconds: backoff)
                    backoff = min(backoff * 2, settings.reopenBackoffMilliseconds.last)
                    continue
                }
            }
            guard let stream = info else { open = false; continue }
            let waited: WaitResult
            do { waited = try device.waitReadable(timeoutMilliseconds: pollSlice) } catch {
                lost("\(error)", .streamError)
                continue
            }
            switch waited {
            case .gone:
                lost("\(name): device gone (unplugged?)", .disconnect)
                pause(milliseconds: backoff)
                continue
            case .streamError:
                lost("\(name): the driver reported a streaming error; restarting the stream", .streamError)
                continue
            case .timeout:
                if monotonicNanoseconds() &- lastFrameAt > UInt64(settings.stallTimeoutMilliseconds) * 1_000_000 {
                    lost("\(name): no frame for \(settings.stallTimeoutMilliseconds) ms; restarting the stream", .stall)
                }
                continue
            case .readable:
                break
            }
            // Drain everything ready, keep only the newest good frame.
            var newest: DequeuedBuffer?
            var failure: Error?
            while true {
                let buffer: DequeuedBuffer
                do {
                    guard let b = try device.dequeue() else { break }
                    buffer = b
                } catch {
                    failure = error
                    break
                }
                let missed = gaps.record(buffer.sequence)
                var bad = false
                if buffer.error || buffer.bytesUsed == 0 {
                    bad = true
                    count { $0.corrupt &+= 1; $0.sequenceGaps &+= missed }
                } else if stream.format == .mjpeg && !jpegHasEndMarker(device.bytes(of: buffer)) {
                    bad = true
                    count { $0.corrupt &+= 1; $0.truncatedJPEG &+= 1; $0.sequenceGaps &+= missed }
                } else {
                    count { $0.sequenceGaps &+= missed }
                }
                if bad {
                    do { try device.requeue(buffer) } catch { failure = error; break }
                    continue
                }
                if let older = newest {
                    count { $0.discardedBehind &+= 1 }
                    do { try device.requeue(older) } catch { failure = error; break }
                }
                newest = buffer
            }
            if let b = newest, failure == nil {
                producer.setBytes(device.bytes(of: b))
                producer.timestampNanoseconds = b.timestampNanoseconds
                producer.sequence = b.sequence
                producer.format = stream.format
                producer.width = stream.width
                producer.height = stream.height
                producer.rowStride = stream.format == .mjpeg ? 0 : stream.bytesPerLine
                producer.origin = name
                do { try device.requeue(b) } catch { failure = error }
                lastFrameAt = monotonicNanoseconds()
                count { $0.captured &+= 1 }
                mailbox.put(&producer)
            }
            if let failure {
                let gone = (failure as? V4L2Error)?.deviceIsGone ?? false
                lost("\(failure)", gone ? .disconnect : .streamError)
                pause(milliseconds: backoff)
            }
        }
        device.close()
        lock.withLock { sharedState = .stopped }
    }
}
