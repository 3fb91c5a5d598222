#if canImport(Glibc)
import Glibc
#endif

/// Threshold calibration from good parts only.
///
/// A line engineer knows what false-reject rate (FRR) the plant tolerates, e.g. 0.1 %, and has a
/// few hundred good parts, not a defect collection. So the threshold is the (1 - FRR) quantile of
/// the good-score distribution: taken directly from the data when there are enough scores in the
/// tail (n * FRR >= 10), otherwise extrapolated from a generalized Pareto distribution (GPD)
/// fitted to the upper tail (peaks over threshold, the standard extreme-value method). The
/// confidence interval comes from a deterministic bootstrap over the good scores.
public struct ThresholdCalibration: Sendable {
    public enum Method: String, Sendable {
        case empiricalQuantile = "empirical quantile"
        case paretoTail = "generalized Pareto tail fit"
    }

    /// What was proposed, and how sure we are.
    public struct Result: Sendable {
        public var threshold: Double
        public var targetFalseRejectRate: Double
        public var method: Method
        public var goodCount: Int
        /// Bootstrap interval of the threshold itself.
        public var thresholdInterval: ClosedRange<Double>
        /// Bootstrap interval of the false-reject rate that `threshold` gives.
        public var falseRejectRateInterval: ClosedRange<Double>
        /// Fraction of the calibration goods at or above the threshold (in-sample FRR).
        public var inSampleFalseRejectRate: Double
        /// GPD shape and scale when the tail was fitted.
        public var tailShape: Double?
        public var tailScale: Double?
        /// With defect scores: fraction of defects below the threshold (missed), and AUROC.
        public var missRate: Double?
        public var auroc: Double?
    }

    public var confidence: Double
    public var bootstrapRounds: Int
    public var seed: UInt64

    public init(confidence: Double = 0.95, bootstrapRounds: Int = 400, seed: UInt64 = 0x9E3779B97F4A7C15) {
        self.confidence = confidence
        self.bootstrapRounds = bootstrapRounds
        self.seed = seed
    }

    public enum CalibrationError: Error, CustomStringConvertible {
        case tooFewGoodScores(Int)
        case invalidTarget(Double)
        case nonFiniteScore

        public var description: String {
            switch self {
            case .tooFewGoodScores(let n): return "calibration needs at least 30 good parts, got \(n)"
            case .invalidTarget(let p): return "target false-reject rate must be between 0 and 50 %, got \(p * 100) %"
            case .nonFiniteScore: return "a score is not a finite number (NaN or infinite): check the model"
            }
        }
    }

    public func calibrate(goodScores: [Double], targetFalseRejectRate p: Double,
                          defectScores: [Double]? = nil) throws -> Result {
        guard goodScores.count >= 30 else { throw CalibrationError.tooFewGoodScores(goodScores.count) }
        guard p > 0 && p < 0.5 else { throw CalibrationError.invalidTarget(p) }
        guard goodScores.allSatisfy({ $0.isFinite }), defectScores?.allSatisfy({ $0.isFinite }) ?? true else {
            throw CalibrationError.nonFiniteScore
        }
        let sorted = goodScores.sorted()
        let estimate = ThresholdCalibration.threshold(sortedScores: sorted, rate: p)
        // Bootstrap: resample, refit, and record both the refitted threshold and the tail
        // probability the proposed threshold has under each resample's fit.
        var rng = SplitMix64(seed: seed)
        var thresholds: [Double] = []
        var rates: [Double] = []
        thresholds.reserveCapacity(bootstrapRounds)
        rates.reserveCapacity(bootstrapRounds)
        var sample = [Double](repeating: 0, count: sorted.count)
        for _ in 0..<bootstrapRounds {
            for i in 0..<sample.count { sample[i] = sorted[Int(rng.next() % UInt64(sorted.count))] }
            sample.sort()
            thresholds.append(ThresholdCalibration.threshold(sortedScores: sample, rate: p).threshold)
            rates.append(ThresholdCalibration.exceedanceProbability(sortedScores: sample, at: estimate.threshold, rate: p))
        }
        thresholds.sort()
        rates.sort()
        let alpha = (1 - confidence) / 2
        let tLow = quantile(sorted: thresholds, alpha), tHigh = quantile(sorted: thresholds, 1 - alpha)
        let rLow = quantile(sorted: rates, alpha), rHigh = quantile(sorted: rates, 1 - alpha)
        let above = sorted.filter { $0 >= estimate.threshold }.count
        var result = Result(
            threshold: estimate.threshold, targetFalseRejectRate: p, method: estimate.method,
            goodCount: sorted.count, thresholdInterval: min(tLow, estimate.threshold)...max(tHigh, estimate.threshold),
            falseRejectRateInterval: min(rLow, p)...max(rHigh, p),
            inSampleFalseRejectRate: Double(above) / Double(sorted.count),
            tailShape: estimate.shape, tailScale: estimate.scale, missRate: nil, auroc: nil)
        if let defects = defectScores, !defects.isEmpty {
            result.missRate = Double(defects.filter { $0 < estimate.threshold }.count) / Double(defects.count)
            result.auroc = areaUnderROC(negatives: goodScores, positives: defects)
        }
        return result
    }

