// Indirection buffers: for a few output pixels, one input pointer per kernel tap (XNNPACK's
// "indirect GEMM" input). A tap in the padding points at a buffer that holds the input zero
// point (real 0), so its contribution cancels against the zero point folded into the bias.
//
// Layout: out[tap * mr + r] is the pointer for pixel r (r < mr) at that tap; pixels past
// `count` repeat the last valid pixel, so that a kernel can always compute mr rows.
//
// Transposed convolution (gather form) for stride s: output coordinate o receives the taps
// k = c, c + s, c + 2s, ... (k < kernel) with c = (o + pad) mod s, from input i = (o + pad - k) / s.
// All outputs of one parity class (cy, cx) share the same taps, so each class is an ordinary
// convolution with a sub-kernel of the weights (packed once per class at load), and the GEMM
// micro-kernels of every family run it. Taps outside the input point at the zero buffer.

/// Conv pointers for output pixels firstPixel ..< firstPixel + count (row-major), taps in
/// (ky, kx) order, each pointing at `inputChannels` NHWC bytes.
public func qs8ConvIndirection(
    _ g: ConvGeometry, input: UnsafePointer<Int8>, zeroBuffer: UnsafePointer<Int8>,
    firstPixel: Int, count: Int, mr: Int, out: UnsafeMutablePointer<UnsafePointer<Int8>>
) {
    let cin = g.inputChannels
    // Fast path: mr pixels of one output row whose windows lie inside the input (most pixels):
    // every pointer is the first pixel's window origin + a tap offset + r strides.
    if let origin = qs8ConvWindowOrigin(g, input: input, firstPixel: firstPixel, count: count, mr: mr) {
        let step = g.strideX &* cin
        var t = 0
        var ky = 0
        while ky < g.kernelHeight {
            var tap = origin + ky &* g.inputWidth &* cin
            var kx = 0
            while kx < g.kernelWidth {
                var r = 0
                while r < mr {
                    out[t &* mr &+ r] = tap + r &* step
                    r &+= 1
                }
                tap += cin
                t &+= 1
                kx &+= 1
            }
            ky &+= 1
        }
        return
    }
    var r = 0
    while r < mr {
        let pixel = firstPixel &+ (r < count ? r : count &- 1)
        let oy = pixel / g.outputWidth
        let ox = pixel &- oy &* g.outputWidth
        var t = 0
        var ky = 0
        while ky < g.kernelHeight {
            let iy = oy &* g.strideY &- g.padTop &+ ky
            var kx = 0
            while kx < g.kernelWidth {
                let ix = ox &* g.strideX &- g.padLeft &+ kx
                let inside = iy >= 0 && iy < g.inputHeight && ix >= 0 && ix < g.inputWidth
                out[t &* mr &+ r] = inside ? input + (iy &* g.inputWidth &+ ix) &* cin : zeroBuffer
                t &+= 1
                kx &+= 1
            }
            ky &+= 1
        }
        r &+= 1
    }
}

/// The window origin (input pixel under tap (0, 0)) of output pixel `firstPixel` when `count`
/// == `mr` pixels from there lie in one output row and all their taps inside the input; nil
/// otherwise. Tap (ky, kx) of pixel r is then at origin + qs8ConvTapOffsets[t] + r * strideX * C.
@inline(__always)
public func qs8ConvWindowOrigin(
    _ g: ConvGeometry, input: UnsafePointer<Int8>, firstPixel: Int, count: Int, mr: Int
) -> UnsafePointer<Int8>? {
    let oy0 = firstPixel / g.outputWidth
    let ox0 = firstPixel &- oy0 &* g.outputWidth
    let iy0 = oy0 &* g.strideY &- g.padTop, ix0 = ox0 &* g.strideX &- g.padLeft
    if count == mr && ox0 &+ mr <= g.outputWidth && iy0 >= 0 && iy0 &+ g.kernelHeight <= g.inputHeight
        && ix0 >= 0 && ix0 &+ (mr &- 1) &* g.strideX &+ g.kernelWidth <= g.inputWidth {
        return input + (iy0 &* g.inputWidth &+ ix0) &* g.inputChannels
    }
    return nil
}

/// Byte offsets of the taps (ky, kx) from the window origin: (ky * W + kx) * C, in tap order.
public func qs8ConvTapOffsets(_ g: ConvGeometry, out: UnsafeMutablePointer<Int>) {
    var t = 0
    var ky = 0
    while ky < g.kernelHeight {
        var kx = 0
        while kx < g.kernelWidth {
            out[t] = (ky &* g.inputWidth &+ kx) &* g.inputChannels
            t &+= 1
            kx &+= 1
        }
        ky &+= 1
    }
}

/// Number of taps of the transposed-convolution class whose first tap is `first` (0 ..< stride).
@inline(__always)
public func qs8ConvTransposeClassTaps(kernel: Int, stride: Int, first: Int) -> Int {
    first >= kernel ? 0 : (kernel &- first &+ stride &- 1) / stride
}

/// Transposed-conv pointers for the output pixels (oy, ox + j * strideX), j < count, which all
/// belong to one parity class; taps in (ky, kx) order of that class.
public func qs8ConvTransposeIndirection(
    _ g: ConvGeometry, input: UnsafePointer<Int8>, zeroBuffer: UnsafePointer<Int8>,
    oy: Int, ox: Int, count: Int, mr: Int, out: UnsafeMutablePointer<UnsafePointer<Int8>>
) {
    let cin = g.inputChannels
    let ty = oy &+ g.padTop
    var r = 0
    while r < mr {
        let x = ox &+ (r < count ? r : count &- 1) &* g.strideX
        let tx = x &+ g.padLeft
        var t = 0
        var ky = ty % g.strideY
        while ky < g.kernelHeight {
            let iy = (ty &- ky) / g.strideY
            let rowOK = ty >= ky && iy < g.inputHeight
            var kx = tx % g.strideX
            while kx < g.kernelWidth {
                let ix = (tx &- kx) / g.strideX
                let inside = rowOK && tx >= kx && ix < g.inputWidth
                out[t &* mr &+ r] = inside ? input + (iy &* g.inputWidth &+ ix) &* cin : zeroBuffer
                t &+= 1
                kx &+= g.strideX
            }
            ky &+= g.strideY
        }
        r &+= 1
    }
}

/// Copies `rows` rows of an indirection buffer (taps x `channels` bytes each) into a dense tile
/// of `paddedK` bytes per row, zero-filled past taps * channels: the input of the GEMM kernels.
/// `reversedTaps` writes the taps last to first (weights packed in reverse tap order).
public func qs8GatherIndirection(
    taps: Int, channels: Int, rows: Int, mr: Int, indirection: UnsafePointer<UnsafePointer<Int8>>,
    paddedK: Int, tile: UnsafeMutablePointer<Int8>, reversedTaps: Bool = false
) {
    var r = 0
    while r < rows {
        var dst = tile + r &* paddedK
        var t = 0
        while t < taps {
            qs8CopyBytes(dst, indirection[(reversedTaps ? taps &- 1 &- t : t) &* mr &+ r], channels)
            dst += channels
            t &+= 1
        }
        let tail = paddedK &- taps &* channels
        if tail > 0 { qs8FillBytes(dst, 0, tail) }
        r &+= 1
    }
}
