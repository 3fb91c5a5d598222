// QS8 convolution GEMM micro-kernel for the Cortex-A72: 2 output pixels x all output channels (in
// blocks of 8), k in 16-byte chunks whose two 8-byte halves are read through a table of offsets,
// fp32 requantisation.
//
// The arithmetic is that of `qs8GEMM2x8C16HalvesA72` (SMULL + SMLAL of two 8-lane halves in Int16,
// then SADDW + SADDW2 into Int32; weights are limited to +-127, so 2 * 128 * 127 < 2^15), with
// three changes that remove work around the inner loop:
//   - half h (8 k values) of pixel r is read at a + r * aStride + halfOffsets[h]. With the identity
//     table (8 * h) that is a dense im2col tile; with the offsets of a convolution window
//     ((ky * W + kx) * C + 8 * j) the kernel reads an interior pixel's receptive field straight
//     from the NHWC input, with no copy at all (XNNPACK's indirect GEMM, with one offset per 8
//     channels of a tap instead of one pointer per tap), for any C that is a multiple of 8. The
//     tables are planned when the model loads. The kernel loads 8-byte halves anyway, so reading
//     them through two offsets costs no extra instruction.
//   - one call covers every output channel block, so the pixel rows are set up once per call;
//   - requantisation is inlined on 4-lane vectors and the horizontal sums are pairwise adds (ADDP),
//     no per-lane moves.
// Swift 6.0.3 (LLVM 17) keeps this loop free of spills with 8-byte loads (checked with
// llvm-objdump on the aarch64 cross-build); with 16-byte loads and SMLAL2 its scheduler spills
// accumulators, and it has no SADALP pattern for a pairwise widening add.
//
// Packed weights: `qs8PackC16` blocks, `blockBytes` apart:
//   [8 x Int32 bias][chunks x 8 channels x 16 Int8][8 x Float scale]

@inline(__always) private func c16Load8(_ p: UnsafeRawPointer, _ offset: Int) -> SIMD8<Int16> {
    SIMD8<Int16>(truncatingIfNeeded: p.loadUnaligned(fromByteOffset: offset, as: SIMD8<Int8>.self))
}

/// a[lo ..< lo + 8] * w[0..<8] + a[hi ..< hi + 8] * w[8..<16], lane-wise in Int16 (SMULL + SMLAL).
@inline(__always)
private func c16PairProducts(_ a: UnsafeRawPointer, _ lo: Int, _ hi: Int, _ w: UnsafeRawPointer, _ wo: Int) -> SIMD8<Int16> {
    c16Load8(a, lo) &* c16Load8(w, wo) &+ c16Load8(a, hi) &* c16Load8(w, wo &+ 8)
}

/// acc += low half + high half, widened to Int32 (SADDW + SADDW2).
@inline(__always) private func c16WidenAdd(_ acc: inout SIMD4<Int32>, _ p: SIMD8<Int16>) {
    acc &+= SIMD4<Int32>(truncatingIfNeeded: p.lowHalf) &+ SIMD4<Int32>(truncatingIfNeeded: p.highHalf)
}

/// [x0 + x1, x2 + x3, y0 + y1, y2 + y3] (ADDP).
@inline(__always) private func c16Pairwise(_ x: SIMD4<Int32>, _ y: SIMD4<Int32>) -> SIMD4<Int32> {
    let v = SIMD8<Int32>(lowHalf: x, highHalf: y)
    return v.evenHalf &+ v.oddHalf
}

/// `qs8RequantizeFP32x4` with its constants hoisted: lo/hi are the float clamp bounds
/// (-128 - zp, 127 - zp) and `magicMinusZero` is 0x4B400000 - zp. Returns Int32 lanes.
@inline(__always)
private func c16Requantize4(_ acc: SIMD4<Int32>, _ scale: SIMD4<Float>, _ slope: SIMD4<Float>,
                            _ lo: SIMD4<Float>, _ hi: SIMD4<Float>, _ magicMinusZero: SIMD4<Int32>) -> SIMD4<Int32> {
    var f = SIMD4<Float>(acc) * scale
    f.replace(with: f * slope, where: f .< SIMD4<Float>(repeating: 0))
    f.replace(with: lo, where: f .< lo)
    f.replace(with: hi, where: f .> hi)
    let t = f + SIMD4<Float>(repeating: 12582912.0)
    return unsafeBitCast(t, to: SIMD4<Int32>.self) &- magicMinusZero
}

