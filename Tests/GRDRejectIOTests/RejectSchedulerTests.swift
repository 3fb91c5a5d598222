import XCTest
import Foundation
#if canImport(Glibc)
import Glibc
#endif
@testable import GRDRejectIO

/// Behaviour of the reject scheduler on the simulated line. No test depends on precise timing
/// (the machine is shared): they check order, counts and generous bounds only.
final class RejectSchedulerTests: XCTestCase {
    let ms: UInt64 = 1_000_000

    private func risingEdges(_ line: SimulatedOutputLine) -> [UInt64] {
        line.edges.filter { $0.active }.map { $0.timeNanoseconds }
    }

    func testPulsesFireInStartOrderAtOrAfterTheirTime() throws {
        let line = SimulatedOutputLine(name: "reject")
        let s = RejectScheduler(line: line, delayNanoseconds: 100 * ms, widthNanoseconds: 10 * ms)
        s.start()
        let t0 = monotonicNow()
        // Scheduled out of order: the later part first, then earlier ones (wakes the thread early).
        s.schedule(captureTimestampNanoseconds: t0 + 400 * ms, partID: 3)
        s.schedule(captureTimestampNanoseconds: t0, partID: 1)
        s.schedule(captureTimestampNanoseconds: t0 + 200 * ms, partID: 2)
        s.stop()  // drains: all three complete
        let c = s.counters
        XCTAssertEqual(c.scheduled, 3)
        XCTAssertEqual(c.fired, 3)
        XCTAssertEqual(c.late, 0)
        XCTAssertEqual(c.overflow, 0)
        XCTAssertEqual(c.pending, 0)
        let edges = line.edges
        XCTAssertEqual(edges.count, 6, "\(edges)")
        XCTAssertEqual(edges.map { $0.active }, [true, false, true, false, true, false])
        let rising = risingEdges(line)
        let intended = [t0 + 100 * ms, t0 + 300 * ms, t0 + 500 * ms]
        for (r, i) in zip(rising, intended) { XCTAssertGreaterThanOrEqual(r, i) }
        // Each pulse lasts at least its width.
        for k in stride(from: 0, to: edges.count, by: 2) {
            XCTAssertGreaterThanOrEqual(edges[k + 1].timeNanoseconds - edges[k].timeNanoseconds, 10 * ms)
        }
        XCTAssertFalse(line.isActive)
        XCTAssertEqual(s.startErrorHistogram().count, 3)
    }

    func testAnEarlierPulseWakesTheThreadBeforeALaterOne() throws {
        let line = SimulatedOutputLine(name: "reject")
        let s = RejectScheduler(line: line, delayNanoseconds: 0, widthNanoseconds: 5 * ms)
        s.start()
        let t0 = monotonicNow()
        s.scheduleAt(startNanoseconds: t0 + 60_000 * ms, partID: 1)  // a minute away
        usleep(20_000)  // the thread is now asleep until that one
        s.scheduleAt(startNanoseconds: monotonicNow() + 50 * ms, partID: 2)
        let giveUp = monotonicNow() + 5_000 * ms
        while line.edgeCount < 2 && monotonicNow() < giveUp { usleep(5_000) }
        XCTAssertEqual(line.edgeCount, 2, "the earlier pulse did not fire while the later one waited")
        XCTAssertEqual(s.counters.fired, 1)
        XCTAssertEqual(s.counters.pending, 1)
        s.stop(drain: false)
        XCTAssertEqual(s.counters.cancelled, 1)
        XCTAssertFalse(line.isActive)
    }

    func testLateDecisionFiresAtOnceAndIsCounted() throws {
        let line = SimulatedOutputLine(name: "reject")
        let s = RejectScheduler(line: line, delayNanoseconds: 10 * ms, widthNanoseconds: 5 * ms)
        s.start()
        let capture = monotonicNow() - 1_000 * ms   // its pulse was due 990 ms ago
        let before = monotonicNow()
        s.schedule(captureTimestampNanoseconds: capture, partID: 7)
        s.stop()
        XCTAssertEqual(s.counters.late, 1)
        XCTAssertEqual(s.counters.fired, 1)
        let rising = risingEdges(line)
        XCTAssertEqual(rising.count, 1)
        XCTAssertGreaterThanOrEqual(rising[0], before)
        // Its start error is the lateness: at least the 990 ms it was overdue.
        XCTAssertGreaterThanOrEqual(s.startErrorHistogram().maximumNanoseconds, 990 * ms)
    }

