import XCTest
@testable import GRDRuntime

final class QuantizationTests: XCTestCase {
    func testQuantizeDequantizeRoundTripWithinHalfStep() {
        let q = TensorQuantization(scale: 0.02, zeroPoint: 10)
        for v in stride(from: Float(-2.7), through: 2.3, by: 0.013) {
            let back = q.dequantize(q.quantize(v))
            XCTAssertLessThanOrEqual(abs(back - v), 0.01 + 1e-6, "value \(v)")
        }
        XCTAssertEqual(q.quantize(100), 127)
        XCTAssertEqual(q.quantize(-100), -128)
    }
}
