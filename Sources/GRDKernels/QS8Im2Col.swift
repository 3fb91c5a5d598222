// Gathers the receptive fields of a few output pixels into a contiguous tile for the GEMM kernels.
//
// NHWC input, patch order (ky, kx, c) to match the OHWI weights. Taps outside the image hold the
// input zero point (real 0, which makes folding the zero point into the bias exact); lanes from K
// up to the padded K hold 0 (their packed weights are 0). The tile is a few hundred bytes per
// pixel and stays in L1, next to the packed weights: an indirection-free stand-in for XNNPACK's
// indirection buffer that also covers 1- and 3-channel inputs.

/// Geometry of a 2-D convolution on NHWC tensors (batch 1).
public struct ConvGeometry {
    public var inputHeight: Int, inputWidth: Int, inputChannels: Int
    public var kernelHeight: Int, kernelWidth: Int
    public var strideY: Int, strideX: Int
    public var padTop: Int, padLeft: Int
    public var outputHeight: Int, outputWidth: Int, outputChannels: Int

    public init(inputHeight: Int, inputWidth: Int, inputChannels: Int, kernelHeight: Int, kernelWidth: Int,
                strideY: Int, strideX: Int, padTop: Int, padLeft: Int,
                outputHeight: Int, outputWidth: Int, outputChannels: Int) {
        self.inputHeight = inputHeight; self.inputWidth = inputWidth; self.inputChannels = inputChannels
        self.kernelHeight = kernelHeight; self.kernelWidth = kernelWidth
        self.strideY = strideY; self.strideX = strideX; self.padTop = padTop; self.padLeft = padLeft
        self.outputHeight = outputHeight; self.outputWidth = outputWidth; self.outputChannels = outputChannels
    }

    /// K = kernel taps x input channels.
    @inline(__always) public var reductionSize: Int { kernelHeight &* kernelWidth &* inputChannels }
    /// K rounded up to the 16-byte chunks the kernels consume.
    @inline(__always) public var paddedReductionSize: Int { (reductionSize &+ 15) & ~15 }
}

/// Writes `count` patches, output pixels `firstPixel ..< firstPixel + count` (row-major), each
/// `paddedReductionSize` bytes, to `tile`.
public func qs8Im2Col(
    _ g: ConvGeometry, input: UnsafePointer<Int8>, zeroPoint: Int8,
    firstPixel: Int, count: Int, tile: UnsafeMutablePointer<Int8>
) {
    let kp = g.paddedReductionSize
    let cin = g.inputChannels
    var p = 0
    while p < count {
        let pixel = firstPixel &+ p
        let oy = pixel / g.outputWidth
        let ox = pixel &- oy &* g.outputWidth
        var dst = tile + p &* kp
        var ky = 0
        while ky < g.kernelHeight {
            let iy = oy &* g.strideY &- g.padTop &+ ky
            var kx = 0
            while kx < g.kernelWidth {
                let ix = ox &* g.strideX &- g.padLeft &+ kx
                if iy >= 0 && iy < g.inputHeight && ix >= 0 && ix < g.inputWidth {
                    UnsafeMutableRawPointer(dst).copyMemory(
                        from: input + (iy &* g.inputWidth &+ ix) &* cin, byteCount: cin)
                } else {
                    UnsafeMutableRawPointer(dst).initializeMemory(as: Int8.self, repeating: zeroPoint, count: cin)
                }
                dst += cin
                kx &+= 1
            }
            ky &+= 1
        }
        let tail = kp &- g.reductionSize
        if tail > 0 { UnsafeMutableRawPointer(dst).initializeMemory(as: Int8.self, repeating: 0, count: tail) }
        p &+= 1
    }
}
