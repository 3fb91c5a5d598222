#if canImport(Glibc)
import Glibc
#endif

/// The reject-timing benchmark behind `grdnet bench-reject`: a simulated camera produces parts at
/// `rate`, each decision reaches the scheduler `decisionLatency` after its capture, every
/// `rejectEvery`-th part is rejected, and a simulated line records each edge. Afterwards every
/// intended pulse is matched to exactly one recorded activation.
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
    /// From the recorded edges (edge time - intended start), matched one to one.
    public var edgeP50: UInt64
    public var edgeP99: UInt64
    public var edgeMax: UInt64
    /// Activations recorded on the line.
    public var activations: Int
    /// Intended pulses with no activation of their own (lost or merged into another).
    public var lostOrMerged: Int
    /// Activations shorter than the width.
    public var shortPulses: Int
    /// Activations that belong to no pulse (must be 0).
    public var extraActivations: Int
    /// How late the simulated camera itself woke, worst case (a loaded machine shows here).
    public var producerMaxLatenessNanoseconds: UInt64
    public var wallSeconds: Double
    public var realtimeStatus: String
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

        // Match intended starts to recorded activations, in order, one to one.
        let edges = line.edges
        let edgeErrors = TimingHistogram()
        var rises: [(UInt64, UInt64)] = []  // (rise, fall)
        rises.reserveCapacity(edges.count / 2)
        var i = 0
        while i < edges.count {
            if edges[i].active {
                let fall = i + 1 < edges.count ? edges[i + 1].timeNanoseconds : UInt64.max
                rises.append((edges[i].timeNanoseconds, fall))
                i += 2
            } else { i += 1 }
        }
        // Rises in [intended k, intended k+1) belong to pulse k; a pulse with none was merged
        // into another activation (or lost).
        var intended: [UInt64] = []
        intended.reserveCapacity(rejects)
        var k = 0
        while k < config.parts {
            intended.append(t0 + UInt64(k) * period + config.scaledDelay)
            k += config.rejectEvery
        }
        var lost = 0, short = 0, extra = 0, r = 0
        for (j, start) in intended.enumerated() {
            let next = j + 1 < intended.count ? intended[j + 1] : UInt64.max
            while r < rises.count && rises[r].0 < start { extra += 1; r += 1 }
            if r < rises.count && rises[r].0 < next {
                edgeErrors.record(rises[r].0 - start)
                if rises[r].1 - rises[r].0 < config.scaledWidth { short += 1 }
                r += 1
            } else {
                lost += 1
            }
        }
        extra += rises.count - r
        let c = scheduler.counters
        return RejectBenchmarkResult(
            config: config, rejects: rejects, counters: c, scheduler: scheduler.timing,
            edgeP50: edgeErrors.percentileNanoseconds(0.5), edgeP99: edgeErrors.percentileNanoseconds(0.99),
            edgeMax: edgeErrors.maximumNanoseconds, activations: rises.count, lostOrMerged: lost,
            shortPulses: short, extraActivations: extra, producerMaxLatenessNanoseconds: producerMaxLate, wallSeconds: wall,
            realtimeStatus: scheduler.realtimeStatus + "; simulated camera: " + producerStatus)
    }
}
