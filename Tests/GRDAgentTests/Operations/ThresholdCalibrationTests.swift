import XCTest
@testable import GRDAgent

final class ThresholdCalibrationTests: XCTestCase {
    /// Exponential(1) scores: the true (1 - p) quantile is -ln(p).
    func exponentialScores(_ n: Int, seed: UInt64) -> [Double] {
        var rng = SplitMix64(seed: seed)
        return (0..<n).map { _ in -log(Double(rng.next() >> 11 + 1) / Double(1 << 53)) }
    }

    func testEmpiricalQuantileWhenTheTailIsWellSampled() throws {
        let scores = exponentialScores(5000, seed: 1)
        let r = try ThresholdCalibration(bootstrapRounds: 100).calibrate(goodScores: scores, targetFalseRejectRate: 0.01)
        XCTAssertEqual(r.method, .empiricalQuantile)
        XCTAssertEqual(r.threshold, -log(0.01), accuracy: 0.35)
        XCTAssertTrue(r.thresholdInterval.contains(r.threshold))
        XCTAssertEqual(r.inSampleFalseRejectRate, 0.01, accuracy: 0.002)
    }

    func testParetoTailExtrapolatesBeyondTheData() throws {
        // 600 goods cannot show a 0.1 % tail directly (0.6 expected above it): the fit must.
        let truth = -log(0.001)  // 6.91
        var hits = 0
        for seed in 1...20 {
            let scores = exponentialScores(600, seed: UInt64(seed))
            let r = try ThresholdCalibration(bootstrapRounds: 100).calibrate(goodScores: scores, targetFalseRejectRate: 0.001)
            XCTAssertEqual(r.method, .paretoTail)
            XCTAssertGreaterThanOrEqual(r.threshold, scores.max()!)
            XCTAssertEqual(r.tailShape!, 0, accuracy: 0.6)   // exponential tail: shape 0
            if r.thresholdInterval.contains(truth) { hits += 1 }
        }
        // A 95 % interval should cover the truth most of the time (bootstrap is approximate).
        XCTAssertGreaterThanOrEqual(hits, 14, "interval covered the true quantile \(hits)/20 times")
    }

    func testDefectsGiveMissRateAndAUROC() throws {
        let goods = exponentialScores(400, seed: 3)
        let defects = (0..<50).map { Double($0) * 0.1 + 3 }  // 3.0 ... 7.9
        let r = try ThresholdCalibration(bootstrapRounds: 50).calibrate(goodScores: goods, targetFalseRejectRate: 0.05, defectScores: defects)
        let expectedMiss = Double(defects.filter { $0 < r.threshold }.count) / 50
        XCTAssertEqual(r.missRate, expectedMiss)
        XCTAssertGreaterThan(r.auroc!, 0.9)
        XCTAssertEqual(areaUnderROC(negatives: [1, 2], positives: [3, 4]), 1)
        XCTAssertEqual(areaUnderROC(negatives: [1, 2], positives: [1, 2]), 0.5)
    }

    func testBadInputsAreClearErrors() {
        let c = ThresholdCalibration()
        XCTAssertThrowsError(try c.calibrate(goodScores: [1, 2, 3], targetFalseRejectRate: 0.01)) {
            XCTAssertTrue("\($0)".contains("at least 30"))
        }
        XCTAssertThrowsError(try c.calibrate(goodScores: Array(repeating: 1, count: 40), targetFalseRejectRate: 0))
        XCTAssertThrowsError(try c.calibrate(goodScores: Array(repeating: .nan, count: 40), targetFalseRejectRate: 0.01)) {
            XCTAssertTrue("\($0)".contains("NaN"))
        }
    }

    func testClopperPearsonKnownValues() {
        // 0 of 92: upper bound 1 - 0.025^(1/92) = 0.0393.
        let zero = clopperPearson(successes: 0, trials: 92)
        XCTAssertEqual(zero.lowerBound, 0)
        XCTAssertEqual(zero.upperBound, 0.0393, accuracy: 0.0005)
        // 5 of 10: (0.187, 0.813).
        let half = clopperPearson(successes: 5, trials: 10)
        XCTAssertEqual(half.lowerBound, 0.187, accuracy: 0.001)
        XCTAssertEqual(half.upperBound, 0.813, accuracy: 0.001)
    }
}