    struct Estimate {
        var threshold: Double
        var method: Method
        var shape: Double?
        var scale: Double?
    }

    /// The (1 - rate) quantile of the scores, extrapolated with a GPD tail when the data are thin.
    static func threshold(sortedScores s: [Double], rate p: Double) -> Estimate {
        let n = Double(s.count)
        if n * p >= 10 {
            return Estimate(threshold: quantile(sorted: s, 1 - p), method: .empiricalQuantile)
        }
        let tail = tailFit(sortedScores: s)
        let zeta = Double(tail.count) / n  // P(score > u)
        let t: Double
        if abs(tail.shape) < 1e-6 {
            t = tail.u + tail.scale * log(zeta / p)
        } else {
            t = tail.u + tail.scale / tail.shape * (pow(zeta / p, tail.shape) - 1)
        }
        // A negative shape bounds the tail; never propose less than the largest good score seen.
        return Estimate(threshold: max(t, s[s.count - 1]), method: .paretoTail, shape: tail.shape, scale: tail.scale)
    }

    /// P(score >= t) under the same model the threshold comes from.
    static func exceedanceProbability(sortedScores s: [Double], at t: Double, rate p: Double) -> Double {
        let n = Double(s.count)
        if n * p >= 10 {
            return Double(s.filter { $0 >= t }.count) / n
        }
        let tail = tailFit(sortedScores: s)
        let zeta = Double(tail.count) / n
        if t <= tail.u { return Double(s.filter { $0 >= t }.count) / n }
        let y = t - tail.u
        if abs(tail.shape) < 1e-6 { return zeta * exp(-y / tail.scale) }
        let base = 1 + tail.shape * y / tail.scale
        if base <= 0 { return 0 }  // beyond the end of a bounded tail
        return zeta * pow(base, -1 / tail.shape)
    }

    struct TailFit {
        var u: Double
        var count: Int
        var shape: Double
        var scale: Double
    }

    /// GPD fit to the excesses over the score at the top 10 % (at least 10, at most 100 points),
    /// by probability-weighted moments (Hosking & Wallis 1987): robust for small samples where
    /// maximum likelihood often fails to converge.
    static func tailFit(sortedScores s: [Double]) -> TailFit {
        let k = min(max(10, s.count / 10), min(100, s.count - 1))
        let u = s[s.count - k - 1]
        let excess = s[(s.count - k)...].map { $0 - u }  // ascending
        let a0 = excess.reduce(0, +) / Double(k)
        var a1 = 0.0
        for (i, y) in excess.enumerated() {
            let pi = (Double(i + 1) - 0.35) / Double(k)
            a1 += (1 - pi) * y
        }
        a1 /= Double(k)
        let denom = a0 - 2 * a1
        guard a0 > 0, denom > 1e-12 else {
            // All excesses equal (e.g. a saturated score): a degenerate, very short tail.
            return TailFit(u: u, count: k, shape: -1, scale: max(a0, 1e-9))
        }
        let kappa = a0 / denom - 2         // Hosking's shape; GPD shape xi = -kappa
        let sigma = 2 * a0 * a1 / denom
        return TailFit(u: u, count: k, shape: -kappa, scale: max(sigma, 1e-12))
    }
}

