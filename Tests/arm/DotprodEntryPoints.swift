// C entry point into GRDKernelsDotprod for the qemu ARM check (Tests/arm/run).

@_cdecl("grd_qs8_gemm_2x4_dotloop_a76")
public func grd_qs8_gemm_2x4_dotloop_a76(_ rows: Int, _ kc: Int, _ a: UnsafePointer<Int8>, _ aStride: Int,
                                         _ w: UnsafeRawPointer, _ zp: Int32, _ slope: Float,
                                         _ c: UnsafeMutablePointer<Int8>, _ cStride: Int, _ channels: Int) {
    qs8GEMM2x4DotLoopA76(rows: rows, kc: kc, a: a, aStride: aStride, packedWeights: w, outputZeroPoint: zp,
                         negativeSlope: slope, c: c, cStride: cStride, channels: channels)
}
