// QS8 indirect GEMM micro-kernels for x86 (AVX2, optionally VNNI): 4 output pixels x 8 or 16
// output channels, k in steps of 1 ("c1"), activation broadcast, fp32 requantisation.
//
// Why this shape: the network's convolutions have few channels (1 to 96 in, 1 to 48 out) and
// many pixels, so a horizontal dot product per (pixel, channel), as in the ARM kernels, spends
// much of its time in reductions. Here each 32-bit lane is one output channel: for every k one
// activation byte per pixel is broadcast across a 256-bit register and multiplied with the 8
// channels' weights of that k, so the accumulators need no reduction at all.
// The activation is zero-extended (u = q ^ 0x80, the +128 folded into the bias by
// qs8PackC1x8) and the weight sign-extended: LLVM turns that 32-bit multiply into vpmaddwd
// (upper halves are zero), and, with AVX-VNNI, vpmaddwd + vpaddd into one vpdpwssd. A signed x
// signed multiply stays vpmulld, two uops of 10 cycles latency (checked with llvm-objdump).
// 4 pixels x 2 blocks = 8 accumulators + 4 broadcasts + 2 weight vectors fit the 16 ymm
// registers of AVX2; a third block (4x24) spilled accumulators to the stack in every iteration.
//
// Indirect ("igemm", as in XNNPACK): no im2col copy. For every tap (ky, kx) the caller gives 4
// row pointers (one per pixel) to `cin` contiguous NHWC input bytes, or to a buffer holding the
// input zero point for taps in the padding (real zero: folded into the bias). Missing pixels
// (rows < 4) repeat a valid pointer and are computed but not stored.
//
// Packed weights: `blocks` consecutive blocks of qs8PackC1x8 (8 channels each).

@inline(__always)
private func broadcast(_ p: UnsafePointer<Int8>, _ i: Int) -> SIMD8<Int32> {
    SIMD8<Int32>(repeating: Int32(UInt8(bitPattern: p[i]) ^ 0x80))
}

@inline(__always)
private func weights8(_ p: UnsafeRawPointer, _ offset: Int) -> SIMD8<Int32> {
    SIMD8<Int32>(truncatingIfNeeded: p.loadUnaligned(fromByteOffset: offset, as: SIMD8<Int8>.self))
}

/// The shared body (`blocks` 1 or 2); `blocks` is a literal at each call site, so the unused accumulators fold away.
@inline(__always)
private func igemm4xN(
    blocks: Int, rows: Int, taps: Int, cin: Int,
    indirection: UnsafePointer<UnsafePointer<Int8>>,
    packedWeights w: UnsafeRawPointer, blockBytes: Int,
    outputZeroPoint: Int32, negativeSlope: Float,
    c: UnsafeMutablePointer<Int8>, cStride: Int, channels: Int
) {
    var a00 = SIMD8<Int32>(), a01 = SIMD8<Int32>()
    var a10 = SIMD8<Int32>(), a11 = SIMD8<Int32>()
    var a20 = SIMD8<Int32>(), a21 = SIMD8<Int32>()
    var a30 = SIMD8<Int32>(), a31 = SIMD8<Int32>()
    let w0 = w + 32, w1 = w + (blockBytes &+ 32)
    var wo = 0
    var t = 0
    while t < taps {
        let p0 = indirection[4 &* t], p1 = indirection[4 &* t &+ 1]
        let p2 = indirection[4 &* t &+ 2], p3 = indirection[4 &* t &+ 3]
        var i = 0
        while i < cin {
            let x0 = broadcast(p0, i), x1 = broadcast(p1, i), x2 = broadcast(p2, i), x3 = broadcast(p3, i)
            let v0 = weights8(w0, wo)
            a00 &+= x0 &* v0; a10 &+= x1 &* v0; a20 &+= x2 &* v0; a30 &+= x3 &* v0
            if blocks > 1 {
                let v1 = weights8(w1, wo)
                a01 &+= x0 &* v1; a11 &+= x1 &* v1; a21 &+= x2 &* v1; a31 &+= x3 &* v1
            }
            wo &+= 8
            i &+= 1
        }
        t &+= 1
    }
    let k = taps &* cin
    storeBlock(a00, a10, a20, a30, w, k, rows, outputZeroPoint, negativeSlope, c, cStride, channels)
    if blocks > 1 {
        storeBlock(a01, a11, a21, a31, w + blockBytes, k, rows, outputZeroPoint, negativeSlope, c + 8, cStride, channels &- 8)
    }
}

