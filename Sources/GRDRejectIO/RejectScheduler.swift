#if canImport(Glibc)
import Glibc
#endif
import CGPIOD

/// What the reject scheduler has done since start; every pulse is accounted for:
/// after a drained stop, `scheduled == fired + overflow`.
public struct RejectCounters: Equatable, Sendable {
    /// schedule() calls.
    public var scheduled: UInt64 = 0
    /// Pulses started from the queue (on time or late).
    public var fired: UInt64 = 0
    /// Decisions whose pulse start (capture + delay) had already passed when scheduled: fired at
    /// once. The pipeline was too slow for the line.
    public var late: UInt64 = 0
    /// Pulses whose decision came in time but that the scheduler thread itself started more than
    /// `lateStartToleranceNanoseconds` after their start: the thread was held up (a loaded or
    /// frozen machine). Fired at once, like `late`; the start error shows in the timing figures.
    /// Such a pulse can share an activation with its neighbour (then also `overlapped`).
    public var startedLate: UInt64 = 0
    /// Pulses that started while the line was already active (an earlier part's pulse, a forced
    /// hold, a release that failed). Each is still its own pulse (the line stays active until the
    /// last one ends), but on the wire they are one longer activation: `activations` is
    /// `fired - overlapped`. Seen often, the delay/width/line speed need a look.
    public var overlapped: UInt64 = 0
    /// Decisions that found the queue full. Never dropped: the line is held active from the
    /// earliest to the latest overflowed pulse (rejecting everything between is the safe side).
    public var overflow: UInt64 = 0
    /// Failed writes to the line (each is retried 1 ms later while the wanted level differs).
    public var writeErrors: UInt64 = 0
    /// Pulses still waiting for their start time.
    public var pending: UInt64 = 0
    /// The most pulses ever waiting at once (sizing the queue).
    public var maxPending: UInt64 = 0
    /// Line activations and releases actually written.
    public var activations: UInt64 = 0
    public var releases: UInt64 = 0
    /// Pulses removed unfired by stop(drain: false).
    public var cancelled: UInt64 = 0
    /// The line is held active regardless of pulses (setForcedActive: e.g. camera lost).
    public var forcedActive = false

    public init() {}
}

/// Pulse start error (actual - intended) figures, from the scheduler's histogram.
public struct PulseTimingSummary: Sendable {
    public var count: UInt64
    public var p50Nanoseconds: UInt64
    public var p99Nanoseconds: UInt64
    public var p999Nanoseconds: UInt64
    public var maxNanoseconds: UInt64
    public var meanNanoseconds: Double
}

/// Fires a reject pulse for each rejected part at capture timestamp + delay, lasting width.
///
/// Why a thread of its own: the pulse is due long after the decision (the reject station is
/// downstream of the camera), for many parts at once, and must not wait for inference or I/O.
/// The thread sleeps on a condition variable bound to CLOCK_MONOTONIC with an absolute deadline
/// (pthread_cond_timedwait: an absolute-time sleep that schedule() can cut short when a new,
/// earlier pulse arrives), with its timer slack cut to 1 us, and optionally SCHED_FIFO.
///
/// Pulses live in a binary min-heap (by start time) allocated once at init, so schedule() is
/// thread-safe and allocation-free. Started pulses need only the latest end time: all of them
/// began in the past, so the line is active exactly while now < that latest end. Each pulse lasts
/// at least `width` from its actual start, so overlapping pulses extend, never cut, each other.
public final class RejectScheduler {
    public let line: OutputLine
    public let delayNanoseconds: UInt64
    public let widthNanoseconds: UInt64
    public let capacity: Int

    /// Called on the scheduler thread after each pulse start is written (outside the lock), with
    /// the part, its intended start and the actual start. Set before start(); keep it short and
    /// allocation-free (e.g. arm a confirmation watch).
    public var pulseObserver: ((_ partID: UInt64, _ intendedStart: UInt64, _ actualStart: UInt64) -> Void)?