/// Linear-interpolated quantile of sorted data (type 7, as numpy's default).
public func quantile(sorted s: [Double], _ q: Double) -> Double {
    precondition(!s.isEmpty, "quantile of no data")
    let h = Double(s.count - 1) * min(max(q, 0), 1)
    let lo = Int(h.rounded(.down))
    let hi = min(lo + 1, s.count - 1)
    return s[lo] + (h - Double(lo)) * (s[hi] - s[lo])
}

/// AUROC = P(positive score > negative score) + 0.5 P(equal), by the rank-sum statistic.
public func areaUnderROC(negatives: [Double], positives: [Double]) -> Double {
    guard !negatives.isEmpty, !positives.isEmpty else { return .nan }
    var all = negatives.map { ($0, false) } + positives.map { ($0, true) }
    all.sort { $0.0 < $1.0 }
    var rankSum = 0.0
    var i = 0
    while i < all.count {
        var j = i
        while j + 1 < all.count && all[j + 1].0 == all[i].0 { j += 1 }
        let averageRank = Double(i + j) / 2 + 1
        for m in i...j where all[m].1 { rankSum += averageRank }
        i = j + 1
    }
    let np = Double(positives.count), nn = Double(negatives.count)
    return (rankSum - np * (np + 1) / 2) / (np * nn)
}

/// Percentile-bootstrap interval of `areaUnderROC`: goods and defects are resampled separately
/// (their counts are fixed by the data set). With a few dozen defects per class the interval is
/// several points wide, which is what says whether two models really differ on a data set.
/// Deterministic for a given seed. Nil when either side is empty.
public func areaUnderROCInterval(negatives: [Double], positives: [Double], confidence: Double = 0.95,
                                 resamples: Int = 2000, seed: UInt64 = 1) -> ClosedRange<Double>? {
    guard !negatives.isEmpty, !positives.isEmpty else { return nil }
    return bootstrapAUROC([ResampledAUROC(negatives: negatives, positives: positives)],
                          confidence: confidence, resamples: resamples, seed: seed) { $0[0] }
}

/// Paired-bootstrap interval of AUROC(A) - AUROC(B) for two models scored on the same images:
/// `negativesA[i]` and `negativesB[i]` are one good image, `positivesA[j]` and `positivesB[j]` one
/// defective image. Each resample draws images once and scores both models on them, so what the
/// two models share (the hard images, the easy ones) cancels: a difference is resolved that two
/// separate intervals, each several points wide, cannot. Nil when a side is empty or the counts differ.
public func areaUnderROCDifferenceInterval(negativesA: [Double], positivesA: [Double],
                                           negativesB: [Double], positivesB: [Double],
                                           confidence: Double = 0.95, resamples: Int = 2000,
                                           seed: UInt64 = 1) -> ClosedRange<Double>? {
    guard !negativesA.isEmpty, !positivesA.isEmpty,
          negativesA.count == negativesB.count, positivesA.count == positivesB.count else { return nil }
    return bootstrapAUROC([ResampledAUROC(negatives: negativesA, positives: positivesA),
                           ResampledAUROC(negatives: negativesB, positives: positivesB)],
                          confidence: confidence, resamples: resamples, seed: seed) { $0[0] - $0[1] }
}

/// Resamples the images of `models` (all scored on the same images) together and returns the
/// percentile interval of `statistic` over their resampled AUROCs.
private func bootstrapAUROC(_ models: [ResampledAUROC], confidence: Double, resamples: Int, seed: UInt64,
                            statistic: ([Double]) -> Double) -> ClosedRange<Double>? {
    guard resamples > 1 else { return nil }
    var weights = BootstrapWeights(negatives: models[0].negativeCount, positives: models[0].positiveCount, seed: seed)
    var values: [Double] = []
    values.reserveCapacity(resamples)
    for _ in 0..<resamples {
        weights.draw()
        values.append(statistic(models.map { $0.area(weights) }))
    }
    return percentileInterval(values, confidence: confidence)
}

/// The central `confidence` share of `values` (percentile method, type-7 quantiles).
public func percentileInterval(_ values: [Double], confidence: Double) -> ClosedRange<Double> {
    let sorted = values.sorted()
    let alpha = 1 - min(max(confidence, 0), 1)
    return quantile(sorted: sorted, alpha / 2)...quantile(sorted: sorted, 1 - alpha / 2)
}

/// How many times each image is drawn in one bootstrap resample (goods and defects apart).
private struct BootstrapWeights {
    var negatives: [Int], positives: [Int]
    var rng: SplitMix64

