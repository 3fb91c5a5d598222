#if canImport(Glibc)
import Glibc
#endif
import CGPIOD

/// A digital output: the reject valve, a line-stop relay, the "ready" lamp.
///
/// `set(true)` means *active* (valve fires); active-low wiring is the line's business, not the
/// caller's.
public protocol OutputLine: AnyObject {
    var name: String { get }
    func set(_ active: Bool) throws
}

/// One recorded edge of a simulated line.
public struct RecordedEdge: Equatable, Sendable {
    public var timeNanoseconds: UInt64
    public var active: Bool
    public init(timeNanoseconds: UInt64, active: Bool) {
        self.timeNanoseconds = timeNanoseconds; self.active = active
    }
}

/// A line that drives nothing and records every edge with its CLOCK_MONOTONIC time: the reject
/// line of the demo, and the witness in timing tests.
///
/// Thread-safe (the scheduler thread writes, the stats reader reads). The newest `capacity` edges
/// are kept in a ring allocated at init, so a demo running for days holds constant memory and
/// set() never allocates; `edgeCount` counts every edge ever recorded.
public final class SimulatedOutputLine: OutputLine {
    public let name: String
    public let capacity: Int
    private let clock: () -> UInt64
    private let lock = PThreadLock()
    private var ring: [RecordedEdge]
    private var total = 0
    private var active = false
    private var failNext = 0

    public init(name: String, capacity: Int = 4096, clock: @escaping () -> UInt64 = monotonicNow) {
        precondition(capacity > 0)
        self.name = name
        self.capacity = capacity
        self.clock = clock
        ring = Array(repeating: RecordedEdge(timeNanoseconds: 0, active: false), count: capacity)
    }

    public func set(_ active: Bool) throws {
        lock.lock(); defer { lock.unlock() }
        if failNext > 0 {
            failNext -= 1
            throw GPIOError(chip: "simulated", line: 0, operation: "set value of \(name)", errno: EIO)
        }
        guard active != self.active else { return }  // a level, not an edge: nothing to record
        self.active = active
        ring[total % capacity] = RecordedEdge(timeNanoseconds: clock(), active: active)
        total += 1
    }

    public var isActive: Bool { lock.lock(); defer { lock.unlock() }; return active }

    /// Every edge recorded since init (including those the ring no longer holds).
    public var edgeCount: Int { lock.lock(); defer { lock.unlock() }; return total }

    /// The retained edges, oldest first (a copy: allocates).
    public var edges: [RecordedEdge] {
        lock.lock(); defer { lock.unlock() }
        let n = min(total, capacity)
        var out: [RecordedEdge] = []
        out.reserveCapacity(n)
        for i in (total - n)..<total { out.append(ring[i % capacity]) }
        return out
    }

    /// Makes the next `count` writes fail with EIO (tests of write-error handling).
    public func failNextWrites(_ count: Int) { lock.lock(); failNext = count; lock.unlock() }
}

/// A plain pthread mutex. Hand-written instead of Synchronization.Mutex so the classes that own
/// one stay ordinary (copyable-state) classes on Swift 6.0; it is only ever held briefly.
final class PThreadLock {
    private let m: UnsafeMutablePointer<pthread_mutex_t>
    init() { m = .allocate(capacity: 1); pthread_mutex_init(m, nil) }
    deinit { pthread_mutex_destroy(m); m.deallocate() }
    func lock() { pthread_mutex_lock(m) }
    func unlock() { pthread_mutex_unlock(m) }
}

/// A mutex with a condition variable on CLOCK_MONOTONIC: sleeps to an absolute deadline that
/// another thread can cut short (signal()).
final class MonotonicCondition {
    private let m: UnsafeMutablePointer<pthread_mutex_t>
    private let c: UnsafeMutablePointer<pthread_cond_t>
    init() {
        m = .allocate(capacity: 1); pthread_mutex_init(m, nil)
        c = .allocate(capacity: 1)
        var attr = pthread_condattr_t()
        pthread_condattr_init(&attr)
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)
        pthread_cond_init(c, &attr)
        pthread_condattr_destroy(&attr)
    }
    deinit { pthread_cond_destroy(c); c.deallocate(); pthread_mutex_destroy(m); m.deallocate() }
    func lock() { pthread_mutex_lock(m) }
    func unlock() { pthread_mutex_unlock(m) }
    func signal() { pthread_cond_signal(c) }
    /// With the lock held: waits until signalled or `deadline` (CLOCK_MONOTONIC ns) passes.
    func wait(untilNanoseconds deadline: UInt64) {
        var ts = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
        _ = pthread_cond_timedwait(c, m, &ts)
    }
}

/// GPIO errors name the chip, the line and the cause, for the integrator wiring the box.
public struct GPIOError: Error, CustomStringConvertible {
    public var chip: String
    public var line: UInt32?
    public var operation: String
    public var errno: Int32

    public init(chip: String, line: UInt32?, operation: String, errno: Int32) {
        self.chip = chip; self.line = line; self.operation = operation; self.errno = errno
    }

    public var description: String {
        let where_ = line.map { "GPIO \(chip) line \($0)" } ?? "GPIO \(chip)"
        var text = "\(where_): \(operation) failed: \(String(cString: strerror(errno)))"
        if errno == EBUSY { text += " (the line is held by another program: see `grdnet gpio`)" }
        if errno == EACCES || errno == EPERM { text += " (no permission: is the user in group gpio?)" }
        return text
    }
}

/// An output line on a real GPIO chip through libgpiod (v1 or v2, picked at compile time).
/// The line is requested once and held for the owner's whole life; when the process dies the
/// kernel releases it, which the wiring must treat as the safe state.
public final class GPIODOutputLine: OutputLine {
    public let name: String
    public let chipPath: String
    public let offset: UInt32
    private let handle: UnsafeMutablePointer<grd_gpio_line>

    public let config: GPIOLineConfig

    public convenience init(chipPath: String, offset: UInt32, consumer: String, activeLow: Bool, initialActive: Bool = false) throws {
        try self.init(config: GPIOLineConfig(chip: chipPath, line: String(offset), activeLow: activeLow,
                                             consumer: consumer), initialActive: initialActive)
    }

    /// Resolves the chip (path, name or label) and line (offset or name) and requests the line
    /// as an output, inactive unless `initialActive`.
    public init(config: GPIOLineConfig, initialActive: Bool = false) throws {
        let path = try GPIOChips.resolveChip(config.chip)
        let offset = try GPIOChips.resolveLine(config.line, chipPath: path)
        guard let h = grd_gpio_request(path, offset, config.consumer, 1, initialActive ? 1 : 0,
                                       config.activeLow ? 1 : 0, config.bias.code, config.drive.code,
                                       Int32(GRD_GPIO_EDGE_NONE)) else {
            throw GPIOError(chip: path, line: offset, operation: "request as output", errno: errno)
        }
        self.handle = h
        self.chipPath = path
        self.offset = offset
        self.config = config
        self.name = "\(path):\(offset)"
    }

    deinit { grd_gpio_release(handle) }

    public func set(_ active: Bool) throws {
        if grd_gpio_set(handle, active ? 1 : 0) < 0 {
            throw GPIOError(chip: chipPath, line: offset, operation: "set value", errno: errno)
        }
    }

    /// "libgpiod v1 (1.6.3)" or "libgpiod v2 (2.2.1)": shown by `grdnet gpio` and in status.
    public static var libraryDescription: String {
        "libgpiod v\(grd_gpio_api_version()) (\(String(cString: grd_gpio_library_version())))"
    }
}

public func monotonicNow() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}
