// QS8 GEMM micro-kernel, 2 rows x 8 output channels, k in chunks of 16 ("c16"), fp32 requantisation.
//
// Written for the Cortex-A72 (ARMv8.0 NEON, no dot product): each 16-byte chunk is handled as two
// 8-lane halves, a_lo*w_lo + a_hi*w_hi in Int16 (fits: weights are limited to +-127, so
// 2 * 128 * 127 < 2^15), then widened into Int32 by low/high halves. LLVM turns this into
// SMULL + SMLAL + SADDW/SADDW2 (llvm-mca: ~6.9 MAC/cycle on cortex-a72). On x86 it becomes
// pmovsx + pmullw/pmaddwd, which is also the best plain-Swift shape there.
//
// Packed weights, one block per 8 output channels (see `qs8PackC16`):
//   [8 x Int32 bias (input zero point folded in)] [kc/16 x 8 channels x 16 Int8] [8 x Float scale]

@inline(__always) private func load8(_ p: UnsafeRawPointer, _ offset: Int) -> SIMD8<Int8> {
    p.loadUnaligned(fromByteOffset: offset, as: SIMD8<Int8>.self)
}
@inline(__always) private func widen16(_ v: SIMD8<Int8>) -> SIMD8<Int16> {
    SIMD8<Int16>(truncatingIfNeeded: v)
}
@inline(__always) private func widen32(_ v: SIMD4<Int16>) -> SIMD4<Int32> {
    SIMD4<Int32>(truncatingIfNeeded: v)
}
@inline(__always)
private func product16(_ a: UnsafeRawPointer, _ ao: Int, _ w: UnsafeRawPointer, _ wo: Int) -> SIMD8<Int16> {
    widen16(load8(a, ao)) &* widen16(load8(w, wo)) &+ widen16(load8(a, ao &+ 8)) &* widen16(load8(w, wo &+ 8))
}
@inline(__always) private func accumulateHalves(_ acc: inout SIMD4<Int32>, _ p: SIMD8<Int16>) {
    acc &+= widen32(p.lowHalf) &+ widen32(p.highHalf)
}

/// Bytes of one packed block of 8 channels for the c16 kernels.
@inline(__always)
public func qs8PackedC16BlockBytes(kc: Int) -> Int { 32 &+ 8 &* kc &+ 32 }

/// C[r][0..<channels] = requant(bias + A[r] . W) for r < rows (rows is 1 or 2, kc % 16 == 0,
/// channels <= 8). `negativeSlope` fuses ReLU (0) or LeakyReLU (0.2); 1 means no activation.
public func qs8GEMM2x8C16HalvesA72(
    rows: Int, kc: Int,
    a: UnsafePointer<Int8>, aStride: Int,
    packedWeights w: UnsafeRawPointer,
    outputZeroPoint: Int32, negativeSlope: Float,
    c: UnsafeMutablePointer<Int8>, cStride: Int, channels: Int
) {
    var r0 = (SIMD4<Int32>(), SIMD4<Int32>(), SIMD4<Int32>(), SIMD4<Int32>(),
              SIMD4<Int32>(), SIMD4<Int32>(), SIMD4<Int32>(), SIMD4<Int32>())
    var r1 = r0
    let a0 = UnsafeRawPointer(a)
    let a1 = rows > 1 ? UnsafeRawPointer(a + aStride) : a0
    var wp = w + 32
    var k = 0
    while k < kc {
        accumulateHalves(&r0.0, product16(a0, k, wp, 0));   accumulateHalves(&r1.0, product16(a1, k, wp, 0))
        accumulateHalves(&r0.1, product16(a0, k, wp, 16));  accumulateHalves(&r1.1, product16(a1, k, wp, 16))
        accumulateHalves(&r0.2, product16(a0, k, wp, 32));  accumulateHalves(&r1.2, product16(a1, k, wp, 32))
        accumulateHalves(&r0.3, product16(a0, k, wp, 48));  accumulateHalves(&r1.3, product16(a1, k, wp, 48))
        accumulateHalves(&r0.4, product16(a0, k, wp, 64));  accumulateHalves(&r1.4, product16(a1, k, wp, 64))
        accumulateHalves(&r0.5, product16(a0, k, wp, 80));  accumulateHalves(&r1.5, product16(a1, k, wp, 80))
        accumulateHalves(&r0.6, product16(a0, k, wp, 96));  accumulateHalves(&r1.6, product16(a1, k, wp, 96))
        accumulateHalves(&r0.7, product16(a0, k, wp, 112)); accumulateHalves(&r1.7, product16(a1, k, wp, 112))
        wp += 128
        k &+= 16
    }
    let bias = w.loadUnaligned(as: SIMD8<Int32>.self)
    let scale = (w + (32 &+ 8 &* kc)).loadUnaligned(as: SIMD8<Float>.self)
    let acc0 = SIMD8<Int32>(r0.0.wrappedSum(), r0.1.wrappedSum(), r0.2.wrappedSum(), r0.3.wrappedSum(),
                            r0.4.wrappedSum(), r0.5.wrappedSum(), r0.6.wrappedSum(), r0.7.wrappedSum()) &+ bias
    let acc1 = SIMD8<Int32>(r1.0.wrappedSum(), r1.1.wrappedSum(), r1.2.wrappedSum(), r1.3.wrappedSum(),
                            r1.4.wrappedSum(), r1.5.wrappedSum(), r1.6.wrappedSum(), r1.7.wrappedSum()) &+ bias
    let q0 = qs8RequantizeFP32x8(acc0, scale: scale, zeroPoint: outputZeroPoint, negativeSlope: negativeSlope)
    let q1 = qs8RequantizeFP32x8(acc1, scale: scale, zeroPoint: outputZeroPoint, negativeSlope: negativeSlope)
    qs8StoreLanes8(q0, c, channels)
    if rows > 1 { qs8StoreLanes8(q1, c + cStride, channels) }
}

/// Stores the first `count` (<= 8) lanes; the full-vector case is one store, the others at most
/// three (4, 2, 1 bytes), with no loop that LLVM could turn into a memcpy call.
@inline(__always)
public func qs8StoreLanes8(_ v: SIMD8<Int8>, _ dst: UnsafeMutablePointer<Int8>, _ count: Int) {
    let d = UnsafeMutableRawPointer(dst)
    if count >= 8 {
        d.storeBytes(of: v, as: SIMD8<Int8>.self)
        return
    }
    var rest = v
    var i = 0
    if count & 4 != 0 {
        d.storeBytes(of: rest.lowHalf, as: SIMD4<Int8>.self)
        rest = SIMD8<Int8>(lowHalf: rest.highHalf, highHalf: rest.highHalf)
        i = 4
    }
    if count & 2 != 0 {
        d.storeBytes(of: rest.lowHalf.lowHalf, toByteOffset: i, as: SIMD2<Int8>.self)
        rest = SIMD8<Int8>(lowHalf: SIMD4<Int8>(lowHalf: rest.lowHalf.highHalf, highHalf: rest.lowHalf.highHalf), highHalf: rest.highHalf)
        i &+= 2
    }
    if count & 1 != 0 { dst[i] = rest[0] }
}
