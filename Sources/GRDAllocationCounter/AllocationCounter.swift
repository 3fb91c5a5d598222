#if canImport(Glibc)
import Glibc
#endif

// Its own module because Swift 6.0.3 (Raspberry Pi OS trixie) crashes compiling a module that
// both defines `malloc` and contains coroutines (the LLVM verifier rejects the coroutine frame's
// malloc call, which has no debug location, once malloc has a body with debug info).
//
// Counts calls to malloc/calloc/realloc made anywhere in this process (Swift runtime included)
// by defining those symbols in the executable: the dynamic linker binds every library's calls to
// them, and they forward to glibc's __libc_* entry points. Hand-written because "allocations
// during the timed loop must be 0" needs a count, not a heap size (mallinfo2 cannot see a
// malloc that is freed again). posix_memalign/aligned_alloc are not counted (Swift uses them
// only for over-aligned allocations). The counter is a plain integer: increments racing between the
// two worker threads could lose a count, never invent one, and zero stays zero.
@_silgen_name("__libc_malloc") private func libcMalloc(_ size: Int) -> UnsafeMutableRawPointer?
@_silgen_name("__libc_calloc") private func libcCalloc(_ count: Int, _ size: Int) -> UnsafeMutableRawPointer?
@_silgen_name("__libc_realloc") private func libcRealloc(_ p: UnsafeMutableRawPointer?, _ size: Int) -> UnsafeMutableRawPointer?

/// malloc/calloc/realloc calls so far in this process.
public private(set) var allocationCalls: Int = 0

@_cdecl("malloc") public func grdnetCountingMalloc(_ size: Int) -> UnsafeMutableRawPointer? {
    allocationCalls &+= 1
    return libcMalloc(size)
}
@_cdecl("calloc") public func grdnetCountingCalloc(_ count: Int, _ size: Int) -> UnsafeMutableRawPointer? {
    allocationCalls &+= 1
    return libcCalloc(count, size)
}
@_cdecl("realloc") public func grdnetCountingRealloc(_ p: UnsafeMutableRawPointer?, _ size: Int) -> UnsafeMutableRawPointer? {
    allocationCalls &+= 1
    return libcRealloc(p, size)
}
