// Building blocks of the SDOT ("neondot") indirect-GEMM micro-kernels of this module, after
// XNNPACK's qs8 4x8c4 / 4x16c4 neondot kernels: weights packed c4 (4 consecutive input channels
// of one output channel in a 32-bit lane), activations broadcast 4 bytes at a time, one SDOT
// per 4 rows x 4 channels x 4 k.
//
// How SDOT is named: through Clang's arm_neon.h (`vdotq_s32`, imported from the compiler's
// built-in `_Builtin_intrinsics.arm.neon` Clang module; the function body is Clang's, compiled
// into this module, and inlines to one SDOT). Swift 6.0.3 (Debian's, the arm64 cross-build and
// Raspberry Pi OS trixie) has no target-specific LLVM intrinsics in `Builtin` and its LLVM 17
// vectorises a scalar dot loop into SMLAL, never SDOT; the Clang import works in 6.0.3 and 6.3
// alike (checked with llvm-objdump of the cross-built object: `sdot v.4s, v.16b, v.4b[i]`, the
// lane form, from a broadcast lane). The module is built with -target-cpu cortex-a76 on aarch64
// (Package.swift) and the runtime calls it only when AT_HWCAP reports ASIMDDP.
//
// On other architectures (x86 development machines) `qs8SDot` is a plain-Swift equivalent, so
// that the kernels, their packing and the engine's use of them are tested natively too.
#if arch(arm64)
import _Builtin_intrinsics.arm.neon
#endif

/// Input channels rounded up to SDOT's 4-byte groups: the kernels' side of the c4x8 weight
/// layout that GRDKernels' `qs8PackC4x8` writes (called with activationOffset 0: SDOT multiplies
/// the signed activation bytes as they are, so the bias needs no correction).
@inline(__always)
public func qs8NeonDotChannelGroups(_ cin: Int) -> Int { (cin &+ 3) & ~3 }

/// Whether the kernels of this build execute SDOT (aarch64 builds) or the portable stand-in.
public var qs8NeonDotUsesSDOT: Bool {
    #if arch(arm64)
    return true
    #else
    return false
    #endif
}

/// acc[i] + sum over b < 4 of w[4i + b] * x[4i + b] (SDOT .4s, exact in Int32).
@inline(__always)
func qs8SDot(_ acc: SIMD4<Int32>, _ w: SIMD16<Int8>, _ x: SIMD16<Int8>) -> SIMD4<Int32> {
    #if arch(arm64)
    return vdotq_s32(acc, w, x)
    #else
    var r = acc
    var i = 0
    while i < 4 {
        var s: Int32 = 0
        var b = 0
        while b < 4 {
            s &+= Int32(w[4 &* i &+ b]) &* Int32(x[4 &* i &+ b])
            b &+= 1
        }
        r[i] &+= s
        i &+= 1
    }
    return r
    #endif
}

/// The 4 activation bytes of lane `i` (a 4-byte group) of `x` in every 32-bit lane; SDOT takes
/// it as its lane operand (`sdot v.4s, v.16b, v.4b[i]`).
@inline(__always)
func qs8Lane(_ x: SIMD2<Int32>, _ i: Int) -> SIMD16<Int8> {
    unsafeBitCast(SIMD4<Int32>(repeating: x[i]), to: SIMD16<Int8>.self)
}

/// The 4 input pixels of tap `t` as base pointers + a byte offset: from the indirection buffer
/// (4 pointers per tap, offset 0), or, when `windowed`, the row bases origin + r * pixelStride
/// (`bases`, made once per call) + tapOffsets[t] (4 pixels of one output row whose windows lie
/// inside the input). Loads then use register-offset addressing: no pointer arithmetic per tap.
@inline(__always)
func qs8NeonDotRows(
    _ windowed: Bool, _ t: Int, _ indirection: UnsafePointer<UnsafePointer<Int8>>?,
    _ bases: (UnsafeRawPointer, UnsafeRawPointer, UnsafeRawPointer, UnsafeRawPointer), _ tapOffsets: UnsafePointer<Int>?
) -> (UnsafeRawPointer, UnsafeRawPointer, UnsafeRawPointer, UnsafeRawPointer, Int) {
    if windowed {
        return (bases.0, bases.1, bases.2, bases.3, tapOffsets.unsafelyUnwrapped[t])
    }
    let q = indirection.unsafelyUnwrapped + 4 &* t
    return (UnsafeRawPointer(q[0]), UnsafeRawPointer(q[1]), UnsafeRawPointer(q[2]), UnsafeRawPointer(q[3]), 0)
}

