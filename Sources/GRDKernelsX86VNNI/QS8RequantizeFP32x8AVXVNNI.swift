// fp32 requantisation of 8 int32 accumulators, a private copy of GRDKernels'
// qs8RequantizeFP32x8 (same semantics, bit for bit: Models/converter/grdnet_ref.py) so that the
// kernels' epilogue inlines inside this module, compiled with its AVX-VNNI flags, without a
// cross-module call per block. The int32 -> fp32 and int32 -> int8 lane conversions use the
// LLVM builtins directly: the stdlib's generic SIMD conversions stayed out-of-line calls here.

import Swift

@inline(__always)
func requantizeFP32x8(_ acc: SIMD8<Int32>, _ scale: SIMD8<Float>, _ zeroPoint: Int32, _ slope: Float) -> SIMD8<Int8> {
    var f = toFloat(acc) * scale
    let scaledNegative = f * SIMD8<Float>(repeating: slope)
    f.replace(with: scaledNegative, where: f .< SIMD8<Float>(repeating: 0))
    let lo = SIMD8<Float>(repeating: Float(-128 &- zeroPoint))
    let hi = SIMD8<Float>(repeating: Float(127 &- zeroPoint))
    f.replace(with: lo, where: f .< lo)
    f.replace(with: hi, where: f .> hi)
    let t = f + SIMD8<Float>(repeating: 12582912.0)
    let q = unsafeBitCast(t, to: SIMD8<Int32>.self) &- SIMD8<Int32>(repeating: 0x4B40_0000 &- zeroPoint)
    return narrow(q)
}

#if arch(x86_64) && compiler(>=6.3)
@inline(__always)
private func toFloat(_ v: SIMD8<Int32>) -> SIMD8<Float> {
    var r = SIMD8<Float>()
    r._storage._value = Builtin.sitofp_Vec8xInt32_Vec8xFPIEEE32(v._storage._value)
    return r
}

@inline(__always)
private func narrow(_ v: SIMD8<Int32>) -> SIMD8<Int8> {
    var r = SIMD8<Int8>()
    r._storage._value = Builtin.trunc_Vec8xInt32_Vec8xInt8(v._storage._value)
    return r
}
#else
@inline(__always) private func toFloat(_ v: SIMD8<Int32>) -> SIMD8<Float> { SIMD8<Float>(v) }
@inline(__always) private func narrow(_ v: SIMD8<Int32>) -> SIMD8<Int8> { SIMD8<Int8>(truncatingIfNeeded: v) }
#endif

/// Stores the first `count` (<= 8) lanes; the full-vector case is one 8-byte store.
@inline(__always)
func storeLanes8(_ v: SIMD8<Int8>, _ dst: UnsafeMutablePointer<Int8>, _ count: Int) {
    if count >= 8 {
        UnsafeMutableRawPointer(dst).storeBytes(of: v, as: SIMD8<Int8>.self)
        return
    }
    var j = 0
    while j < count { dst[j] = v[j]; j &+= 1 }
}
