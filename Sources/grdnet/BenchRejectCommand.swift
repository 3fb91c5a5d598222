import ArgumentParser
import Foundation
import GRDRejectIO

/// `grdnet bench-reject`: reject pulse timing on the simulated line at a given part rate.
struct BenchRejectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-reject",
        abstract: "Benchmark reject pulse timing with the simulated line (start error, lost, merged and late pulses).",
        discussion: """
            A simulated camera captures --rate parts per second; each decision reaches the scheduler \
            --decision-ms after capture; the pulse is due --delay-ms after capture and lasts --width-ms. \
            --time-scale N runs N times faster with period, delay, width and decision time all divided \
            by N (same ratios, same pulses in flight); figures are then in compressed time.
            """)

    @Option(help: "Parts per second.") var rate: Double = 100
    @Option(help: "Number of parts.") var parts: Int = 100_000
    @Option(help: "Capture to pulse start, ms.") var delayMs: Double = 200
    @Option(help: "Pulse width, ms.") var widthMs: Double = 5
    @Option(help: "Capture to decision (simulated inference), ms.") var decisionMs: Double = 30
    @Option(help: "Reject every Nth part (1 = every part).") var rejectEvery: Int = 1
    @Option(help: "Time compression factor (1 = real time).") var timeScale: Double = 1
    @Option(help: "SCHED_FIFO priority for the scheduler thread (needs CAP_SYS_NICE).") var rtPriority: Int32?

    func run() throws {
        guard rate > 0, parts > 0, widthMs > 0, rejectEvery > 0, timeScale >= 1 else {
            throw ValidationError("--rate, --parts, --width-ms, --reject-every must be > 0 and --time-scale >= 1")
        }
        guard widthMs * Double(rejectEvery) < 1000 / rate else {
            throw ValidationError("--width-ms \(widthMs) is not shorter than the time between rejects: pulses would overlap by design")
        }
        var c = RejectBenchmarkConfig()
        c.partsPerSecond = rate; c.parts = parts
        c.delayNanoseconds = UInt64(delayMs * 1e6); c.widthNanoseconds = UInt64(widthMs * 1e6)
        c.decisionLatencyNanoseconds = UInt64(decisionMs * 1e6)
        c.rejectEvery = rejectEvery; c.timeScale = timeScale; c.realtimePriority = rtPriority
        let us = { (ns: UInt64) in String(format: "%.1f us", Double(ns) / 1e3) }
        print("bench-reject: \(parts) parts at \(rate)/s, delay \(delayMs) ms, width \(widthMs) ms, "
              + "decision \(decisionMs) ms, reject every \(rejectEvery), time scale \(timeScale)x "
              + "(period \(us(c.scaledPeriod)), delay \(us(c.scaledDelay)), width \(us(c.scaledWidth)))")
        fflush(stdout)
        let r = RejectBenchmark.run(c)
        let k = r.counters
        print("wall time \(String(format: "%.1f", r.wallSeconds)) s; scheduler thread: \(r.realtimeStatus)")
        print("pulses: \(r.rejects) intended, \(k.scheduled) scheduled, \(k.fired) fired, \(r.activations) activations on the line")
        print("lost: \(r.lost); fired twice: \(r.duplicated); cut short: \(r.cutShort); extra activations: \(r.extraActivations); "
              + "merged while on time: \(r.mergedOnTime); overflow: \(k.overflow); write errors: \(k.writeErrors); max pending: \(k.maxPending)")
        print("late: \(k.late) late decisions, \(k.startedLate) started more than 1 ms late by the scheduler thread; "
              + "\(r.sharedAfterLateStart) late pulses shared an activation with a neighbour (fired at once)")
        print("start error (edge - intended):     p50 \(us(r.edgeP50))  p99 \(us(r.edgeP99))  max \(us(r.edgeMax))")
        print("start error (scheduler, after write): p50 \(us(r.scheduler.p50Nanoseconds))  p99 \(us(r.scheduler.p99Nanoseconds))  "
              + "p99.9 \(us(r.scheduler.p999Nanoseconds))  max \(us(r.scheduler.maxNanoseconds))  mean \(String(format: "%.1f us", r.scheduler.meanNanoseconds / 1e3))")
        print("simulated camera worst wake-up lateness: \(us(r.producerMaxLatenessNanoseconds))")
        print("accounting: \(r.ownActivations) pulses with an edge of their own + \(r.sharedAfterLateStart + r.mergedOnTime) sharing one = \(r.ownActivations + r.sharedAfterLateStart + r.mergedOnTime) of \(r.rejects)")
        let ok = r.passed
        print(ok ? "PASS: every pulse fired once for its full width, none lost, none merged while on time"
                 : "FAIL: pulses lost, cut short, fired twice, extra, or merged while on time")
        if !ok { throw ExitCode(1) }
    }
}
