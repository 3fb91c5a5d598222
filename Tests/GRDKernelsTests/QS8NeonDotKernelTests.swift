import XCTest
@testable import GRDKernels
import GRDKernelsDotprod

#if arch(arm64)
@_silgen_name("getauxval") private func testGetauxval(_ type: UInt) -> UInt
#endif

/// The SDOT indirect-GEMM kernels of GRDKernelsDotprod (4x16 and 4x8 c4, indirection and window
/// forms) against the scalar reference, bit for bit. On aarch64 they execute SDOT (the module
/// is compiled for the Cortex-A76) and run only where AT_HWCAP reports ASIMDDP; elsewhere the
/// module's plain-Swift stand-in runs the same packing, indexing and requantisation.
final class QS8NeonDotKernelTests: XCTestCase {
    func requireDotProduct() throws {
        #if arch(arm64)
        try XCTSkipUnless(testGetauxval(16 /* AT_HWCAP */) & (1 << 20) != 0, "this CPU lacks ASIMDDP (dot product): the SDOT kernels cannot run")
        XCTAssertTrue(qs8NeonDotUsesSDOT)
        #endif
    }

    struct Rng { var s: UInt64; mutating func next() -> UInt64 { s = s &* 6364136223846793005 &+ 1442695040888963407; return s >> 33 } }

    enum Inputs { case random, minusVsExtremes, plusVsMinus }

    /// `rows` pixels x `taps` taps x `cin` channels, `n` output channels. The pixels of a tap lie
    /// `pixelStride` apart (window form); the indirection form gets the same pointers, except that
    /// every third tap of pixel 1 reads the zero buffer (padding) there.
    func check(taps: Int, cin: Int, n: Int, rows: Int, data: Inputs, slope: Float, seed: UInt64,
               file: StaticString = #filePath, line: UInt = #line) {
        var r = Rng(s: seed)
        let k = taps * cin
        let zp = Int8(truncatingIfNeeded: Int(r.next() % 256) - 128)
        let pixelStride = cin + Int(r.next() % 3) * 4
        // Tap t starts at t * 4 * pixelStride: 4 pixels per tap, 3 readable spare bytes at the end.
        let bytes = taps * 4 * pixelStride + 4
        var input = (0..<bytes).map { _ in Int8(truncatingIfNeeded: Int(r.next() % 256) - 128) }
        var w = (0..<(n * k)).map { _ in Int8(truncatingIfNeeded: Int(r.next() % 255) - 127) }
        switch data {
        case .random: break
        case .minusVsExtremes:
            input = [Int8](repeating: -128, count: bytes)
            for i in 0..<(n * k) { w[i] = (i / k) % 2 == 0 ? 127 : -127 }
        case .plusVsMinus:
            input = [Int8](repeating: 127, count: bytes)
            w = [Int8](repeating: -127, count: n * k)
        }
        let zero = [Int8](repeating: data == .random ? zp : input[0], count: cin + 4)
        let bias = (0..<n).map { _ in Int32(Int(r.next() % 20001) - 10000) }
        let scales = (0..<n).map { _ in data != .random ? Float(1.0 / Float(16 * k)) : 0.00005 + Float(r.next() % 1000) * 0.0000005 }
        let ozp = Int32(Int(r.next() % 41) - 20)
        let tapOffsets = (0..<taps).map { $0 * 4 * pixelStride }
        let bb = qs8PackedC4x8BlockBytes(taps: taps, cin: cin)
        XCTAssertEqual(bb, 64 + 8 * taps * ((cin + 3) / 4 * 4), file: file, line: line)
        let packed = UnsafeMutableRawPointer.allocate(byteCount: bb * ((n + 7) / 8), alignment: 64)
        defer { packed.deallocate() }
        qs8PackC4x8(n: n, taps: taps, cin: cin, activationOffset: 0, weights: w, bias: bias, scales: scales, into: packed)
        let rq = RequantizationFP32(zeroPoint: ozp)
        input.withUnsafeBufferPointer { px in zero.withUnsafeBufferPointer { zb in
            for padded in [false, true] {
                var ind = [UnsafePointer<Int8>](repeating: zb.baseAddress!, count: 4 * taps)
                for t in 0..<taps { for p in 0..<4 {
                    ind[4 * t + p] = padded && p == 1 && t % 3 == 2 ? zb.baseAddress! : px.baseAddress! + tapOffsets[t] + min(p, rows - 1) * pixelStride
                } }
                var want = [Int8](repeating: 0x55, count: 4 * n)
                for p in 0..<rows { for c in 0..<n {
                    var acc = bias[c]
                    for t in 0..<taps { for i in 0..<cin { acc &+= Int32(ind[4 * t + p][i]) * Int32(w[c * k + t * cin + i]) } }
                    want[p * n + c] = rq.requantize(acc, scale: scales[c], negativeSlope: slope)
                } }
                var got = [Int8](repeating: 0x55, count: 4 * n)
                ind.withUnsafeBufferPointer { ip in got.withUnsafeMutableBufferPointer { cp in
                    qs8IGEMM4xNC4NeonDot(rows: rows, taps: taps, cin: cin, indirection: ip.baseAddress!, packedWeights: packed,
                                         blockBytes: bb, outputZeroPoint: ozp, negativeSlope: slope,
                                         c: cp.baseAddress!, cStride: n, channels: n)
                } }
                XCTAssertEqual(got, want, "indirection taps=\(taps) cin=\(cin) n=\(n) rows=\(rows) padded=\(padded) \(data) slope=\(slope)",
                               file: file, line: line)
                if rows == 4 && !padded {
                    var window = [Int8](repeating: 0x55, count: 4 * n)
                    tapOffsets.withUnsafeBufferPointer { tp in window.withUnsafeMutableBufferPointer { cp in
                        qs8ConvWindow4xNC4NeonDot(taps: taps, cin: cin, origin: px.baseAddress!, tapOffsets: tp.baseAddress!,
                                                  pixelStride: pixelStride, packedWeights: packed, blockBytes: bb,
                                                  outputZeroPoint: ozp, negativeSlope: slope, c: cp.baseAddress!, cStride: n, channels: n)
                    } }
                    XCTAssertEqual(window, want, "window taps=\(taps) cin=\(cin) n=\(n) \(data) slope=\(slope)", file: file, line: line)
                }
            }
        } }
    }

