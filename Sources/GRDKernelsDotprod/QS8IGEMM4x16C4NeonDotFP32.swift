// QS8 indirect-GEMM micro-kernel: 4 output pixels x 16 output channels, k in groups of 4 ("c4"),
// SDOT (NEON dot product, ARMv8.2 / Cortex-A76), fp32 requantisation. After XNNPACK's
// qs8 4x16c4 neondot igemm: per 8 input channels of a tap, 4 x 8-byte activation loads,
// 8 x 16-byte weight loads and 32 SDOT in their lane form (`sdot v.4s, v.16b, v.4b[i]`), i.e.
// 4 x 16 x 8 = 512 MACs. Accumulators start at the bias; no horizontal reduction anywhere. See
// QS8NeonDot.swift for how SDOT is named and GRDKernels' qs8PackC4x8 for the weights (two
// consecutive packed blocks).
//
// Rows: `indirection` holds 4 pointers per tap (pixels past `rows` repeat a valid one and are
// computed, not stored), each to a pixel's channels or to a zero-point buffer; the window form
// reads tap t of pixel r at origin + tapOffsets[t] + r * pixelStride. Reads go up to cin4 bytes
// from each pointer, i.e. up to 3 bytes past the channels. The networks' channel counts 1-4, 8
// and 16 (cin4 = 4, 8, 16) get their own straight-line tap bodies (no k loop); others loop over
// 8 channels at a time plus a 4-channel tail.

/// 8 input channels (two c4 groups) of one tap: activations at p + j, weights at w0 (w1).
@inline(__always)
private func chunk8(_ a: inout QS8NeonDotAcc4x8, _ b: inout QS8NeonDotAcc4x8, _ w0: inout UnsafeRawPointer, _ w1: inout UnsafeRawPointer,
                    _ p0: UnsafeRawPointer, _ p1: UnsafeRawPointer, _ p2: UnsafeRawPointer, _ p3: UnsafeRawPointer, _ j: Int) {
    let (x0, x1, x2, x3) = qs8NeonDotLoad8(p0, p1, p2, p3, j)
    a.group(w0, x0, x1, x2, x3, lane: 0)
    b.group(w1, x0, x1, x2, x3, lane: 0)
    a.group(w0 + 32, x0, x1, x2, x3, lane: 1)
    b.group(w1 + 32, x0, x1, x2, x3, lane: 1)
    w0 += 64
    w1 += 64
}

/// 4 input channels (one c4 group) of one tap.
@inline(__always)
private func chunk4(_ a: inout QS8NeonDotAcc4x8, _ b: inout QS8NeonDotAcc4x8, _ w0: inout UnsafeRawPointer, _ w1: inout UnsafeRawPointer,
                    _ p0: UnsafeRawPointer, _ p1: UnsafeRawPointer, _ p2: UnsafeRawPointer, _ p3: UnsafeRawPointer, _ j: Int) {
    let (x0, x1, x2, x3) = qs8NeonDotLoad4(p0, p1, p2, p3, j)
    a.group(w0, x0, x1, x2, x3, lane: 0)
    b.group(w1, x0, x1, x2, x3, lane: 0)
    w0 += 32
    w1 += 32
}

