#ifndef GRDNET_ALLOCATION_INTERPOSER_H
#define GRDNET_ALLOCATION_INTERPOSER_H

/// Calls malloc(16) and free on it in a way no optimiser can remove, so a caller can see whether
/// the process's malloc is the counting one.
void grdnet_allocation_probe(void);

#endif