/// Two requantised 4-lane halves (each in -128...127) as 8 Int8 lanes (UZP1 + XTN).
@inline(__always) private func c16Narrow(_ a: SIMD4<Int32>, _ b: SIMD4<Int32>) -> SIMD8<Int8> {
    SIMD8<Int8>(truncatingIfNeeded: SIMD8<Int16>(truncatingIfNeeded: SIMD8<Int32>(lowHalf: a, highHalf: b)))
}

/// C[r][0..<channels] = requant(bias + A[r] . W) for r < rows (1 or 2), where row r of A is the
/// 2 * `chunks` 8-byte halves at a + r * aStride + halfOffsets[h] (h < 2 * chunks; chunks may be 0)
/// and W is `ceil(channels / 8)` packed c16 blocks of `chunks * 16` k each, `blockBytes` apart.
/// `negativeSlope` fuses ReLU (0) or LeakyReLU (0.2); 1 means no activation.
public func qs8GEMM2x8C16A72(
    rows: Int, chunks: Int,
    a: UnsafePointer<Int8>, aStride: Int, halfOffsets: UnsafePointer<Int>,
    packedWeights: UnsafeRawPointer, blockBytes: Int,
    outputZeroPoint: Int32, negativeSlope: Float,
    c: UnsafeMutablePointer<Int8>, cStride: Int, channels: Int
) {
    let a0 = UnsafeRawPointer(a)
    let a1 = rows > 1 ? a0 + aStride : a0
    let slope = SIMD4<Float>(repeating: negativeSlope)
    let lo = SIMD4<Float>(repeating: Float(-128 &- outputZeroPoint))
    let hi = SIMD4<Float>(repeating: Float(127 &- outputZeroPoint))
    let magicMinusZero = SIMD4<Int32>(repeating: 0x4B40_0000 &- outputZeroPoint)
    var nb = 0
    var block = packedWeights
    repeat {
        var r0 = (SIMD4<Int32>(), SIMD4<Int32>(), SIMD4<Int32>(), SIMD4<Int32>(),
                  SIMD4<Int32>(), SIMD4<Int32>(), SIMD4<Int32>(), SIMD4<Int32>())
        var r1 = r0
        var wp = block + 32
        var tab = halfOffsets
        var i = 0
        if chunks > 0 { repeat {
            let lo = tab[0], hi = tab[1]
            c16WidenAdd(&r0.0, c16PairProducts(a0, lo, hi, wp, 0)); c16WidenAdd(&r1.0, c16PairProducts(a1, lo, hi, wp, 0))
            c16WidenAdd(&r0.1, c16PairProducts(a0, lo, hi, wp, 16)); c16WidenAdd(&r1.1, c16PairProducts(a1, lo, hi, wp, 16))
            c16WidenAdd(&r0.2, c16PairProducts(a0, lo, hi, wp, 32)); c16WidenAdd(&r1.2, c16PairProducts(a1, lo, hi, wp, 32))
            c16WidenAdd(&r0.3, c16PairProducts(a0, lo, hi, wp, 48)); c16WidenAdd(&r1.3, c16PairProducts(a1, lo, hi, wp, 48))
            c16WidenAdd(&r0.4, c16PairProducts(a0, lo, hi, wp, 64)); c16WidenAdd(&r1.4, c16PairProducts(a1, lo, hi, wp, 64))
            c16WidenAdd(&r0.5, c16PairProducts(a0, lo, hi, wp, 80)); c16WidenAdd(&r1.5, c16PairProducts(a1, lo, hi, wp, 80))
            c16WidenAdd(&r0.6, c16PairProducts(a0, lo, hi, wp, 96)); c16WidenAdd(&r1.6, c16PairProducts(a1, lo, hi, wp, 96))
            c16WidenAdd(&r0.7, c16PairProducts(a0, lo, hi, wp, 112)); c16WidenAdd(&r1.7, c16PairProducts(a1, lo, hi, wp, 112))
            wp += 128
            tab += 2
            i &+= 1
        } while i < chunks }
        // wp now points at the block's scales.
        let biasLo = block.loadUnaligned(as: SIMD4<Int32>.self)
        let biasHi = block.loadUnaligned(fromByteOffset: 16, as: SIMD4<Int32>.self)
        let scaleLo = wp.loadUnaligned(as: SIMD4<Float>.self)
        let scaleHi = wp.loadUnaligned(fromByteOffset: 16, as: SIMD4<Float>.self)
        let q0 = c16Narrow(
            c16Requantize4(c16Pairwise(c16Pairwise(r0.0, r0.1), c16Pairwise(r0.2, r0.3)) &+ biasLo, scaleLo, slope, lo, hi, magicMinusZero),
            c16Requantize4(c16Pairwise(c16Pairwise(r0.4, r0.5), c16Pairwise(r0.6, r0.7)) &+ biasHi, scaleHi, slope, lo, hi, magicMinusZero))
        let q1 = c16Narrow(
            c16Requantize4(c16Pairwise(c16Pairwise(r1.0, r1.1), c16Pairwise(r1.2, r1.3)) &+ biasLo, scaleLo, slope, lo, hi, magicMinusZero),
            c16Requantize4(c16Pairwise(c16Pairwise(r1.4, r1.5), c16Pairwise(r1.6, r1.7)) &+ biasHi, scaleHi, slope, lo, hi, magicMinusZero))
        let out = c + nb
        let n = channels &- nb
        qs8StoreLanes8(q0, out, n)
        if rows > 1 { qs8StoreLanes8(q1, out + cStride, n) }
        block += blockBytes
        nb &+= 8
    } while nb < channels
}

