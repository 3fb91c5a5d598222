#if canImport(Glibc)
import Glibc
#endif
import Foundation
import GRDImaging

/// Which parts leave evidence on disk, and why.
public struct AuditPolicy: Sendable, Equatable {
    /// Keep every rejected part.
    public var keepRejects: Bool
    /// Keep passes whose score is within this fraction of the threshold below it
    /// (0.1: scores in [0.9 * threshold, threshold)).
    public var nearMargin: Double
    /// Keep this fraction of the other passes (0.01 = one in a hundred), spread evenly.
    public var passSampleRate: Double

    public init(keepRejects: Bool = true, nearMargin: Double = 0.1, passSampleRate: Double = 0.01) {
        self.keepRejects = keepRejects
        self.nearMargin = nearMargin
        self.passSampleRate = passSampleRate
    }

    public enum Reason: String, Sendable {
        case reject, near, sampled
    }

    /// The reason to keep this part, or nil. `partID` drives the even sampling of passes.
    public func reason(score: Float, threshold: Float, rejected: Bool, partID: UInt64) -> Reason? {
        if rejected { return keepRejects ? .reject : nil }
        if Double(score) >= Double(threshold) * (1 - nearMargin) { return .near }
        guard passSampleRate > 0 else { return nil }
        let every = max(1, UInt64((1 / passSampleRate).rounded()))
        return partID % every == 0 ? .sampled : nil
    }
}

/// What the audit store counts; shown in stats and as metrics.
public struct AuditCounters: Sendable, Equatable {
    public var offered: UInt64 = 0
    public var written: UInt64 = 0
    /// Parts that should have been kept but the writer was behind (all slots busy).
    public var droppedQueueFull: UInt64 = 0
    public var writeErrors: UInt64 = 0
    public var diskFull: UInt64 = 0
    public var evictedPasses: UInt64 = 0
    public var evictedRejects: UInt64 = 0
    public var bytesUsed: UInt64 = 0
    public var records: UInt64 = 0
    public var lastError: String? = nil

    public init() {}
}

/// Facts stored with each kept part (one JSON line per part).
public struct AuditRecord: Sendable, Codable, Equatable {
    public var time: String            // ISO 8601 wall-clock time, UTC
    public var captureMonotonicNs: UInt64
    public var camera: String
    public var partID: UInt64
    public var score: Float
    public var threshold: Float
    public var decision: String        // "pass" | "reject"
    public var reason: String          // "reject" | "near" | "sampled"
    public var model: String
}

/// Keeps evidence of rejected, near-threshold and sampled good parts on disk, under a quota.
///
/// The inspection thread only copies the frame and heatmap into one of a few preallocated slots
/// (`offer`, never blocks, never allocates); a writer thread encodes JPEGs and writes files. When
/// every slot is busy the part is counted as dropped, not waited for. Over the quota the oldest
/// passes are deleted first, rejects only when no pass is left. Disk-full and other write errors
/// are counted and reported; inspection goes on.
public final class AuditStore: @unchecked Sendable {
    public let directory: String
    public let quotaBytes: UInt64
    public let policy: AuditPolicy

    /// One part waiting for (or being written by) the writer. A class over raw buffers: the
    /// inspection thread fills a free slot in place, the writer reads a ready one; a slot is in
    /// exactly one of `freeSlots`/`readySlots`/the writer's hands, so no copy-on-write (which
    /// would allocate on the inspection thread) can happen.
    private final class Slot {
        let pixels: UnsafeMutableBufferPointer<UInt8>
        let heatmap: UnsafeMutableBufferPointer<Float>
        var width = 0
        var height = 0
        var channels = 1
        var hasHeatmap = false
        var record: AuditRecord? = nil

        init(pixels: Int, heatmap: Int) {
            self.pixels = .allocate(capacity: max(1, pixels))
            self.pixels.initialize(repeating: 0)
            self.heatmap = .allocate(capacity: max(1, heatmap))
            self.heatmap.initialize(repeating: 0)
        }

        deinit { pixels.deallocate(); heatmap.deallocate() }
    }

    private struct Entry {
        var sequence: UInt64
        var stem: String
        var bytes: UInt64
        var isReject: Bool
    }

    private let lock = NSCondition()
    private var slots: [Slot]
    private var freeSlots: [Int]
    private var readySlots: [Int] = []
    private var counters = AuditCounters()
    private var passes: [Entry] = []     // oldest first
    private var rejects: [Entry] = []    // oldest first
    private var sequence: UInt64 = 0
    private var stopping = false
    private var writer: Thread?
    private let formatter: ISO8601DateFormatter

