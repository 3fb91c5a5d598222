// C entry points into the SDOT indirect-GEMM kernels of GRDKernelsDotprod for the qemu ARM check
// (Tests/arm/run): compiled into the Cortex-A76 build of the module only (the kernels execute
// SDOT; an A72 build of them cannot be instruction-selected).

@_cdecl("grd_c4x8_neondot_block_bytes")
public func grd_c4x8_neondot_block_bytes(_ taps: Int, _ cin: Int) -> Int { qs8PackedC4x8NeonDotBlockBytes(taps: taps, cin: cin) }

@_cdecl("grd_pack_c4x8_neondot")
public func grd_pack_c4x8_neondot(_ n: Int, _ taps: Int, _ cin: Int, _ w: UnsafePointer<Int8>, _ b: UnsafePointer<Int32>,
                                  _ s: UnsafePointer<Float>, _ out: UnsafeMutableRawPointer) {
    qs8PackC4x8NeonDot(n: n, taps: taps, cin: cin, weights: w, bias: b, scales: s, into: out)
}

@_cdecl("grd_qs8_igemm_4xn_c4_neondot")
public func grd_qs8_igemm_4xn_c4_neondot(_ rows: Int, _ taps: Int, _ cin: Int, _ ind: UnsafePointer<UnsafePointer<Int8>>,
                                         _ w: UnsafeRawPointer, _ blockBytes: Int, _ zp: Int32, _ slope: Float,
                                         _ c: UnsafeMutablePointer<Int8>, _ cStride: Int, _ channels: Int) {
    qs8IGEMM4xNC4NeonDot(rows: rows, taps: taps, cin: cin, indirection: ind, packedWeights: w, blockBytes: blockBytes,
                         outputZeroPoint: zp, negativeSlope: slope, c: c, cStride: cStride, channels: channels)
}

@_cdecl("grd_qs8_conv_window_4xn_c4_neondot")
public func grd_qs8_conv_window_4xn_c4_neondot(_ taps: Int, _ cin: Int, _ origin: UnsafePointer<Int8>, _ offsets: UnsafePointer<Int>,
                                               _ pixelStride: Int, _ w: UnsafeRawPointer, _ blockBytes: Int, _ zp: Int32,
                                               _ slope: Float, _ c: UnsafeMutablePointer<Int8>, _ cStride: Int, _ channels: Int) {
    qs8ConvWindow4xNC4NeonDot(taps: taps, cin: cin, origin: origin, tapOffsets: offsets, pixelStride: pixelStride,
                              packedWeights: w, blockBytes: blockBytes, outputZeroPoint: zp, negativeSlope: slope,
                              c: c, cStride: cStride, channels: channels)
}
