// QS8 convolution GEMM micro-kernel for the Cortex-A72: 2 output pixels x all output channels (in
// blocks of 8), k in 16-byte chunks whose two 8-byte halves are read through a table of offsets,
// fp32 requantisation.
//
// Per chunk, channel j and pixel r: SMULL + SMLAL of the two 8-byte halves (a_lo * w_lo + a_hi *
// w_hi, 8 Int16 lanes; weights are limited to +-127, so 2 * 128 * 127 < 2^15), then SADALP (pairwise
// add-accumulate long) into the channel's Int32x4 accumulator: XNNPACK's qs8 2x8c8/c16 "mlal"
// loop, 3 instructions per 16 MACs (the plain-SIMD form needed SADDW + SADDW2: 4). The first chunk
// starts the accumulators with SADDLP (no zeroing). The 8 accumulators of a row are reduced by a
// pairwise ADDP tree, and requantisation is the FCVTNS + saturating-narrow form of the SDOT kernels.
//
// How SADALP is named: Debian's Swift 6.0.3 (LLVM 17; the arm64 cross-build and Raspberry Pi OS
// trixie) has no pattern for it from SIMD code and no target intrinsics in `Builtin`, but it
// imports Clang's arm_neon.h (`_Builtin_intrinsics.arm.neon`), whose `vpadalq_s16`, `vmull_s8`,
// `vmlal_s8` inline to single instructions (checked with llvm-objdump of the cross-built object).
// On other architectures (x86 development machines) the same kernel runs on plain-Swift stand-ins
// with the same arithmetic, so that its tables, accumulation order and epilogue are tested there.
//
//   - half h (8 k values) of pixel r is read at a + r * aStride + halfOffsets[h]. With the identity
//     table (8 * h) that is a dense im2col tile; with the offsets of a convolution window
//     ((ky * W + kx) * C + 8 * j) the kernel reads an interior pixel's receptive field straight
//     from the NHWC input, with no copy at all (XNNPACK's indirect GEMM, with one offset per 8
//     channels of a tap instead of one pointer per tap), for any C that is a multiple of 8. The
//     tables are planned when the model loads. The kernel loads 8-byte halves anyway, so reading
//     them through two offsets costs no extra instruction.
//   - one call covers every output channel block, so the pixel rows are set up once per call.
//
// Packed weights: `qs8PackC16` blocks, `blockBytes` apart:
//   [8 x Int32 bias][chunks x 8 channels x 16 Int8][8 x Float scale]
#if arch(arm64)
import _Builtin_intrinsics.arm.neon
#endif

/// Whether this build's c16 kernel executes SMULL/SMLAL/SADALP through arm_neon.h (aarch64) or
/// the portable stand-ins.
public var qs8C16UsesNeonIntrinsics: Bool {
    #if arch(arm64)
    return true
    #else
    return false
    #endif
}

@inline(__always) private func c16Load8(_ p: UnsafeRawPointer, _ offset: Int) -> SIMD8<Int8> {
    p.loadUnaligned(fromByteOffset: offset, as: SIMD8<Int8>.self)
}

/// a_lo * w_lo + a_hi * w_hi lane-wise in Int16 (SMULL + SMLAL).
@inline(__always)
func qs8C16MulPair(_ aLo: SIMD8<Int8>, _ aHi: SIMD8<Int8>, _ wLo: SIMD8<Int8>, _ wHi: SIMD8<Int8>) -> SIMD8<Int16> {
    #if arch(arm64)
    return vmlal_s8(vmull_s8(aLo, wLo), aHi, wHi)
    #else
    return SIMD8<Int16>(truncatingIfNeeded: aLo) &* SIMD8<Int16>(truncatingIfNeeded: wLo)
        &+ SIMD8<Int16>(truncatingIfNeeded: aHi) &* SIMD8<Int16>(truncatingIfNeeded: wHi)
    #endif
}

/// a[0..<8] * w[0..<8] + a[8..<16] * w[8..<16] lane-wise in Int16 (SMULL + SMLAL2): the same
/// products as `qs8C16MulPair` when both halves are contiguous.
@inline(__always)
func qs8C16MulPair16(_ a: SIMD16<Int8>, _ w: SIMD16<Int8>) -> SIMD8<Int16> {
    #if arch(arm64)
    return vmlal_high_s8(vmull_s8(vget_low_s8(a), vget_low_s8(w)), a, w)
    #else
    return qs8C16MulPair(a.lowHalf, a.highHalf, w.lowHalf, w.highHalf)
    #endif
}

