import GRDAgent

/// Pixel-level metrics from binned heatmap values: memory stays constant however many images are
/// evaluated, and the binning error (1/4096 of the score range) is far below the metrics' noise.
struct PixelMetrics {
    static let bins = 4096
    var positives = [UInt64](repeating: 0, count: bins)
    var negatives = [UInt64](repeating: 0, count: bins)
    /// Per ground-truth region: a histogram of its pixels' values (for PRO).
    var regions: [[UInt32]] = []
    /// Per image, coarser histograms of its good and defect pixels: the bootstrap of pixel AUROC
    /// resamples images (pixels of one image are not independent). 1024 bins keep 2000 resamples
    /// of a few hundred images under a second; the binning moves AUROC far less than the interval.
    static let intervalBins = 1024
    var imageNegatives: [[UInt32]] = [], imagePositives: [[UInt32]] = []

    static func bin(_ v: Float) -> Int {
        let c = min(max(v, 0), 1)
        return min(bins - 1, Int(c * Float(bins)))
    }

    mutating func add(heatmap: UnsafeBufferPointer<Float>, mask: [UInt8], roi: [UInt8]?, width: Int, height: Int) {
        var imageNeg = [UInt32](repeating: 0, count: PixelMetrics.intervalBins), imagePos = imageNeg
        let coarse = PixelMetrics.bins / PixelMetrics.intervalBins
        for i in 0..<(width * height) {
            let v = (roi.map { $0[i] == 0 } ?? false) ? 0 : heatmap[i]
            let b = PixelMetrics.bin(v)
            if mask[i] != 0 { positives[b] += 1; imagePos[b / coarse] += 1 } else { negatives[b] += 1; imageNeg[b / coarse] += 1 }
        }
        imageNegatives.append(imageNeg)
        imagePositives.append(imagePos)
        // Connected ground-truth regions (8-connectivity), each with its own value histogram.
        var label = [Int32](repeating: 0, count: width * height)
        var stack: [Int] = []
        var next: Int32 = 0
        for start in 0..<(width * height) where mask[start] != 0 && label[start] == 0 {
            next += 1
            var hist = [UInt32](repeating: 0, count: PixelMetrics.bins)
            stack.append(start)
            label[start] = next
            while let p = stack.popLast() {
                let v = (roi.map { $0[p] == 0 } ?? false) ? 0 : heatmap[p]
                hist[PixelMetrics.bin(v)] += 1
                let x = p % width, y = p / width
                for dy in -1...1 {
                    for dx in -1...1 where dx != 0 || dy != 0 {
                        let nx = x + dx, ny = y + dy
                        guard nx >= 0, ny >= 0, nx < width, ny < height else { continue }
                        let q = ny * width + nx
                        if mask[q] != 0 && label[q] == 0 { label[q] = next; stack.append(q) }
                    }
                }
            }
            regions.append(hist)
        }
    }

    /// P(positive pixel > negative pixel) + 0.5 P(same bin).
    func auroc() -> Double {
        let np = Double(positives.reduce(0, +)), nn = Double(negatives.reduce(0, +))
        guard np > 0, nn > 0 else { return .nan }
        var negBelow = 0.0, sum = 0.0
        for b in 0..<PixelMetrics.bins {
            sum += Double(positives[b]) * (negBelow + 0.5 * Double(negatives[b]))
            negBelow += Double(negatives[b])
        }
        return sum / (np * nn)
    }

    /// The metrics of both image sets together (a defect class with the good images).
    func merged(with other: PixelMetrics) -> PixelMetrics {
        var m = self
        for b in 0..<PixelMetrics.bins { m.positives[b] += other.positives[b]; m.negatives[b] += other.negatives[b] }
        m.regions += other.regions
        m.imageNegatives += other.imageNegatives
        m.imagePositives += other.imagePositives
        return m
    }

    /// Percentile-bootstrap interval of `auroc()`: images with and without defect pixels are
    /// resampled apart (as the image AUROC's goods and defects), each drawn image adding all its
    /// pixels. Nil when there are no defect or no good pixels.
    func aurocInterval(confidence: Double = 0.95, resamples: Int = 2000, seed: UInt64 = 1) -> ClosedRange<Double>? {
        PixelMetrics.bootstrap([self], confidence: confidence, resamples: resamples, seed: seed) { $0[0] }
    }

    /// Paired-bootstrap interval of `a.auroc() - b.auroc()` for two models on the same images in
    /// the same order: each resample draws the images once for both.
    static func aurocDifferenceInterval(_ a: PixelMetrics, _ b: PixelMetrics, confidence: Double = 0.95,
                                        resamples: Int = 2000, seed: UInt64 = 1) -> ClosedRange<Double>? {
        guard a.imagePositives.count == b.imagePositives.count else { return nil }
        return bootstrap([a, b], confidence: confidence, resamples: resamples, seed: seed) { $0[0] - $0[1] }
    }