/// Adds the block's bias, requantises and stores `rows` pixels of min(8, channels) channels.
@inline(__always)
private func storeBlock(
    _ r0: SIMD8<Int32>, _ r1: SIMD8<Int32>, _ r2: SIMD8<Int32>, _ r3: SIMD8<Int32>,
    _ block: UnsafeRawPointer, _ k: Int, _ rows: Int, _ zp: Int32, _ slope: Float,
    _ c: UnsafeMutablePointer<Int8>, _ cStride: Int, _ channels: Int
) {
    if channels <= 0 { return }
    let bias = block.loadUnaligned(as: SIMD8<Int32>.self)
    let scale = block.loadUnaligned(fromByteOffset: 32 &+ 8 &* k, as: SIMD8<Float>.self)
    storeLanes8(requantizeFP32x8(r0 &+ bias, scale, zp, slope), c, channels)
    if rows > 1 { storeLanes8(requantizeFP32x8(r1 &+ bias, scale, zp, slope), c + cStride, channels) }
    if rows > 2 { storeLanes8(requantizeFP32x8(r2 &+ bias, scale, zp, slope), c + 2 &* cStride, channels) }
    if rows > 3 { storeLanes8(requantizeFP32x8(r3 &+ bias, scale, zp, slope), c + 3 &* cStride, channels) }
}

/// C[r][0..<channels] = requant(bias + sum over taps and input channels of u * w), r < rows
/// (1...4), channels <= 8. `indirection` holds 4 pointers per tap.
public func qs8IGEMM4x8C1BroadcastAVX2(
    rows: Int, taps: Int, cin: Int, indirection: UnsafePointer<UnsafePointer<Int8>>,
    packedWeights w: UnsafeRawPointer, blockBytes: Int, outputZeroPoint: Int32, negativeSlope: Float,
    c: UnsafeMutablePointer<Int8>, cStride: Int, channels: Int
) {
    igemm4xN(blocks: 1, rows: rows, taps: taps, cin: cin, indirection: indirection, packedWeights: w,
             blockBytes: blockBytes, outputZeroPoint: outputZeroPoint, negativeSlope: negativeSlope,
             c: c, cStride: cStride, channels: channels)
}

/// As `qs8IGEMM4x8C1BroadcastAVX2` for 9...16 channels (two consecutive packed blocks).
public func qs8IGEMM4x16C1BroadcastAVX2(
    rows: Int, taps: Int, cin: Int, indirection: UnsafePointer<UnsafePointer<Int8>>,
    packedWeights w: UnsafeRawPointer, blockBytes: Int, outputZeroPoint: Int32, negativeSlope: Float,
    c: UnsafeMutablePointer<Int8>, cStride: Int, channels: Int
) {
    igemm4xN(blocks: 2, rows: rows, taps: taps, cin: cin, indirection: indirection, packedWeights: w,
             blockBytes: blockBytes, outputZeroPoint: outputZeroPoint, negativeSlope: negativeSlope,
             c: c, cStride: cStride, channels: channels)
}

/// Runs the 4x16 kernel over all `channels` output channels of `rows` pixels, and the 4x8
/// kernel for a remainder of at most 8.
public func qs8IGEMM4xNC1BroadcastAVX2(
    rows: Int, taps: Int, cin: Int, indirection: UnsafePointer<UnsafePointer<Int8>>,
    packedWeights w: UnsafeRawPointer, blockBytes: Int, outputZeroPoint: Int32, negativeSlope: Float,
    c: UnsafeMutablePointer<Int8>, cStride: Int, channels: Int
) {
    var nb = 0
    while nb < channels {
        let left = channels &- nb
        let wb = w + (nb / 8) &* blockBytes
        if left > 8 {
            qs8IGEMM4x16C1BroadcastAVX2(rows: rows, taps: taps, cin: cin, indirection: indirection, packedWeights: wb,
                                        blockBytes: blockBytes, outputZeroPoint: outputZeroPoint, negativeSlope: negativeSlope,
                                        c: c + nb, cStride: cStride, channels: left)
            nb &+= 16
        } else {
            qs8IGEMM4x8C1BroadcastAVX2(rows: rows, taps: taps, cin: cin, indirection: indirection, packedWeights: wb,
                                       blockBytes: blockBytes, outputZeroPoint: outputZeroPoint, negativeSlope: negativeSlope,
                                       c: c + nb, cStride: cStride, channels: left)
            nb &+= 8
        }
    }
}