/// [p0 + p1, p2 + p3, p4 + p5, p6 + p7] widened to Int32 (SADDLP).
@inline(__always)
func qs8C16PairwiseLong(_ p: SIMD8<Int16>) -> SIMD4<Int32> {
    #if arch(arm64)
    return vpaddlq_s16(p)
    #else
    return SIMD4<Int32>(truncatingIfNeeded: p.evenHalf) &+ SIMD4<Int32>(truncatingIfNeeded: p.oddHalf)
    #endif
}

/// acc + [p0 + p1, p2 + p3, p4 + p5, p6 + p7] widened to Int32 (SADALP).
@inline(__always)
func qs8C16PairwiseAccumulate(_ acc: SIMD4<Int32>, _ p: SIMD8<Int16>) -> SIMD4<Int32> {
    #if arch(arm64)
    return vpadalq_s16(acc, p)
    #else
    return acc &+ (SIMD4<Int32>(truncatingIfNeeded: p.evenHalf) &+ SIMD4<Int32>(truncatingIfNeeded: p.oddHalf))
    #endif
}

/// [x0 + x1, x2 + x3, y0 + y1, y2 + y3] (ADDP).
@inline(__always)
func qs8C16Pairwise(_ x: SIMD4<Int32>, _ y: SIMD4<Int32>) -> SIMD4<Int32> {
    #if arch(arm64)
    return vpaddq_s32(x, y)
    #else
    let v = SIMD8<Int32>(lowHalf: x, highHalf: y)
    return v.evenHalf &+ v.oddHalf
    #endif
}

/// fp32 requantisation of 8 accumulators (bias included) with a fused LeakyReLU/ReLU slope,
/// bit-identical per lane to `RequantizationFP32.requantize(_:scale:negativeSlope:)`.
/// `f < 0 ? f * slope : f` is max(f, f * slope) for a slope <= 1 and min(f, f * slope) for a
/// slope > 1 (`minForm`). On aarch64: FCVTNS rounds half to even like the reference; the
/// saturating narrowings (SQXTN to Int16, SQADD of the zero point, SQXTN to Int8) give its clamp
/// to [-128, 127] (|zero point| <= 128, so an Int16-saturated value stays out of range).
@inline(__always)
func qs8C16Requantize(_ lo: SIMD4<Int32>, _ hi: SIMD4<Int32>, _ scaleLo: SIMD4<Float>, _ scaleHi: SIMD4<Float>,
                      _ zeroPoint: SIMD8<Int16>, _ slope: SIMD4<Float>, minForm: Bool) -> SIMD8<Int8> {
    #if arch(arm64)
    let fl = vmulq_f32(vcvtq_f32_s32(lo), scaleLo), fh = vmulq_f32(vcvtq_f32_s32(hi), scaleHi)
    let al = minForm ? vminq_f32(fl, vmulq_f32(fl, slope)) : vmaxq_f32(fl, vmulq_f32(fl, slope))
    let ah = minForm ? vminq_f32(fh, vmulq_f32(fh, slope)) : vmaxq_f32(fh, vmulq_f32(fh, slope))
    let ql = vcvtnq_s32_f32(al), qh = vcvtnq_s32_f32(ah)
    return vqmovn_s16(vqaddq_s16(vqmovn_high_s32(vqmovn_s32(ql), qh), zeroPoint))
    #else
    let zp = Int32(zeroPoint[0])
    var f = SIMD8<Float>(SIMD8<Int32>(lowHalf: lo, highHalf: hi)) * SIMD8<Float>(lowHalf: scaleLo, highHalf: scaleHi)
    let scaledNegative = f * SIMD8<Float>(lowHalf: slope, highHalf: slope)
    f.replace(with: scaledNegative, where: f .< SIMD8<Float>(repeating: 0))
    let minimum = SIMD8<Float>(repeating: Float(-128 &- zp))
    let maximum = SIMD8<Float>(repeating: Float(127 &- zp))
    f.replace(with: minimum, where: f .< minimum)
    f.replace(with: maximum, where: f .> maximum)
    let t = f + SIMD8<Float>(repeating: 12582912.0)
    let q = unsafeBitCast(t, to: SIMD8<Int32>.self) &- SIMD8<Int32>(repeating: 0x4B40_0000 &- zp)
    return SIMD8<Int8>(truncatingIfNeeded: q)
    #endif
}

