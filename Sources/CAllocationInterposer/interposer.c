// The malloc/calloc/realloc definitions behind GRDAllocationCounter, in C because Swift reserves
// those symbol names for its runtime: a Swift @_cdecl("malloc") is warned about by Swift 6.3 ("will
// become an error"), and Swift 6.0.3 crashed compiling a module that both defines malloc and
// contains coroutines. Each call is counted by the Swift side (grdnet_count_allocation_call: a few
// integer compares, nothing that allocates) and then served by glibc's own __libc_* entry points.
// Defined in the executable, these win over glibc's for every library of the process (the
// package exports them with --export-dynamic-symbol).
#include <stddef.h>
#include <stdlib.h>
#include "grdnet_allocation_interposer.h"

extern void grdnet_count_allocation_call(void);   // GRDAllocationCounter (Swift, @_cdecl)
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *p, size_t size);

void *malloc(size_t size) {
    grdnet_count_allocation_call();
    return __libc_malloc(size);
}

void *calloc(size_t count, size_t size) {
    grdnet_count_allocation_call();
    return __libc_calloc(count, size);
}

void *realloc(void *p, size_t size) {
    grdnet_count_allocation_call();
    return __libc_realloc(p, size);
}

void grdnet_allocation_probe(void) {
    // Through volatile pointers: an optimiser that sees malloc/free by name may delete the pair
    // (and assume malloc touches no counter), which made the check read "not counting".
    void *(*volatile allocate)(size_t) = malloc;
    void (*volatile release)(void *) = free;
    release(allocate(16));
}