    init(negatives n: Int, positives p: Int, seed: UInt64) {
        negatives = [Int](repeating: 0, count: n)
        positives = [Int](repeating: 0, count: p)
        rng = SplitMix64(seed: seed)
    }

    mutating func draw() {
        let n = negatives.count, p = positives.count
        for i in 0..<n { negatives[i] = 0 }
        for i in 0..<p { positives[i] = 0 }
        for _ in 0..<n { negatives[Int.random(in: 0..<n, using: &rng)] += 1 }
        for _ in 0..<p { positives[Int.random(in: 0..<p, using: &rng)] += 1 }
    }
}

/// One model's scores sorted once into tie groups, so that the AUROC of a resample (the same
/// images, drawn with repeats) costs O(n) instead of a sort.
private struct ResampledAUROC {
    /// Sorted (score, is defect, index into that side's weights).
    let members: [(Double, Bool, Int)]
    /// Start of each tie group in `members`, then `members.count`.
    let groupStarts: [Int]
    let negativeCount: Int, positiveCount: Int

    init(negatives: [Double], positives: [Double]) {
        negativeCount = negatives.count
        positiveCount = positives.count
        members = (negatives.enumerated().map { ($0.element, false, $0.offset) } +
                   positives.enumerated().map { ($0.element, true, $0.offset) }).sorted { $0.0 < $1.0 }
        var starts: [Int] = []
        for (i, m) in members.enumerated() where i == 0 || m.0 != members[i - 1].0 { starts.append(i) }
        starts.append(members.count)
        groupStarts = starts
    }

    func area(_ w: BootstrapWeights) -> Double {
        var below = 0.0, total = 0.0
        for g in 0..<(groupStarts.count - 1) {
            var gn = 0, gp = 0
            for m in groupStarts[g]..<groupStarts[g + 1] {
                if members[m].1 { gp += w.positives[members[m].2] } else { gn += w.negatives[members[m].2] }
            }
            total += Double(gp) * (below + 0.5 * Double(gn))
            below += Double(gn)
        }
        return total / (Double(w.negatives.count) * Double(w.positives.count))
    }
}

/// Clopper-Pearson (exact binomial) interval for `successes` out of `trials`.
public func clopperPearson(successes x: Int, trials n: Int, confidence: Double = 0.95) -> ClosedRange<Double> {
    precondition(n > 0 && x >= 0 && x <= n)
    let alpha = 1 - confidence
    func binomialCDF(_ k: Int, _ p: Double) -> Double {  // P(X <= k)
        if k < 0 { return 0 }
        if k >= n { return 1 }
        var term = pow(1 - p, Double(n))  // P(X = 0)
        var sum = term
        if term == 0 {  // underflow for large n: use logs
            var total = 0.0
            for i in 0...k { total += exp(logChoose(n, i) + Double(i) * log(p) + Double(n - i) * log1p(-p)) }
            return min(1, total)
        }
        if k == 0 { return sum }
        for i in 1...k {
            term *= Double(n - i + 1) / Double(i) * p / (1 - p)
            sum += term
        }
        return min(1, sum)
    }
    func solve(_ f: (Double) -> Double) -> Double {  // f decreasing in p from >0 to <0
        var lo = 0.0, hi = 1.0
        for _ in 0..<100 {
            let mid = (lo + hi) / 2
            if f(mid) > 0 { lo = mid } else { hi = mid }
        }
        return (lo + hi) / 2
    }
    let lower = x == 0 ? 0 : solve { p in (1 - binomialCDF(x - 1, p)) < alpha / 2 ? 1 : -1 }
    let upper = x == n ? 1 : solve { p in binomialCDF(x, p) > alpha / 2 ? 1 : -1 }
    return lower...upper
}

func logChoose(_ n: Int, _ k: Int) -> Double {
    lgammaValue(Double(n + 1)) - lgammaValue(Double(k + 1)) - lgammaValue(Double(n - k + 1))
}

func lgammaValue(_ x: Double) -> Double {
    var sign: Int32 = 0
    return lgamma_r(x, &sign)
}

/// A tiny deterministic generator (SplitMix64) so that calibration is reproducible run to run.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E3779B97F4A7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9
        z = (z ^ (z >> 27)) &* 0x94D049BB133111EB
        return z ^ (z >> 31)
    }
}