    /// Channel counts around the 4-byte groups and the 8-deep main loop, output channels around
    /// the 8- and 16-wide tiles, every row count, and the slopes of the networks (none, ReLU,
    /// LeakyReLU 0.2) plus two the engine never uses (1.5 and -0.5: the other requantisation form).
    func testIndirectAndWindowKernelsMatchScalarReference() throws {
        try requireDotProduct()
        var seed: UInt64 = 21
        let slopes: [Float] = [1, 0, 0.2, 1.5, -0.5]
        for (taps, cin) in [(1, 1), (9, 1), (9, 2), (9, 3), (1, 4), (4, 5), (9, 8), (1, 12), (9, 13), (16, 16), (4, 24), (9, 64)] {
            for n in [1, 5, 8, 9, 16, 17, 24, 33] {
                for rows in 1...4 {
                    check(taps: taps, cin: cin, n: n, rows: rows, data: .random, slope: slopes[Int(seed % 5)], seed: seed)
                    seed += 1
                }
            }
        }
    }

    /// Extremes: -128 activations against +-127 weights and 127 against -127 (largest sums of
    /// both signs), which saturate the requantisation at both ends.
    func testExtremeValuesMatchScalarReference() throws {
        try requireDotProduct()
        var seed: UInt64 = 5
        for (taps, cin) in [(9, 3), (9, 16), (1, 64), (25, 32)] {
            for n in [8, 16, 19] {
                for data in [Inputs.minusVsExtremes, .plusVsMinus] {
                    for slope: Float in [1, 0.2] {
                        check(taps: taps, cin: cin, n: n, rows: 4, data: data, slope: slope, seed: seed)
                        check(taps: taps, cin: cin, n: n, rows: 3, data: data, slope: slope, seed: seed + 1)
                        seed += 2
                    }
                }
            }
        }
    }