    func testOverlappingPulsesAreBothKeptAndCounted() throws {
        let line = SimulatedOutputLine(name: "reject")
        let s = RejectScheduler(line: line, delayNanoseconds: 0, widthNanoseconds: 300 * ms)
        var seen: [UInt64] = []
        let seenLock = NSLock()
        s.pulseObserver = { part, _, _ in seenLock.lock(); seen.append(part); seenLock.unlock() }
        s.start()
        let t0 = monotonicNow() + 50 * ms
        s.scheduleAt(startNanoseconds: t0, partID: 1)
        s.scheduleAt(startNanoseconds: t0 + 100 * ms, partID: 2)  // starts inside pulse 1
        s.stop()
        let c = s.counters
        XCTAssertEqual(c.fired, 2)
        XCTAssertEqual(c.overlapped, 1)
        XCTAssertEqual(c.activations, 1)  // one activation on the wire...
        XCTAssertEqual(c.releases, 1)
        let edges = line.edges
        XCTAssertEqual(edges.count, 2)
        // ...lasting until the second pulse's full width has passed.
        XCTAssertGreaterThanOrEqual(edges[1].timeNanoseconds, t0 + 400 * ms)
        XCTAssertEqual(seen, [1, 2])
    }

    func testOverflowHoldsTheLineActiveAndLosesNothing() throws {
        let line = SimulatedOutputLine(name: "reject")
        let s = RejectScheduler(line: line, delayNanoseconds: 0, widthNanoseconds: 10 * ms, capacity: 2)
        let t0 = monotonicNow() + 100 * ms
        // Not started yet: the queue fills (2), the other 3 overflow.
        for k in 0..<5 { s.scheduleAt(startNanoseconds: t0 + UInt64(k) * 50 * ms, partID: UInt64(k)) }
        XCTAssertEqual(s.counters.overflow, 3)
        s.start()
        s.stop()
        let c = s.counters
        XCTAssertEqual(c.scheduled, c.fired + c.overflow)
        XCTAssertEqual(c.fired, 2)
        let edges = line.edges
        XCTAssertFalse(edges.isEmpty)
        XCTAssertEqual(edges.last?.active, false)
        // The overflowed parts (starts t0+100..t0+200 ms, +10 ms width) were covered by an
        // activation: the line was active for all of [t0+100ms, t0+210ms].
        var covered = false
        for k in stride(from: 0, to: edges.count - 1, by: 2) where edges[k].active {
            if edges[k].timeNanoseconds <= t0 + 100 * ms + 200 * ms   // generous
                && edges[k + 1].timeNanoseconds >= t0 + 210 * ms { covered = true }
        }
        XCTAssertTrue(covered, "\(edges.map { ($0.active, Int64($0.timeNanoseconds) - Int64(t0)) })")
    }

    func testFailedWritesAreCountedAndRetried() throws {
        let line = SimulatedOutputLine(name: "reject")
        let s = RejectScheduler(line: line, delayNanoseconds: 0, widthNanoseconds: 50 * ms)
        line.failNextWrites(2)
        s.start()
        s.scheduleAt(startNanoseconds: monotonicNow() + 10 * ms, partID: 1)
        s.stop()
        XCTAssertEqual(s.counters.writeErrors, 2)
        XCTAssertEqual(s.counters.fired, 1)
        // Retried 1 ms apart, well within the 50 ms width: the pulse still reached the line.
        XCTAssertEqual(line.edges.map { $0.active }, [true, false])
    }

    func testScheduleFromManyThreadsLosesNothing() throws {
        let line = SimulatedOutputLine(name: "reject")
        let s = RejectScheduler(line: line, delayNanoseconds: 0, widthNanoseconds: 1 * ms, capacity: 4096)
        s.start()
        let base = monotonicNow() + 20 * ms
        DispatchQueue.concurrentPerform(iterations: 4) { t in
            for k in 0..<250 {
                s.scheduleAt(startNanoseconds: base + UInt64(k) * 2 * ms + UInt64(t) * 100_000,
                             partID: UInt64(t * 1000 + k))
            }
        }
        s.stop()
        let c = s.counters
        XCTAssertEqual(c.scheduled, 1000)
        XCTAssertEqual(c.fired + c.overflow, 1000)
        XCTAssertEqual(c.overflow, 0)
        XCTAssertEqual(c.activations, c.releases)
        XCTAssertEqual(line.edgeCount, Int(c.activations + c.releases))
        XCTAssertEqual(s.startErrorHistogram().count, 1000)
    }

