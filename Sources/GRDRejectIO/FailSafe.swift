#if canImport(Glibc)
import Glibc
#endif

// MARK: - Fail-safe policy

/// Why a part could not be inspected normally.
public enum FailureCause: Int, CaseIterable, Sendable, CustomStringConvertible {
    /// The decision was not ready before its reject deadline.
    case deadlineMiss
    case inferenceError
    /// A corrupt or truncated frame.
    case frameError
    /// The camera vanished or stopped streaming: parts pass uninspected.
    case cameraLost

    public var description: String {
        switch self {
        case .deadlineMiss: return "deadline-miss"
        case .inferenceError: return "inference-error"
        case .frameError: return "frame-error"
        case .cameraLost: return "camera-lost"
        }
    }

    public init?(name: String) {
        guard let c = FailureCause.allCases.first(where: { $0.description == name }) else { return nil }
        self = c
    }
}

/// What happens on a failure: never a silent pass.
public enum FailSafeAction: String, Sendable {
    /// Reject the part (per-part causes) or hold the reject line active (camera lost).
    case reject
    /// Drive the line-stop output, latched until an operator resets it.
    case lineStop = "line-stop"
}

/// One action per cause; reject for all by default.
public struct FailurePolicy: Equatable, Sendable {
    private var actions: [FailSafeAction] = Array(repeating: .reject, count: FailureCause.allCases.count)
    public init() {}
    public subscript(cause: FailureCause) -> FailSafeAction {
        get { actions[cause.rawValue] }
        set { actions[cause.rawValue] = newValue }
    }
    public var needsLineStopOutput: Bool { actions.contains(.lineStop) }
}

public struct FailSafeCounters: Equatable, Sendable {
    public var deadlineMiss: UInt64 = 0
    public var inferenceError: UInt64 = 0
    public var frameError: UInt64 = 0
    public var cameraLost: UInt64 = 0
    /// Fail-safe reject pulses scheduled (per-part causes with action reject).
    public var rejects: UInt64 = 0
    /// Times the line-stop output was driven.
    public var lineStops: UInt64 = 0
    /// Failed writes to the line-stop output.
    public var lineStopWriteErrors: UInt64 = 0
    public var lineStopActive = false
    /// The reject line is held active because the camera is lost.
    public var rejectHeld = false
    public init() {}

    public subscript(cause: FailureCause) -> UInt64 {
        get {
            switch cause {
            case .deadlineMiss: return deadlineMiss
            case .inferenceError: return inferenceError
            case .frameError: return frameError
            case .cameraLost: return cameraLost
            }
        }
        set {
            switch cause {
            case .deadlineMiss: deadlineMiss = newValue
            case .inferenceError: inferenceError = newValue
            case .frameError: frameError = newValue
            case .cameraLost: cameraLost = newValue
            }
        }
    }
}

public struct FailSafeConfigurationError: Error, CustomStringConvertible {
    public var description: String
}

/// Turns every failure into a counted, safe outcome for one camera: reject the part (default)
/// or stop the line. Thread-safe, no allocation in report().
public final class FailSafe {
    public let policy: FailurePolicy
    public let scheduler: RejectScheduler
    public let lineStop: OutputLine?
    public let ready: ReadySignal?
    private let lock = PThreadLock()
    private var state = FailSafeCounters()

    /// Throws when the policy asks for a line stop but no line-stop output is configured.
    public init(policy: FailurePolicy, scheduler: RejectScheduler, lineStop: OutputLine?, ready: ReadySignal? = nil) throws {
        if policy.needsLineStopOutput && lineStop == nil {
            let causes = FailureCause.allCases.filter { policy[$0] == .lineStop }.map { "\($0)" }
            throw FailSafeConfigurationError(description:
                "fail-safe action line-stop is set for \(causes.joined(separator: ", ")) but no line-stop output line is configured")
        }
        self.policy = policy
        self.scheduler = scheduler
        self.lineStop = lineStop
        self.ready = ready
    }

    public var counters: FailSafeCounters { lock.lock(); defer { lock.unlock() }; return state }

    /// A part could not be judged (its frame was captured at `captureTimestampNanoseconds`).
    /// For `.cameraLost` no part is known: use cameraLost() instead (this forwards to it).
    public func report(_ cause: FailureCause, captureTimestampNanoseconds: UInt64, partID: UInt64) {
        if cause == .cameraLost { cameraLost(); return }
        lock.lock()
        state[cause] &+= 1
        let action = policy[cause]
        if action == .reject { state.rejects &+= 1 }
        lock.unlock()
        switch action {
        case .reject: scheduler.schedule(captureTimestampNanoseconds: captureTimestampNanoseconds, partID: partID)
        case .lineStop: driveLineStop()
        }
    }

