// Requantisation of int32 accumulators to int8, shared by every int8 kernel.
//
// Semantics (TFLite/XNNPACK "fp32" requantisation, exactly reproducible in numpy):
//   y = clamp(round_half_even(Float(acc) * scale) + zeroPoint, min, max)
// Rounding uses the fp32 magic-number trick (add 1.5 * 2^23, subtract) instead of
// Float.rounded(), which in Embedded Swift pulls a runtime call into the inner loop.

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
        var v = RequantizationFP32.roundHalfEven(Float(accumulator) * scale) &+ zeroPoint
        v = v < outputMin ? outputMin : v
        v = v > outputMax ? outputMax : v
        return Int8(truncatingIfNeeded: v)
    }
}