    func testHistogramPercentiles() {
        let h = TimingHistogram()
        for us in 1...100 { h.record(UInt64(us) * 1_000) }   // 1..100 us
        XCTAssertEqual(h.count, 100)
        XCTAssertEqual(h.maximumNanoseconds, 100_000)
        XCTAssertEqual(h.percentileNanoseconds(0.5), 51_000)   // bucket [50,51) us upper edge
        XCTAssertEqual(h.percentileNanoseconds(0.99), 100_000) // capped at the exact max
        h.record(5_000_000_000)  // 5 s: the overflow bucket
        XCTAssertEqual(h.percentileNanoseconds(1.0), 5_000_000_000)
        XCTAssertEqual(TimingHistogram.bucket(of: 2_500_000), 1_000 + 150)
        XCTAssertEqual(TimingHistogram.upperEdgeNanoseconds(ofBucket: 1_150), 2_510_000)
    }
}

final class RejectBenchmarkTests: XCTestCase {
    /// A short benchmark run with wide margins (50 ms period, 5 ms pulses, 100 ms delay, at 2x):
    /// only a stall of more than ~20 ms could merge two pulses. Checks the matching, not speed.
    func testShortBenchmarkMatchesEveryPulseOnce() {
        var c = RejectBenchmarkConfig()
        c.partsPerSecond = 20
        c.parts = 40
        c.delayNanoseconds = 100_000_000
        c.widthNanoseconds = 5_000_000
        c.decisionLatencyNanoseconds = 10_000_000
        c.rejectEvery = 2
        c.timeScale = 2
        let r = RejectBenchmark.run(c)
        XCTAssertEqual(r.rejects, 20)
        XCTAssertEqual(r.counters.scheduled, 20)
        XCTAssertEqual(r.counters.fired, 20)
        XCTAssertEqual(r.activations, 20)
        XCTAssertEqual(r.lost, 0)
        XCTAssertEqual(r.cutShort, 0)
        XCTAssertEqual(r.duplicated, 0)
        XCTAssertEqual(r.mergedOnTime, 0)
        XCTAssertEqual(r.ownActivations + r.sharedAfterLateStart, 20)
        XCTAssertTrue(r.passed)
        XCTAssertEqual(r.scheduler.count, 20)
        XCTAssertLessThanOrEqual(r.scheduler.p50Nanoseconds, r.scheduler.maxNanoseconds)
    }
}

final class RejectSchedulerStopTests: XCTestCase {
    /// A line that breaks after its first write: stop() must still return, with the failures
    /// counted (the kernel releases a real line when the process ends).
    func testStopReturnsWhenTheReleaseKeepsFailing() {
        let line = SimulatedOutputLine(name: "reject")
        let s = RejectScheduler(line: line, delayNanoseconds: 0, widthNanoseconds: 20_000_000)
        s.start()
        s.scheduleAt(startNanoseconds: monotonicNow(), partID: 1)
        let giveUp = monotonicNow() + 5_000_000_000
        while !line.isActive && monotonicNow() < giveUp { usleep(1_000) }
        XCTAssertTrue(line.isActive)
        line.failNextWrites(1_000_000)
        s.stop()
        XCTAssertGreaterThanOrEqual(s.counters.writeErrors, 2)
        XCTAssertEqual(s.counters.fired, 1)
        XCTAssertEqual(s.counters.releases, 0)
    }
}

final class RejectSchedulerStallTests: XCTestCase {
    /// The scheduler thread is held up (here by its observer) past pulse 1's end and pulse 2's
    /// start: pulse 1 is released before pulse 2 starts, so each keeps its own activation.
    func testAStalledThreadStillGivesEachPulseItsOwnEdge() {
        let ms: UInt64 = 1_000_000
        let line = SimulatedOutputLine(name: "reject")
        let s = RejectScheduler(line: line, delayNanoseconds: 0, widthNanoseconds: 5 * ms)
        s.pulseObserver = { part, _, _ in if part == 1 { usleep(60_000) } }
        let t = monotonicNow() + 30 * ms
        s.scheduleAt(startNanoseconds: t, partID: 1)
        s.scheduleAt(startNanoseconds: t + 20 * ms, partID: 2)
        s.start()
        s.stop()
        XCTAssertEqual(line.edges.map { $0.active }, [true, false, true, false])
        XCTAssertEqual(s.counters.overlapped, 0)
        XCTAssertEqual(s.counters.activations, 2)
    }
}

final class RejectLateStartTests: XCTestCase {
    let ms: UInt64 = 1_000_000

    /// The thread starts only after both pulses were due (as after a machine freeze): both fire
    /// at once, counted as started late (not as late decisions), and share one activation that
    /// still lasts the full width.
    func testPulsesDueDuringAFreezeFireAtOnceCountedAsStartedLate() {
        let line = SimulatedOutputLine(name: "reject")
        let s = RejectScheduler(line: line, delayNanoseconds: 0, widthNanoseconds: 5 * ms)
        let t = monotonicNow() + 10 * ms
        s.scheduleAt(startNanoseconds: t, partID: 1)
        s.scheduleAt(startNanoseconds: t + 10 * ms, partID: 2)
        usleep(60_000)   // both starts pass before the thread exists
        s.start()
        s.stop()
        let c = s.counters
        XCTAssertEqual(c.late, 0)
        XCTAssertEqual(c.startedLate, 2)
        XCTAssertEqual(c.fired, 2)
        XCTAssertEqual(c.overlapped, 1)
        let e = line.edges
        XCTAssertEqual(e.map { $0.active }, [true, false])
        XCTAssertGreaterThanOrEqual(e[1].timeNanoseconds - e[0].timeNanoseconds, 5 * ms)
    }