/// Accumulators of 2 pixels x 8 output channels: one Int32x4 of pairwise partial sums per pixel
/// and channel (the channel's dot product is the sum of its 4 lanes).
struct QS8C16Acc2x8 {
    var r00, r01, r02, r03, r04, r05, r06, r07: SIMD4<Int32>
    var r10, r11, r12, r13, r14, r15, r16, r17: SIMD4<Int32>

    @inline(__always) init() {
        let z = SIMD4<Int32>()
        r00 = z; r01 = z; r02 = z; r03 = z; r04 = z; r05 = z; r06 = z; r07 = z
        r10 = z; r11 = z; r12 = z; r13 = z; r14 = z; r15 = z; r16 = z; r17 = z
    }

    /// The first chunk (SADDLP: no zeroed accumulators): halves at a0/a1 + lo/hi, weights at wp.
    @inline(__always)
    init(first a0: UnsafeRawPointer, _ a1: UnsafeRawPointer, _ lo: Int, _ hi: Int, _ wp: UnsafeRawPointer) {
        let x0 = c16Load8(a0, lo), y0 = c16Load8(a0, hi), x1 = c16Load8(a1, lo), y1 = c16Load8(a1, hi)
        @inline(__always) func p(_ j: Int, _ x: SIMD8<Int8>, _ y: SIMD8<Int8>) -> SIMD4<Int32> {
            qs8C16PairwiseLong(qs8C16MulPair(x, y, c16Load8(wp, 16 &* j), c16Load8(wp, 16 &* j &+ 8)))
        }
        r00 = p(0, x0, y0); r10 = p(0, x1, y1)
        r01 = p(1, x0, y0); r11 = p(1, x1, y1)
        r02 = p(2, x0, y0); r12 = p(2, x1, y1)
        r03 = p(3, x0, y0); r13 = p(3, x1, y1)
        r04 = p(4, x0, y0); r14 = p(4, x1, y1)
        r05 = p(5, x0, y0); r15 = p(5, x1, y1)
        r06 = p(6, x0, y0); r16 = p(6, x1, y1)
        r07 = p(7, x0, y0); r17 = p(7, x1, y1)
    }

    /// One more chunk (SMULL + SMLAL + SADALP per pixel and channel).
    @inline(__always)
    mutating func chunk(_ a0: UnsafeRawPointer, _ a1: UnsafeRawPointer, _ lo: Int, _ hi: Int, _ wp: UnsafeRawPointer) {
        let x0 = c16Load8(a0, lo), y0 = c16Load8(a0, hi), x1 = c16Load8(a1, lo), y1 = c16Load8(a1, hi)
        @inline(__always) func p(_ j: Int, _ x: SIMD8<Int8>, _ y: SIMD8<Int8>) -> SIMD8<Int16> {
            qs8C16MulPair(x, y, c16Load8(wp, 16 &* j), c16Load8(wp, 16 &* j &+ 8))
        }
        r00 = qs8C16PairwiseAccumulate(r00, p(0, x0, y0)); r10 = qs8C16PairwiseAccumulate(r10, p(0, x1, y1))
        r01 = qs8C16PairwiseAccumulate(r01, p(1, x0, y0)); r11 = qs8C16PairwiseAccumulate(r11, p(1, x1, y1))
        r02 = qs8C16PairwiseAccumulate(r02, p(2, x0, y0)); r12 = qs8C16PairwiseAccumulate(r12, p(2, x1, y1))
        r03 = qs8C16PairwiseAccumulate(r03, p(3, x0, y0)); r13 = qs8C16PairwiseAccumulate(r13, p(3, x1, y1))
        r04 = qs8C16PairwiseAccumulate(r04, p(4, x0, y0)); r14 = qs8C16PairwiseAccumulate(r14, p(4, x1, y1))
        r05 = qs8C16PairwiseAccumulate(r05, p(5, x0, y0)); r15 = qs8C16PairwiseAccumulate(r15, p(5, x1, y1))
        r06 = qs8C16PairwiseAccumulate(r06, p(6, x0, y0)); r16 = qs8C16PairwiseAccumulate(r16, p(6, x1, y1))
        r07 = qs8C16PairwiseAccumulate(r07, p(7, x0, y0)); r17 = qs8C16PairwiseAccumulate(r17, p(7, x1, y1))
    }

