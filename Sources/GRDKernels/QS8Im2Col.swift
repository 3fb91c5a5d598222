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

/// Copies `count` bytes with 16/8/4/2/1-byte loads and stores, inline: the runs here are 1-192
/// bytes long, and a libc memcpy call per run cost more than the copy (Tests/arm64/instructions:
/// ~6.5 M calls per frame before). The 16-byte steps go two at a time so that LLVM's loop-idiom
/// pass does not turn the loop back into a memcpy call.
@inline(__always)
public func qs8CopyBytes(_ dst: UnsafeMutablePointer<Int8>, _ src: UnsafePointer<Int8>, _ count: Int) {
    let d = UnsafeMutableRawPointer(dst), s = UnsafeRawPointer(src)
    var i = 0
    while i &+ 32 <= count {
        let x = s.loadUnaligned(fromByteOffset: i, as: SIMD16<Int8>.self)
        let y = s.loadUnaligned(fromByteOffset: i &+ 16, as: SIMD16<Int8>.self)
        d.storeBytes(of: x, toByteOffset: i, as: SIMD16<Int8>.self)
        d.storeBytes(of: y, toByteOffset: i &+ 16, as: SIMD16<Int8>.self)
        i &+= 32
    }
    if i &+ 16 <= count {
        d.storeBytes(of: s.loadUnaligned(fromByteOffset: i, as: SIMD16<Int8>.self), toByteOffset: i, as: SIMD16<Int8>.self)
        i &+= 16
    }
    if i &+ 8 <= count {
        d.storeBytes(of: s.loadUnaligned(fromByteOffset: i, as: UInt64.self), toByteOffset: i, as: UInt64.self)
        i &+= 8
    }
    if i &+ 4 <= count {
        d.storeBytes(of: s.loadUnaligned(fromByteOffset: i, as: UInt32.self), toByteOffset: i, as: UInt32.self)
        i &+= 4
    }
    if i &+ 2 <= count {
        d.storeBytes(of: s.loadUnaligned(fromByteOffset: i, as: UInt16.self), toByteOffset: i, as: UInt16.self)
        i &+= 2
    }
    if i < count { dst[i] = src[i] }
}

/// Sets `count` bytes to `value` with 16/8/4/2/1-byte stores, inline (see `qs8CopyBytes`).
@inline(__always)
public func qs8FillBytes(_ dst: UnsafeMutablePointer<Int8>, _ value: Int8, _ count: Int) {
    let d = UnsafeMutableRawPointer(dst)
    let v = SIMD16<Int8>(repeating: value)
    var i = 0
    while i &+ 32 <= count {
        d.storeBytes(of: v, toByteOffset: i, as: SIMD16<Int8>.self)
        d.storeBytes(of: v, toByteOffset: i &+ 16, as: SIMD16<Int8>.self)
        i &+= 32
    }
    if i &+ 16 <= count { d.storeBytes(of: v, toByteOffset: i, as: SIMD16<Int8>.self); i &+= 16 }
    if i &+ 8 <= count { d.storeBytes(of: v.lowHalf, toByteOffset: i, as: SIMD8<Int8>.self); i &+= 8 }
    if i &+ 4 <= count { d.storeBytes(of: v.lowHalf.lowHalf, toByteOffset: i, as: SIMD4<Int8>.self); i &+= 4 }
    if i &+ 2 <= count { d.storeBytes(of: v.lowHalf.lowHalf.lowHalf, toByteOffset: i, as: SIMD2<Int8>.self); i &+= 2 }
    if i < count { dst[i] = value }
}

/// `rows` runs of `run` bytes, `srcStride` apart in the input, one after the other in `dst`.
@inline(__always)
private func im2colRuns(_ dst: UnsafeMutablePointer<Int8>, _ src: UnsafePointer<Int8>, _ run: Int, _ rows: Int, _ srcStride: Int) {
    var d = dst, s = src
    var r = 0
    while r < rows {
        qs8CopyBytes(d, s, run)
        d += run
        s += srcStride
        r &+= 1
    }
}

/// Writes `count` patches, output pixels `firstPixel ..< firstPixel + count` (row-major), each
/// `paddedReductionSize` bytes, to `tile`. A pixel whose window lies inside the input copies one
/// run of kernelWidth * C bytes per kernel row; a border pixel copies or fills tap by tap.
public func qs8Im2Col(
    _ g: ConvGeometry, input: UnsafePointer<Int8>, zeroPoint: Int8,
    firstPixel: Int, count: Int, tile: UnsafeMutablePointer<Int8>
) {
    let kp = g.paddedReductionSize
    let cin = g.inputChannels
    let run = g.kernelWidth &* cin
    let rowBytes = g.inputWidth &* cin
    let tail = kp &- g.reductionSize
    var p = 0
    while p < count {
        let pixel = firstPixel &+ p
        let oy = pixel / g.outputWidth
        let ox = pixel &- oy &* g.outputWidth
        let iy0 = oy &* g.strideY &- g.padTop, ix0 = ox &* g.strideX &- g.padLeft
        var dst = tile + p &* kp
        if iy0 >= 0 && iy0 &+ g.kernelHeight <= g.inputHeight && ix0 >= 0 && ix0 &+ g.kernelWidth <= g.inputWidth {
            let src = input + (iy0 &* rowBytes &+ ix0 &* cin)
            // The 3x3 runs of 1-, 2- and 8-channel inputs as constants: a few fixed loads/stores.
            switch run {
            case 3: im2colRuns(dst, src, 3, g.kernelHeight, rowBytes)
            case 6: im2colRuns(dst, src, 6, g.kernelHeight, rowBytes)
            case 24: im2colRuns(dst, src, 24, g.kernelHeight, rowBytes)
            default: im2colRuns(dst, src, run, g.kernelHeight, rowBytes)
            }
            dst += run &* g.kernelHeight
        } else {
            var ky = 0
            while ky < g.kernelHeight {
                let iy = iy0 &+ ky
                var kx = 0
                while kx < g.kernelWidth {
                    let ix = ix0 &+ kx
                    if iy >= 0 && iy < g.inputHeight && ix >= 0 && ix < g.inputWidth {
                        qs8CopyBytes(dst, input + (iy &* g.inputWidth &+ ix) &* cin, cin)
                    } else {
                        qs8FillBytes(dst, zeroPoint, cin)
                    }
                    dst += cin
                    kx &+= 1
                }
                ky &+= 1
            }
        }
        if tail > 0 { qs8FillBytes(dst, 0, tail) }
        p &+= 1
    }
}
