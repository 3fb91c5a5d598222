#if canImport(Glibc)
import Glibc
#endif

/// A pthread mutex plus a condition variable on CLOCK_MONOTONIC (so a wall-clock jump from NTP
/// cannot stretch or cut a frame timeout). Hand-written because Synchronization's Mutex has no
/// condition wait and Foundation's NSCondition waits on the wall clock.
final class ConditionLock: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let cond = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    init() {
        pthread_mutex_init(mutex, nil)
        var attr = pthread_condattr_t()
        pthread_condattr_init(&attr)
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)
        pthread_cond_init(cond, &attr)
        pthread_condattr_destroy(&attr)
    }

    deinit {
        pthread_cond_destroy(cond)
        pthread_mutex_destroy(mutex)
        cond.deallocate()
        mutex.deallocate()
    }

    func lock() { pthread_mutex_lock(mutex) }
    func unlock() { pthread_mutex_unlock(mutex) }
    func broadcast() { pthread_cond_broadcast(cond) }

    @inline(__always) func withLock<T>(_ body: () throws -> T) rethrows -> T {
        lock()
        defer { unlock() }
        return try body()
    }

    /// Waits (lock held) until signalled or the CLOCK_MONOTONIC deadline passes; false on timeout.
    func wait(untilNanoseconds deadline: UInt64) -> Bool {
        var ts = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
        return pthread_cond_timedwait(cond, mutex, &ts) == 0
    }
}

/// A single-slot mailbox between a camera's capture thread and its consumer: the newest frame
/// wins, and every frame replaced before the consumer took it is counted.
///
/// Frames are exchanged by swapping, never copied: the producer's filled frame goes into the
/// slot and it gets the slot's old buffer back to fill next; the consumer swaps its finished
/// frame for the slot's. Three byte buffers circulate, so once they have grown to the frame
/// size there is no allocation per frame.
public final class FrameMailbox: @unchecked Sendable {
    private let lock = ConditionLock()
    private var slot: Frame
    private var full = false
    private var closed = false
    /// Frames replaced unread (guarded by the lock).
    private var replaced: UInt64 = 0
    private var taken: UInt64 = 0

    public init(capacity: Int = 0) {
        slot = Frame.reusable(capacity: capacity)
    }

    /// Publishes `frame` (newest wins); `frame` comes back holding a spare buffer to fill next.
    /// Returns true if an unread frame was replaced.
    @discardableResult
    public func put(_ frame: inout Frame) -> Bool {
        lock.lock()
        swap(&slot, &frame)
        let wasFull = full
        if wasFull { replaced &+= 1 }
        full = true
        lock.unlock()
        lock.broadcast()
        return wasFull
    }

    /// Waits up to `timeoutMilliseconds` for a frame and swaps it into `frame`. False on timeout
    /// or when the mailbox was closed.
    public func take(into frame: inout Frame, timeoutMilliseconds: Int) -> Bool {
        let deadline = monotonicNanoseconds() &+ UInt64(max(0, timeoutMilliseconds)) &* 1_000_000
        lock.lock()
        defer { lock.unlock() }
        while !full && !closed {
            if !lock.wait(untilNanoseconds: deadline) && monotonicNanoseconds() >= deadline { break }
        }
        guard full else { return false }
        swap(&slot, &frame)
        full = false
        taken &+= 1
        return true
    }

    /// Wakes any waiting consumer; later `take` calls return false at once when empty.
    public func close() {
        lock.withLock { closed = true }
        lock.broadcast()
    }

    public func reopen() { lock.withLock { closed = false } }

    /// Frames replaced unread and frames taken so far.
    public var statistics: (replaced: UInt64, taken: UInt64) {
        lock.withLock { (replaced, taken) }
    }
}