/// The row bases of the window form (see qs8NeonDotRows); placeholders for the indirection form.
@inline(__always)
func qs8NeonDotBases(_ windowed: Bool, _ origin: UnsafePointer<Int8>?, _ pixelStride: Int)
    -> (UnsafeRawPointer, UnsafeRawPointer, UnsafeRawPointer, UnsafeRawPointer) {
    if windowed {
        let p0 = UnsafeRawPointer(origin.unsafelyUnwrapped)
        return (p0, p0 + pixelStride, p0 + 2 &* pixelStride, p0 + 3 &* pixelStride)
    }
    let none = UnsafeRawPointer(bitPattern: 64).unsafelyUnwrapped
    return (none, none, none, none)
}

/// 8 activation bytes (two 4-byte groups) of each row at p + j.
@inline(__always)
func qs8NeonDotLoad8(_ p0: UnsafeRawPointer, _ p1: UnsafeRawPointer, _ p2: UnsafeRawPointer, _ p3: UnsafeRawPointer, _ j: Int)
    -> (SIMD2<Int32>, SIMD2<Int32>, SIMD2<Int32>, SIMD2<Int32>) {
    (p0.loadUnaligned(fromByteOffset: j, as: SIMD2<Int32>.self), p1.loadUnaligned(fromByteOffset: j, as: SIMD2<Int32>.self),
     p2.loadUnaligned(fromByteOffset: j, as: SIMD2<Int32>.self), p3.loadUnaligned(fromByteOffset: j, as: SIMD2<Int32>.self))
}

/// 4 activation bytes (one group) of each row at p + j, in lane 0 (a 32-bit LDR, register offset).
@inline(__always)
func qs8NeonDotLoad4(_ p0: UnsafeRawPointer, _ p1: UnsafeRawPointer, _ p2: UnsafeRawPointer, _ p3: UnsafeRawPointer, _ j: Int)
    -> (SIMD2<Int32>, SIMD2<Int32>, SIMD2<Int32>, SIMD2<Int32>) {
    (SIMD2(p0.loadUnaligned(fromByteOffset: j, as: Int32.self), 0), SIMD2(p1.loadUnaligned(fromByteOffset: j, as: Int32.self), 0),
     SIMD2(p2.loadUnaligned(fromByteOffset: j, as: Int32.self), 0), SIMD2(p3.loadUnaligned(fromByteOffset: j, as: Int32.self), 0))
}

