import XCTest
@testable import GRDAgent

final class AuditStoreTests: XCTestCase {
    var dir = ""

    override func setUp() {
        dir = NSTemporaryDirectory() + "audit-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func offer(_ store: AuditStore, score: Float, rejected: Bool, part: UInt64, fill: UInt8 = 128) -> AuditPolicy.Reason? {
        let pixels = [UInt8](repeating: fill, count: 32 * 32)
        var heat = [Float](repeating: 0, count: 32 * 32)
        for i in 0..<100 { heat[i] = 1 }
        return pixels.withUnsafeBufferPointer { px in
            heat.withUnsafeBufferPointer { h in
                store.offer(pixels: px, width: 32, height: 32, channels: 1, heatmap: h, score: score,
                            threshold: 0.5, rejected: rejected, partID: part, camera: "cam0", model: "test",
                            captureMonotonicNs: part * 1000)
            }
        }
    }

    func files(_ suffix: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasSuffix(suffix) }.sorted()
    }

    func testPolicyKeepsRejectsNearAndSampledPasses() {
        let p = AuditPolicy(keepRejects: true, nearMargin: 0.1, passSampleRate: 0.25)
        XCTAssertEqual(p.reason(score: 0.9, threshold: 0.5, rejected: true, partID: 1), .reject)
        XCTAssertEqual(p.reason(score: 0.46, threshold: 0.5, rejected: false, partID: 1), .near)
        XCTAssertEqual(p.reason(score: 0.1, threshold: 0.5, rejected: false, partID: 8), .sampled)
        XCTAssertNil(p.reason(score: 0.1, threshold: 0.5, rejected: false, partID: 9))
        let kept = (0..<1000).filter { p.reason(score: 0.1, threshold: 0.5, rejected: false, partID: UInt64($0)) != nil }.count
        XCTAssertEqual(kept, 250)
    }

    func testWritesFrameOverlayAndJSONLine() throws {
        let store = try AuditStore(directory: dir, quotaBytes: 10_000_000, policy: AuditPolicy(), maxPixels: 32 * 32, maxHeatmapPixels: 32 * 32)
        XCTAssertEqual(offer(store, score: 0.9, rejected: true, part: 7), .reject)
        store.stop()
        XCTAssertEqual(files(".overlay.jpg").count, 1)
        XCTAssertEqual(files(".json").count, 1)
        XCTAssertEqual(files(".jpg").count, 2)
        let json = try String(contentsOfFile: dir + "/" + files(".json")[0], encoding: .utf8)
        XCTAssertTrue(json.hasSuffix("}\n"))
        let record = try JSONDecoder().decode(AuditRecord.self, from: Data(json.utf8))
        XCTAssertEqual(record.partID, 7)
        XCTAssertEqual(record.decision, "reject")
        XCTAssertEqual(record.camera, "cam0")
        XCTAssertEqual(store.snapshot.written, 1)
    }

    func testQuotaEvictsOldestPassesBeforeRejects() throws {
        // Learn the size of one record, then allow room for about four.
        let probe = try AuditStore(directory: dir + "-probe", quotaBytes: 1 << 30, policy: AuditPolicy(), maxPixels: 1024, maxHeatmapPixels: 1024)
        _ = offer(probe, score: 0.9, rejected: true, part: 1)
        probe.stop()
        let one = probe.snapshot.bytesUsed
        try? FileManager.default.removeItem(atPath: dir + "-probe")
        XCTAssertGreaterThan(one, 0)

        let store = try AuditStore(directory: dir, quotaBytes: one * 4 + one / 2, policy: AuditPolicy(passSampleRate: 1),
                                   maxPixels: 1024, maxHeatmapPixels: 1024, slots: 1)
        func offerWaiting(score: Float, rejected: Bool, part: UInt64) {
            while offer(store, score: score, rejected: rejected, part: part) == nil { usleep(1000) }
        }
        offerWaiting(score: 0.9, rejected: true, part: 1)   // reject, oldest
        offerWaiting(score: 0.1, rejected: false, part: 2)  // pass
        offerWaiting(score: 0.1, rejected: false, part: 3)  // pass
        offerWaiting(score: 0.9, rejected: true, part: 4)
        offerWaiting(score: 0.9, rejected: true, part: 5)
        offerWaiting(score: 0.9, rejected: true, part: 6)
        store.stop()
        let c = store.snapshot
        XCTAssertLessThanOrEqual(c.bytesUsed, one * 4 + one / 2)
        XCTAssertEqual(c.evictedPasses, 2, "both passes go before any reject")
        XCTAssertEqual(c.evictedRejects, 0)
        XCTAssertEqual(files(".json").count, 4)
        XCTAssertTrue(files(".json").allSatisfy { $0.contains("_reject") })
        // A restart sees the same files and keeps the quota.
        let again = try AuditStore(directory: dir, quotaBytes: one * 2 + one / 2, policy: AuditPolicy(), maxPixels: 1024, maxHeatmapPixels: 1024)
        again.stop()
        XCTAssertEqual(again.snapshot.evictedRejects, 2, "with no pass left, the oldest rejects go")
        XCTAssertEqual(files(".json").count, 2)
        XCTAssertTrue(files(".json")[0].hasPrefix("000000000005"))
    }

    func testARecordLargerThanTheQuotaIsRefusedAndSaysWhy() throws {
        let store = try AuditStore(directory: dir, quotaBytes: 100, policy: AuditPolicy(), maxPixels: 1024, maxHeatmapPixels: 1024)
        while offer(store, score: 0.9, rejected: true, part: 1) == nil { usleep(1000) }
        store.stop()
        let c = store.snapshot
        XCTAssertEqual(c.written, 0)
        XCTAssertEqual(c.writeErrors, 1)
        XCTAssertEqual(c.bytesUsed, 0)
        XCTAssertTrue(c.lastError?.contains("larger than the whole quota") ?? false, c.lastError ?? "no error")
        XCTAssertEqual(files(".jpg").count, 0)
    }

    func testFullQueueIsCountedNotWaitedFor() throws {
        let store = try AuditStore(directory: dir, quotaBytes: 1 << 30, policy: AuditPolicy(), maxPixels: 1024, maxHeatmapPixels: 1024, slots: 1)
        var dropped = 0
        for part in 0..<200 where offer(store, score: 0.9, rejected: true, part: UInt64(part)) == nil { dropped += 1 }
        store.stop()
        let c = store.snapshot
        XCTAssertEqual(c.offered, 200)
        XCTAssertEqual(Int(c.droppedQueueFull), dropped)
        XCTAssertEqual(c.written + c.droppedQueueFull, 200)
        XCTAssertGreaterThan(dropped, 0, "one slot cannot absorb 200 back-to-back parts")
    }

    func testWriteErrorsAreCounted() throws {
        let store = try AuditStore(directory: dir, quotaBytes: 1 << 30, policy: AuditPolicy(), maxPixels: 1024, maxHeatmapPixels: 1024)
        try FileManager.default.removeItem(atPath: dir)   // the folder vanishes under the daemon
        XCTAssertEqual(offer(store, score: 0.9, rejected: true, part: 1), .reject)
        store.stop()
        XCTAssertEqual(store.snapshot.writeErrors, 1)
        XCTAssertTrue(store.snapshot.lastError?.contains("cannot write audit file") ?? false, "\(String(describing: store.snapshot.lastError))")
    }
}
