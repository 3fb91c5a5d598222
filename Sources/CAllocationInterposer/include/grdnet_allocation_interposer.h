#ifndef GRDNET_ALLOCATION_INTERPOSER_H
#define GRDNET_ALLOCATION_INTERPOSER_H

/// 1 when this process's malloc/calloc/realloc are the counting ones of
/// GRDAllocationCounter (always, once this target is linked into the executable).
int grdnet_allocation_interposer_linked(void);

#endif