/// fp32 requantisation of 8 accumulators (bias included) with a fused LeakyReLU/ReLU slope,
/// bit-identical per lane to GRDKernels' RequantizationFP32.requantize (a private copy, so that
/// the epilogue inlines without cross-module calls). With a slope <= 1 (LeakyReLU 0.2, ReLU 0,
/// none 1): then `f < 0 ? f * slope : f` is max(f, f * slope); for a slope > 1 it is
/// min(f, f * slope) (`minForm`).
/// On aarch64 with NEON: FCVTNS rounds half to even exactly like the reference; the saturating
/// narrowings (SQXTN to int16, SQADD of the zero point, SQXTN to int8) give the reference's clamp
/// to [-128, 127] (|zero point| <= 128, so an int16-saturated value stays out of range).
@inline(__always)
func qs8NeonDotRequantize(_ lo: SIMD4<Int32>, _ hi: SIMD4<Int32>, _ scaleLo: SIMD4<Float>, _ scaleHi: SIMD4<Float>,
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

/// Stores the first `count` (< 8) lanes of `v` at dst: the rare channel remainder, kept out of
/// the kernels' straight-line epilogue.
@inline(never)
func qs8NeonDotStorePartial(_ v: SIMD8<Int8>, _ dst: UnsafeMutablePointer<Int8>, _ count: Int) {
    var i = 0
    while i < count {
        dst[i] = v[i]
        i &+= 1
    }
}

/// Stores min(count, 8) lanes of `v` at dst (nothing when count <= 0).
@inline(__always)
func qs8NeonDotStore(_ v: SIMD8<Int8>, _ dst: UnsafeMutablePointer<Int8>, _ count: Int) {
    if count >= 8 {
        UnsafeMutableRawPointer(dst).storeBytes(of: v, as: SIMD8<Int8>.self)
    } else if count > 0 {
        qs8NeonDotStorePartial(v, dst, count)
    }
}

/// Accumulators of 4 rows x 8 output channels (one packed block), two SIMD4 per row.
struct QS8NeonDotAcc4x8 {
    var r00: SIMD4<Int32>, r01: SIMD4<Int32>
    var r10: SIMD4<Int32>, r11: SIMD4<Int32>
    var r20: SIMD4<Int32>, r21: SIMD4<Int32>
    var r30: SIMD4<Int32>, r31: SIMD4<Int32>

    /// Every row starts at the block's bias.
    @inline(__always)
    init(block: UnsafeRawPointer) {
        let b0 = block.loadUnaligned(as: SIMD4<Int32>.self)
        let b1 = block.loadUnaligned(fromByteOffset: 16, as: SIMD4<Int32>.self)
        r00 = b0; r01 = b1; r10 = b0; r11 = b1; r20 = b0; r21 = b1; r30 = b0; r31 = b1
    }

    /// One 4-deep k group: w0/w1 hold channels 0-3 / 4-7 (c4), x0...x3 the rows' 4 bytes broadcast.
    @inline(__always)
    mutating func dot(_ w0: SIMD16<Int8>, _ w1: SIMD16<Int8>,
                      _ x0: SIMD16<Int8>, _ x1: SIMD16<Int8>, _ x2: SIMD16<Int8>, _ x3: SIMD16<Int8>) {
        r00 = qs8SDot(r00, w0, x0); r01 = qs8SDot(r01, w1, x0)
        r10 = qs8SDot(r10, w0, x1); r11 = qs8SDot(r11, w1, x1)
        r20 = qs8SDot(r20, w0, x2); r21 = qs8SDot(r21, w1, x2)
        r30 = qs8SDot(r30, w0, x3); r31 = qs8SDot(r31, w1, x3)
    }

    /// One 4-deep k group at `w` (32 bytes: channels 0-3, 4-7), lane `i` of each row's activations.
    @inline(__always)
    mutating func group(_ w: UnsafeRawPointer, _ x0: SIMD2<Int32>, _ x1: SIMD2<Int32>, _ x2: SIMD2<Int32>, _ x3: SIMD2<Int32>, lane i: Int) {
        dot(w.loadUnaligned(as: SIMD16<Int8>.self), w.loadUnaligned(fromByteOffset: 16, as: SIMD16<Int8>.self),
            qs8Lane(x0, i), qs8Lane(x1, i), qs8Lane(x2, i), qs8Lane(x3, i))
    }

    /// Requantises with the block's scales (at `scales`) and stores `rows` rows of
    /// min(8, channels) channels.
    @inline(__always)
    func store(scales: UnsafeRawPointer, rows: Int, zeroPoint: Int32, slope: Float,
               c: UnsafeMutablePointer<Int8>, cStride: Int, channels: Int) {
        if slope > 1 {
            storeRows(scales, rows, zeroPoint, slope, c, cStride, channels, minForm: true)
        } else {
            storeRows(scales, rows, zeroPoint, slope, c, cStride, channels, minForm: false)
        }
    }

    @inline(__always)
    func storeRows(_ scales: UnsafeRawPointer, _ rows: Int, _ zeroPoint: Int32, _ slope: Float,
                   _ c: UnsafeMutablePointer<Int8>, _ cStride: Int, _ channels: Int, minForm: Bool) {
        let s0 = scales.loadUnaligned(as: SIMD4<Float>.self)
        let s1 = scales.loadUnaligned(fromByteOffset: 16, as: SIMD4<Float>.self)
        let zp = SIMD8<Int16>(repeating: Int16(truncatingIfNeeded: zeroPoint))
        let m = SIMD4<Float>(repeating: slope)
        qs8NeonDotStore(qs8NeonDotRequantize(r00, r01, s0, s1, zp, m, minForm: minForm), c, channels)
        if rows > 1 { qs8NeonDotStore(qs8NeonDotRequantize(r10, r11, s0, s1, zp, m, minForm: minForm), c + cStride, channels) }
        if rows > 2 { qs8NeonDotStore(qs8NeonDotRequantize(r20, r21, s0, s1, zp, m, minForm: minForm), c + 2 &* cStride, channels) }
        if rows > 3 { qs8NeonDotStore(qs8NeonDotRequantize(r30, r31, s0, s1, zp, m, minForm: minForm), c + 3 &* cStride, channels) }
    }
}
