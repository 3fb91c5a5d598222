// QS8 indirect GEMM micro-kernels for x86 with AVX-VNNI: 4 output pixels x 8 or 16 output
// channels, k in groups of 4 ("c4"), vpdpbusd, fp32 requantisation.
//
// Why: vpdpbusd does 4 exact u8 x s8 multiply-adds per 32-bit lane, 32 per 256-bit instruction,
// against 8 for the vpmaddwd kernels of GRDKernelsX86. LLVM forms vpdpbusd only from a
// horizontal reduction, never from this lane-per-channel shape (checked with llvm-objdump), so
// the instruction is named through the compiler's LLVM-intrinsic builtin
// (Builtin.int_x86_avx512_vpdpbusd_256, the intrinsic of both AVX512-VNNI/VL and the VEX
// AVX-VNNI form); that needs -parse-stdlib, which is why this module imports Swift explicitly.
// Still Swift: no C, no assembly. The module is built with -march=haswell -mavxvnni on x86_64
// and the runtime calls it only when /proc/cpuinfo lists avx_vnni. Swift 6.0.3 (Debian's, the
// oldest compiler the project supports) has no target-specific intrinsics in `Builtin`: there
// the module compiles a plain-Swift stand-in and says so with `qs8AVXVNNIKernelsCompiled`, and
// the runtime does not offer the family.
//
// Shape: each lane is one output channel; for every group of 4 input channels the 4 activation
// bytes of a pixel (as one 32-bit word, ^ 0x80808080 to make them unsigned: +128, folded into
// the bias by qs8PackC4x8, activation offset 128) are broadcast and dot-multiplied with the 8 channels' 4
// weights. 4 pixels x 2 blocks = 8 accumulators; no horizontal reduction anywhere.
//
// Indirect ("igemm"): `indirection` holds 4 pointers per tap (pixels past `rows` repeat a valid
// one and are computed, not stored), each to a pixel's channels or to a zero-point buffer;
// reads go up to cin4 bytes from each pointer, i.e. up to 3 bytes past the channels.
import Swift

#if arch(x86_64) && compiler(>=6.3)
/// Whether this build has the real vpdpbusd kernels (see the top of the file).
public let qs8AVXVNNIKernelsCompiled = true

@inline(__always)
private func dpbusd(_ acc: SIMD8<Int32>, _ u: SIMD8<Int32>, _ w: SIMD8<Int32>) -> SIMD8<Int32> {
    var r = acc
    r._storage._value = Builtin.int_x86_avx512_vpdpbusd_256(acc._storage._value, u._storage._value, w._storage._value)
    return r
}
#else
public let qs8AVXVNNIKernelsCompiled = false

// Never called (the runtime does not select the family); a plain-Swift equivalent keeps the
// module compiling for other targets and older compilers.
@inline(__always)
private func dpbusd(_ acc: SIMD8<Int32>, _ u: SIMD8<Int32>, _ w: SIMD8<Int32>) -> SIMD8<Int32> {
    var r = acc
    for lane in 0..<8 {
        for b in 0..<4 {
            let x = Int32(UInt8(truncatingIfNeeded: u[lane] >> (8 * b)))
            let y = Int32(Int8(truncatingIfNeeded: w[lane] >> (8 * b)))
            r[lane] = r[lane] &+ x &* y
        }
    }
    return r
}
#endif

/// 4 activation bytes at p + i as one word, made unsigned (+128 each), broadcast to 8 lanes.
@inline(__always)
private func broadcast4(_ p: UnsafePointer<Int8>, _ i: Int) -> SIMD8<Int32> {
    SIMD8<Int32>(repeating: UnsafeRawPointer(p).loadUnaligned(fromByteOffset: i, as: Int32.self) ^ Int32(bitPattern: 0x8080_8080))
}