@inline(__always)
func qs8IGEMM4x16C4NeonDotBody(
    windowed: Bool, rows: Int, taps: Int, cin: Int, indirection: UnsafePointer<UnsafePointer<Int8>>?,
    origin: UnsafePointer<Int8>?, tapOffsets: UnsafePointer<Int>?, pixelStride: Int,
    w: UnsafeRawPointer, blockBytes: Int, zeroPoint: Int32, slope: Float,
    c: UnsafeMutablePointer<Int8>, cStride: Int, channels: Int
) {
    let cin4 = qs8NeonDotChannelGroups(cin)
    let bases = qs8NeonDotBases(windowed, origin, pixelStride)
    var a = QS8NeonDotAcc4x8(block: w)
    var b = QS8NeonDotAcc4x8(block: w + blockBytes)
    var w0 = w + 32
    var w1 = w + (blockBytes &+ 32)
    var t = 0
    switch cin4 {
    case 4:
        while t < taps {
            let (p0, p1, p2, p3, j) = qs8NeonDotRows(windowed, t, indirection, bases, tapOffsets)
            chunk4(&a, &b, &w0, &w1, p0, p1, p2, p3, j)
            t &+= 1
        }
    case 8:
        while t < taps {
            let (p0, p1, p2, p3, j) = qs8NeonDotRows(windowed, t, indirection, bases, tapOffsets)
            chunk8(&a, &b, &w0, &w1, p0, p1, p2, p3, j)
            t &+= 1
        }
    case 16:
        while t < taps {
            let (p0, p1, p2, p3, j) = qs8NeonDotRows(windowed, t, indirection, bases, tapOffsets)
            chunk8(&a, &b, &w0, &w1, p0, p1, p2, p3, j)
            chunk8(&a, &b, &w0, &w1, p0, p1, p2, p3, j &+ 8)
            t &+= 1
        }
    default:
        while t < taps {
            let (p0, p1, p2, p3, j) = qs8NeonDotRows(windowed, t, indirection, bases, tapOffsets)
            var k = 0
            while k &+ 8 <= cin4 {
                chunk8(&a, &b, &w0, &w1, p0, p1, p2, p3, j &+ k)
                k &+= 8
            }
            if k < cin4 {
                chunk4(&a, &b, &w0, &w1, p0, p1, p2, p3, j &+ k)
            }
            t &+= 1
        }
    }
    // w0 and w1 now point at the block's scales.
    a.store(scales: w0, rows: rows, zeroPoint: zeroPoint, slope: slope, c: c, cStride: cStride, channels: channels)
    b.store(scales: w1, rows: rows, zeroPoint: zeroPoint, slope: slope, c: c + 8, cStride: cStride, channels: channels &- 8)
}

/// C[r][0..<min(channels, 16)] = requant(bias + sum over taps and input channels of A * W) for
/// r < rows (1...4); pixel pointers from `indirection` (4 per tap).
public func qs8IGEMM4x16C4NeonDotFP32(
    rows: Int, taps: Int, cin: Int, indirection: UnsafePointer<UnsafePointer<Int8>>,
    packedWeights w: UnsafeRawPointer, blockBytes: Int, outputZeroPoint: Int32, negativeSlope: Float,
    c: UnsafeMutablePointer<Int8>, cStride: Int, channels: Int
) {
    qs8IGEMM4x16C4NeonDotBody(windowed: false, rows: rows, taps: taps, cin: cin, indirection: indirection,
                          origin: nil, tapOffsets: nil, pixelStride: 0, w: w, blockBytes: blockBytes,
                          zeroPoint: outputZeroPoint, slope: negativeSlope, c: c, cStride: cStride, channels: channels)
}

/// As `qs8IGEMM4x16C4NeonDotFP32` for 4 pixels of one output row whose windows lie inside the
/// input: tap t of pixel r is at origin + tapOffsets[t] + r * pixelStride.
public func qs8ConvWindow4x16C4NeonDotFP32(
    taps: Int, cin: Int, origin: UnsafePointer<Int8>, tapOffsets: UnsafePointer<Int>, pixelStride: Int,
    packedWeights w: UnsafeRawPointer, blockBytes: Int, outputZeroPoint: Int32, negativeSlope: Float,
    c: UnsafeMutablePointer<Int8>, cStride: Int, channels: Int
) {
    qs8IGEMM4x16C4NeonDotBody(windowed: true, rows: 4, taps: taps, cin: cin, indirection: nil,
                          origin: origin, tapOffsets: tapOffsets, pixelStride: pixelStride, w: w, blockBytes: blockBytes,
                          zeroPoint: outputZeroPoint, slope: negativeSlope, c: c, cStride: cStride, channels: channels)
}
