// QS8 indirect-GEMM micro-kernel: 4 output pixels x 8 output channels, k in groups of 4 ("c4"),
// SDOT (NEON dot product, ARMv8.2 / Cortex-A76), fp32 requantisation. After XNNPACK's
// qs8 4x8c4 neondot igemm: per 8 input channels of a tap, 4 x 8-byte activation loads,
// 4 x 16-byte weight loads and 16 SDOT in their lane form (`sdot v.4s, v.16b, v.4b[i]`), i.e.
// 4 x 8 x 8 = 256 MACs; 4 channels left over (cin not a multiple of 8) use LD1R broadcasts.
// Accumulators start at the bias; no horizontal reduction anywhere. See QS8NeonDot.swift for
// how SDOT is named and QS8PackC4x8NeonDot.swift for the weights (one consecutive packed block).
//
// Rows: `indirection` holds 4 pointers per tap (pixels past `rows` repeat a valid one and are
// computed, not stored), each to a pixel's channels or to a zero-point buffer; the window form
// reads tap t of pixel r at origin + tapOffsets[t] + r * pixelStride. Reads go up to cin4 bytes
// from each pointer, i.e. up to 3 bytes past the channels.

@inline(__always)
func qs8IGEMM4x8C4NeonDotBody(
    windowed: Bool, rows: Int, taps: Int, cin: Int, indirection: UnsafePointer<UnsafePointer<Int8>>?,
    origin: UnsafePointer<Int8>?, tapOffsets: UnsafePointer<Int>?, pixelStride: Int,
    w: UnsafeRawPointer, blockBytes: Int, zeroPoint: Int32, slope: Float,
    c: UnsafeMutablePointer<Int8>, cStride: Int, channels: Int
) {
    let cin4 = qs8NeonDotChannelGroups(cin)
    var a = QS8NeonDotAcc4x8(block: w)
    var w0 = w + 32
    var t = 0
    while t < taps {
        let (p0, p1, p2, p3) = qs8NeonDotRows(windowed, t, indirection, origin, tapOffsets, pixelStride)
        var k = 0
        while k &+ 8 <= cin4 {
            let x0 = p0.loadUnaligned(fromByteOffset: k, as: SIMD2<Int32>.self)
            let x1 = p1.loadUnaligned(fromByteOffset: k, as: SIMD2<Int32>.self)
            let x2 = p2.loadUnaligned(fromByteOffset: k, as: SIMD2<Int32>.self)
            let x3 = p3.loadUnaligned(fromByteOffset: k, as: SIMD2<Int32>.self)
            let l0 = qs8Lane(x0, 0), l1 = qs8Lane(x1, 0), l2 = qs8Lane(x2, 0), l3 = qs8Lane(x3, 0)
            a.dot(w0.loadUnaligned(as: SIMD16<Int8>.self), w0.loadUnaligned(fromByteOffset: 16, as: SIMD16<Int8>.self), l0, l1, l2, l3)
            let h0 = qs8Lane(x0, 1), h1 = qs8Lane(x1, 1), h2 = qs8Lane(x2, 1), h3 = qs8Lane(x3, 1)
            a.dot(w0.loadUnaligned(fromByteOffset: 32, as: SIMD16<Int8>.self), w0.loadUnaligned(fromByteOffset: 48, as: SIMD16<Int8>.self), h0, h1, h2, h3)
            w0 += 64
            k &+= 8
        }
        if k < cin4 {
            let l0 = qs8Broadcast4(p0, k), l1 = qs8Broadcast4(p1, k), l2 = qs8Broadcast4(p2, k), l3 = qs8Broadcast4(p3, k)
            a.dot(w0.loadUnaligned(as: SIMD16<Int8>.self), w0.loadUnaligned(fromByteOffset: 16, as: SIMD16<Int8>.self), l0, l1, l2, l3)
            w0 += 32
        }
        t &+= 1
    }
    // w0 (w1) now points at the block's scales.
    a.store(scales: w0, rows: rows, zeroPoint: zeroPoint, slope: slope, c: c, cStride: cStride, channels: channels)
}

/// C[r][0..<min(channels, 8)] = requant(bias + sum over taps and input channels of A * W) for
/// r < rows (1...4); pixel pointers from `indirection` (4 per tap).
public func qs8IGEMM4x8C4NeonDotFP32(
    rows: Int, taps: Int, cin: Int, indirection: UnsafePointer<UnsafePointer<Int8>>,
    packedWeights w: UnsafeRawPointer, blockBytes: Int, outputZeroPoint: Int32, negativeSlope: Float,
    c: UnsafeMutablePointer<Int8>, cStride: Int, channels: Int
) {
    qs8IGEMM4x8C4NeonDotBody(windowed: false, rows: rows, taps: taps, cin: cin, indirection: indirection,
                            origin: nil, tapOffsets: nil, pixelStride: 0, w: w, blockBytes: blockBytes,
                            zeroPoint: outputZeroPoint, slope: negativeSlope, c: c, cStride: cStride, channels: channels)
}

/// As `qs8IGEMM4x8C4NeonDotFP32` for 4 pixels of one output row whose windows lie inside the
/// input: tap t of pixel r is at origin + tapOffsets[t] + r * pixelStride.
public func qs8ConvWindow4x8C4NeonDotFP32(
    taps: Int, cin: Int, origin: UnsafePointer<Int8>, tapOffsets: UnsafePointer<Int>, pixelStride: Int,
    packedWeights w: UnsafeRawPointer, blockBytes: Int, outputZeroPoint: Int32, negativeSlope: Float,
    c: UnsafeMutablePointer<Int8>, cStride: Int, channels: Int
) {
    qs8IGEMM4x8C4NeonDotBody(windowed: true, rows: 4, taps: taps, cin: cin, indirection: nil,
                            origin: origin, tapOffsets: tapOffsets, pixelStride: pixelStride, w: w, blockBytes: blockBytes,
                            zeroPoint: outputZeroPoint, slope: negativeSlope, c: c, cStride: cStride, channels: channels)
}
