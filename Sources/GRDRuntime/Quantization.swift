import GRDKernels

/// Affine int8 quantisation of one tensor: real = scale * (q - zeroPoint).
public struct TensorQuantization: Equatable, Sendable {
    public var scale: Float
    public var zeroPoint: Int32

    public init(scale: Float, zeroPoint: Int32) {
        precondition(scale > 0 && scale.isFinite, "quantisation scale must be positive and finite")
        precondition((-128...127).contains(zeroPoint), "int8 zero point out of range")
        self.scale = scale
        self.zeroPoint = zeroPoint
    }

    /// Quantises with the same round-half-to-even rule as the kernels and the numpy reference.
    public func quantize(_ value: Float) -> Int8 {
        let q = RequantizationFP32.roundHalfEven(value / scale) &+ zeroPoint
        return Int8(clamping: q)
    }

    public func dequantize(_ value: Int8) -> Float {
        scale * Float(Int32(value) - zeroPoint)
    }
}