    /// - Parameters:
    ///   - maxPixels: the largest frame (width * height * channels) that will be offered.
    ///   - slots: how many parts may wait for the writer at once.
    public init(directory: String, quotaBytes: UInt64, policy: AuditPolicy, maxPixels: Int,
                maxHeatmapPixels: Int, slots slotCount: Int = 4) throws {
        self.directory = directory
        self.quotaBytes = quotaBytes
        self.policy = policy
        self.slots = (0..<max(1, slotCount)).map { _ in Slot(pixels: maxPixels, heatmap: maxHeatmapPixels) }
        self.freeSlots = Array((0..<max(1, slotCount)).reversed())
        self.readySlots.reserveCapacity(max(1, slotCount))
        self.formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try scanExisting()
        let thread = Thread { [weak self] in self?.writerLoop() }
        thread.name = "grdnet-audit"
        writer = thread
        thread.start()
    }

    deinit { stop() }

    /// Stops the writer after the queued parts are written.
    public func stop() {
        lock.lock()
        stopping = true
        lock.broadcast()
        lock.unlock()
        while true {
            lock.lock()
            let done = writer == nil || (readySlots.isEmpty && freeSlots.count == slots.count)
            lock.unlock()
            if done { break }
            usleep(1000)
        }
    }

    public var snapshot: AuditCounters {
        lock.lock(); defer { lock.unlock() }
        return counters
    }

    /// Offers a part. Returns the reason it is kept, or nil if the policy skips it or no slot was
    /// free (then `droppedQueueFull` counts it). Copies the pixels; never blocks on I/O.
    @discardableResult
    public func offer(pixels: UnsafeBufferPointer<UInt8>, width: Int, height: Int, channels: Int,
                      heatmap: UnsafeBufferPointer<Float>?, score: Float, threshold: Float,
                      rejected: Bool, partID: UInt64, camera: String, model: String,
                      captureMonotonicNs: UInt64) -> AuditPolicy.Reason? {
        guard let reason = policy.reason(score: score, threshold: threshold, rejected: rejected, partID: partID) else {
            return nil
        }
        lock.lock()
        defer { lock.unlock() }
        counters.offered += 1
        guard !stopping, let index = freeSlots.popLast() else {
            counters.droppedQueueFull += 1
            return nil
        }
        let count = width * height * channels
        let slot = slots[index]
        guard count <= slot.pixels.count, count <= pixels.count, (heatmap?.count ?? 0) <= slot.heatmap.count else {
            freeSlots.append(index)
            counters.writeErrors += 1
            counters.lastError = "audit frame \(width)x\(height)x\(channels) larger than planned"
            return nil
        }
        _ = memcpy(slot.pixels.baseAddress!, pixels.baseAddress!, count)
        slot.hasHeatmap = false
        if let heatmap, heatmap.count >= width * height {
            _ = memcpy(slot.heatmap.baseAddress!, heatmap.baseAddress!, width * height * MemoryLayout<Float>.size)
            slot.hasHeatmap = true
        }
        slot.width = width
        slot.height = height
        slot.channels = channels
        slot.record = AuditRecord(
            time: "", captureMonotonicNs: captureMonotonicNs, camera: camera, partID: partID,
            score: score, threshold: threshold, decision: rejected ? "reject" : "pass",
            reason: reason.rawValue, model: model)
        readySlots.append(index)
        lock.signal()
        return reason
    }

    // MARK: - writer thread

    private func writerLoop() {
        while true {
            lock.lock()
            while readySlots.isEmpty && !stopping { lock.wait() }
            if readySlots.isEmpty && stopping {
                writer = nil
                lock.unlock()
                return
            }
            let index = readySlots.removeFirst()
            sequence += 1
            let seq = sequence
            let slot = slots[index]  // the writer's until it is put back in freeSlots
            lock.unlock()
            while testingHoldWriter { usleep(1000) }

            persist(slot: slot, sequence: seq)

            lock.lock()
            freeSlots.append(index)
            lock.unlock()
        }
    }

    /// Tests: while true, the writer holds the part it took instead of writing it (the queue fills).
    var testingHoldWriter = false

    /// Parts offered but not written yet (waiting or being written).
    public var pending: Int {
        lock.lock(); defer { lock.unlock() }
        return slots.count - freeSlots.count
    }

