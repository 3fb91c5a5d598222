import XCTest
@testable import GRDKernels

/// The shared c4x8 packer (SDOT and vpdpbusd kernels) byte by byte against the layout its doc
/// comment promises, so a change that keeps the two families consistent with each other but
/// wrong for both still fails here.
final class QS8WeightPackingTests: XCTestCase {
    func testC4x8LayoutPaddingAndActivationOffset() {
        let n = 9, taps = 2, cin = 5           // 2 blocks (the second with 1 real channel), cin4 = 8
        let cin4 = qs8C4ChannelGroups(cin)
        XCTAssertEqual(cin4, 8)
        var w = [Int8](repeating: 0, count: n * taps * cin)
        for ch in 0..<n { for t in 0..<taps { for i in 0..<cin { w[(ch * taps + t) * cin + i] = Int8(truncatingIfNeeded: ch * 31 - t * 7 + i * 3 - 50) } } }
        let bias = (0..<n).map { Int32($0 * 1000 - 3000) }
        let scales = (0..<n).map { Float($0) * 0.5 + 0.25 }
        let bb = qs8PackedC4x8BlockBytes(taps: taps, cin: cin)
        XCTAssertEqual(bb, 32 + 8 * taps * cin4 + 32)
        for offset: Int32 in [0, 128] {
            let p = UnsafeMutableRawPointer.allocate(byteCount: 2 * bb, alignment: 64)
            defer { p.deallocate() }
            memset(p, 0x5A, 2 * bb)                // every byte must be written, padding included
            qs8PackC4x8(n: n, taps: taps, cin: cin, activationOffset: offset,
                        weights: w, bias: bias, scales: scales, into: p)
            for ch in 0..<16 {
                let block = p + (ch / 8) * bb, j = ch % 8
                let real = ch < n
                var sum: Int32 = 0
                for t in 0..<taps {
                    for i in 0..<cin4 {
                        let want: Int8 = real && i < cin ? w[(ch * taps + t) * cin + i] : 0
                        sum += Int32(want)
                        let got = block.load(fromByteOffset: 32 + (t * cin4 + i / 4 * 4) * 8 + j * 4 + i % 4, as: Int8.self)
                        XCTAssertEqual(got, want, "offset \(offset) channel \(ch) tap \(t) input channel \(i)")
                    }
                }
                let wantBias: Int32 = real ? bias[ch] - offset * sum : 0
                XCTAssertEqual(block.load(fromByteOffset: 4 * j, as: Int32.self), wantBias, "bias', offset \(offset) channel \(ch)")
                XCTAssertEqual(block.load(fromByteOffset: 32 + 8 * taps * cin4 + 4 * j, as: Float.self), real ? scales[ch] : 0,
                               "scale, channel \(ch)")
            }
        }
    }
}
