// The SDOT indirect GEMM over all output channels of 4 pixels: the 4x16 micro-kernel for each
// 16 channels, the 4x8 one for a remainder of at most 8 (weights from qs8PackC4x8, activation offset 0).

/// Runs qs8IGEMM4x16C4NeonDotFP32 / qs8IGEMM4x8C4NeonDotFP32 over `channels` output channels of
/// `rows` pixels (1...4) whose pointers are in `indirection` (4 per tap).
public func qs8IGEMM4xNC4NeonDot(
    rows: Int, taps: Int, cin: Int, indirection: UnsafePointer<UnsafePointer<Int8>>,
    packedWeights w: UnsafeRawPointer, blockBytes: Int, outputZeroPoint: Int32, negativeSlope: Float,
    c: UnsafeMutablePointer<Int8>, cStride: Int, channels: Int
) {
    var nb = 0
    while nb < channels {
        let left = channels &- nb
        let wb = w + (nb / 8) &* blockBytes
        if left > 8 {
            qs8IGEMM4x16C4NeonDotFP32(rows: rows, taps: taps, cin: cin, indirection: indirection, packedWeights: wb,
                                      blockBytes: blockBytes, outputZeroPoint: outputZeroPoint, negativeSlope: negativeSlope,
                                      c: c + nb, cStride: cStride, channels: left)
            nb &+= 16
        } else {
            qs8IGEMM4x8C4NeonDotFP32(rows: rows, taps: taps, cin: cin, indirection: indirection, packedWeights: wb,
                                     blockBytes: blockBytes, outputZeroPoint: outputZeroPoint, negativeSlope: negativeSlope,
                                     c: c + nb, cStride: cStride, channels: left)
            nb &+= 8
        }
    }
}

/// As `qs8IGEMM4xNC4NeonDot` for 4 pixels of one output row whose windows lie inside the input
/// (no indirection buffer): tap t of pixel r is at origin + tapOffsets[t] + r * pixelStride.
public func qs8ConvWindow4xNC4NeonDot(
    taps: Int, cin: Int, origin: UnsafePointer<Int8>, tapOffsets: UnsafePointer<Int>, pixelStride: Int,
    packedWeights w: UnsafeRawPointer, blockBytes: Int, outputZeroPoint: Int32, negativeSlope: Float,
    c: UnsafeMutablePointer<Int8>, cStride: Int, channels: Int
) {
    windowAllChannels(taps: taps, cin: cin, origin: origin, tapOffsets: tapOffsets, pixelStride: pixelStride,
                      w: w, blockBytes: blockBytes, zp: outputZeroPoint, slope: negativeSlope,
                      c: c, cStride: cStride, channels: channels)
}

/// `groups` consecutive groups of 4 pixels of one output row, all with their windows inside the
/// input, in one call (the engine finds such runs once per row instead of testing each group):
/// group i is `qs8ConvWindow4xNC4NeonDot` at origin + 4 i pixelStride, writing c + 4 i cStride.
public func qs8ConvWindowRow4xNC4NeonDot(
    groups: Int, taps: Int, cin: Int, origin: UnsafePointer<Int8>, tapOffsets: UnsafePointer<Int>, pixelStride: Int,
    packedWeights w: UnsafeRawPointer, blockBytes: Int, outputZeroPoint: Int32, negativeSlope: Float,
    c: UnsafeMutablePointer<Int8>, cStride: Int, channels: Int
) {
    var o = origin, cc = c
    let originStep = 4 &* pixelStride, cStep = 4 &* cStride
    var i = 0
    while i < groups {
        windowAllChannels(taps: taps, cin: cin, origin: o, tapOffsets: tapOffsets, pixelStride: pixelStride,
                          w: w, blockBytes: blockBytes, zp: outputZeroPoint, slope: negativeSlope,
                          c: cc, cStride: cStride, channels: channels)
        o += originStep
        cc += cStep
        i &+= 1
    }
}

@inline(__always)
private func windowAllChannels(
    taps: Int, cin: Int, origin: UnsafePointer<Int8>, tapOffsets: UnsafePointer<Int>, pixelStride: Int,
    w: UnsafeRawPointer, blockBytes: Int, zp outputZeroPoint: Int32, slope negativeSlope: Float,
    c: UnsafeMutablePointer<Int8>, cStride: Int, channels: Int
) {
    var nb = 0
    while nb < channels {
        let left = channels &- nb
        let wb = w + (nb / 8) &* blockBytes
        if left > 8 {
            qs8ConvWindow4x16C4NeonDotFP32(taps: taps, cin: cin, origin: origin, tapOffsets: tapOffsets, pixelStride: pixelStride,
                                           packedWeights: wb, blockBytes: blockBytes, outputZeroPoint: outputZeroPoint,
                                           negativeSlope: negativeSlope, c: c + nb, cStride: cStride, channels: left)
            nb &+= 16
        } else {
            qs8ConvWindow4x8C4NeonDotFP32(taps: taps, cin: cin, origin: origin, tapOffsets: tapOffsets, pixelStride: pixelStride,
                                          packedWeights: wb, blockBytes: blockBytes, outputZeroPoint: outputZeroPoint,
                                          negativeSlope: negativeSlope, c: c + nb, cStride: cStride, channels: left)
            nb &+= 8
        }
    }
}
