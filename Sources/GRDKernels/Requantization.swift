// Requantisation of int32 accumulators to int8, shared by every int8 kernel.
//
// Semantics (TFLite/XNNPACK "fp32" requantisation, exactly reproducible in numpy float32):
//   f = Float(acc) * scale;  if f < 0 { f = f * negativeSlope }     (slope 1: none, 0: ReLU, 0.2: LeakyReLU)
//   y = clamp(round_half_even(f) + zeroPoint, -128, 127)
// Rounding uses the fp32 magic-number trick (add 1.5 * 2^23, subtract) instead of
// Float.rounded(), which in Embedded Swift pulls a runtime call into the inner loop.
// Swift does not contract a*b+c into FMA, so numpy float32 arithmetic reproduces every bit.

/// Per-output-channel fp32 requantisation parameters.
public struct RequantizationFP32 {
    public var zeroPoint: Int32
    public var outputMin: Int32
    public var outputMax: Int32

    @inlinable
    public init(zeroPoint: Int32, outputMin: Int32 = -128, outputMax: Int32 = 127) {
        self.zeroPoint = zeroPoint
        self.outputMin = outputMin
        self.outputMax = outputMax
    }

    /// 1.5 * 2^23: adding it to |x| < 2^22 leaves round-half-to-even(x) in the low mantissa bits.
    public static let magic: Float = 12582912.0

    /// Rounds `x` half-to-even for |x| < 2^22 without calling into libm or the runtime.
    @inlinable @inline(__always)
    public static func roundHalfEven(_ x: Float) -> Int32 {
        let clampedX = x > 4194303.0 ? Float(4194303.0) : (x < -4194303.0 ? Float(-4194303.0) : x)
        let shifted = clampedX + magic
        return Int32(bitPattern: shifted.bitPattern) &- Int32(bitPattern: magic.bitPattern)
    }

    @inlinable @inline(__always)
    public func requantize(_ accumulator: Int32, scale: Float) -> Int8 {
        requantize(accumulator, scale: scale, negativeSlope: 1)
    }

    /// Requantises with an activation fused in: negative products are multiplied by `negativeSlope`.
    @inlinable @inline(__always)
    public func requantize(_ accumulator: Int32, scale: Float, negativeSlope: Float) -> Int8 {
        var f = Float(accumulator) * scale
        if f < 0 { f = f * negativeSlope }
        return clampToOutput(f)
    }

    /// round_half_even(f) + zeroPoint, clamped to [outputMin, outputMax].
    @inlinable @inline(__always)
    public func clampToOutput(_ f: Float) -> Int8 {
        var v = RequantizationFP32.roundHalfEven(f) &+ zeroPoint
        v = v < outputMin ? outputMin : v
        v = v > outputMax ? outputMax : v
        return Int8(truncatingIfNeeded: v)
    }
}

/// Eight lanes of fp32 requantisation with a fused activation; bit-identical to
/// `RequantizationFP32.requantize(_:scale:negativeSlope:)` per lane. Clamping in the float
/// domain before rounding gives the same result as rounding first (the bounds are integers).
@inline(__always)
public func qs8RequantizeFP32x8(
    _ acc: SIMD8<Int32>, scale: SIMD8<Float>, zeroPoint: Int32, negativeSlope: Float
) -> SIMD8<Int8> {
    var f = SIMD8<Float>(acc) * scale
    let scaledNegative = f * SIMD8<Float>(repeating: negativeSlope)
    f.replace(with: scaledNegative, where: f .< SIMD8<Float>(repeating: 0))
    let lo = SIMD8<Float>(repeating: Float(-128 &- zeroPoint))
    let hi = SIMD8<Float>(repeating: Float(127 &- zeroPoint))
    f.replace(with: lo, where: f .< lo)
    f.replace(with: hi, where: f .> hi)
    let t = f + SIMD8<Float>(repeating: 12582912.0)
    let q = unsafeBitCast(t, to: SIMD8<Int32>.self) &- SIMD8<Int32>(repeating: 0x4B40_0000 &- zeroPoint)
    return SIMD8<Int8>(truncatingIfNeeded: q)
}

/// Four-lane variant of `qs8RequantizeFP32x8`.
@inline(__always)
public func qs8RequantizeFP32x4(
    _ acc: SIMD4<Int32>, scale: SIMD4<Float>, zeroPoint: Int32, negativeSlope: Float
) -> SIMD4<Int8> {
    var f = SIMD4<Float>(acc) * scale
    let scaledNegative = f * SIMD4<Float>(repeating: negativeSlope)
    f.replace(with: scaledNegative, where: f .< SIMD4<Float>(repeating: 0))
    let lo = SIMD4<Float>(repeating: Float(-128 &- zeroPoint))
    let hi = SIMD4<Float>(repeating: Float(127 &- zeroPoint))
    f.replace(with: lo, where: f .< lo)
    f.replace(with: hi, where: f .> hi)
    let t = f + SIMD4<Float>(repeating: 12582912.0)
    let q = unsafeBitCast(t, to: SIMD4<Int32>.self) &- SIMD4<Int32>(repeating: 0x4B40_0000 &- zeroPoint)
    return SIMD4<Int8>(truncatingIfNeeded: q)
}

