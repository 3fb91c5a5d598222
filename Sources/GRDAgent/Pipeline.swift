#if canImport(Glibc)
import Glibc
#endif
import GRDImaging
import GRDCapture
import GRDRejectIO
import GRDAllocationCounter

/// One decided part, kept in the last-N ring and passed to observers.
public struct DecisionRecord: Sendable, Codable, Equatable {
    public var partID: UInt64
    public var camera: String
    /// Capture time (CLOCK_MONOTONIC ns) and the wall-clock time of the decision (Unix ms).
    public var captureNanoseconds: UInt64
    public var wallMilliseconds: UInt64
    public var score: Float
    public var threshold: Float
    public var reject: Bool
    /// Why: "score", "late" (deadline missed, fail-safe), "error" (fail-safe).
    public var reason: String
    public var latencyMicroseconds: UInt64
    public var origin: String
}

/// The single-slot, newest-wins handoff between a camera's capture thread and its inference
/// thread: capture never waits for inference, a frame that is replaced before inference took it
/// is counted as dropped, and the backlog can never exceed one frame. Frames are exchanged by
/// swapping, so the three byte buffers (capture, slot, inference) circulate without allocation.
final class FrameSlot: @unchecked Sendable {
    private let lock = Lock()
    private let cond: UnsafeMutablePointer<pthread_cond_t> = .allocate(capacity: 1)
    private var stored = Frame.reusable(capacity: 0)
    private var full = false
    private(set) var replaced: UInt64 = 0
    private var closed = false

    init() {
        var attr = pthread_condattr_t()
        pthread_condattr_init(&attr)
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)
        pthread_cond_init(cond, &attr)
        pthread_condattr_destroy(&attr)
    }

    deinit { pthread_cond_destroy(cond); cond.deallocate() }

    /// Stores `frame`, replacing (and counting) an untaken one; `frame` gets a spare buffer back.
    @discardableResult
    func put(_ frame: inout Frame) -> Bool {
        lock.withLock {
            let dropped = full
            if dropped { replaced &+= 1 }
            swap(&stored, &frame)
            full = true
            pthread_cond_signal(cond)
            return dropped
        }
    }

    /// Waits up to `timeoutNanoseconds` for a frame and swaps it into `frame`; false on timeout
    /// or when closed.
    func take(into frame: inout Frame, timeoutNanoseconds: UInt64) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        let deadline = monotonicNow() + timeoutNanoseconds
        var ts = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
        while !full && !closed {
            if pthread_cond_timedwait(cond, lock.rawMutex, &ts) == ETIMEDOUT { break }
        }
        guard full else { return false }
        swap(&stored, &frame)
        full = false
        return true
    }

    func close() { lock.withLock { closed = true; pthread_cond_broadcast(cond) } }
}

/// Counters and histograms of one camera, preallocated; written by the inference thread under
/// `lock`, copied out by the control socket.
public struct CameraStatistics: Sendable {
    public var framesCaptured: UInt64 = 0
    public var framesInspected: UInt64 = 0
    /// Frames replaced in the handoff slot before inference took them (newest wins).
    public var framesDropped: UInt64 = 0
    /// Dropped frames whose part got a fail-safe reject pulse (fail_safe.on_dropped_frame).
    public var droppedRejected: UInt64 = 0
    public var framesSkippedWhilePaused: UInt64 = 0
    public var passes: UInt64 = 0
    public var rejects: UInt64 = 0
    public var deadlineMisses: UInt64 = 0
    public var errors: UInt64 = 0
    public var captureErrors: UInt64 = 0
    public var reconnects: UInt64 = 0
    public var source = CaptureCounters()
    public var scores: ScoreHistogram
    public var prepare = LogHistogram()
    public var infer = LogHistogram()
    public var decide = LogHistogram()
    public var endToEnd = LogHistogram()
    public var lastFrameNanoseconds: UInt64 = 0
    public var lastError: String? = nil