    /// The camera is gone: ready drops; the reject line is held active (reject everything that
    /// passes uninspected) or the line is stopped, as the policy says.
    public func cameraLost() {
        lock.lock()
        state.cameraLost &+= 1
        let action = policy[.cameraLost]
        if action == .reject { state.rejectHeld = true }
        lock.unlock()
        ready?.drop(.cameraLost)
        switch action {
        case .reject: scheduler.setForcedActive(true)
        case .lineStop: driveLineStop()
        }
    }

    /// The camera streams again: the reject hold ends (a line stop stays until reset).
    public func cameraRecovered() {
        lock.lock()
        let held = state.rejectHeld
        state.rejectHeld = false
        lock.unlock()
        if held { scheduler.setForcedActive(false) }
    }

    /// The operator's reset of a latched line stop.
    public func resetLineStop() throws {
        guard let out = lineStop else { return }
        lock.lock(); defer { lock.unlock() }
        try out.set(false)
        state.lineStopActive = false
    }

    private func driveLineStop() {
        guard let out = lineStop else { return }
        lock.lock(); defer { lock.unlock() }
        state.lineStops &+= 1
        do { try out.set(true); state.lineStopActive = true } catch { state.lineStopWriteErrors &+= 1 }
    }
}

// MARK: - Ready output

public enum ReadyDropReason: Int, CaseIterable, Sendable, CustomStringConvertible {
    case stopped, watchdog, cameraLost
    public var description: String {
        switch self {
        case .stopped: return "stopped"
        case .watchdog: return "watchdog"
        case .cameraLost: return "camera-lost"
        }
    }
}

public struct ReadyCounters: Equatable, Sendable {
    public var ready = false
    public var raised: UInt64 = 0
    public var droppedStopped: UInt64 = 0
    public var droppedWatchdog: UInt64 = 0
    public var droppedCameraLost: UInt64 = 0
    public var writeErrors: UInt64 = 0
    public init() {}
}

/// The "ready" output: active only while the pipeline inspects. It drops on stop, on camera
/// loss and when no heartbeat came within the watchdog time (a hung pipeline); a crash drops it
/// through the kernel releasing the line (wire it so that released = not ready).
/// The watchdog is a thread of its own so a hung pipeline cannot keep the output up.
public final class ReadySignal {
    public let line: OutputLine
    public let watchdogNanoseconds: UInt64
    private let lock = MonotonicCondition()
    private var state = ReadyCounters()
    private var inspecting = false
    private var lastBeat: UInt64 = 0
    private var running = false
    private var thread: pthread_t?

    public init(line: OutputLine, watchdogNanoseconds: UInt64) {
        self.line = line
        self.watchdogNanoseconds = watchdogNanoseconds
    }

    public var counters: ReadyCounters { lock.lock(); defer { lock.unlock() }; return state }

    /// Inspection starts (true) or stops (false: the output drops, counted as `stopped`).
    public func setInspecting(_ on: Bool) {
        lock.lock(); defer { lock.unlock() }
        inspecting = on
        if on {
            lastBeat = monotonicNow()
            raiseLocked()
            startWatchdogLocked()
        } else {
            dropLocked(.stopped)
        }
    }

    /// One frame went through the pipeline. Cheap, no allocation; raises ready again after a
    /// watchdog or camera-loss drop.
    public func heartbeat() {
        lock.lock(); defer { lock.unlock() }
        lastBeat = monotonicNow()
        if inspecting && !state.ready { raiseLocked() }
    }

    public func drop(_ reason: ReadyDropReason) {
        lock.lock(); defer { lock.unlock() }
        dropLocked(reason)
    }

    /// Stops the watchdog thread and drops ready.
    public func shutdown() {
        lock.lock()
        inspecting = false
        dropLocked(.stopped)
        let tid = thread
        running = false
        thread = nil
        lock.signal()
        lock.unlock()
        if let t = tid { pthread_join(t, nil) }
    }

    private func raiseLocked() {
        guard !state.ready else { return }
        do { try line.set(true); state.ready = true; state.raised &+= 1 } catch { state.writeErrors &+= 1 }
    }

