#if canImport(Glibc)
import Glibc
#endif

/// Journald-friendly logging to stderr.
///
/// Hand-written instead of swift-log: one function and a level. Under systemd (JOURNAL_STREAM is
/// set) each line starts with an sd-daemon(3) `<N>` priority prefix so journald files it at the
/// right level; on a terminal the level is spelt out. One write(2) per line keeps lines whole
/// when several threads log.
public final class Log: @unchecked Sendable {
    public static let shared = Log()

    private var minimum: LogLevel = .info
    private let journal: Bool
    /// Lines written, for tests.
    public private(set) var linesWritten = 0
    private let lock = Lock()
    /// Where lines go; tests replace it.
    public var sink: ((String) -> Void)? = nil

    init() { journal = getenv("JOURNAL_STREAM") != nil }

    public var level: LogLevel {
        get { lock.withLock { minimum } }
        set { lock.withLock { minimum = newValue } }
    }

    static func priority(_ level: LogLevel) -> Int {
        switch level {
        case .debug: return 7
        case .info: return 6
        case .notice: return 5
        case .warning: return 4
        case .error: return 3
        }
    }

    public func format(_ level: LogLevel, _ message: String, journal: Bool) -> String {
        let text = message.replacingNewlines()
        return journal ? "<\(Log.priority(level))>\(text)\n" : "grdnetd[\(level.rawValue)]: \(text)\n"
    }

    public func log(_ level: LogLevel, _ message: @autoclosure () -> String) {
        guard level >= self.level else { return }
        let line = format(level, message(), journal: journal)
        lock.withLock {
            linesWritten += 1
            if let sink { sink(line); return }
            var bytes = Array(line.utf8)
            bytes.withUnsafeMutableBytes { _ = write(2, $0.baseAddress, $0.count) }
        }
    }

    public func debug(_ m: @autoclosure () -> String) { log(.debug, m()) }
    public func info(_ m: @autoclosure () -> String) { log(.info, m()) }
    public func notice(_ m: @autoclosure () -> String) { log(.notice, m()) }
    public func warning(_ m: @autoclosure () -> String) { log(.warning, m()) }
    public func error(_ m: @autoclosure () -> String) { log(.error, m()) }
}

extension String {
    /// Journald treats a newline as the end of an entry: keep one message on one line.
    func replacingNewlines() -> String {
        guard contains("\n") else { return self }
        return split(separator: "\n", omittingEmptySubsequences: false).joined(separator: " | ")
    }
}

/// A pthread mutex in a class (a stable address). Hand-written rather than Foundation's NSLock so
/// the inference path stays Foundation-free; lock/unlock never allocate.
public final class Lock: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    public init() {
        mutex = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
    }
    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }
    var rawMutex: UnsafeMutablePointer<pthread_mutex_t> { mutex }
    @inline(__always) public func lock() { pthread_mutex_lock(mutex) }
    @inline(__always) public func unlock() { pthread_mutex_unlock(mutex) }
    @inline(__always) public func withLock<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }
}
