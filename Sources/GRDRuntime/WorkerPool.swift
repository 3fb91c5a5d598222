#if canImport(Glibc)
import Glibc
#endif

/// Something a WorkerPool can run in parts: part `part` of `parts` of step `step`.
protocol PartitionedWork: AnyObject {
    func runPart(step: Int, part: Int, parts: Int)
}

/// A fixed pool of threads started once; `run(step:)` splits one step among them and the caller
/// and returns when all parts are done. Hand-written on pthreads (no Foundation, no Dispatch)
/// because each run must allocate nothing and start no thread; the wait is a condition variable,
/// not a spin, since the box's cores are shared with capture and I/O.
final class WorkerPool {
    let parts: Int
    private var handles: [pthread_t] = []
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let startCond = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private let doneCond = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var generation: UInt64 = 0
    private var remaining = 0
    private var stopping = false
    private var step = 0
    unowned(unsafe) var work: PartitionedWork?

    /// `threads` >= 1 in total, including the calling thread.
    init(threads: Int) throws {
        parts = max(1, threads)
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(startCond, nil)
        pthread_cond_init(doneCond, nil)
        for index in 1..<parts {
            let context = Unmanaged.passRetained(WorkerContext(pool: self, part: index)).toOpaque()
            var tid = pthread_t()
            let rc = pthread_create(&tid, nil, { raw in
                let ctx = Unmanaged<WorkerContext>.fromOpaque(raw!).takeRetainedValue()
                ctx.pool.workerLoop(part: ctx.part)
                return nil
            }, context)
            if rc != 0 {
                Unmanaged<WorkerContext>.fromOpaque(context).release()
                shutdown()
                throw ModelFileError(path: "-", problem: "cannot start inference worker thread (error \(rc))")
            }
            handles.append(tid)
        }
    }

    deinit {
        shutdown()
        pthread_cond_destroy(startCond); pthread_cond_destroy(doneCond); pthread_mutex_destroy(mutex)
        mutex.deallocate(); startCond.deallocate(); doneCond.deallocate()
    }

    private func shutdown() {
        pthread_mutex_lock(mutex)
        stopping = true
        pthread_cond_broadcast(startCond)
        pthread_mutex_unlock(mutex)
        for t in handles { pthread_join(t, nil) }
        handles.removeAll()
    }

    func run(step: Int) {
        guard let work = work else { return }
        if parts == 1 { work.runPart(step: step, part: 0, parts: 1); return }
        pthread_mutex_lock(mutex)
        self.step = step
        generation &+= 1
        remaining = parts - 1
        pthread_cond_broadcast(startCond)
        pthread_mutex_unlock(mutex)
        work.runPart(step: step, part: 0, parts: parts)
        pthread_mutex_lock(mutex)
        while remaining > 0 { pthread_cond_wait(doneCond, mutex) }
        pthread_mutex_unlock(mutex)
    }

    private func workerLoop(part: Int) {
        var seen: UInt64 = 0
        pthread_mutex_lock(mutex)
        while true {
            while generation == seen && !stopping { pthread_cond_wait(startCond, mutex) }
            if stopping { break }
            seen = generation
            let s = step
            pthread_mutex_unlock(mutex)
            work?.runPart(step: s, part: part, parts: parts)
            pthread_mutex_lock(mutex)
            remaining -= 1
            if remaining == 0 { pthread_cond_signal(doneCond) }
        }
        pthread_mutex_unlock(mutex)
    }
}

private final class WorkerContext {
    unowned(unsafe) let pool: WorkerPool
    let part: Int
    init(pool: WorkerPool, part: Int) { self.pool = pool; self.part = part }
}