/// The shared body (`blocks` 1 or 2, a literal at each call site). Pixel pointers come from
/// `indirection`, or, when it is nil, from a window: tap t of pixel r reads
/// origin + tapOffsets[t] + r * pixelStride (4 pixels of one output row inside the input, the
/// common case, without building an indirection buffer per call).
@inline(__always)
private func igemm4xNC4(
    blocks: Int, rows: Int, taps: Int, cin: Int,
    indirection: UnsafePointer<UnsafePointer<Int8>>?,
    origin: UnsafePointer<Int8>, tapOffsets: UnsafePointer<Int>, pixelStride: Int,
    packedWeights w: UnsafeRawPointer, blockBytes: Int,
    outputZeroPoint: Int32, negativeSlope: Float,
    c: UnsafeMutablePointer<Int8>, cStride: Int, channels: Int
) {
    var a00 = SIMD8<Int32>(), a01 = SIMD8<Int32>()
    var a10 = SIMD8<Int32>(), a11 = SIMD8<Int32>()
    var a20 = SIMD8<Int32>(), a21 = SIMD8<Int32>()
    var a30 = SIMD8<Int32>(), a31 = SIMD8<Int32>()
    let cin4 = qs8AVXVNNIChannelGroups(cin)
    let w0 = w + 32, w1 = w + (blockBytes &+ 32)
    var wo = 0
    var t = 0
    while t < taps {
        let p0: UnsafePointer<Int8>, p1: UnsafePointer<Int8>, p2: UnsafePointer<Int8>, p3: UnsafePointer<Int8>
        if let ind = indirection {
            p0 = ind[4 &* t]; p1 = ind[4 &* t &+ 1]; p2 = ind[4 &* t &+ 2]; p3 = ind[4 &* t &+ 3]
        } else {
            p0 = origin + tapOffsets[t]; p1 = p0 + pixelStride; p2 = p1 + pixelStride; p3 = p2 + pixelStride
        }
        var i = 0
        while i < cin4 {
            let x0 = broadcast4(p0, i), x1 = broadcast4(p1, i), x2 = broadcast4(p2, i), x3 = broadcast4(p3, i)
            let v0 = w0.loadUnaligned(fromByteOffset: wo, as: SIMD8<Int32>.self)
            a00 = dpbusd(a00, x0, v0); a10 = dpbusd(a10, x1, v0); a20 = dpbusd(a20, x2, v0); a30 = dpbusd(a30, x3, v0)
            if blocks > 1 {
                let v1 = w1.loadUnaligned(fromByteOffset: wo, as: SIMD8<Int32>.self)
                a01 = dpbusd(a01, x0, v1); a11 = dpbusd(a11, x1, v1); a21 = dpbusd(a21, x2, v1); a31 = dpbusd(a31, x3, v1)
            }
            wo &+= 32
            i &+= 4
        }
        t &+= 1
    }
    let groups = taps &* cin4
    storeBlock(a00, a10, a20, a30, w, groups, rows, outputZeroPoint, negativeSlope, c, cStride, channels)
    if blocks > 1 {
        storeBlock(a01, a11, a21, a31, w + blockBytes, groups, rows, outputZeroPoint, negativeSlope, c + 8, cStride, channels &- 8)
    }
}

/// Adds the block's bias, requantises and stores `rows` pixels of min(8, channels) channels.
@inline(__always)
private func storeBlock(
    _ r0: SIMD8<Int32>, _ r1: SIMD8<Int32>, _ r2: SIMD8<Int32>, _ r3: SIMD8<Int32>,
    _ block: UnsafeRawPointer, _ paddedK: Int, _ rows: Int, _ zp: Int32, _ slope: Float,
    _ c: UnsafeMutablePointer<Int8>, _ cStride: Int, _ channels: Int
) {
    if channels <= 0 { return }
    let bias = block.loadUnaligned(as: SIMD8<Int32>.self)
    let scale = block.loadUnaligned(fromByteOffset: 32 &+ 8 &* paddedK, as: SIMD8<Float>.self)
    storeLanes8(requantizeFP32x8(r0 &+ bias, scale, zp, slope), c, channels)
    if rows > 1 { storeLanes8(requantizeFP32x8(r1 &+ bias, scale, zp, slope), c + cStride, channels) }
    if rows > 2 { storeLanes8(requantizeFP32x8(r2 &+ bias, scale, zp, slope), c + 2 &* cStride, channels) }
    if rows > 3 { storeLanes8(requantizeFP32x8(r3 &+ bias, scale, zp, slope), c + 3 &* cStride, channels) }
}

/// C[r][0..<channels] = requant(bias + sum over taps and input channels of u * w), r < rows
/// (1...4), channels <= 8.
public func qs8IGEMM4x8C4AVXVNNI(
    rows: Int, taps: Int, cin: Int, indirection: UnsafePointer<UnsafePointer<Int8>>?,
    origin: UnsafePointer<Int8>, tapOffsets: UnsafePointer<Int>, pixelStride: Int,
    packedWeights w: UnsafeRawPointer, blockBytes: Int, outputZeroPoint: Int32, negativeSlope: Float,
    c: UnsafeMutablePointer<Int8>, cStride: Int, channels: Int
) {
    igemm4xNC4(blocks: 1, rows: rows, taps: taps, cin: cin, indirection: indirection,
               origin: origin, tapOffsets: tapOffsets, pixelStride: pixelStride, packedWeights: w,
               blockBytes: blockBytes, outputZeroPoint: outputZeroPoint, negativeSlope: negativeSlope,
               c: c, cStride: cStride, channels: channels)
}

