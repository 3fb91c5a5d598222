// C entry points into GRDKernels for the qemu ARM check (Tests/arm/run): compiled into the
// Embedded GRDKernels module only there, so the C harness can call the Swift kernels.

@_cdecl("grd_c16_block_bytes")
public func grd_c16_block_bytes(_ kc: Int) -> Int { qs8PackedC16BlockBytes(kc: kc) }

@_cdecl("grd_kc4_block_bytes")
public func grd_kc4_block_bytes(_ kc: Int) -> Int { qs8PackedKCBlockBytes(kc: kc) }

@_cdecl("grd_pack_c16")
public func grd_pack_c16(_ n: Int, _ k: Int, _ kcPadded: Int, _ w: UnsafePointer<Int8>, _ b: UnsafePointer<Int32>,
                         _ s: UnsafePointer<Float>, _ out: UnsafeMutableRawPointer) {
    qs8PackC16(n: n, k: k, kcPadded: kcPadded, weights: w, bias: b, scales: s, into: out)
}

@_cdecl("grd_pack_kc4")
public func grd_pack_kc4(_ n: Int, _ k: Int, _ kcPadded: Int, _ w: UnsafePointer<Int8>, _ b: UnsafePointer<Int32>,
                         _ s: UnsafePointer<Float>, _ out: UnsafeMutableRawPointer) {
    qs8PackKC4(n: n, k: k, kcPadded: kcPadded, weights: w, bias: b, scales: s, into: out)
}

@_cdecl("grd_qs8_gemm_2x8c16_halves_a72")
public func grd_qs8_gemm_2x8c16_halves_a72(_ rows: Int, _ kc: Int, _ a: UnsafePointer<Int8>, _ aStride: Int,
                                           _ w: UnsafeRawPointer, _ zp: Int32, _ slope: Float,
                                           _ c: UnsafeMutablePointer<Int8>, _ cStride: Int, _ channels: Int) {
    qs8GEMM2x8C16HalvesA72(rows: rows, kc: kc, a: a, aStride: aStride, packedWeights: w, outputZeroPoint: zp,
                           negativeSlope: slope, c: c, cStride: cStride, channels: channels)
}

@_cdecl("grd_qs8_gemm_2x8c16_a72")
public func grd_qs8_gemm_2x8c16_a72(_ rows: Int, _ chunks: Int, _ a: UnsafePointer<Int8>, _ aStride: Int, _ halfOffsets: UnsafePointer<Int>,
                                    _ w: UnsafeRawPointer, _ blockBytes: Int, _ zp: Int32, _ slope: Float,
                                    _ c: UnsafeMutablePointer<Int8>, _ cStride: Int, _ channels: Int) {
    qs8GEMM2x8C16A72(rows: rows, chunks: chunks, a: a, aStride: aStride, halfOffsets: halfOffsets, packedWeights: w,
                     blockBytes: blockBytes, outputZeroPoint: zp, negativeSlope: slope, c: c, cStride: cStride, channels: channels)
}

@_cdecl("grd_qs8_gemm_2x8c16_paired_a72")
public func grd_qs8_gemm_2x8c16_paired_a72(_ rows: Int, _ chunks: Int, _ a: UnsafePointer<Int8>, _ aStride: Int, _ halfOffsets: UnsafePointer<Int>,
                                           _ w: UnsafeRawPointer, _ blockBytes: Int, _ zp: Int32, _ slope: Float,
                                           _ c: UnsafeMutablePointer<Int8>, _ cStride: Int, _ channels: Int) {
    qs8GEMM2x8C16PairedA72(rows: rows, chunks: chunks, a: a, aStride: aStride, halfOffsets: halfOffsets, packedWeights: w,
                           blockBytes: blockBytes, outputZeroPoint: zp, negativeSlope: slope, c: c, cStride: cStride, channels: channels)
}

@_cdecl("grd_im2col")
public func grd_im2col(_ h: Int, _ w: Int, _ cin: Int, _ k: Int, _ stride: Int, _ pad: Int, _ oh: Int, _ ow: Int,
                       _ input: UnsafePointer<Int8>, _ zp: Int8, _ first: Int, _ count: Int, _ tile: UnsafeMutablePointer<Int8>) {
    let g = ConvGeometry(inputHeight: h, inputWidth: w, inputChannels: cin, kernelHeight: k, kernelWidth: k,
                         strideY: stride, strideX: stride, padTop: pad, padLeft: pad,
                         outputHeight: oh, outputWidth: ow, outputChannels: 1)
    qs8Im2Col(g, input: input, zeroPoint: zp, firstPixel: first, count: count, tile: tile)
}

// The SDOT kernels' weights, packed by the shared c4x8 packer (activation offset 0); here rather
// than in NeonDotEntryPoints.swift because the packer lives in GRDKernels.
@_cdecl("grd_c4x8_neondot_block_bytes")
public func grd_c4x8_neondot_block_bytes(_ taps: Int, _ cin: Int) -> Int { qs8PackedC4x8BlockBytes(taps: taps, cin: cin) }

@_cdecl("grd_pack_c4x8_neondot")
public func grd_pack_c4x8_neondot(_ n: Int, _ taps: Int, _ cin: Int, _ w: UnsafePointer<Int8>, _ b: UnsafePointer<Int32>,
                                  _ s: UnsafePointer<Float>, _ out: UnsafeMutableRawPointer) {
    qs8PackC4x8(n: n, taps: taps, cin: cin, activationOffset: 0, weights: w, bias: b, scales: s, into: out)
}