    /// Resamples the images of `metrics` (all on the same images), evaluates `statistic` on their
    /// resampled pixel AUROCs, and returns its percentile interval. Strata come from the first.
    private static func bootstrap(_ metrics: [PixelMetrics], confidence: Double, resamples: Int, seed: UInt64,
                                  statistic: ([Double]) -> Double) -> ClosedRange<Double>? {
        let first = metrics[0]
        let withDefects = first.imagePositives.indices.filter { first.imagePositives[$0].contains { $0 > 0 } }
        let without = first.imagePositives.indices.filter { !first.imagePositives[$0].contains { $0 > 0 } }
        guard !withDefects.isEmpty, resamples > 1, first.negatives.contains(where: { $0 > 0 }) else { return nil }
        var rng = SplitMix64(seed: seed)
        var weight = [Int](repeating: 0, count: first.imagePositives.count)
        var neg = [Double](repeating: 0, count: intervalBins), pos = neg
        var values: [Double] = []
        values.reserveCapacity(resamples)
        for _ in 0..<resamples {
            for i in weight.indices { weight[i] = 0 }
            for group in [withDefects, without] where !group.isEmpty {
                for _ in group.indices { weight[group[Int.random(in: 0..<group.count, using: &rng)]] += 1 }
            }
            let aucs = metrics.map { $0.resampledAUROC(weight, neg: &neg, pos: &pos) }
            if aucs.allSatisfy({ $0.isFinite }) { values.append(statistic(aucs)) }
        }
        guard values.count > 1 else { return nil }
        return percentileInterval(values, confidence: confidence)
    }

    /// Pixel AUROC over the images drawn `weight[i]` times each (coarse bins); NaN if a side is empty.
    private func resampledAUROC(_ weight: [Int], neg: inout [Double], pos: inout [Double]) -> Double {
        let bins = PixelMetrics.intervalBins
        for b in 0..<bins { neg[b] = 0; pos[b] = 0 }
        for (i, w) in weight.enumerated() where w > 0 {
            let d = Double(w)
            imageNegatives[i].withUnsafeBufferPointer { h in for b in 0..<bins { neg[b] += d * Double(h[b]) } }
            imagePositives[i].withUnsafeBufferPointer { h in for b in 0..<bins { pos[b] += d * Double(h[b]) } }
        }
        var below = 0.0, sum = 0.0, np = 0.0
        for b in 0..<bins {
            sum += pos[b] * (below + 0.5 * neg[b])
            below += neg[b]
            np += pos[b]
        }
        return np > 0 && below > 0 ? sum / (np * below) : .nan
    }

    /// Average precision: sum over thresholds (high to low) of precision x recall increment.
    func averagePrecision() -> Double {
        let np = Double(positives.reduce(0, +))
        guard np > 0 else { return .nan }
        var tp = 0.0, fp = 0.0, ap = 0.0
        for b in stride(from: PixelMetrics.bins - 1, through: 0, by: -1) {
            let dtp = Double(positives[b])
            tp += dtp
            fp += Double(negatives[b])
            if dtp > 0 { ap += (dtp / np) * (tp / (tp + fp)) }
        }
        return ap
    }

    /// Area under the PRO curve for false-positive rates in [0, maxFPR], normalised to [0, 1].
    func pro(maxFPR: Double) -> Double {
        let nn = Double(negatives.reduce(0, +))
        guard nn > 0, !regions.isEmpty else { return .nan }
        let sizes = regions.map { Double($0.reduce(0, +)) }
        var regionAbove = [Double](repeating: 0, count: regions.count)
        var negAbove = 0.0
        var lastFPR = 0.0, lastPRO = 0.0, area = 0.0
        for b in stride(from: PixelMetrics.bins - 1, through: 0, by: -1) {
            negAbove += Double(negatives[b])
            var pro = 0.0
            for r in 0..<regions.count {
                regionAbove[r] += Double(regions[r][b])
                pro += regionAbove[r] / sizes[r]
            }
            pro /= Double(regions.count)
            let fpr = negAbove / nn
            if fpr > maxFPR {
                // Interpolate the last segment up to maxFPR.
                let t = (maxFPR - lastFPR) / max(fpr - lastFPR, 1e-12)
                let proAtMax = lastPRO + t * (pro - lastPRO)
                area += (maxFPR - lastFPR) * (lastPRO + proAtMax) / 2
                return area / maxFPR
            }
            area += (fpr - lastFPR) * (lastPRO + pro) / 2
            lastFPR = fpr
            lastPRO = pro
        }
        return area / maxFPR
    }
}
