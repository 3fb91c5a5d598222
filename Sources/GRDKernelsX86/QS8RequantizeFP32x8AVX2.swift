// fp32 requantisation of 8 int32 accumulators, a private copy of GRDKernels'
// qs8RequantizeFP32x8 (same semantics, bit for bit: Models/converter/grdnet_ref.py) so that the
// kernels' epilogue inlines inside this module, compiled with its AVX2 flags, without a
// cross-module call per block.

@inline(__always)
func requantizeFP32x8(_ acc: SIMD8<Int32>, _ scale: SIMD8<Float>, _ zeroPoint: Int32, _ slope: Float) -> SIMD8<Int8> {
    var f = SIMD8<Float>(acc) * scale
    let scaledNegative = f * SIMD8<Float>(repeating: slope)
    f.replace(with: scaledNegative, where: f .< SIMD8<Float>(repeating: 0))
    let lo = SIMD8<Float>(repeating: Float(-128 &- zeroPoint))
    let hi = SIMD8<Float>(repeating: Float(127 &- zeroPoint))
    f.replace(with: lo, where: f .< lo)
    f.replace(with: hi, where: f .> hi)
    let t = f + SIMD8<Float>(repeating: 12582912.0)
    let q = unsafeBitCast(t, to: SIMD8<Int32>.self) &- SIMD8<Int32>(repeating: 0x4B40_0000 &- zeroPoint)
    return SIMD8<Int8>(truncatingIfNeeded: q)
}

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