    private func persist(slot: Slot, sequence seq: UInt64) {
        guard var record = slot.record else { return }
        record.time = formatter.string(from: Date())
        let kind = record.decision == "reject" ? "reject" : record.reason
        var number = String(seq)
        while number.count < 12 { number = "0" + number }
        let stem = number + "_" + sanitize(record.camera) + "_" + kind
        var written: UInt64 = 0
        do {
            let frameCount = slot.width * slot.height * slot.channels
            let image = Image(width: slot.width, height: slot.height, channels: slot.channels,
                              pixels: Array(UnsafeBufferPointer(rebasing: slot.pixels[0..<frameCount])))
            // Everything is encoded first, so room is made before writing: the folder never
            // holds more than the quota, not even for one record.
            let frameJPEG = try encodeJPEG(image, quality: 90)
            var overlayJPEG: [UInt8]? = nil
            if slot.hasHeatmap {
                let overlay = heatmapOverlay(base: image, heatmap: UnsafeBufferPointer(rebasing: slot.heatmap[0..<(slot.width * slot.height)]))
                overlayJPEG = try encodeJPEG(overlay, quality: 85)
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            var line = try encoder.encode(record)
            line.append(0x0A)
            let size = UInt64(frameJPEG.count + (overlayJPEG?.count ?? 0) + line.count)
            guard size <= quotaBytes else {
                lock.lock()
                counters.writeErrors += 1
                counters.lastError = "audit record of \(size) bytes is larger than the whole quota (\(quotaBytes) bytes): not kept"
                lock.unlock()
                return
            }
            enforceQuota(reserving: size)
            written += try writeFile("\(stem).jpg", frameJPEG)
            if let overlayJPEG { written += try writeFile("\(stem).overlay.jpg", overlayJPEG) }
            written += try writeFile("\(stem).json", [UInt8](line))
            lock.lock()
            counters.written += 1
            let entry = Entry(sequence: seq, stem: stem, bytes: written, isReject: record.decision == "reject")
            if entry.isReject { rejects.append(entry) } else { passes.append(entry) }
            counters.bytesUsed += written
            counters.records += 1
            lock.unlock()
        } catch let error as AuditWriteError {
            lock.lock()
            counters.writeErrors += 1
            if error.errno == ENOSPC || error.errno == EDQUOT { counters.diskFull += 1 }
            counters.lastError = error.description
            lock.unlock()
            removeFiles(stem: stem)  // no half-written records
        } catch {
            lock.lock()
            counters.writeErrors += 1
            counters.lastError = "\(error)"
            lock.unlock()
            removeFiles(stem: stem)
        }
        enforceQuota()
    }

    struct AuditWriteError: Error, CustomStringConvertible {
        var path: String
        var errno: Int32
        var description: String { "cannot write audit file \(path): \(String(cString: strerror(errno)))" }
    }

    private func writeFile(_ name: String, _ bytes: [UInt8]) throws -> UInt64 {
        let path = directory + "/" + name
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw AuditWriteError(path: path, errno: errno) }
        defer { close(fd) }
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + done, $0.count - done) }
            if n < 0 {
                if errno == EINTR { continue }
                throw AuditWriteError(path: path, errno: errno)
            }
            done += n
        }
        return UInt64(bytes.count)
    }

    private func removeFiles(stem: String) {
        for suffix in [".jpg", ".overlay.jpg", ".json"] { unlink(directory + "/" + stem + suffix) }
    }

    /// Evicts the oldest passes, then the oldest rejects, until `reserving` more bytes fit.
    private func enforceQuota(reserving: UInt64 = 0) {
        lock.lock()
        var victims: [Entry] = []
        var used = counters.bytesUsed
        while used + reserving > quotaBytes {
            let victim: Entry
            if !passes.isEmpty {
                victim = passes.removeFirst()
                counters.evictedPasses += 1
            } else if !rejects.isEmpty {
                victim = rejects.removeFirst()
                counters.evictedRejects += 1
            } else {
                break
            }
            used -= min(used, victim.bytes)
            counters.records -= 1
            victims.append(victim)
        }
        counters.bytesUsed = used
        lock.unlock()
        for v in victims { removeFiles(stem: v.stem) }
    }

    /// Rebuilds the index from the files a previous run left, so the quota holds across restarts.
    private func scanExisting() throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: directory)
        var sizes: [String: UInt64] = [:]
        for name in names {
            guard let underscore = name.firstIndex(of: "_"), UInt64(name[..<underscore]) != nil else { continue }
            let stem: String
            if name.hasSuffix(".overlay.jpg") { stem = String(name.dropLast(12)) }
            else if name.hasSuffix(".jpg") { stem = String(name.dropLast(4)) }
            else if name.hasSuffix(".json") { stem = String(name.dropLast(5)) }
            else { continue }
            var st = stat()
            guard stat(directory + "/" + name, &st) == 0 else { continue }
            sizes[stem, default: 0] += UInt64(st.st_size)
        }
        for (stem, bytes) in sizes {
            let seq = UInt64(stem.prefix { $0 != "_" }) ?? 0
            let entry = Entry(sequence: seq, stem: stem, bytes: bytes, isReject: stem.hasSuffix("_reject"))
            if entry.isReject { rejects.append(entry) } else { passes.append(entry) }
            sequence = max(sequence, seq)
            counters.bytesUsed += bytes
            counters.records += 1
        }
        passes.sort { $0.sequence < $1.sequence }
        rejects.sort { $0.sequence < $1.sequence }
        enforceQuota()
    }

    private func sanitize(_ s: String) -> String {
        String(s.map { $0.isLetter || $0.isNumber || $0 == "-" ? $0 : "-" })
    }
}