/// As `qs8IGEMM4x8C4AVXVNNI` for 9...16 channels (two consecutive packed blocks).
public func qs8IGEMM4x16C4AVXVNNI(
    rows: Int, taps: Int, cin: Int, indirection: UnsafePointer<UnsafePointer<Int8>>?,
    origin: UnsafePointer<Int8>, tapOffsets: UnsafePointer<Int>, pixelStride: Int,
    packedWeights w: UnsafeRawPointer, blockBytes: Int, outputZeroPoint: Int32, negativeSlope: Float,
    c: UnsafeMutablePointer<Int8>, cStride: Int, channels: Int
) {
    igemm4xNC4(blocks: 2, rows: rows, taps: taps, cin: cin, indirection: indirection,
               origin: origin, tapOffsets: tapOffsets, pixelStride: pixelStride, packedWeights: w,
               blockBytes: blockBytes, outputZeroPoint: outputZeroPoint, negativeSlope: negativeSlope,
               c: c, cStride: cStride, channels: channels)
}

/// Runs the 4x16 kernel over all `channels` output channels of `rows` pixels, and the 4x8
/// kernel for a remainder of at most 8.
public func qs8IGEMM4xNC4AVXVNNI(
    rows: Int, taps: Int, cin: Int, indirection: UnsafePointer<UnsafePointer<Int8>>,
    packedWeights w: UnsafeRawPointer, blockBytes: Int, outputZeroPoint: Int32, negativeSlope: Float,
    c: UnsafeMutablePointer<Int8>, cStride: Int, channels: Int
) {
    var unusedOffset = 0
    withUnsafePointer(to: &unusedOffset) { off in
        allChannels(rows: rows, taps: taps, cin: cin, indirection: indirection, origin: indirection[0], tapOffsets: off,
                    pixelStride: 0, w: w, blockBytes: blockBytes, zp: outputZeroPoint, slope: negativeSlope,
                    c: c, cStride: cStride, channels: channels)
    }
}

/// As `qs8IGEMM4xNC4AVXVNNI` for 4 pixels of one output row whose windows lie inside the input:
/// tap t of pixel r reads origin + tapOffsets[t] + r * pixelStride.
public func qs8ConvWindow4xNC4AVXVNNI(
    taps: Int, cin: Int, origin: UnsafePointer<Int8>, tapOffsets: UnsafePointer<Int>, pixelStride: Int,
    packedWeights w: UnsafeRawPointer, blockBytes: Int, outputZeroPoint: Int32, negativeSlope: Float,
    c: UnsafeMutablePointer<Int8>, cStride: Int, channels: Int
) {
    allChannels(rows: 4, taps: taps, cin: cin, indirection: nil, origin: origin, tapOffsets: tapOffsets,
                pixelStride: pixelStride, w: w, blockBytes: blockBytes, zp: outputZeroPoint, slope: negativeSlope,
                c: c, cStride: cStride, channels: channels)
}

@inline(__always)
private func allChannels(
    rows: Int, taps: Int, cin: Int, indirection: UnsafePointer<UnsafePointer<Int8>>?,
    origin: UnsafePointer<Int8>, tapOffsets: UnsafePointer<Int>, pixelStride: Int,
    w: UnsafeRawPointer, blockBytes: Int, zp: Int32, slope: Float,
    c: UnsafeMutablePointer<Int8>, cStride: Int, channels: Int
) {
    var nb = 0
    while nb < channels {
        let left = channels &- nb
        let wb = w + (nb / 8) &* blockBytes
        if left > 8 {
            qs8IGEMM4x16C4AVXVNNI(rows: rows, taps: taps, cin: cin, indirection: indirection, origin: origin,
                                  tapOffsets: tapOffsets, pixelStride: pixelStride, packedWeights: wb,
                                  blockBytes: blockBytes, outputZeroPoint: zp, negativeSlope: slope,
                                  c: c + nb, cStride: cStride, channels: left)
            nb &+= 16
        } else {
            qs8IGEMM4x8C4AVXVNNI(rows: rows, taps: taps, cin: cin, indirection: indirection, origin: origin,
                                 tapOffsets: tapOffsets, pixelStride: pixelStride, packedWeights: wb,
                                 blockBytes: blockBytes, outputZeroPoint: zp, negativeSlope: slope,
                                 c: c + nb, cStride: cStride, channels: left)
            nb &+= 8
        }
    }
}
