#if canImport(Glibc)
import Glibc
#endif

public struct InputWatcherCounters: Equatable, Sendable {
    public var rawEdges: UInt64 = 0
    /// Debounced level changes delivered to onChange.
    public var changes: UInt64 = 0
    public var bouncesRejected: UInt64 = 0
    /// Failed waits/reads on the line (each followed by a 100 ms pause).
    public var readErrors: UInt64 = 0
    public init() {}
}

/// Watches one input on a thread of its own: debounces its edges and calls `onChange` with each
/// accepted change; `onTick` lets an owner run timers (confirmation windows) on the same thread.
/// Used for the reject-confirmation sensor and the optional part trigger.
public final class InputWatcher {
    public let line: InputLine
    public let debounceNanoseconds: UInt64
    /// Called on the watcher thread for each debounced change. Set before start().
    public var onChange: ((InputEdge) -> Void)?
    /// Called on the watcher thread at every wake with the current time; returns the next time
    /// it must be called (nil: no timer). Set before start().
    public var onTick: ((UInt64) -> UInt64?)?

    private let lock = PThreadLock()
    private var state = InputWatcherCounters()
    private var running = false
    private var thread: pthread_t?
    private var initialLevel = false

    public init(line: InputLine, debounceNanoseconds: UInt64) {
        self.line = line
        self.debounceNanoseconds = debounceNanoseconds
    }

    public var counters: InputWatcherCounters { lock.lock(); defer { lock.unlock() }; return state }

    public func start() {
        lock.lock()
        if running { lock.unlock(); return }
        running = true
        lock.unlock()
        // The level before any edge is read here, not on the new thread: an edge that arrives
        // between start() and the thread's first read would otherwise be lost.
        initialLevel = (try? line.read()) ?? false
        let context = Unmanaged.passRetained(self).toOpaque()
        var tid = pthread_t()
        let rc = pthread_create(&tid, nil, { raw in
            let watcher = Unmanaged<InputWatcher>.fromOpaque(raw!).takeRetainedValue()
            watcher.threadMain()
            return nil
        }, context)
        precondition(rc == 0, "cannot create the input watcher thread: \(String(cString: strerror(rc)))")
        thread = tid
    }

    public func stop() {
        lock.lock()
        guard running, let tid = thread else { lock.unlock(); return }
        running = false
        lock.unlock()
        line.interrupt()
        pthread_join(tid, nil)
        thread = nil
    }

    /// Wakes the thread so it asks onTick again (a new, earlier timer). Thread-safe.
    public func wake() { line.interrupt() }

    private var isRunning: Bool { lock.lock(); defer { lock.unlock() }; return running }

    private func threadMain() {
        var debouncer = Debouncer(periodNanoseconds: debounceNanoseconds, initialLevel: initialLevel)
        while isRunning {
            let now = monotonicNow()
            if let change = debouncer.settle(now: now) { deliver(change, debouncer) }
            var deadline = now &+ 1_000_000_000
            if let t = onTick?(now) { deadline = min(deadline, t) }
            if let t = debouncer.settleDeadline { deadline = min(deadline, t) }
            do {
                if let edge = try line.nextEdge(deadlineNanoseconds: deadline) {
                    lock.lock(); state.rawEdges &+= 1; lock.unlock()
                    if let change = debouncer.feed(edge) { deliver(change, debouncer) }
                    lock.lock(); state.bouncesRejected = debouncer.bouncesRejected; lock.unlock()
                }
            } catch {
                lock.lock(); state.readErrors &+= 1; lock.unlock()
                usleep(100_000)
            }
        }
    }

    private func deliver(_ change: InputEdge, _ debouncer: Debouncer) {
        onChange?(change)
        // Counted after onChange returns, so a reader that sees the count sees its effects.
        lock.lock()
        state.changes &+= 1
        state.bouncesRejected = debouncer.bouncesRejected
        lock.unlock()
    }
}