    private func dropLocked(_ reason: ReadyDropReason) {
        guard state.ready else { return }
        do { try line.set(false) } catch { state.writeErrors &+= 1 }
        state.ready = false  // counted down even if the write failed: never claim ready wrongly
        switch reason {
        case .stopped: state.droppedStopped &+= 1
        case .watchdog: state.droppedWatchdog &+= 1
        case .cameraLost: state.droppedCameraLost &+= 1
        }
    }

    private func startWatchdogLocked() {
        guard !running else { return }
        running = true
        let context = Unmanaged.passRetained(self).toOpaque()
        var tid = pthread_t()
        let rc = pthread_create(&tid, nil, { raw in
            let signal = Unmanaged<ReadySignal>.fromOpaque(raw!).takeRetainedValue()
            signal.watchdogMain()
            return nil
        }, context)
        precondition(rc == 0, "cannot create the ready watchdog thread")
        thread = tid
    }

    private func watchdogMain() {
        let tick = max(watchdogNanoseconds / 4, 1_000_000)
        lock.lock()
        while running {
            lock.wait(untilNanoseconds: monotonicNow() &+ tick)
            if running && state.ready && monotonicNow() &- lastBeat > watchdogNanoseconds { dropLocked(.watchdog) }
        }
        lock.unlock()
    }
}

// MARK: - Reject confirmation

/// Removes the oldest entry of a fixed-capacity FIFO ring that `matches`, keeping the others'
/// order (a confirmation may match any waiting entry, not only the oldest); false if none does.
private func takeFromRing<T>(_ ring: inout [T], head: inout Int, count: inout Int,
                             where matches: (T) -> Bool) -> Bool {
    var i = 0
    while i < count, !matches(ring[(head + i) % ring.count]) { i += 1 }
    guard i < count else { return false }
    while i > 0 {
        ring[(head + i) % ring.count] = ring[(head + i - 1) % ring.count]
        i -= 1
    }
    head = (head + 1) % ring.count
    count -= 1
    return true
}

public struct ConfirmationCounters: Equatable, Sendable {
    /// Pulses that expect a confirmation.
    public var expected: UInt64 = 0
    public var confirmed: UInt64 = 0
    /// No confirmation within the window: alarm.
    public var missed: UInt64 = 0
    /// Confirmations with no pulse waiting for one (a stuck sensor, a part knocked off by hand),
    /// counted once the late-expectation grace has passed.
    public var unexpected: UInt64 = 0
    /// Expectations that found the queue full (counted as missed as well: the alarm is raised).
    public var overflow: UInt64 = 0
    public var alarmWriteErrors: UInt64 = 0
    public var alarmActive = false
    public init() {}
}

/// Checks that every reject pulse is confirmed by the sensor (a debounced active edge) within
/// `window` after the pulse's start; a missing confirmation raises the alarm output, latched
/// until acknowledged. Expectations wait in a FIFO allocated at init.
///
/// The scheduler reports a pulse after it has written the line, so a fast sensor's edge can
/// reach this watch before the pulse's expectation does (under qemu the scheduler thread once
/// stalled longer than the test valve's 5 ms). An edge with no pulse waiting is therefore held
/// for `lateExpectationGraceNanoseconds`: an expectation arriving in that time whose window
/// holds the edge takes it as its confirmation; after it, the edge counts as unexpected.
public final class ConfirmationWatch {
    public let watcher: InputWatcher
    public let windowNanoseconds: UInt64
    public let lateExpectationGraceNanoseconds: UInt64
    public let alarm: OutputLine?
    private let lock = PThreadLock()
    private var state = ConfirmationCounters()
    private var starts: [UInt64]
    private var head = 0, count = 0
    /// Edges with no pulse waiting (edge time, arrival time), oldest first; fixed capacity.
    private var heldEdges: [(edge: UInt64, arrived: UInt64)]
    private var heldHead = 0, heldCount = 0

    public init(input: InputLine, debounceNanoseconds: UInt64, windowNanoseconds: UInt64,
                alarm: OutputLine?, capacity: Int = 256,
                lateExpectationGraceNanoseconds: UInt64 = 250_000_000, heldEdgeCapacity: Int = 16) {
        watcher = InputWatcher(line: input, debounceNanoseconds: debounceNanoseconds)
        self.windowNanoseconds = windowNanoseconds
        self.lateExpectationGraceNanoseconds = lateExpectationGraceNanoseconds
        self.alarm = alarm
        starts = Array(repeating: 0, count: capacity)
        heldEdges = Array(repeating: (0, 0), count: max(heldEdgeCapacity, 1))
        // Weak: the watcher thread may outlive this object for the moment stop() takes.
        watcher.onChange = { [weak self] edge in self?.sensorChanged(edge) }
        watcher.onTick = { [weak self] now in self?.expire(now: now) ?? nil }
    }