    /// malloc/calloc/realloc calls made on this camera's capture and inference threads
    /// (GRDAllocationCounter's per-thread counts), since start.
    public var allocationsTotal: UInt64 = 0
    /// The same after the first `CameraPipeline.allocationWarmupFrames` inspected frames: buffers
    /// are sized on the first frames of a geometry; in steady state this stays 0.
    public var allocationsAfterWarmup: UInt64 = 0
    /// The last completed window of `CameraPipeline.allocationWindowFrames` inspected frames:
    /// its frame count (0 until one completed) and the allocations made during it.
    public var allocationWindowFrames: UInt64 = 0
    public var allocationWindowTotal: UInt64 = 0
    /// The inspected-frame number of the last frame during which anything allocated (0 = none):
    /// in steady state it stops moving (a new image size or a grown JPEG arena is warm-up too).
    public var lastAllocatingFrame: UInt64 = 0
    /// False when the threads could not be registered with the counter (table full).
    public var allocationsCounted = false
    var currentWindowFrames: UInt64 = 0
    var currentWindowAllocations: UInt64 = 0
    var pendingCaptureAllocations: UInt64 = 0

    /// Parts offered to the audit store and the ones it kept (the store's own counters are shared
    /// by every camera).
    public var auditKept: UInt64 = 0

    /// A copy whose histograms have their own buffers (see LogHistogram.detached): handing out a
    /// plain copy would make the next record() on the inspection thread copy the shared buffers.
    func detached() -> CameraStatistics {
        var c = self
        c.scores = scores.detached()
        c.prepare = prepare.detached()
        c.infer = infer.detached()
        c.decide = decide.detached()
        c.endToEnd = endToEnd.detached()
        return c
    }

    init(threshold: Float) {
        scores = ScoreHistogram(lower: 0, upper: max(threshold * 2, 1e-3), bins: 20)
    }
}

public enum CameraState: String, Sendable, Codable {
    case starting, inspecting, paused, noFrames = "no-frames", stopped
}

/// One camera's pipeline: a capture thread and an inference thread joined by a FrameSlot.
///
/// Steady state allocates nothing in this class: the detector's buffers, the ROI mask, the
/// snapshot copies, the histograms and the decision ring are created in init. (Frames themselves
/// come from the capture stage.)
public final class CameraPipeline: @unchecked Sendable {
    public let config: CameraConfig
    public let detector: AnomalyDetector
    let preparer: FramePreparing
    let reject: RejectSink
    let makeSource: () throws -> FrameSource
    let failSafe: FailSafePolicy
    let roi: [UInt8]?
    let slot = FrameSlot()

    let statsLock = Lock()
    var stats: CameraStatistics
    private var ring: [DecisionRecord]
    private var ringNext = 0, ringCount = 0
    private var thresholdValue: Float
    /// The threshold the config (or the model file) gave, before any live change.
    public let configuredThreshold: Float
    private var paused = false
    private var running = false
    private var stopAfter: UInt64?
    /// Called on the inference thread after each decision (the demo prints it). Keep it short.
    public var onDecision: ((DecisionRecord) -> Void)?

    // Latest inspected frame for snapshots, copied per frame into preallocated buffers.
    let snapshotLock = Lock()
    private var snapshotInput: [UInt8]
    private var snapshotHeat: [Float]
    private var snapshotValid = false
    private var snapshotRecord: DecisionRecord? = nil

    private var captureThread: pthread_t? = nil
    private var inferenceThread: pthread_t? = nil
    private var partCounter: UInt64 = 0
    /// Parts of dropped frames (capture thread), numbered apart from inspected parts.
    private var droppedPartCounter: UInt64 = 0
    static let droppedPartIDBase: UInt64 = 1 << 62

    /// Frames before the allocation count is "steady state", and the window of the per-frame figure.
    public static let allocationWarmupFrames: UInt64 = 32
    public static let allocationWindowFrames: UInt64 = 50
    private var captureCounterSlot = -1
    private var inferenceCounterSlot = -1
    private var inferenceAllocationsSeen = 0

    /// Where rejected, near-threshold and sampled parts are kept (nil = no audit). Set before start().
    public var audit: AuditStore? = nil
    /// The model named in audit records.
    public var modelName = "demo"

