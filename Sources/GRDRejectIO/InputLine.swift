#if canImport(Glibc)
import Glibc
#endif
import CGPIOD

/// One edge of an input, logical level (active-low already applied), CLOCK_MONOTONIC time.
public struct InputEdge: Equatable, Sendable {
    public var timeNanoseconds: UInt64
    public var active: Bool
    public init(timeNanoseconds: UInt64, active: Bool) {
        self.timeNanoseconds = timeNanoseconds; self.active = active
    }
}

/// A digital input: the reject-confirmation sensor, a part-present trigger.
public protocol InputLine: AnyObject {
    var name: String { get }
    /// The current logical level.
    func read() throws -> Bool
    /// The next raw edge, waiting at most until `deadlineNanoseconds` (CLOCK_MONOTONIC);
    /// nil on timeout or when interrupt() was called.
    func nextEdge(deadlineNanoseconds: UInt64) throws -> InputEdge?
    /// Makes a waiting (or the next) nextEdge() return nil at once. Thread-safe.
    func interrupt()
}

/// An input driven by code: the demo's confirmation sensor and the tests' stimulus.
/// Edges wait in a ring allocated at init; a full ring drops the newest and counts it.
public final class SimulatedInputLine: InputLine {
    public let name: String
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>
    private var ring: [InputEdge]
    private var head = 0, count = 0
    private var level: Bool
    private var interrupted = false
    public private(set) var droppedEdges = 0

    public init(name: String, initialActive: Bool = false, capacity: Int = 1024) {
        self.name = name
        level = initialActive
        ring = Array(repeating: InputEdge(timeNanoseconds: 0, active: false), count: capacity)
        mutex = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        condition = .allocate(capacity: 1)
        var attr = pthread_condattr_t()
        pthread_condattr_init(&attr)
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attr)
        pthread_condattr_destroy(&attr)
    }

    deinit {
        pthread_cond_destroy(condition); condition.deallocate()
        pthread_mutex_destroy(mutex); mutex.deallocate()
    }

    /// Changes the level now (or at the given time), queueing an edge if it changed.
    public func drive(_ active: Bool, at time: UInt64 = monotonicNow()) {
        pthread_mutex_lock(mutex); defer { pthread_mutex_unlock(mutex) }
        guard active != level else { return }
        level = active
        if count == ring.count { droppedEdges += 1; return }
        ring[(head + count) % ring.count] = InputEdge(timeNanoseconds: time, active: active)
        count += 1
        pthread_cond_signal(condition)
    }

    public func read() throws -> Bool {
        pthread_mutex_lock(mutex); defer { pthread_mutex_unlock(mutex) }
        return level
    }

    public func nextEdge(deadlineNanoseconds: UInt64) throws -> InputEdge? {
        pthread_mutex_lock(mutex); defer { pthread_mutex_unlock(mutex) }
        while count == 0 && !interrupted {
            if monotonicNow() >= deadlineNanoseconds { return nil }
            var ts = timespec(tv_sec: Int(deadlineNanoseconds / 1_000_000_000),
                              tv_nsec: Int(deadlineNanoseconds % 1_000_000_000))
            _ = pthread_cond_timedwait(condition, mutex, &ts)
        }
        if count == 0 { interrupted = false; return nil }
        let e = ring[head]
        head = (head + 1) % ring.count
        count -= 1
        return e
    }

    public func interrupt() {
        pthread_mutex_lock(mutex); interrupted = true; pthread_cond_signal(condition); pthread_mutex_unlock(mutex)
    }
}

/// Which edges a real input reports.
public enum GPIOEdgeDetection: Sendable {
    case rising, falling, both
    var code: Int32 {
        switch self {
        case .rising: return Int32(GRD_GPIO_EDGE_RISING)
        case .falling: return Int32(GRD_GPIO_EDGE_FALLING)
        case .both: return Int32(GRD_GPIO_EDGE_BOTH)
        }
    }
}

/// An input line on a real GPIO chip with kernel edge events (timestamped by the kernel on
/// CLOCK_MONOTONIC), held for the owner's life. A self-pipe lets interrupt() cut a poll short.
public final class GPIODInputLine: InputLine {
    public let name: String
    public let chipPath: String
    public let offset: UInt32
    public let config: GPIOLineConfig
    private let handle: UnsafeMutablePointer<grd_gpio_line>
    private let eventFD: Int32
    private var wakePipe: (read: Int32, write: Int32)

