// QS8 GEMM micro-kernel, 2 rows x 4 output channels, written as a plain scalar dot loop.
//
// Written for the Cortex-A76 (ARMv8.2 + dotprod): eight scalar wrapping Int32 reductions in one
// k loop, which LLVM's loop vectoriser turns into SDOT .4s when this module is compiled with
// -target-cpu cortex-a76 -Xllvm -force-vector-width=16 (llvm-mca: ~31 MAC/cycle on neoverse-n1).
// Explicit SIMD code never produced SDOT, hence the scalar shape. Swift has no per-function
// target attributes, so this file lives in its own module (GRDKernelsDotprod) built with those
// flags, and the runtime calls it only when getauxval(AT_HWCAP) reports ASIMDDP.
// The module is self-contained (its requantisation is a private copy of GRDKernels'
// qs8RequantizeFP32x4) so that the epilogue inlines without cross-module calls.
//
// Packed weights, one block per 4 output channels (GRDKernels.qs8PackKC4):
//   [4 x Int32 bias][4 x kc Int8, each channel contiguous][4 x Float scale]

/// C[r][0..<channels] = requant(bias + A[r] . W) for r < rows (rows 1 or 2, channels <= 4).
public func qs8GEMM2x4DotLoopA76(
    rows: Int, kc: Int,
    a: UnsafePointer<Int8>, aStride: Int,
    packedWeights w: UnsafeRawPointer,
    outputZeroPoint: Int32, negativeSlope: Float,
    c: UnsafeMutablePointer<Int8>, cStride: Int, channels: Int
) {
    let wq = (w + 16).assumingMemoryBound(to: Int8.self)
    let w0 = wq, w1 = wq + kc, w2 = wq + 2 &* kc, w3 = wq + 3 &* kc
    let a0 = a
    let a1 = rows > 1 ? a + aStride : a
    var s00: Int32 = 0, s01: Int32 = 0, s02: Int32 = 0, s03: Int32 = 0
    var s10: Int32 = 0, s11: Int32 = 0, s12: Int32 = 0, s13: Int32 = 0
    for k in 0..<kc {
        let x0 = Int32(a0[k]), x1 = Int32(a1[k])
        let y0 = Int32(w0[k]), y1 = Int32(w1[k]), y2 = Int32(w2[k]), y3 = Int32(w3[k])
        s00 &+= x0 &* y0; s01 &+= x0 &* y1; s02 &+= x0 &* y2; s03 &+= x0 &* y3
        s10 &+= x1 &* y0; s11 &+= x1 &* y1; s12 &+= x1 &* y2; s13 &+= x1 &* y3
    }
    let bias = w.loadUnaligned(as: SIMD4<Int32>.self)
    let scale = (w + (16 &+ 4 &* kc)).loadUnaligned(as: SIMD4<Float>.self)
    let q0 = requantize4(SIMD4(s00, s01, s02, s03) &+ bias, scale, outputZeroPoint, negativeSlope)
    store4(q0, c, channels)
    if rows > 1 {
        let q1 = requantize4(SIMD4(s10, s11, s12, s13) &+ bias, scale, outputZeroPoint, negativeSlope)
        store4(q1, c + cStride, channels)
    }
}

@inline(__always)
private func requantize4(_ acc: SIMD4<Int32>, _ scale: SIMD4<Float>, _ zeroPoint: Int32, _ slope: Float) -> SIMD4<Int8> {
    var f = SIMD4<Float>(acc) * scale
    let scaledNegative = f * SIMD4<Float>(repeating: slope)
    f.replace(with: scaledNegative, where: f .< SIMD4<Float>(repeating: 0))
    let lo = SIMD4<Float>(repeating: Float(-128 &- zeroPoint))
    let hi = SIMD4<Float>(repeating: Float(127 &- zeroPoint))
    f.replace(with: lo, where: f .< lo)
    f.replace(with: hi, where: f .> hi)
    let t = f + SIMD4<Float>(repeating: 12582912.0)
    let q = unsafeBitCast(t, to: SIMD4<Int32>.self) &- SIMD4<Int32>(repeating: 0x4B40_0000 &- zeroPoint)
    return SIMD4<Int8>(truncatingIfNeeded: q)
}

@inline(__always)
private func store4(_ v: SIMD4<Int8>, _ dst: UnsafeMutablePointer<Int8>, _ count: Int) {
    if count >= 4 {
        UnsafeMutableRawPointer(dst).storeBytes(of: v, as: SIMD4<Int8>.self)
        return
    }
    if count > 0 { dst[0] = v[0] }
    if count > 1 { dst[1] = v[1] }
    if count > 2 { dst[2] = v[2] }
}
