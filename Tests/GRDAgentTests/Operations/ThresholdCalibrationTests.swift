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

    /// Standard normal scores (Box-Muller), shifted by `mean`.
    func normalScores(_ n: Int, mean: Double, seed: UInt64) -> [Double] {
        var rng = SplitMix64(seed: seed)
        func u() -> Double { Double(rng.next() >> 11 + 1) / Double(1 << 53) }
        return (0..<n).map { _ in mean + (-2 * log(u())).squareRoot() * cos(2 * Double.pi * u()) }
    }

    func testAUROCIntervalHasTheWidthTheoryGives() throws {
        // 100 goods N(0,1), 100 defects N(1,1): AUROC ~0.76, Hanley-McNeil SE ~0.033, so a 95 %
        // interval ~0.13 wide around the estimate.
        let g = normalScores(100, mean: 0, seed: 11), d = normalScores(100, mean: 1, seed: 12)
        let auc = areaUnderROC(negatives: g, positives: d)
        let ci = try XCTUnwrap(areaUnderROCInterval(negatives: g, positives: d))
        XCTAssertTrue(ci.contains(auc), "\(ci) does not contain \(auc)")
        XCTAssertEqual(ci.upperBound - ci.lowerBound, 0.13, accuracy: 0.04)
        // Same seed, same interval; ten times the data, about a third of the width.
        XCTAssertEqual(areaUnderROCInterval(negatives: g, positives: d), ci)
        let g10 = normalScores(1000, mean: 0, seed: 13), d10 = normalScores(1000, mean: 1, seed: 14)
        let ci10 = try XCTUnwrap(areaUnderROCInterval(negatives: g10, positives: d10, resamples: 500))
        XCTAssertEqual((ci10.upperBound - ci10.lowerBound) / (ci.upperBound - ci.lowerBound), 0.32, accuracy: 0.1)
    }

    func testAUROCIntervalCoversTheTruth() throws {
        // True AUROC of N(1,1) against N(0,1) is Phi(1/sqrt 2) = 0.7602.
        var hits = 0
        for seed in 0..<40 {
            let g = normalScores(60, mean: 0, seed: 100 + UInt64(seed)), d = normalScores(40, mean: 1, seed: 200 + UInt64(seed))
            if try XCTUnwrap(areaUnderROCInterval(negatives: g, positives: d, resamples: 400)).contains(0.7602) { hits += 1 }
        }
        XCTAssertGreaterThanOrEqual(hits, 33, "covered \(hits)/40")
    }

    func testAUROCIntervalEdgeCases() {
        XCTAssertNil(areaUnderROCInterval(negatives: [], positives: [1]))
        XCTAssertEqual(areaUnderROCInterval(negatives: [1, 2, 3], positives: [4, 5]), 1...1)
        XCTAssertEqual(areaUnderROCInterval(negatives: [2, 2], positives: [2, 2]), 0.5...0.5)  // ties count half
    }

    func testPairedDifferenceResolvesWhatTwoIntervalsCannot() throws {
        // Two models that share each image's difficulty (d) and differ by small noise; B also
        // sees defects 0.15 better. Apart, their 95 % intervals overlap; paired, the difference is
        // resolved (interval below zero) and far narrower than either model's own interval.
        let dGood = normalScores(100, mean: 0, seed: 21), dBad = normalScores(60, mean: 1, seed: 22)
        let eA = normalScores(160, mean: 0, seed: 23).map { $0 * 0.2 }, eB = normalScores(160, mean: 0, seed: 24).map { $0 * 0.2 }
        let goodA = (0..<100).map { dGood[$0] + eA[$0] }, goodB = (0..<100).map { dGood[$0] + eB[$0] }
        let badA = (0..<60).map { dBad[$0] + eA[100 + $0] }, badB = (0..<60).map { dBad[$0] + eB[100 + $0] + 0.15 }
        let ciA = try XCTUnwrap(areaUnderROCInterval(negatives: goodA, positives: badA))
        let ciB = try XCTUnwrap(areaUnderROCInterval(negatives: goodB, positives: badB))
        XCTAssertTrue(ciA.overlaps(ciB), "\(ciA) \(ciB)")
        let diff = try XCTUnwrap(areaUnderROCDifferenceInterval(negativesA: goodA, positivesA: badA,
                                                                negativesB: goodB, positivesB: badB))
        let point = areaUnderROC(negatives: goodA, positives: badA) - areaUnderROC(negatives: goodB, positives: badB)
        XCTAssertTrue(diff.contains(point), "\(diff) does not contain \(point)")
        XCTAssertLessThan(diff.upperBound, 0, "B's edge not resolved: \(diff)")
        XCTAssertLessThan(diff.upperBound - diff.lowerBound, 0.5 * (ciA.upperBound - ciA.lowerBound))
        // Unpaired (B's images shuffled against A's), the same two models are not told apart.
        let shuffled = try XCTUnwrap(areaUnderROCDifferenceInterval(negativesA: goodA, positivesA: badA,
                                                                    negativesB: goodB.reversed(), positivesB: badB.reversed()))
        XCTAssertTrue(shuffled.contains(0), "\(shuffled)")
    }

    func testPairedDifferenceEdgeCases() throws {
        let g = normalScores(30, mean: 0, seed: 31), d = normalScores(20, mean: 1, seed: 32)
        XCTAssertEqual(areaUnderROCDifferenceInterval(negativesA: g, positivesA: d, negativesB: g, positivesB: d), 0...0)
        XCTAssertNil(areaUnderROCDifferenceInterval(negativesA: g, positivesA: d, negativesB: Array(g.dropLast()), positivesB: d))
        XCTAssertNil(areaUnderROCDifferenceInterval(negativesA: [], positivesA: d, negativesB: [], positivesB: d))
        // A monotone transform of a model's scores is the same ranking: difference exactly zero.
        XCTAssertEqual(areaUnderROCDifferenceInterval(negativesA: g, positivesA: d,
                                                      negativesB: g.map { exp($0) }, positivesB: d.map { exp($0) }), 0...0)
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