    public init(config: GPIOLineConfig, edges: GPIOEdgeDetection = .both) throws {
        let path = try GPIOChips.resolveChip(config.chip)
        let offset = try GPIOChips.resolveLine(config.line, chipPath: path)
        guard let h = grd_gpio_request(path, offset, config.consumer, 0, 0, config.activeLow ? 1 : 0,
                                       config.bias.code, config.drive.code, edges.code) else {
            throw GPIOError(chip: path, line: offset, operation: "request as input with edge events", errno: errno)
        }
        var fds: [Int32] = [-1, -1]
        guard grd_wake_pipe(&fds) == 0 else {
            let e = errno
            grd_gpio_release(h)
            throw GPIOError(chip: path, line: offset, operation: "create wake pipe", errno: e)
        }
        handle = h
        eventFD = grd_gpio_event_fd(h)
        wakePipe = (fds[0], fds[1])
        chipPath = path
        self.offset = offset
        self.config = config
        name = "\(path):\(offset)"
    }

    deinit {
        grd_gpio_release(handle)
        close(wakePipe.read); close(wakePipe.write)
    }

    public func read() throws -> Bool {
        let v = grd_gpio_get(handle)
        if v < 0 { throw GPIOError(chip: chipPath, line: offset, operation: "read value", errno: errno) }
        return v != 0
    }

    public func nextEdge(deadlineNanoseconds: UInt64) throws -> InputEdge? {
        var fds = [pollfd(fd: eventFD, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: wakePipe.read, events: Int16(POLLIN), revents: 0)]
        while true {
            let now = monotonicNow()
            let remaining = deadlineNanoseconds > now ? deadlineNanoseconds - now : 0
            // poll() takes milliseconds: round up, so a deadline is never cut short (the edges
            // carry the kernel's own timestamps, so this only delays timers by < 1 ms).
            let n = poll(&fds, 2, Int32(min((remaining + 999_999) / 1_000_000, UInt64(Int32.max))))
            if n < 0 {
                if errno == EINTR { continue }
                throw GPIOError(chip: chipPath, line: offset, operation: "wait for edge events", errno: errno)
            }
            if n == 0 { return nil }
            if fds[1].revents != 0 {
                var sink = [UInt8](repeating: 0, count: 64)
                while Glibc.read(wakePipe.read, &sink, 64) > 0 {}
                return nil
            }
            if fds[0].revents & Int16(POLLERR | POLLHUP) != 0 {
                throw GPIOError(chip: chipPath, line: offset, operation: "wait for edge events (device gone)", errno: ENODEV)
            }
            var ts64: UInt64 = 0
            let type = grd_gpio_read_event(handle, &ts64)
            if type < 0 { throw GPIOError(chip: chipPath, line: offset, operation: "read edge event", errno: errno) }
            return InputEdge(timeNanoseconds: ts64, active: type == Int32(GRD_GPIO_EDGE_RISING))
        }
    }

    public func interrupt() {
        var b: UInt8 = 1
        _ = write(wakePipe.write, &b, 1)
    }
}

/// Accepts a level change only once the raw level has held for `periodNanoseconds`
/// (contact bounce and glitches shorter than that never show). The accepted edge keeps the time
/// the level first changed, so timing windows stay exact; it is reported `period` later.
public struct Debouncer: Sendable {
    public let periodNanoseconds: UInt64
    public private(set) var level: Bool
    private var raw: Bool
    private var rawSince: UInt64 = 0
    /// Raw edges that never became a debounced change.
    public private(set) var bouncesRejected: UInt64 = 0
    private var rawEdgesSinceAccepted: UInt64 = 0

    public init(periodNanoseconds: UInt64, initialLevel: Bool) {
        self.periodNanoseconds = periodNanoseconds
        level = initialLevel
        raw = initialLevel
    }

    /// Feeds one raw edge; returns the accepted change at once when the period is 0.
    public mutating func feed(_ edge: InputEdge) -> InputEdge? {
        guard edge.active != raw else { return nil }
        raw = edge.active
        rawSince = edge.timeNanoseconds
        if raw == level {
            // Back where it was before the period ended: all of it was noise.
            bouncesRejected += rawEdgesSinceAccepted + 1
            rawEdgesSinceAccepted = 0
            return nil
        }
        rawEdgesSinceAccepted += 1
        return periodNanoseconds == 0 ? settle(now: edge.timeNanoseconds) : nil
    }

    /// When settle() should next be called, if a change is waiting.
    public var settleDeadline: UInt64? { raw != level ? rawSince &+ periodNanoseconds : nil }

    /// The accepted change, if the raw level has now held long enough.
    public mutating func settle(now: UInt64) -> InputEdge? {
        guard raw != level, now >= rawSince &+ periodNanoseconds else { return nil }
        level = raw
        bouncesRejected += rawEdgesSinceAccepted - 1
        rawEdgesSinceAccepted = 0
        return InputEdge(timeNanoseconds: rawSince, active: level)
    }
}
