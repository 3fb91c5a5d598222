#if canImport(Glibc)
import Glibc
#endif
import CAllocationInterposer

// Counts calls to malloc/calloc/realloc made anywhere in this process (Swift runtime included).
// CAllocationInterposer defines those symbols in the executable (in C: Swift reserves the names,
// and Swift 6.0.3 crashed compiling a module that both defines malloc and contains coroutines);
// the dynamic linker binds every library's calls to them, they call `grdnetCountAllocationCall`
// here and forward to glibc's __libc_* entry points. Hand-written because "allocations
// during the timed loop must be 0" needs a count, not a heap size (mallinfo2 cannot see a
// malloc that is freed again). posix_memalign/aligned_alloc are not counted (Swift uses them
// only for over-aligned allocations). The counter is a plain integer: increments racing between the
// two worker threads could lose a count, never invent one, and zero stays zero.
//
// Per-thread counts (the daemon's "allocations per frame" on its inspection threads): a thread
// registers itself (`registerCountedThread`) and gets a slot in a fixed table of
// `countedThreadCapacity` (thread id, count) pairs. malloc compares pthread_self() with the
// registered ids - a few integer compares, no thread-local storage, nothing that could itself
// allocate - and bumps the matching slot. Only the owning thread writes its slot's count, so the
// per-thread counts are exact; readers on other threads may see a value one call old.
// Everything in here stays free of generics, closures and Swift arrays: malloc must not call
// code that might allocate (lazy generic metadata would recurse into malloc).

/// malloc/calloc/realloc calls so far in this process.
public private(set) var allocationCalls: Int = 0

/// How many threads can be counted separately at once.
public let countedThreadCapacity = 64

/// [thread id, count] pairs; nil until the first registration. Never freed.
private var threadTable: UnsafeMutablePointer<UInt>? = nil
/// Slots in use (a high-water mark: freed slots have thread id 0 and are reused).
private var threadTableUsed: Int = 0
private var registrationMutex = pthread_mutex_t()

@inline(__always) private func countCall() {
    allocationCalls &+= 1
    guard let table = threadTable else { return }
    let me = UInt(bitPattern: Int(bitPattern: UInt(pthread_self())))
    var i = 0
    let used = threadTableUsed
    while i < used {
        if table[2 * i] == me {
            table[2 * i + 1] &+= 1
            if traceCountedAllocations { writeCallStack() }
            return
        }
        i += 1
    }
}

/// Debugging aid for "which call allocates per frame": while true, every allocation on a counted
/// thread writes its call stack to stderr (mangled; pipe through `swift demangle`).
/// `backtrace_symbols_fd` writes without allocating; the first `backtrace` call may load libgcc
/// (which allocates), so `startTracingCountedAllocations` makes that call before arming.
public private(set) var traceCountedAllocations = false
// <execinfo.h> is not part of the Glibc module map.
@_silgen_name("backtrace") private func backtrace(_ frames: UnsafeMutablePointer<UnsafeMutableRawPointer?>, _ size: Int32) -> Int32
@_silgen_name("backtrace_symbols_fd") private func backtrace_symbols_fd(_ frames: UnsafePointer<UnsafeMutableRawPointer?>, _ size: Int32, _ fd: Int32)
private var tracing = false
private var traceFrames: UnsafeMutablePointer<UnsafeMutableRawPointer?>? = nil

private func writeCallStack() {
    guard !tracing, let frames = traceFrames else { return }
    tracing = true
    let n = backtrace(frames, 48)
    let banner = "--- allocation on a counted thread:\n"
    _ = banner.withCString { write(2, $0, strlen($0)) }
    backtrace_symbols_fd(frames, n, 2)
    tracing = false
}

/// Arms `traceCountedAllocations` (debugging only: it writes to stderr from inside malloc).
public func startTracingCountedAllocations() {
    if traceFrames == nil {
        let f = UnsafeMutablePointer<UnsafeMutableRawPointer?>.allocate(capacity: 48)
        f.initialize(repeating: nil, count: 48)
        traceFrames = f
        _ = backtrace(f, 48)
    }
    traceCountedAllocations = true
}

/// Disarms `traceCountedAllocations`.
public func stopTracingCountedAllocations() { traceCountedAllocations = false }

/// Called by CAllocationInterposer's malloc/calloc/realloc before they forward to glibc.
@_cdecl("grdnet_count_allocation_call") public func grdnetCountAllocationCall() {
    countCall()
}

/// True when this process's malloc is CAllocationInterposer's counting one (it is whenever this
/// module is linked: the executable's definition wins over glibc's), seen by counting a real call.
public func allocationCountingWorks() -> Bool {
    // Not malloc(16) here: in a release build LLVM deletes a malloc/free pair whose memory is
    // unused, and the check then said "not counting" (CI, session 15).
    let before = allocationCalls
    grdnet_allocation_probe()
    return allocationCalls > before
}

/// Starts counting the calling thread's allocations separately. Returns its slot (give it to
/// `countedThreadAllocations` and `unregisterCountedThread`), or -1 when the table is full.
public func registerCountedThread() -> Int {
    pthread_mutex_lock(&registrationMutex)
    defer { pthread_mutex_unlock(&registrationMutex) }
    if threadTable == nil {
        let t = UnsafeMutablePointer<UInt>.allocate(capacity: 2 * countedThreadCapacity)
        t.initialize(repeating: 0, count: 2 * countedThreadCapacity)
        threadTable = t
    }
    let table = threadTable!
    let me = UInt(bitPattern: Int(bitPattern: UInt(pthread_self())))
    var slot = -1
    var i = 0
    while i < threadTableUsed {
        if table[2 * i] == 0 || table[2 * i] == me { slot = i; break }
        i += 1
    }
    if slot < 0 {
        guard threadTableUsed < countedThreadCapacity else { return -1 }
        slot = threadTableUsed
    }
    table[2 * slot + 1] = 0
    table[2 * slot] = me
    if slot == threadTableUsed { threadTableUsed += 1 }
    return slot
}

/// Stops counting the thread in `slot` (call it from that thread before it ends).
public func unregisterCountedThread(_ slot: Int) {
    guard slot >= 0, slot < countedThreadCapacity, let table = threadTable else { return }
    pthread_mutex_lock(&registrationMutex)
    table[2 * slot] = 0
    pthread_mutex_unlock(&registrationMutex)
}

/// malloc/calloc/realloc calls made by the thread registered in `slot` since it registered
/// (0 for -1, the "not counted" slot).
@inline(__always) public func countedThreadAllocations(_ slot: Int) -> Int {
    guard slot >= 0, slot < countedThreadCapacity, let table = threadTable else { return 0 }
    return Int(bitPattern: table[2 * slot + 1])
}