    /// The first chunk from 16 contiguous bytes per pixel (a0/a1 + off): SMULL + SMLAL2 + SADDLP.
    @inline(__always)
    init(firstPaired a0: UnsafeRawPointer, _ a1: UnsafeRawPointer, _ off: Int, _ wp: UnsafeRawPointer) {
        let x0 = a0.loadUnaligned(fromByteOffset: off, as: SIMD16<Int8>.self)
        let x1 = a1.loadUnaligned(fromByteOffset: off, as: SIMD16<Int8>.self)
        @inline(__always) func p(_ j: Int, _ x: SIMD16<Int8>) -> SIMD4<Int32> {
            qs8C16PairwiseLong(qs8C16MulPair16(x, wp.loadUnaligned(fromByteOffset: 16 &* j, as: SIMD16<Int8>.self)))
        }
        r00 = p(0, x0); r10 = p(0, x1)
        r01 = p(1, x0); r11 = p(1, x1)
        r02 = p(2, x0); r12 = p(2, x1)
        r03 = p(3, x0); r13 = p(3, x1)
        r04 = p(4, x0); r14 = p(4, x1)
        r05 = p(5, x0); r15 = p(5, x1)
        r06 = p(6, x0); r16 = p(6, x1)
        r07 = p(7, x0); r17 = p(7, x1)
    }

    /// One more chunk from 16 contiguous bytes per pixel: SMULL + SMLAL2 + SADALP.
    @inline(__always)
    mutating func chunkPaired(_ a0: UnsafeRawPointer, _ a1: UnsafeRawPointer, _ off: Int, _ wp: UnsafeRawPointer) {
        let x0 = a0.loadUnaligned(fromByteOffset: off, as: SIMD16<Int8>.self)
        let x1 = a1.loadUnaligned(fromByteOffset: off, as: SIMD16<Int8>.self)
        @inline(__always) func w(_ j: Int) -> SIMD16<Int8> { wp.loadUnaligned(fromByteOffset: 16 &* j, as: SIMD16<Int8>.self) }
        let w0 = w(0), w1 = w(1), w2 = w(2), w3 = w(3), w4 = w(4), w5 = w(5), w6 = w(6), w7 = w(7)
        r00 = qs8C16PairwiseAccumulate(r00, qs8C16MulPair16(x0, w0)); r10 = qs8C16PairwiseAccumulate(r10, qs8C16MulPair16(x1, w0))
        r01 = qs8C16PairwiseAccumulate(r01, qs8C16MulPair16(x0, w1)); r11 = qs8C16PairwiseAccumulate(r11, qs8C16MulPair16(x1, w1))
        r02 = qs8C16PairwiseAccumulate(r02, qs8C16MulPair16(x0, w2)); r12 = qs8C16PairwiseAccumulate(r12, qs8C16MulPair16(x1, w2))
        r03 = qs8C16PairwiseAccumulate(r03, qs8C16MulPair16(x0, w3)); r13 = qs8C16PairwiseAccumulate(r13, qs8C16MulPair16(x1, w3))
        r04 = qs8C16PairwiseAccumulate(r04, qs8C16MulPair16(x0, w4)); r14 = qs8C16PairwiseAccumulate(r14, qs8C16MulPair16(x1, w4))
        r05 = qs8C16PairwiseAccumulate(r05, qs8C16MulPair16(x0, w5)); r15 = qs8C16PairwiseAccumulate(r15, qs8C16MulPair16(x1, w5))
        r06 = qs8C16PairwiseAccumulate(r06, qs8C16MulPair16(x0, w6)); r16 = qs8C16PairwiseAccumulate(r16, qs8C16MulPair16(x1, w6))
        r07 = qs8C16PairwiseAccumulate(r07, qs8C16MulPair16(x0, w7)); r17 = qs8C16PairwiseAccumulate(r17, qs8C16MulPair16(x1, w7))
    }

