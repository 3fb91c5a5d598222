// C entry points into the SDOT indirect-GEMM kernels of GRDKernelsDotprod for the qemu ARM check
// (Tests/arm/run): compiled into the Cortex-A76 build of the module only (the kernels execute
// SDOT; an A72 build of them cannot be instruction-selected).

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
