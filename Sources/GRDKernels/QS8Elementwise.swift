// Int8 operators other than convolution: residual add, channel concat, 2-D pooling, nearest x2
// upsampling, transposed convolution and input quantisation. Scalar loops over NHWC rows; each
// is a small fraction of the network's work. Semantics match Models/converter/grdnet_ref.py.

/// out = requant((a - za) * (sa/so) + (b - zb) * (sb/so)), fused activation, for `count` elements.
public func qs8Add(
    count: Int,
    a: UnsafePointer<Int8>, aZeroPoint: Int32, aMultiplier: Float,
    b: UnsafePointer<Int8>, bZeroPoint: Int32, bMultiplier: Float,
    outputZeroPoint: Int32, negativeSlope: Float,
    output: UnsafeMutablePointer<Int8>
) {
    let rq = RequantizationFP32(zeroPoint: outputZeroPoint)
    var i = 0
    while i < count {
        var f = Float(Int32(a[i]) &- aZeroPoint) * aMultiplier + Float(Int32(b[i]) &- bZeroPoint) * bMultiplier
        if f < 0 { f = f * negativeSlope }
        output[i] = rq.clampToOutput(f)
        i &+= 1
    }
}

/// Copies `pixels` rows of `channels` values into a wider NHWC tensor at channel `offset`,
/// requantising unless the input already has the output's scale and zero point.
public func qs8ConcatSlice(
    pixels: Int, channels: Int, input: UnsafePointer<Int8>, inputZeroPoint: Int32,
    multiplier: Float, identical: Bool,
    output: UnsafeMutablePointer<Int8>, outputChannels: Int, offset: Int, outputZeroPoint: Int32
) {
    let rq = RequantizationFP32(zeroPoint: outputZeroPoint)
    var p = 0
    while p < pixels {
        let src = input + p &* channels
        let dst = output + (p &* outputChannels &+ offset)
        if identical {
            qs8CopyBytes(dst, src, channels)  // inline: a memmove call per pixel cost more than the copy
        } else {
            var c = 0
            while c < channels {
                dst[c] = rq.clampToOutput(Float(Int32(src[c]) &- inputZeroPoint) * multiplier)
                c &+= 1
            }
        }
        p &+= 1
    }
}

/// Max pooling (no padding) for output rows `rowStart ..< rowEnd`; the quantisation is unchanged.
public func qs8MaxPool(
    inputHeight: Int, inputWidth: Int, channels: Int, kernel: Int, stride: Int,
    outputHeight: Int, outputWidth: Int, rowStart: Int, rowEnd: Int,
    input: UnsafePointer<Int8>, output: UnsafeMutablePointer<Int8>
) {
    // Window taps outer, channels inner: contiguous NHWC rows, which the loop vectoriser turns
    // into byte-wise max instructions.
    var oy = rowStart
    while oy < rowEnd {
        var ox = 0
        while ox < outputWidth {
            let dst = output + (oy &* outputWidth &+ ox) &* channels
            // The first tap initialises the maximum (an inline copy, no memset call per pixel).
            qs8CopyBytes(dst, input + (oy &* stride &* inputWidth &+ ox &* stride) &* channels, channels)
            var c = 0
            var ky = 0
            while ky < kernel {
                var kx = ky == 0 ? 1 : 0
                while kx < kernel {
                    let src = input + ((oy &* stride &+ ky) &* inputWidth &+ ox &* stride &+ kx) &* channels
                    c = 0
                    while c < channels {
                        let v = src[c]
                        dst[c] = v > dst[c] ? v : dst[c]
                        c &+= 1
                    }
                    kx &+= 1
                }
                ky &+= 1
            }
            ox &+= 1
        }
        oy &+= 1
    }
}

/// Average pooling (no padding): out = requant((sum q - n*zi) * multiplier), multiplier = (si/so)/n.
public func qs8AvgPool(
    inputHeight: Int, inputWidth: Int, channels: Int, kernel: Int, stride: Int,
    outputHeight: Int, outputWidth: Int, rowStart: Int, rowEnd: Int,
    input: UnsafePointer<Int8>, inputZeroPoint: Int32, multiplier: Float,
    output: UnsafeMutablePointer<Int8>, outputZeroPoint: Int32
) {
    let rq = RequantizationFP32(zeroPoint: outputZeroPoint)
    let n = Int32(truncatingIfNeeded: kernel &* kernel)
    var oy = rowStart
    while oy < rowEnd {
        var ox = 0
        while ox < outputWidth {
            let dst = output + (oy &* outputWidth &+ ox) &* channels
            var c = 0
            while c < channels {
                var s: Int32 = 0
                var ky = 0
                while ky < kernel {
                    var kx = 0
                    while kx < kernel {
                        s &+= Int32(input[((oy &* stride &+ ky) &* inputWidth &+ ox &* stride &+ kx) &* channels &+ c])
                        kx &+= 1
                    }
                    ky &+= 1
                }
                dst[c] = rq.clampToOutput(Float(s &- n &* inputZeroPoint) * multiplier)
                c &+= 1
            }
            ox &+= 1
        }
        oy &+= 1
    }
}