    /// Wanted SCHED_FIFO priority of the scheduler thread (nil: normal scheduling). Whether it
    /// took effect is in `realtimeStatus` after start().
    public var realtimePriority: Int32?
    public private(set) var realtimeStatus = "normal scheduling"

    /// A pulse started later than this after its start time (its decision being in time) is
    /// counted in `startedLate`. Set before start().
    public var lateStartToleranceNanoseconds: UInt64 = 1_000_000

    private struct PendingPulse { var start: UInt64; var partID: UInt64; var lateDecision: Bool }

    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>
    private let heap: UnsafeMutablePointer<PendingPulse>
    private var heapCount = 0
    private let due: UnsafeMutablePointer<PendingPulse>   // scratch: pulses starting together
    private var latestEnd: UInt64 = 0                      // line active while now < latestEnd
    private var holdStart: UInt64 = 0                      // overflow window, valid if holding
    private var holdEnd: UInt64 = 0
    private var holding = false
    private var forced = false                             // setForcedActive
    private var lineWritten = false                        // level last written successfully
    private var retryAt: UInt64 = 0                        // after a failed write
    private var running = false
    private var draining = false
    private var thread: pthread_t?
    private var state = RejectCounters()
    private let histogram = TimingHistogram()

    /// - Parameters:
    ///   - delayNanoseconds: capture -> pulse start (camera-to-valve travel time).
    ///   - widthNanoseconds: pulse length (> 0).
    ///   - capacity: pulses that may wait at once; beyond it see `RejectCounters.overflow`.
    public init(line: OutputLine, delayNanoseconds: UInt64, widthNanoseconds: UInt64, capacity: Int = 1024) {
        precondition(widthNanoseconds > 0 && capacity > 0)
        self.line = line
        self.delayNanoseconds = delayNanoseconds
        self.widthNanoseconds = widthNanoseconds
        self.capacity = capacity
        mutex = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        condition = .allocate(capacity: 1)
        var attr = pthread_condattr_t()
        pthread_condattr_init(&attr)
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attr)
        pthread_condattr_destroy(&attr)
        heap = .allocate(capacity: capacity)
        due = .allocate(capacity: capacity)
    }

    deinit {
        stop(drain: false)
        pthread_cond_destroy(condition); condition.deallocate()
        pthread_mutex_destroy(mutex); mutex.deallocate()
        heap.deallocate(); due.deallocate()
    }

    // MARK: - Public API

    /// Queues the reject pulse for a part captured at `captureTimestampNanoseconds`
    /// (CLOCK_MONOTONIC). Thread-safe, no allocation; never blocks on the line.
    public func schedule(captureTimestampNanoseconds: UInt64, partID: UInt64) {
        scheduleAt(startNanoseconds: captureTimestampNanoseconds &+ delayNanoseconds, partID: partID)
    }

    /// Queues a pulse with an explicit start time (CLOCK_MONOTONIC ns), e.g. from an encoder.
    public func scheduleAt(startNanoseconds start: UInt64, partID: UInt64) {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        state.scheduled &+= 1
        let lateDecision = start <= monotonicNow()
        if lateDecision { state.late &+= 1 }
        if heapCount == capacity {
            state.overflow &+= 1
            let end = start &+ widthNanoseconds
            if holding {
                holdStart = min(holdStart, start); holdEnd = max(holdEnd, end)
            } else {
                holding = true; holdStart = start; holdEnd = end
            }
            pthread_cond_signal(condition)
            return
        }
        let wasEarliest = heapCount == 0 || start < heap[0].start
        push(PendingPulse(start: start, partID: partID, lateDecision: lateDecision))
        state.pending = UInt64(heapCount)
        if state.pending > state.maxPending { state.maxPending = state.pending }
        if wasEarliest { pthread_cond_signal(condition) }
    }

    public var counters: RejectCounters {
        pthread_mutex_lock(mutex); defer { pthread_mutex_unlock(mutex) }
        return state
    }

    /// A copy of the start-error histogram (allocates; for stats and the benchmark).
    public func startErrorHistogram() -> TimingHistogram {
        pthread_mutex_lock(mutex); defer { pthread_mutex_unlock(mutex) }
        return histogram.copy()
    }

    public var timing: PulseTimingSummary {
        let h = startErrorHistogram()
        return PulseTimingSummary(count: h.count, p50Nanoseconds: h.percentileNanoseconds(0.50),
                                  p99Nanoseconds: h.percentileNanoseconds(0.99),
                                  p999Nanoseconds: h.percentileNanoseconds(0.999),
                                  maxNanoseconds: h.maximumNanoseconds, meanNanoseconds: h.meanNanoseconds)
    }

    /// Holds the line active regardless of pulses while `on` (the "reject everything" fail-safe
    /// while no part can be inspected); pulses keep being scheduled and counted meanwhile.
    public func setForcedActive(_ on: Bool) {
        pthread_mutex_lock(mutex)
        forced = on
        state.forcedActive = on
        pthread_cond_signal(condition)
        pthread_mutex_unlock(mutex)
    }

    /// Starts the scheduler thread (idempotent). Pulses scheduled before start() wait for it.
    public func start() {
        pthread_mutex_lock(mutex)
        if running { pthread_mutex_unlock(mutex); return }
        running = true; draining = false
        pthread_mutex_unlock(mutex)
        let context = Unmanaged.passRetained(self).toOpaque()
        var tid = pthread_t()
        let rc = pthread_create(&tid, nil, { raw in
            let scheduler = Unmanaged<RejectScheduler>.fromOpaque(raw!).takeRetainedValue()
            scheduler.threadMain()
            return nil
        }, context)
        precondition(rc == 0, "cannot create the reject scheduler thread: \(String(cString: strerror(rc)))")
        thread = tid
        if let priority = realtimePriority {
            var param = sched_param()
            param.sched_priority = priority
            let r = pthread_setschedparam(tid, Int32(SCHED_FIFO), &param)
            realtimeStatus = r == 0 ? "SCHED_FIFO priority \(priority)"
                : "SCHED_FIFO priority \(priority) refused (\(String(cString: strerror(r)))): normal scheduling"
        }
    }

    /// Stops the thread. With `drain` (the default) every queued pulse is still fired and
    /// completed first (at most delay + width away): the parts already inspected get their
    /// reject. Without it, queued pulses are counted as `cancelled`. The line ends inactive.
    public func stop(drain: Bool = true) {
        pthread_mutex_lock(mutex)
        guard running, let tid = thread else { pthread_mutex_unlock(mutex); return }
        running = false
        draining = drain
        forced = false
        state.forcedActive = false
        if !drain {
            state.cancelled &+= UInt64(heapCount)
            heapCount = 0; state.pending = 0
            holding = false; latestEnd = 0
        }
        pthread_cond_signal(condition)
        pthread_mutex_unlock(mutex)
        pthread_join(tid, nil)
        thread = nil
    }

    // MARK: - The scheduler thread

    private func threadMain() {
        _ = grd_set_timer_slack_ns(1_000)
        _ = grd_set_thread_name("grd-reject")  // `ps -T`, /proc/PID/task/*/comm
        pthread_mutex_lock(mutex)
        while true {
            let now = monotonicNow()
            if holding && holdStart <= now {
                latestEnd = max(latestEnd, holdEnd)
                holding = false
            }
            // An activation whose pulses have all ended is released before anything new starts:
            // when the thread ran late past one pulse's end and the next one's start, the two still
            // get an edge each instead of one merged activation.
            if lineWritten && !(now < latestEnd || forced) && now >= retryAt {
                pthread_mutex_unlock(mutex)
                let ok = (try? line.set(false)) != nil
                let written = monotonicNow()
                pthread_mutex_lock(mutex)
                if ok { lineWritten = false; retryAt = 0; state.releases &+= 1 }
                else { state.writeErrors &+= 1; retryAt = written &+ 1_000_000 }
                continue
            }
            // Pulses due now (possibly several, possibly late) start together. One that starts
            // while the line is still active (an earlier pulse, a forced hold, a release that
            // failed) gets no edge of its own: counted as overlapped.
            var dueCount = 0
            while heapCount > 0 && heap[0].start <= now {
                let p = pop()
                if now < latestEnd || lineWritten { state.overlapped &+= 1 }
                if !p.lateDecision && now &- p.start > lateStartToleranceNanoseconds { state.startedLate &+= 1 }
                latestEnd = max(latestEnd, now &+ widthNanoseconds)
                due[dueCount] = p
                dueCount += 1
            }
            if dueCount > 0 {
                state.fired &+= UInt64(dueCount)
                state.pending = UInt64(heapCount)
            }
            let wantActive = now < latestEnd || forced
            if wantActive != lineWritten && (dueCount > 0 || now >= retryAt) {
                pthread_mutex_unlock(mutex)
                var ok = true
                do { try line.set(wantActive) } catch { ok = false }
                let written = monotonicNow()
                pthread_mutex_lock(mutex)
                if ok {
                    lineWritten = wantActive
                    retryAt = 0
                    // The width counts from the edge itself (the write returned at `written`), so a
                    // pulse is never shorter than configured however long the write took.
                    if wantActive && dueCount > 0 { latestEnd = max(latestEnd, written &+ widthNanoseconds) }
                    if wantActive { state.activations &+= 1 } else { state.releases &+= 1 }
                } else {
                    state.writeErrors &+= 1
                    retryAt = written &+ 1_000_000
                }
                for i in 0..<dueCount { histogram.record(written &- min(written, due[i].start)) }
                if let observer = pulseObserver, dueCount > 0 {
                    pthread_mutex_unlock(mutex)
                    for i in 0..<dueCount { observer(due[i].partID, due[i].start, written) }
                    pthread_mutex_lock(mutex)
                }
                continue  // re-read the clock: the write took time
            } else if dueCount > 0 {
                // Line already active (overlap): the pulse started at `now`.
                for i in 0..<dueCount { histogram.record(now &- min(now, due[i].start)) }
                if let observer = pulseObserver {
                    pthread_mutex_unlock(mutex)
                    for i in 0..<dueCount { observer(due[i].partID, due[i].start, now) }
                    pthread_mutex_lock(mutex)
                }
                continue
            }
            // Nothing left to fire (a release that failed is tried once more below, then the
            // thread ends anyway: stop() must not hang on a broken line).
            let idle = heapCount == 0 && !holding && !wantActive
            if !running && (!draining || idle) {
                if lineWritten {
                    pthread_mutex_unlock(mutex)
                    let ok = (try? line.set(false)) != nil
                    pthread_mutex_lock(mutex)
                    if ok { lineWritten = false; state.releases &+= 1 } else { state.writeErrors &+= 1 }
                }
                break
            }
            // Sleep to the next thing that must happen.
            var deadline = UInt64.max
            if heapCount > 0 { deadline = heap[0].start }
            if holding { deadline = min(deadline, holdStart) }
            if now < latestEnd { deadline = min(deadline, latestEnd) }
            if wantActive != lineWritten { deadline = min(deadline, retryAt) }
            if deadline == .max {
                pthread_cond_wait(condition, mutex)
            } else if deadline > now {
                var ts = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
                _ = pthread_cond_timedwait(condition, mutex, &ts)
            }
        }
        pthread_mutex_unlock(mutex)
    }

    // MARK: - Binary min-heap on start time (caller holds the mutex)

    private func push(_ p: PendingPulse) {
        var i = heapCount
        heapCount += 1
        while i > 0 {
            let parent = (i - 1) / 2
            if heap[parent].start <= p.start { break }
            heap[i] = heap[parent]
            i = parent
        }
        heap[i] = p
    }

    private func pop() -> PendingPulse {
        let top = heap[0]
        heapCount -= 1
        if heapCount > 0 {
            let last = heap[heapCount]
            var i = 0
            while true {
                let l = 2 * i + 1
                if l >= heapCount { break }
                var c = l
                if l + 1 < heapCount && heap[l + 1].start < heap[l].start { c = l + 1 }
                if heap[c].start >= last.start { break }
                heap[i] = heap[c]
                i = c
            }
            heap[i] = last
        }
        return top
    }
}