    func testOnTimePulsesAreNotCountedAsStartedLate() {
        let line = SimulatedOutputLine(name: "reject")
        let s = RejectScheduler(line: line, delayNanoseconds: 0, widthNanoseconds: 5 * ms)
        s.lateStartToleranceNanoseconds = 500 * ms   // generous: a loaded test machine
        s.start()
        let t = monotonicNow() + 20 * ms
        s.scheduleAt(startNanoseconds: t, partID: 1)
        s.scheduleAt(startNanoseconds: t + 600 * ms, partID: 2)
        s.stop()
        XCTAssertEqual(s.counters.startedLate, 0)
        XCTAssertEqual(s.counters.fired, 2)
    }
}

final class RejectBenchmarkMatchTests: XCTestCase {
    let ms: UInt64 = 1_000_000
    typealias P = RejectBenchmark.PulseRecord

    func edges(_ spans: [(UInt64, UInt64)]) -> [RecordedEdge] {
        spans.flatMap { [RecordedEdge(timeNanoseconds: $0.0, active: true), RecordedEdge(timeNanoseconds: $0.1, active: false)] }
    }

    func testEachOnTimePulseWithItsOwnActivationPasses() {
        let p = [P(intendedStart: 100 * ms, actualStart: 100 * ms + 50_000, timesFired: 1),
                 P(intendedStart: 110 * ms, actualStart: 110 * ms + 80_000, timesFired: 1)]
        let m = RejectBenchmark.match(pulses: p, edges: edges([(100 * ms + 40_000, 105 * ms + 60_000), (110 * ms + 70_000, 115 * ms + 90_000)]),
                                      width: 5 * ms, lateTolerance: ms)
        XCTAssertEqual([m.ownActivations, m.lost, m.cutShort, m.extraActivations, m.mergedOnTime, m.sharedAfterLateStart], [2, 0, 0, 0, 0, 0])
        XCTAssertEqual(m.edgeErrors.maximumNanoseconds / 1_000, 70)
    }

    func testOneActivationForTwoOnTimePulsesIsAMerge() {
        let p = [P(intendedStart: 100 * ms, actualStart: 100 * ms, timesFired: 1),
                 P(intendedStart: 103 * ms, actualStart: 103 * ms, timesFired: 1)]
        let m = RejectBenchmark.match(pulses: p, edges: edges([(100 * ms, 108 * ms)]), width: 5 * ms, lateTolerance: ms)
        XCTAssertEqual(m.mergedOnTime, 1)
        XCTAssertEqual(m.sharedAfterLateStart, 0)
    }

    func testPulsesSharingAfterALateStartAreClassifiedSo() {
        let p = [P(intendedStart: 100 * ms, actualStart: 109 * ms, timesFired: 1),
                 P(intendedStart: 110 * ms, actualStart: 111 * ms - 1, timesFired: 1)]
        let m = RejectBenchmark.match(pulses: p, edges: edges([(109 * ms, 116 * ms)]), width: 5 * ms, lateTolerance: ms)
        XCTAssertEqual([m.ownActivations, m.sharedAfterLateStart, m.mergedOnTime, m.lost], [1, 1, 0, 0])
    }

    func testLostCutShortTwiceAndExtraAreFound() {
        let p = [P(intendedStart: 100 * ms, actualStart: 0, timesFired: 0),           // never fired
                 P(intendedStart: 200 * ms, actualStart: 200 * ms, timesFired: 2),    // fired twice
                 P(intendedStart: 300 * ms, actualStart: 300 * ms, timesFired: 1),    // activation too short
                 P(intendedStart: 400 * ms, actualStart: 400 * ms, timesFired: 1)]    // no activation at all
        let m = RejectBenchmark.match(pulses: p, edges: edges([(200 * ms, 205 * ms), (300 * ms, 302 * ms), (350 * ms, 355 * ms)]),
                                      width: 5 * ms, lateTolerance: ms)
        XCTAssertEqual(m.lost, 2)
        XCTAssertEqual(m.duplicated, 1)
        XCTAssertEqual(m.cutShort, 1)
        XCTAssertEqual(m.extraActivations, 1)
    }
}