/// Nearest-neighbour x2 upsampling for output rows `rowStart ..< rowEnd`; quantisation unchanged.
public func qs8ResizeNearest2x(
    inputWidth: Int, channels: Int, outputWidth: Int, rowStart: Int, rowEnd: Int,
    input: UnsafePointer<Int8>, output: UnsafeMutablePointer<Int8>
) {
    var oy = rowStart
    while oy < rowEnd {
        let srcRow = input + (oy / 2) &* inputWidth &* channels
        var ox = 0
        while ox < outputWidth {
            qs8CopyBytes(output + (oy &* outputWidth &+ ox) &* channels, srcRow + (ox / 2) &* channels, channels)
            ox &+= 1
        }
        oy &+= 1
    }
}

/// Transposed convolution (gather form) for output rows `rowStart ..< rowEnd`:
/// acc = bias + sum over taps (ky, kx, ci) with iy = (oy + padTop - ky) / strideY exact and in
/// range (same for x) of w[co][ky][kx][ci] * (q - zi); then fp32 requantisation.
/// Weights are OHWI; the bias is the plain int32 bias (no zero point folded in: the number of
/// contributing taps varies per output pixel).
public func qs8ConvTranspose(
    _ g: ConvGeometry, rowStart: Int, rowEnd: Int,
    input: UnsafePointer<Int8>, inputZeroPoint: Int32,
    weights: UnsafePointer<Int8>, bias: UnsafePointer<Int32>, scales: UnsafePointer<Float>,
    outputZeroPoint: Int32, negativeSlope: Float, output: UnsafeMutablePointer<Int8>
) {
    let rq = RequantizationFP32(zeroPoint: outputZeroPoint)
    let cin = g.inputChannels, cout = g.outputChannels
    var oy = rowStart
    while oy < rowEnd {
        var ox = 0
        while ox < g.outputWidth {
            let dst = output + (oy &* g.outputWidth &+ ox) &* cout
            var co = 0
            while co < cout {
                var acc = bias[co]
                var ky = 0
                while ky < g.kernelHeight {
                    let ty = oy &+ g.padTop &- ky
                    let iy = ty / g.strideY
                    if ty >= 0 && ty &- iy &* g.strideY == 0 && iy < g.inputHeight {
                        var kx = 0
                        while kx < g.kernelWidth {
                            let tx = ox &+ g.padLeft &- kx
                            let ix = tx / g.strideX
                            if tx >= 0 && tx &- ix &* g.strideX == 0 && ix < g.inputWidth {
                                let src = input + (iy &* g.inputWidth &+ ix) &* cin
                                let wr = weights + ((co &* g.kernelHeight &+ ky) &* g.kernelWidth &+ kx) &* cin
                                var ci = 0
                                while ci < cin {
                                    acc &+= Int32(wr[ci]) &* (Int32(src[ci]) &- inputZeroPoint)
                                    ci &+= 1
                                }
                            }
                            kx &+= 1
                        }
                    }
                    ky &+= 1
                }
                dst[co] = rq.requantize(acc, scale: scales[co], negativeSlope: negativeSlope)
                co &+= 1
            }
            ox &+= 1
        }
        oy &+= 1
    }
}

/// Maps HWC UInt8 pixels to int8 through a per-channel 256-entry table (normalisation and
/// quantisation precomputed by the converter).
public func qs8QuantizePixels(
    pixels: Int, channels: Int, input: UnsafePointer<UInt8>, table: UnsafePointer<Int8>,
    output: UnsafeMutablePointer<Int8>
) {
    var i = 0
    var c = 0
    let n = pixels &* channels
    while i < n {
        output[i] = table[c &* 256 &+ Int(input[i])]
        c &+= 1
        if c == channels { c = 0 }
        i &+= 1
    }
}
