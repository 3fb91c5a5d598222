#if canImport(Glibc)
import Glibc
#endif

/// The reject-timing benchmark behind `grdnet bench-reject`: a simulated camera produces parts at
/// `rate`, each decision reaches the scheduler `decisionLatency` after its capture, every
/// `rejectEvery`-th part is rejected, and a simulated line records each edge. Afterwards every
/// pulse is matched, by the actual start the scheduler reported, to the recorded activation that
/// covers it: it must be fired once and the line must stay active for its whole width. A pulse
/// that shares an activation is classified by why: a late start (the machine held the thread up;
/// a late pulse fires at once) or a real merge of on-time pulses (a scheduler bug).
///
/// `timeScale` compresses time: period, delay, width and decision latency are all divided by it,
/// so their ratios (and the number of pulses in flight) stay those of the real line.
public struct RejectBenchmarkConfig: Sendable {
    public var partsPerSecond: Double = 100
    public var parts: Int = 100_000
    public var delayNanoseconds: UInt64 = 200_000_000
    public var widthNanoseconds: UInt64 = 5_000_000
    public var decisionLatencyNanoseconds: UInt64 = 30_000_000
    public var rejectEvery: Int = 1
    public var timeScale: Double = 1
    public var realtimePriority: Int32?
    public init() {}

    public var scaledPeriod: UInt64 { UInt64((1e9 / partsPerSecond) / timeScale) }
    public var scaledDelay: UInt64 { UInt64(Double(delayNanoseconds) / timeScale) }
    public var scaledWidth: UInt64 { UInt64(Double(widthNanoseconds) / timeScale) }
    public var scaledDecisionLatency: UInt64 { UInt64(Double(decisionLatencyNanoseconds) / timeScale) }
}

public struct RejectBenchmarkResult: Sendable {
    public var config: RejectBenchmarkConfig
    public var rejects: Int
    public var counters: RejectCounters
    /// From the scheduler's own histogram (time after the write returned - intended).
    public var scheduler: PulseTimingSummary
    /// From the recorded edges (rise - intended start), pulses with an activation of their own.
    public var edgeP50: UInt64
    public var edgeP99: UInt64
    public var edgeMax: UInt64
    /// Activations recorded on the line.
    public var activations: Int
    /// Pulses with a rising edge of their own.
    public var ownActivations: Int
    /// Pulses never fired, or whose start no recorded activation covers (must be 0).
    public var lost: Int
    /// Pulses fired more than once (must be 0).
    public var duplicated: Int
    /// Pulses whose activation ended before start + width (must be 0).
    public var cutShort: Int
    /// Activations that belong to no pulse (must be 0).
    public var extraActivations: Int
    /// Pulses sharing an activation in which a pulse was started late (the thread was held up
    /// past one pulse's end and the next one's start: both fire at once, as late pulses must).
    public var sharedAfterLateStart: Int
    /// Pulses sharing an activation although every pulse in it started on time (must be 0).
    public var mergedOnTime: Int
    /// How late the simulated camera itself woke, worst case (a loaded machine shows here).
    public var producerMaxLatenessNanoseconds: UInt64
    public var wallSeconds: Double
    public var realtimeStatus: String

    /// Every pulse fired once, with its full width, none lost, none merged while on time.
    public var passed: Bool {
        lost == 0 && duplicated == 0 && cutShort == 0 && extraActivations == 0 && mergedOnTime == 0
            && counters.fired == UInt64(rejects) && counters.overflow == 0
    }
}

public enum RejectBenchmark {
    public static func run(_ config: RejectBenchmarkConfig) -> RejectBenchmarkResult {
        let period = config.scaledPeriod
        let rejects = (config.parts + config.rejectEvery - 1) / config.rejectEvery
        let line = SimulatedOutputLine(name: "bench", capacity: 2 * rejects + 16)
        let scheduler = RejectScheduler(line: line, delayNanoseconds: config.scaledDelay,
                                        widthNanoseconds: config.scaledWidth,
                                        capacity: max(1024, Int(config.scaledDelay / max(period, 1)) * 4))
        scheduler.realtimePriority = config.realtimePriority
        // Each pulse's actual start, as the scheduler reports it (allocated here, written on the
        // scheduler thread without allocating, read after stop() joined it).
        let fired = UnsafeMutablePointer<UInt64>.allocate(capacity: rejects)
        fired.initialize(repeating: 0, count: rejects)
        let fireCount = UnsafeMutablePointer<UInt32>.allocate(capacity: rejects)
        fireCount.initialize(repeating: 0, count: rejects)
        defer { fired.deallocate(); fireCount.deallocate() }
        let every = UInt64(config.rejectEvery)
        scheduler.pulseObserver = { part, _, actual in
            let j = Int(part / every)
            if j < rejects { fired[j] = actual; fireCount[j] &+= 1 }
        }
        scheduler.start()
        // The simulated camera runs just below the scheduler's priority when that is real-time
        // (in the box the capture thread would too); otherwise a loaded machine makes it, not the
        // scheduler, miss deadlines.
        var producerStatus = "normal scheduling"
        if let p = config.realtimePriority, p > 1 {
            var param = sched_param()
            param.sched_priority = p - 1
            let rc = pthread_setschedparam(pthread_self(), Int32(SCHED_FIFO), &param)
            producerStatus = rc == 0 ? "SCHED_FIFO priority \(p - 1)" : "normal scheduling (SCHED_FIFO refused)"
        }

        // The simulated camera: sleeps to each decision time on absolute deadlines.
        let t0 = monotonicNow() + 100_000_000
        var producerMaxLate: UInt64 = 0
        let started = monotonicNow()
        for k in 0..<config.parts {
            let capture = t0 + UInt64(k) * period
            let decided = capture + config.scaledDecisionLatency
            var ts = timespec(tv_sec: Int(decided / 1_000_000_000), tv_nsec: Int(decided % 1_000_000_000))
            while clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nil) == EINTR {}
            let now = monotonicNow()
            if now > decided { producerMaxLate = max(producerMaxLate, now - decided) }
            if k % config.rejectEvery == 0 {
                scheduler.schedule(captureTimestampNanoseconds: capture, partID: UInt64(k))
            }
        }
        scheduler.stop()  // drains: every pulse completes
        if config.realtimePriority != nil {
            var param = sched_param()
            param.sched_priority = 0
            _ = pthread_setschedparam(pthread_self(), Int32(SCHED_OTHER), &param)
        }
        let wall = Double(monotonicNow() - started) / 1e9