    /// Drift of passed parts against the commissioning baseline (nil = off). The monitor is
    /// written by the inference thread under statsLock; reports are made by readers.
    private var drift: DriftMonitor? = nil
    private var driftLearning = false
    private var driftLearnTarget = 0
    private var driftLearnCount = 0
    private var driftSums = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0)  // sum and sum of squares per signal
    /// Set when the baseline was learned from the first passed parts and not yet saved.
    public private(set) var learnedBaselineUnsaved = false

    public init(config: CameraConfig, detector: AnomalyDetector, preparer: FramePreparing, reject: RejectSink,
                failSafe: FailSafePolicy, threshold: Float, configuredThreshold: Float? = nil, roi: [UInt8]?, decisionsKept: Int = 256,
                stopAfterFrames: UInt64? = nil, makeSource: @escaping () throws -> FrameSource) {
        self.config = config
        self.detector = detector
        self.preparer = preparer
        self.reject = reject
        self.failSafe = failSafe
        self.roi = roi
        self.makeSource = makeSource
        self.thresholdValue = threshold
        self.configuredThreshold = configuredThreshold ?? threshold
        self.stopAfter = stopAfterFrames
        stats = CameraStatistics(threshold: threshold)
        let placeholder = DecisionRecord(partID: 0, camera: config.name, captureNanoseconds: 0, wallMilliseconds: 0,
                                         score: 0, threshold: 0, reject: false, reason: "", latencyMicroseconds: 0, origin: "")
        ring = [DecisionRecord](repeating: placeholder, count: max(1, decisionsKept))
        let n = detector.inputWidth * detector.inputHeight
        snapshotInput = [UInt8](repeating: 0, count: n * detector.inputChannels)
        snapshotHeat = [Float](repeating: 0, count: n)
    }

    // MARK: control

    public var threshold: Float {
        get { statsLock.withLock { thresholdValue } }
        set { statsLock.withLock { thresholdValue = newValue } }
    }

    public var isPaused: Bool {
        get { statsLock.withLock { paused } }
        set { statsLock.withLock { paused = newValue } }
    }

    public func statistics() -> CameraStatistics { statsLock.withLock { stats.detached() } }

    /// Frames inspected so far (no copy of the statistics: for waiting loops that must not allocate).
    public var framesInspected: UInt64 { statsLock.withLock { stats.framesInspected } }

    /// Turns drift monitoring on: with `baseline` (score, brightness, focus) compared at once,
    /// without it the first `window` passed parts become the baseline. Call before start().
    public func configureDrift(_ settings: DriftSettings, baseline: [DriftMonitor.Baseline]?) {
        guard settings.enabled else { drift = nil; return }
        let b = baseline ?? [DriftMonitor.Baseline(mean: 0, standardDeviation: 1),
                             DriftMonitor.Baseline(mean: 0, standardDeviation: 1),
                             DriftMonitor.Baseline(mean: 0, standardDeviation: 1)]
        drift = DriftMonitor(score: b[0], brightness: b[1], focus: b[2], windowSize: settings.window,
                             warningShift: settings.warningShift, alarmShift: settings.alarmShift)
        driftLearning = baseline == nil
        driftLearnTarget = settings.window
        driftLearnCount = 0
        driftSums = (0, 0, 0, 0, 0, 0)
    }

    /// The drift state: nil when off; `learning` while the baseline or the first window fills.
    public func driftReport() -> (state: DriftMonitor.State, learningBaseline: Bool, partsInWindow: Int,
                                  signals: [DriftMonitor.SignalReport])? {
        statsLock.withLock {
            guard let d = drift else { return nil }
            if driftLearning { return (.learning, true, driftLearnCount, []) }
            return (d.state, false, d.partsInWindow, d.report())
        }
    }

    /// The learned baseline (score, brightness, focus), once; clears `learnedBaselineUnsaved`.
    public func takeLearnedBaseline() -> [DriftMonitor.Baseline]? {
        statsLock.withLock {
            guard learnedBaselineUnsaved, let d = drift else { return nil }
            learnedBaselineUnsaved = false
            return d.baselines
        }
    }

    public var state: CameraState {
        statsLock.withLock {
            if !running { return .stopped }
            if paused { return .paused }
            if stats.lastFrameNanoseconds == 0 { return stats.captureErrors > 0 ? .noFrames : .starting }
            let age = Double(monotonicNow() &- stats.lastFrameNanoseconds) / 1e9
            return age > failSafe.cameraTimeoutSeconds ? .noFrames : .inspecting
        }
    }

    /// The last `n` decisions, oldest first.
    public func recentDecisions(_ n: Int) -> [DecisionRecord] {
        statsLock.withLock {
            let k = min(n, ringCount)
            return (0..<k).map { ring[(ringNext - k + $0 + ring.count) % ring.count] }
        }
    }

    /// The latest inspected frame (model-sized) and its heatmap.
    public func snapshot() -> (image: Image, heat: [Float], record: DecisionRecord)? {
        snapshotLock.withLock {
            guard snapshotValid, let r = snapshotRecord else { return nil }
            // Fresh copies (map): sharing the buffers would make the inspection thread's next
            // memcpy into them copy-on-write, i.e. allocate.
            return (Image(width: detector.inputWidth, height: detector.inputHeight, channels: detector.inputChannels,
                          pixels: snapshotInput.map { $0 }), snapshotHeat.map { $0 }, r)
        }
    }

    public func start() {
        statsLock.withLock { running = true }
        reject.start()
        if config.reject.realtimePriority != nil {
            let how = reject.realtimeStatus
            if how.contains("refused") { Log.shared.warning("camera \(config.name): reject pulse thread: \(how)") }
            else { Log.shared.notice("camera \(config.name): reject pulse thread: \(how)") }
        }
        captureThread = spawnThread { [unowned self] in self.captureLoop() }
        inferenceThread = spawnThread { [unowned self] in self.inferenceLoop() }
    }

    public func stop() {
        statsLock.withLock { running = false }
        slot.close()
        if let t = captureThread { pthread_join(t, nil); captureThread = nil }
        if let t = inferenceThread { pthread_join(t, nil); inferenceThread = nil }
        reject.stopDraining()
    }

    var isRunning: Bool { statsLock.withLock { running } }

    /// True once `stopAfterFrames` frames were accounted for: inspected, or replaced by a newer
    /// frame before inspection (dropped, counted). Waiting for inspections alone never ends when
    /// inspection is slower than the camera.
    public var finished: Bool {
        statsLock.withLock { stopAfter.map { stats.framesInspected + stats.framesDropped >= $0 } ?? false }
    }

    // MARK: threads

    private func captureLoop() {
        var source: FrameSource? = nil
        var backoffMs = 200
        var captured: UInt64 = 0
        var frame = Frame.reusable(capacity: 0)
        let counterSlot = registerCountedThread()
        var allocationsSeen = 0
        defer {
            (source as? V4L2Camera)?.stop()
            unregisterCountedThread(counterSlot)
        }
        while isRunning {
            if source == nil {
                do {
                    source = try makeSource()
                    backoffMs = 200
                } catch {
                    noteCaptureError("cannot open \(describeSource()): \(error)")
                    sleepMilliseconds(backoffMs)
                    backoffMs = min(backoffMs * 2, 5_000)
                    continue
                }
            }
            do {
                guard try source!.nextFrame(into: &frame, timeoutMilliseconds: 200) else {
                    statsLock.withLock { stats.source = source!.counters }
                    continue
                }
                captured &+= 1
                // Past the frame limit (demo, tests): neither inspected nor counted.
                if let limit = stopAfter, captured > limit { continue }
                let allocationsNow = countedThreadAllocations(counterSlot)
                let newAllocations = UInt64(max(0, allocationsNow - allocationsSeen))
                allocationsSeen = allocationsNow
                let pausedNow = statsLock.withLock { () -> Bool in
                    stats.pendingCaptureAllocations &+= newAllocations
                    stats.framesCaptured &+= 1
                    stats.source = source!.counters
                    if paused { stats.framesSkippedWhilePaused &+= 1 }
                    return paused
                }
                if pausedNow { continue }
                if slot.put(&frame) && failSafe.onDroppedFrame == .reject {
                    // `frame` now holds the replaced frame: its part is never inspected, so it
                    // is rejected (fail-safe) at its own capture time + delay.
                    droppedPartCounter &+= 1
                    reject.schedule(captureTimestampNanoseconds: frame.timestampNanoseconds,
                                    partID: CameraPipeline.droppedPartIDBase | droppedPartCounter)
                    statsLock.withLock { stats.droppedRejected &+= 1 }
                }
            } catch {
                noteCaptureError("\(describeSource()): \(error); re-opening")
                statsLock.withLock { stats.reconnects &+= 1 }
                (source as? V4L2Camera)?.stop()
                source = nil
                sleepMilliseconds(backoffMs)
            }
        }
    }

    private func describeSource() -> String {
        switch config.source {
        case .device(let d): return "camera \(config.name) (\(d))"
        case .replay(let f, _): return "camera \(config.name) (replay of \(f))"
        }
    }

    private var lastErrorLog: UInt64 = 0

    private func noteCaptureError(_ message: String) {
        let now = monotonicNow()
        let log = statsLock.withLock { () -> Bool in
            stats.captureErrors &+= 1
            stats.lastError = message
            if now &- lastErrorLog > 5_000_000_000 { lastErrorLog = now; return true }
            return false
        }
        if log { Log.shared.warning(message) }  // rate-limited: one line per 5 s per camera
    }

    private func inferenceLoop() {
        let deadline = UInt64(config.deadlineMilliseconds * 1e6)
        var frame = Frame.reusable(capacity: 0)
        inferenceCounterSlot = registerCountedThread()
        inferenceAllocationsSeen = 0
        statsLock.withLock { stats.allocationsCounted = inferenceCounterSlot >= 0 }
        defer { unregisterCountedThread(inferenceCounterSlot); inferenceCounterSlot = -1 }
        while isRunning {
            guard slot.take(into: &frame, timeoutNanoseconds: 200_000_000) else { continue }
            inspect(frame, deadline: deadline)
        }
    }

    /// prepare -> infer -> decide -> schedule, then statistics. Public for tests that drive a
    /// pipeline frame by frame.
    func inspect(_ frame: Frame, deadline: UInt64) {
        let t0 = monotonicNow()
        var score: Float = 0
        var failure: String? = nil
        var t1 = t0, t2 = t0
        do {
            try frame.bytes.withUnsafeBytes { raw in
                try preparer.prepare(raw, format: frame.format, width: frame.width, height: frame.height, into: detector.input)
            }
            t1 = monotonicNow()
            if let roi = preparer.inspectionROI(roi) {
                score = try roi.withUnsafeBufferPointer { try detector.run(roi: $0.baseAddress) }
            } else {
                score = try detector.run(roi: nil)
            }
            t2 = monotonicNow()
        } catch {
            failure = "\(frame.origin): \(error)"
            t1 = monotonicNow(); t2 = t1
        }
        let threshold = self.threshold
        var rejectPart: Bool
        var reason: String
        if failure != nil {
            rejectPart = true; reason = "error"
        } else {
            rejectPart = score >= threshold; reason = "score"
        }
        let t3 = monotonicNow()
        // A camera may stamp a frame slightly ahead of this clock (vivid stamps the end of the
        // exposure): its age is then 0, not a wrapped-around huge number.
        let age = t3 > frame.timestampNanoseconds ? t3 - frame.timestampNanoseconds : 0
        let late = age > deadline
        if late && !rejectPart { rejectPart = true; reason = "late" }
        partCounter &+= 1
        if rejectPart {
            reject.schedule(captureTimestampNanoseconds: frame.timestampNanoseconds, partID: partCounter)
        }
        let endToEnd = age
        let record = DecisionRecord(partID: partCounter, camera: config.name, captureNanoseconds: frame.timestampNanoseconds,
                                    wallMilliseconds: wallClockMilliseconds(), score: score, threshold: threshold,
                                    reject: rejectPart, reason: reason, latencyMicroseconds: endToEnd / 1_000, origin: frame.origin)
        if let failure { Log.shared.warning("camera \(config.name): inspection failed, part rejected (fail-safe): \(failure)") }
        let input = detector.input, heat = detector.heatmap
        snapshotLock.withLock {
            snapshotInput.withUnsafeMutableBufferPointer { dst in
                _ = memcpy(dst.baseAddress!, input.baseAddress!, min(dst.count, input.count))
            }
            snapshotHeat.withUnsafeMutableBufferPointer { dst in
                _ = memcpy(dst.baseAddress!, heat.baseAddress!, min(dst.count, heat.count) * MemoryLayout<Float>.size)
            }
            snapshotValid = true
            snapshotRecord = record
        }
        // Audit: a copy into one of the store's preallocated slots; the JPEGs are written by its
        // own thread. A full queue is counted by the store, never waited for.
        var kept = false
        if let audit {
            kept = audit.offer(pixels: UnsafeBufferPointer(input), width: detector.inputWidth, height: detector.inputHeight,
                               channels: detector.inputChannels, heatmap: failure == nil ? heat : nil, score: score,
                               threshold: threshold, rejected: rejectPart, partID: partCounter, camera: config.name,
                               model: modelName, captureMonotonicNs: frame.timestampNanoseconds) != nil
        }
        // Drift: passed parts only (a defect is not drift).
        var image = ImageStatistics(meanBrightness: 0, focus: 0)
        let passedOnScore = failure == nil && !rejectPart
        if passedOnScore && drift != nil {
            image = ImageStatistics(pixels: UnsafeBufferPointer(input), width: detector.inputWidth,
                                    height: detector.inputHeight, channels: detector.inputChannels)
        }
        let dropped = slot.replaced
        let allocationsNow = countedThreadAllocations(inferenceCounterSlot)
        let inferenceAllocations = UInt64(max(0, allocationsNow - inferenceAllocationsSeen))
        inferenceAllocationsSeen = allocationsNow
        statsLock.withLock {
            stats.framesInspected &+= 1
            stats.framesDropped = dropped
            if rejectPart { stats.rejects &+= 1 } else { stats.passes &+= 1 }
            if late { stats.deadlineMisses &+= 1 }
            if let failure { stats.errors &+= 1; stats.lastError = failure } else { stats.scores.record(score) }
            stats.prepare.record(t1 &- t0)
            stats.infer.record(t2 &- t1)
            stats.decide.record(t3 &- t2)
            stats.endToEnd.record(endToEnd)
            stats.lastFrameNanoseconds = t3
            if kept { stats.auditKept &+= 1 }
            ring[ringNext] = record
            ringNext = (ringNext + 1) % ring.count
            ringCount = min(ringCount + 1, ring.count)
            let frameAllocations = inferenceAllocations &+ stats.pendingCaptureAllocations
            stats.pendingCaptureAllocations = 0
            stats.allocationsTotal &+= frameAllocations
            if frameAllocations > 0 { stats.lastAllocatingFrame = stats.framesInspected }
            if stats.framesInspected > CameraPipeline.allocationWarmupFrames { stats.allocationsAfterWarmup &+= frameAllocations }
            stats.currentWindowFrames &+= 1
            stats.currentWindowAllocations &+= frameAllocations
            if stats.currentWindowFrames >= CameraPipeline.allocationWindowFrames {
                stats.allocationWindowFrames = stats.currentWindowFrames
                stats.allocationWindowTotal = stats.currentWindowAllocations
                stats.currentWindowFrames = 0
                stats.currentWindowAllocations = 0
            }
            if passedOnScore && drift != nil { recordDrift(score: Double(score), image) }
        }
        onDecision?(record)
    }

    /// Under statsLock, on the inference thread: learn the baseline from the first passed parts,
    /// then feed the rolling window. No allocation (the monitor's rings are preallocated).
    private func recordDrift(score: Double, _ image: ImageStatistics) {
        let b = image.meanBrightness, f = image.focus
        if driftLearning {
            driftSums.0 += score; driftSums.1 += score * score
            driftSums.2 += b; driftSums.3 += b * b
            driftSums.4 += f; driftSums.5 += f * f
            driftLearnCount += 1
            guard driftLearnCount >= driftLearnTarget else { return }
            let n = Double(driftLearnCount)
            func baseline(_ sum: Double, _ squares: Double) -> DriftMonitor.Baseline {
                let mean = sum / n
                let variance = max(0, (squares - n * mean * mean) / max(n - 1, 1))
                return DriftMonitor.Baseline(mean: mean, standardDeviation: variance.squareRoot())
            }
            drift?.rebase(score: baseline(driftSums.0, driftSums.1), brightness: baseline(driftSums.2, driftSums.3),
                          focus: baseline(driftSums.4, driftSums.5))
            driftLearning = false
            learnedBaselineUnsaved = true
            return
        }
        drift?.record(score: score, brightness: b, focus: f)
    }
}

func wallClockMilliseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return UInt64(ts.tv_sec) * 1000 + UInt64(ts.tv_nsec) / 1_000_000
}

func sleepMilliseconds(_ ms: Int) {
    var ts = timespec(tv_sec: ms / 1000, tv_nsec: (ms % 1000) * 1_000_000)
    var rem = timespec()
    while nanosleep(&ts, &rem) != 0 && errno == EINTR { ts = rem }
}

/// A pthread running `body` (Foundation's Thread would do, but this keeps the pipeline
/// Foundation-free).
func spawnThread(_ body: @escaping () -> Void) -> pthread_t {
    final class Box { let body: () -> Void; init(_ b: @escaping () -> Void) { body = b } }
    let box = Unmanaged.passRetained(Box(body))
    var t = pthread_t()
    let rc = pthread_create(&t, nil, { arg in
        let b = Unmanaged<Box>.fromOpaque(arg!).takeRetainedValue()
        b.body()
        return nil
    }, box.toOpaque())
    precondition(rc == 0, "pthread_create failed: \(rc)")
    return t
}
