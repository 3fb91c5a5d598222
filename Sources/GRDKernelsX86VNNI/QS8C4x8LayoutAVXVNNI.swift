// The AVX-VNNI kernels' side of the c4x8 weight layout. The packer itself is GRDKernels'
// qs8PackC4x8 (shared with the SDOT kernels) called with activationOffset 128, because:
//
// vpdpbusd multiplies 4 unsigned activation bytes by 4 signed weight bytes and adds the 4
// products into one 32-bit lane, exactly (no saturation in the non-"s" form). Activations are
// int8, so the kernels feed u = q ^ 0x80 = q + 128 and the -128 * sum(w) term is folded into the
// bias at packing (exact in int32).
//
// Layout, one block per 8 output channels; each tap's `cin` input channels are padded to cin4
// (a multiple of 4) with zero weights, so the kernel may read up to 3 bytes past a pixel's
// channels (any value times 0 is 0; callers keep 3 readable bytes after every buffer):
//   [8 x Int32 bias'] [taps x cin4/4 x 8 channels x 4 Int8] [8 x Float scale]
import Swift

/// Input channels rounded up to the 4-byte groups of vpdpbusd.
@inline(__always)
public func qs8AVXVNNIChannelGroups(_ cin: Int) -> Int { (cin &+ 3) & ~3 }
