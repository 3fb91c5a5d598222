import XCTest
@testable import GRDKernels

/// The data-movement operators (max pooling, nearest x2 upsampling, identical-scale concat) copy
/// their channel runs inline; each against a plain per-element loop, channel counts 1 to 64.
final class QS8ElementwiseTests: XCTestCase {
    struct Rng { var s: UInt64; mutating func next() -> UInt64 { s = s &* 6364136223846793005 &+ 1442695040888963407; return s >> 33 } }

    func random(_ n: Int, _ r: inout Rng) -> [Int8] { (0..<n).map { _ in Int8(truncatingIfNeeded: Int(r.next() % 256) - 128) } }

    func testMaxPoolMatchesNaiveLoop() {
        var r = Rng(s: 3)
        for (h, w, c, k, s) in [(8, 6, 1, 2, 2), (6, 8, 3, 2, 2), (8, 8, 8, 2, 2), (4, 6, 16, 2, 2), (7, 7, 5, 3, 2), (4, 4, 64, 2, 2)] {
            let oh = (h - k) / s + 1, ow = (w - k) / s + 1
            var input = random(h * w * c, &r)
            input[0] = -128  // a window whose maximum is the smallest value
            if h * w * c > 1 { input[1] = -128 }
            var want = [Int8](repeating: 0, count: oh * ow * c)
            for oy in 0..<oh { for ox in 0..<ow { for ch in 0..<c {
                var m = Int8.min
                for ky in 0..<k { for kx in 0..<k { m = max(m, input[((oy * s + ky) * w + ox * s + kx) * c + ch]) } }
                want[(oy * ow + ox) * c + ch] = m
            } } }
            var got = [Int8](repeating: 77, count: oh * ow * c)
            // Two row ranges, as two workers would split them.
            for (a, b) in [(0, oh / 2), (oh / 2, oh)] {
                qs8MaxPool(inputHeight: h, inputWidth: w, channels: c, kernel: k, stride: s, outputHeight: oh, outputWidth: ow,
                           rowStart: a, rowEnd: b, input: input, output: &got)
            }
            XCTAssertEqual(got, want, "max pool h=\(h) w=\(w) c=\(c) k=\(k)")
        }
    }

    func testResizeNearest2xMatchesNaiveLoop() {
        var r = Rng(s: 4)
        for (h, w, c) in [(3, 4, 1), (4, 3, 3), (2, 5, 8), (3, 3, 16), (2, 2, 40), (2, 3, 64)] {
            let input = random(h * w * c, &r)
            var want = [Int8](repeating: 0, count: 4 * h * w * c)
            for oy in 0..<(2 * h) { for ox in 0..<(2 * w) { for ch in 0..<c {
                want[(oy * 2 * w + ox) * c + ch] = input[((oy / 2) * w + ox / 2) * c + ch]
            } } }
            var got = [Int8](repeating: 77, count: 4 * h * w * c)
            qs8ResizeNearest2x(inputWidth: w, channels: c, outputWidth: 2 * w, rowStart: 0, rowEnd: 2 * h, input: input, output: &got)
            XCTAssertEqual(got, want, "resize h=\(h) w=\(w) c=\(c)")
        }
    }

    func testIdenticalConcatCopiesEachSliceInPlace() {
        var r = Rng(s: 5)
        for (pixels, ca, cb) in [(7, 1, 2), (5, 8, 8), (6, 16, 3), (4, 64, 64), (3, 5, 40)] {
            let a = random(pixels * ca, &r), b = random(pixels * cb, &r)
            let co = ca + cb
            var got = [Int8](repeating: 77, count: pixels * co)
            qs8ConcatSlice(pixels: pixels, channels: ca, input: a, inputZeroPoint: 0, multiplier: 1, identical: true,
                           output: &got, outputChannels: co, offset: 0, outputZeroPoint: 0)
            qs8ConcatSlice(pixels: pixels, channels: cb, input: b, inputZeroPoint: 0, multiplier: 1, identical: true,
                           output: &got, outputChannels: co, offset: ca, outputZeroPoint: 0)
            var want = [Int8]()
            for p in 0..<pixels { want += a[(p * ca)..<(p * ca + ca)]; want += b[(p * cb)..<(p * cb + cb)] }
            XCTAssertEqual(got, want, "concat pixels=\(pixels) \(ca)+\(cb)")
        }
    }

    /// Requantising concat (different scales), 8 lanes at a time plus a scalar tail, against the
    /// scalar formula for every value, multipliers that saturate both ends included.
    func testRequantisingConcatMatchesScalarFormula() {
        var r = Rng(s: 6)
        for (pixels, c, co, offset) in [(5, 8, 16, 8), (4, 16, 24, 0), (3, 13, 20, 7), (6, 3, 5, 2), (2, 64, 128, 64)] {
            for (zi, zo, m): (Int32, Int32, Float) in [(-7, 3, 0.73), (127, -128, 1.9), (-128, 127, 0.051), (5, 0, 3.3)] {
                let input = random(pixels * c, &r)
                var got = [Int8](repeating: 77, count: pixels * co)
                qs8ConcatSlice(pixels: pixels, channels: c, input: input, inputZeroPoint: zi, multiplier: m, identical: false,
                               output: &got, outputChannels: co, offset: offset, outputZeroPoint: zo)
                let rq = RequantizationFP32(zeroPoint: zo)
                var want = [Int8](repeating: 77, count: pixels * co)
                for p in 0..<pixels { for ch in 0..<c {
                    want[p * co + offset + ch] = rq.clampToOutput(Float(Int32(input[p * c + ch]) - zi) * m)
                } }
                XCTAssertEqual(got, want, "concat c=\(c) co=\(co) zi=\(zi) zo=\(zo) m=\(m)")
            }
        }
    }
}