        var pulses: [PulseRecord] = []
        pulses.reserveCapacity(rejects)
        for j in 0..<rejects {
            let intended = t0 + UInt64(j * config.rejectEvery) * period + config.scaledDelay
            pulses.append(PulseRecord(intendedStart: intended, actualStart: fired[j], timesFired: Int(fireCount[j])))
        }
        let m = match(pulses: pulses, edges: line.edges, width: config.scaledWidth,
                      lateTolerance: scheduler.lateStartToleranceNanoseconds)
        let c = scheduler.counters
        return RejectBenchmarkResult(
            config: config, rejects: rejects, counters: c, scheduler: scheduler.timing,
            edgeP50: m.edgeErrors.percentileNanoseconds(0.5), edgeP99: m.edgeErrors.percentileNanoseconds(0.99),
            edgeMax: m.edgeErrors.maximumNanoseconds, activations: m.activations, ownActivations: m.ownActivations,
            lost: m.lost, duplicated: m.duplicated, cutShort: m.cutShort, extraActivations: m.extraActivations,
            sharedAfterLateStart: m.sharedAfterLateStart, mergedOnTime: m.mergedOnTime,
            producerMaxLatenessNanoseconds: producerMaxLate, wallSeconds: wall,
            realtimeStatus: scheduler.realtimeStatus + "; simulated camera: " + producerStatus)
    }

    /// One intended pulse and what the scheduler did with it.
    public struct PulseRecord: Sendable {
        public var intendedStart: UInt64
        public var actualStart: UInt64
        public var timesFired: Int
        public init(intendedStart: UInt64, actualStart: UInt64, timesFired: Int) {
            self.intendedStart = intendedStart; self.actualStart = actualStart; self.timesFired = timesFired
        }
    }

    public struct MatchResult {
        public var activations = 0, ownActivations = 0, lost = 0, duplicated = 0, cutShort = 0
        public var extraActivations = 0, sharedAfterLateStart = 0, mergedOnTime = 0
        public var edgeErrors = TimingHistogram()
    }

    /// Matches pulses (in intended order) to the recorded activations by their actual start: the
    /// activation covering it must last at least `width` from there. The first pulse of an
    /// activation owns its rising edge; a later one shares it, either after a start later than
    /// `lateTolerance` in that activation (a held-up thread fires due pulses at once) or not
    /// (a merge of on-time pulses).
    public static func match(pulses: [PulseRecord], edges: [RecordedEdge], width: UInt64,
                             lateTolerance: UInt64) -> MatchResult {
        var m = MatchResult()
        var spans: [(rise: UInt64, fall: UInt64)] = []
        spans.reserveCapacity(edges.count / 2 + 1)
        var i = 0
        while i < edges.count {
            if edges[i].active {
                let fall = i + 1 < edges.count ? edges[i + 1].timeNanoseconds : UInt64.max
                spans.append((edges[i].timeNanoseconds, fall))
                i += 2
            } else { i += 1 }
        }
        m.activations = spans.count
        var used = [Bool](repeating: false, count: spans.count)
        var lateIn = [Bool](repeating: false, count: spans.count)
        var a = 0
        for p in pulses {
            if p.timesFired == 0 { m.lost += 1; continue }
            if p.timesFired > 1 { m.duplicated += 1 }
            let f = p.actualStart
            while a < spans.count && spans[a].fall < f { a += 1 }
            guard a < spans.count && spans[a].rise <= f else { m.lost += 1; continue }
            if spans[a].fall < f &+ width { m.cutShort += 1 }
            let late = f > p.intendedStart && f - p.intendedStart > lateTolerance
            if !used[a] {
                used[a] = true
                m.ownActivations += 1
                m.edgeErrors.record(spans[a].rise &- min(spans[a].rise, p.intendedStart))
                lateIn[a] = late
            } else {
                lateIn[a] = lateIn[a] || late
                if lateIn[a] { m.sharedAfterLateStart += 1 } else { m.mergedOnTime += 1 }
            }
        }
        m.extraActivations = used.lazy.filter { !$0 }.count
        return m
    }
}