    /// Channel sums of pixel 0 (channels 0-3, 4-7) and pixel 1, by an ADDP tree.
    @inline(__always)
    func sums() -> (SIMD4<Int32>, SIMD4<Int32>, SIMD4<Int32>, SIMD4<Int32>) {
        (qs8C16Pairwise(qs8C16Pairwise(r00, r01), qs8C16Pairwise(r02, r03)),
         qs8C16Pairwise(qs8C16Pairwise(r04, r05), qs8C16Pairwise(r06, r07)),
         qs8C16Pairwise(qs8C16Pairwise(r10, r11), qs8C16Pairwise(r12, r13)),
         qs8C16Pairwise(qs8C16Pairwise(r14, r15), qs8C16Pairwise(r16, r17)))
    }
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
    if negativeSlope > 1 {
        c16AllBlocks(rows, chunks, a, aStride, halfOffsets, packedWeights, blockBytes, outputZeroPoint, negativeSlope,
                     c, cStride, channels, minForm: true, paired: false)
    } else {
        c16AllBlocks(rows, chunks, a, aStride, halfOffsets, packedWeights, blockBytes, outputZeroPoint, negativeSlope,
                     c, cStride, channels, minForm: false, paired: false)
    }
}

/// `qs8GEMM2x8C16A72` for a half table whose two halves of every chunk are contiguous
/// (halfOffsets[2c + 1] == halfOffsets[2c] + 8, see `qs8C16HalvesArePaired`): dense im2col tiles,
/// and convolution windows with C a multiple of 16. Chunk c of pixel r is then the 16 bytes at
/// a + r * aStride + halfOffsets[2c], read with one 16-byte load (weights likewise), and the
/// high halves multiply with SMLAL2: 2 activation + 8 weight loads per chunk instead of 4 + 16.
public func qs8GEMM2x8C16PairedA72(
    rows: Int, chunks: Int,
    a: UnsafePointer<Int8>, aStride: Int, halfOffsets: UnsafePointer<Int>,
    packedWeights: UnsafeRawPointer, blockBytes: Int,
    outputZeroPoint: Int32, negativeSlope: Float,
    c: UnsafeMutablePointer<Int8>, cStride: Int, channels: Int
) {
    if negativeSlope > 1 {
        c16AllBlocks(rows, chunks, a, aStride, halfOffsets, packedWeights, blockBytes, outputZeroPoint, negativeSlope,
                     c, cStride, channels, minForm: true, paired: true)
    } else {
        c16AllBlocks(rows, chunks, a, aStride, halfOffsets, packedWeights, blockBytes, outputZeroPoint, negativeSlope,
                     c, cStride, channels, minForm: false, paired: true)
    }
}

/// A run of `pairs` pixel pairs of one output row whose windows lie inside the input, in one call
/// (the engine finds such runs once per row instead of calling per pair): pair i is
/// `qs8GEMM2x8C16A72` (`qs8GEMM2x8C16PairedA72` when `paired`) with rows = 2 at
/// origin + 2 i pixelStride, aStride = pixelStride, writing c + 2 i cStride.
public func qs8ConvWindowRun2xNC16A72(
    pairs: Int, chunks: Int, origin: UnsafePointer<Int8>, pixelStride: Int, halfOffsets: UnsafePointer<Int>, paired: Bool,
    packedWeights: UnsafeRawPointer, blockBytes: Int, outputZeroPoint: Int32, negativeSlope: Float,
    c: UnsafeMutablePointer<Int8>, cStride: Int, channels: Int
) {
    if negativeSlope > 1 {
        if paired {
            qs8GEMM2x8C16Run(pairs, chunks, origin, pixelStride, halfOffsets, packedWeights, blockBytes, outputZeroPoint, negativeSlope,
                   c, cStride, channels, minForm: true, paired: true)
        } else {
            qs8GEMM2x8C16Run(pairs, chunks, origin, pixelStride, halfOffsets, packedWeights, blockBytes, outputZeroPoint, negativeSlope,
                   c, cStride, channels, minForm: true, paired: false)
        }
    } else {
        if paired {
            qs8GEMM2x8C16Run(pairs, chunks, origin, pixelStride, halfOffsets, packedWeights, blockBytes, outputZeroPoint, negativeSlope,
                   c, cStride, channels, minForm: false, paired: true)
        } else {
            qs8GEMM2x8C16Run(pairs, chunks, origin, pixelStride, halfOffsets, packedWeights, blockBytes, outputZeroPoint, negativeSlope,
                   c, cStride, channels, minForm: false, paired: false)
        }
    }
}