/// The identity half table (entry h = 8 * h) for `chunks` chunks: dense rows (im2col tiles).
public func qs8DenseHalfOffsets(chunks: Int, out: UnsafeMutablePointer<Int>) {
    var h = 0
    while h < 2 &* chunks { out[h] = 8 &* h; h &+= 1 }
}

/// Number of 16-byte chunks (the padded reduction / 16) of a convolution whose windows can be
/// read in place, i.e. whose input channel count is a multiple of 8; 0 when it is not.
@inline(__always)
public func qs8ConvWindowChunks(_ g: ConvGeometry) -> Int {
    g.inputChannels % 8 == 0 ? g.paddedReductionSize / 16 : 0
}

/// The half table of a convolution window (2 * `qs8ConvWindowChunks(g)` entries): half h holds
/// channels 8j ..< 8j + 8 of tap t = (ky, kx) (h = t * C / 8 + j), at (ky * inputWidth + kx) * C
/// + 8j bytes from the window origin (the input pixel under tap (0, 0), see
/// `qs8ConvWindowOrigin`). This is the packed weights' k order (ky, kx, c), so a window reads
/// exactly the bytes an im2col row holds; the half that pads k to a multiple of 16 (when C * taps
/// is an odd multiple of 8) reads the origin, against zero weights.
public func qs8ConvWindowHalfOffsets(_ g: ConvGeometry, out: UnsafeMutablePointer<Int>) {
    let perTap = g.inputChannels / 8
    let halves = 2 &* (g.paddedReductionSize / 16)
    var h = 0
    var ky = 0
    while ky < g.kernelHeight {
        var kx = 0
        while kx < g.kernelWidth {
            var j = 0
            while j < perTap {
                out[h] = (ky &* g.inputWidth &+ kx) &* g.inputChannels &+ 8 &* j
                h &+= 1
                j &+= 1
            }
            kx &+= 1
        }
        ky &+= 1
    }
    while h < halves { out[h] = 0; h &+= 1 }
}