    public var counters: ConfirmationCounters { lock.lock(); defer { lock.unlock() }; return state }

    /// Makes every pulse of `scheduler` expect a confirmation (sets its pulseObserver).
    public func attach(to scheduler: RejectScheduler) {
        scheduler.pulseObserver = { [weak self] _, intended, _ in
            self?.expect(pulseStartNanoseconds: intended)
        }
    }

    public func start() { watcher.start() }
    public func stop() {
        watcher.stop()
        // Held edges will get no late expectation now: count them, not lose them.
        lock.lock()
        state.unexpected &+= UInt64(heldCount)
        heldCount = 0
        lock.unlock()
    }
    deinit { watcher.stop() }

    /// A pulse started at `pulseStartNanoseconds`: a confirmation must follow within the window.
    /// Thread-safe, no allocation.
    public func expect(pulseStartNanoseconds: UInt64) {
        lock.lock()
        state.expected &+= 1
        if takeHeldEdgeLocked(forPulseStart: pulseStartNanoseconds) {
            state.confirmed &+= 1
            lock.unlock()
            return
        }
        if count == starts.count {
            state.overflow &+= 1
            state.missed &+= 1
            raiseAlarmLocked()
            lock.unlock()
            return
        }
        starts[(head + count) % starts.count] = pulseStartNanoseconds
        count += 1
        let first = count == 1
        lock.unlock()
        if first { watcher.wake() }  // its timer must now include this window
    }

    /// The operator saw the alarm: it drops until the next miss.
    public func acknowledgeAlarm() throws {
        lock.lock(); defer { lock.unlock() }
        guard state.alarmActive else { return }
        try alarm?.set(false)
        state.alarmActive = false
    }

    private func sensorChanged(_ edge: InputEdge) {
        guard edge.active else { return }
        lock.lock(); defer { lock.unlock() }
        // The oldest waiting pulse whose window holds this edge; windows that have passed
        // are left for expire() (they are misses).
        if takeFromRing(&starts, head: &head, count: &count,
                        where: { windowHolds(pulseStart: $0, edge: edge.timeNanoseconds) }) {
            state.confirmed &+= 1
            return
        }
        // No pulse waiting: hold the edge for a late expectation (the oldest goes if full).
        if heldCount == heldEdges.count {
            heldHead = (heldHead + 1) % heldEdges.count
            heldCount -= 1
            state.unexpected &+= 1
        }
        heldEdges[(heldHead + heldCount) % heldEdges.count] = (edge.timeNanoseconds, monotonicNow())
        heldCount += 1
    }

    /// Removes and reports the oldest held edge inside the window of a pulse starting at `start`.
    private func takeHeldEdgeLocked(forPulseStart start: UInt64) -> Bool {
        takeFromRing(&heldEdges, head: &heldHead, count: &heldCount,
                     where: { windowHolds(pulseStart: start, edge: $0.edge) })
    }

    private func windowHolds(pulseStart: UInt64, edge: UInt64) -> Bool {
        edge >= pulseStart && edge <= pulseStart &+ windowNanoseconds
    }

    private func expire(now: UInt64) -> UInt64? {
        lock.lock(); defer { lock.unlock() }
        var next: UInt64? = nil
        // Held edges no late expectation claimed are unexpected.
        while heldCount > 0 {
            let deadline = heldEdges[heldHead].arrived &+ lateExpectationGraceNanoseconds
            if now <= deadline { next = deadline &+ 1; break }
            heldHead = (heldHead + 1) % heldEdges.count
            heldCount -= 1
            state.unexpected &+= 1
        }
        // A small grace past the window: the sensor's edge is reported after its debounce.
        let grace = watcher.debounceNanoseconds
        while count > 0 {
            let deadline = starts[head] &+ windowNanoseconds &+ grace
            if now <= deadline { return min(next ?? UInt64.max, deadline &+ 1) }
            head = (head + 1) % starts.count
            count -= 1
            state.missed &+= 1
            raiseAlarmLocked()
        }
        return next
    }

    private func raiseAlarmLocked() {
        guard !state.alarmActive, let out = alarm else { if alarm == nil { state.alarmActive = true }; return }
        do { try out.set(true); state.alarmActive = true } catch { state.alarmWriteErrors &+= 1 }
    }
}