    /// A run of window groups in one call equals one call per group, and writes nothing else.
    func testWindowRowEqualsGroupByGroup() throws {
        try requireDotProduct()
        var r = Rng(s: 77)
        for (taps, cin, n, groups) in [(9, 8, 8, 3), (9, 16, 16, 2), (4, 3, 24, 5), (9, 32, 33, 1)] {
            let k = taps * cin, stride = cin, width = 4 * groups + 8
            let input = (0..<(3 * width * cin + 4)).map { _ in Int8(truncatingIfNeeded: Int(r.next() % 256) - 128) }
            let w = (0..<(n * k)).map { _ in Int8(truncatingIfNeeded: Int(r.next() % 255) - 127) }
            let bias = (0..<n).map { _ in Int32(Int(r.next() % 2001) - 1000) }
            let scales = (0..<n).map { _ in 0.0005 + Float(r.next() % 100) * 0.00001 }
            // taps of a 3-row window over an image `width` pixels wide
            let offsets = (0..<taps).map { t in ((t / 3) * width + t % 3) * cin }
            let bb = qs8PackedC4x8BlockBytes(taps: taps, cin: cin)
            let packed = UnsafeMutableRawPointer.allocate(byteCount: bb * ((n + 7) / 8), alignment: 64)
            defer { packed.deallocate() }
            qs8PackC4x8(n: n, taps: taps, cin: cin, activationOffset: 0, weights: w, bias: bias, scales: scales, into: packed)
            var row = [Int8](repeating: 0x55, count: (4 * groups + 4) * n), each = row
            input.withUnsafeBufferPointer { px in offsets.withUnsafeBufferPointer { op in
                row.withUnsafeMutableBufferPointer { cp in
                    qs8ConvWindowRow4xNC4NeonDot(groups: groups, taps: taps, cin: cin, origin: px.baseAddress!, tapOffsets: op.baseAddress!,
                                                 pixelStride: stride, packedWeights: packed, blockBytes: bb, outputZeroPoint: -3,
                                                 negativeSlope: 0.2, c: cp.baseAddress!, cStride: n, channels: n)
                }
                each.withUnsafeMutableBufferPointer { cp in
                    for i in 0..<groups {
                        qs8ConvWindow4xNC4NeonDot(taps: taps, cin: cin, origin: px.baseAddress! + 4 * i * stride, tapOffsets: op.baseAddress!,
                                                  pixelStride: stride, packedWeights: packed, blockBytes: bb, outputZeroPoint: -3,
                                                  negativeSlope: 0.2, c: cp.baseAddress! + 4 * i * n, cStride: n, channels: n)
                    }
                }
            } }
            XCTAssertEqual(row, each, "taps=\(taps) cin=\(cin) n=\(n) groups=\(groups)")
            XCTAssertEqual(Array(row[(4 * groups * n)...]), [Int8](repeating: 0x55, count: 4 * n), "written past the run")
            XCTAssertGreaterThan(Set(row).count, 4, "outputs are not trivially constant")
        }
    }

    /// The packed layout itself: bias, c4 groups of 8 channels (channels 0-3 then 4-7), zero
    /// padding to 4 input channels and past n, scales at the end.
    func testPackingLayout() {
        let taps = 2, cin = 3, n = 9, k = taps * cin
        let w = (0..<(n * k)).map { Int8(truncatingIfNeeded: $0 + 1) }
        let bias = (0..<n).map { Int32($0 * 100) }, scales = (0..<n).map { Float($0) + 0.5 }
        let bb = qs8PackedC4x8BlockBytes(taps: taps, cin: cin)
        XCTAssertEqual(bb, 32 + 8 * taps * 4 + 32)
        let p = UnsafeMutableRawPointer.allocate(byteCount: 2 * bb, alignment: 16)
        defer { p.deallocate() }
        qs8PackC4x8(n: n, taps: taps, cin: cin, activationOffset: 0, weights: w, bias: bias, scales: scales, into: p)
        for blk in 0..<2 { for j in 0..<8 {
            let ch = blk * 8 + j
            let base = p + blk * bb
            XCTAssertEqual(base.load(fromByteOffset: 4 * j, as: Int32.self), ch < n ? bias[ch] : 0)
            XCTAssertEqual(base.load(fromByteOffset: bb - 32 + 4 * j, as: Float.self), ch < n ? scales[ch] : 0)
            for t in 0..<taps { for i in 0..<4 {
                let v = base.load(fromByteOffset: 32 + t * 32 + j * 4 + i, as: Int8.self)
                XCTAssertEqual(v, ch < n && i < cin ? w[ch * k + t * cin + i] : 0, "block \(blk) channel \(j) tap \(t) byte \(i)")
            } }
        } }
    }
}
