import XCTest
@testable import GRDKernels

final class RequantizationTests: XCTestCase {
    func testRoundHalfEvenMatchesBankersRounding() {
        let cases: [(Float, Int32)] = [(0.5, 0), (1.5, 2), (2.5, 2), (-0.5, 0), (-1.5, -2), (-2.5, -2),
                                       (0.49999997, 0), (3.7, 4), (-3.7, -4), (1000000.5, 1000000)]
        for (x, expected) in cases {
            XCTAssertEqual(RequantizationFP32.roundHalfEven(x), expected, "round(\(x))")
            XCTAssertEqual(RequantizationFP32.roundHalfEven(x), Int32(x.rounded(.toNearestOrEven)))
        }
    }

    func testRequantizeClampsToInt8AndAddsZeroPoint() {
        let rq = RequantizationFP32(zeroPoint: -3)
        XCTAssertEqual(rq.requantize(100, scale: 0.05), 2)      // 5 - 3
        XCTAssertEqual(rq.requantize(1_000_000, scale: 1), 127)
        XCTAssertEqual(rq.requantize(-1_000_000, scale: 1), -128)
        let relu = RequantizationFP32(zeroPoint: -128, outputMin: -128, outputMax: 127)
        XCTAssertEqual(relu.requantize(-50, scale: 1), -128)
    }

    func testScalarGEMMWorstCaseAccumulation() {
        // -128 activations against +-127 weights: the extreme that int16 pair sums must survive.
        let k = 64, n = 3
        let a = [Int8](repeating: -128, count: k)
        var w = [Int8](repeating: 127, count: k * n)
        for i in 0..<k { w[k + i] = -127; w[2 * k + i] = i % 2 == 0 ? 127 : -127 }
        let bias: [Int32] = [0, 0, 5]
        let scales: [Float] = [1.0 / 8192, 1.0 / 8192, 1.0]
        var c = [Int8](repeating: 0, count: n)
        a.withUnsafeBufferPointer { ap in w.withUnsafeBufferPointer { wp in
            bias.withUnsafeBufferPointer { bp in scales.withUnsafeBufferPointer { sp in
                c.withUnsafeMutableBufferPointer { cp in
                    qs8GEMMScalarReference(m: 1, n: n, k: k, a: ap.baseAddress!, aStride: k,
                                           weights: wp.baseAddress!, bias: bp.baseAddress!,
                                           scales: sp.baseAddress!, requantization: RequantizationFP32(zeroPoint: 0),
                                           c: cp.baseAddress!, cStride: n)
                } } } } }
        // -128*127*64 = -1040384; / 8192 = -127.0
        XCTAssertEqual(c, [-127, 127, 5])
    }
}