@inline(__always)
private func qs8GEMM2x8C16Run(
    _ pairs: Int, _ chunks: Int, _ origin: UnsafePointer<Int8>, _ pixelStride: Int, _ halfOffsets: UnsafePointer<Int>,
    _ packedWeights: UnsafeRawPointer, _ blockBytes: Int, _ outputZeroPoint: Int32, _ negativeSlope: Float,
    _ c: UnsafeMutablePointer<Int8>, _ cStride: Int, _ channels: Int, minForm: Bool, paired: Bool
) {
    var o = origin, cc = c
    let originStep = 2 &* pixelStride, cStep = 2 &* cStride
    var i = 0
    while i < pairs {
        c16AllBlocks(2, chunks, o, pixelStride, halfOffsets, packedWeights, blockBytes, outputZeroPoint, negativeSlope,
                     cc, cStride, channels, minForm: minForm, paired: paired)
        o += originStep
        cc += cStep
        i &+= 1
    }
}

/// Whether every chunk's two halves are contiguous in the table (halfOffsets[2c + 1] ==
/// halfOffsets[2c] + 8 for c < chunks), so that `qs8GEMM2x8C16PairedA72` may read it.
public func qs8C16HalvesArePaired(_ halfOffsets: UnsafePointer<Int>, chunks: Int) -> Bool {
    var i = 0
    while i < chunks {
        if halfOffsets[2 &* i &+ 1] != halfOffsets[2 &* i] &+ 8 { return false }
        i &+= 1
    }
    return true
}

@inline(__always)
private func c16AllBlocks(
    _ rows: Int, _ chunks: Int, _ a: UnsafePointer<Int8>, _ aStride: Int, _ halfOffsets: UnsafePointer<Int>,
    _ packedWeights: UnsafeRawPointer, _ blockBytes: Int, _ outputZeroPoint: Int32, _ negativeSlope: Float,
    _ c: UnsafeMutablePointer<Int8>, _ cStride: Int, _ channels: Int, minForm: Bool, paired: Bool
) {
    let a0 = UnsafeRawPointer(a)
    let a1 = rows > 1 ? a0 + aStride : a0
    let slope = SIMD4<Float>(repeating: negativeSlope)
    let zp = SIMD8<Int16>(repeating: Int16(truncatingIfNeeded: outputZeroPoint))
    let kBytes = chunks &* 128
    var nb = 0
    var block = packedWeights
    repeat {
        var acc: QS8C16Acc2x8
        if chunks > 0 && paired {
            acc = QS8C16Acc2x8(firstPaired: a0, a1, halfOffsets[0], block + 32)
            var wp = block + 160
            var tab = halfOffsets + 2
            var i = 1
            while i &+ 1 < chunks {
                acc.chunkPaired(a0, a1, tab[0], wp)
                acc.chunkPaired(a0, a1, tab[2], wp + 128)
                wp += 256
                tab += 4
                i &+= 2
            }
            if i < chunks { acc.chunkPaired(a0, a1, tab[0], wp) }
        } else if chunks > 0 {
            acc = QS8C16Acc2x8(first: a0, a1, halfOffsets[0], halfOffsets[1], block + 32)
            var wp = block + 160
            var tab = halfOffsets + 2
            var i = 1
            while i < chunks {
                acc.chunk(a0, a1, tab[0], tab[1], wp)
                wp += 128
                tab += 2
                i &+= 1
            }
        } else {
            acc = QS8C16Acc2x8()
        }
        let (s0, s1, t0, t1) = acc.sums()
        let biasLo = block.loadUnaligned(as: SIMD4<Int32>.self)
        let biasHi = block.loadUnaligned(fromByteOffset: 16, as: SIMD4<Int32>.self)
        let scales = block + (32 &+ kBytes)
        let scaleLo = scales.loadUnaligned(as: SIMD4<Float>.self)
        let scaleHi = scales.loadUnaligned(fromByteOffset: 16, as: SIMD4<Float>.self)
        let q0 = qs8C16Requantize(s0 &+ biasLo, s1 &+ biasHi, scaleLo, scaleHi, zp, slope, minForm: minForm)
        let out = c + nb
        let n = channels &- nb
        qs8StoreLanes8(q0, out, n)
        if rows > 1 {
            let q1 = qs8C16Requantize(t0 &+ biasLo, t1 &+ biasHi, scaleLo, scaleHi, zp, slope, minForm: minForm)
            qs8StoreLanes8(q1, out + cStride, n)
        }
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
