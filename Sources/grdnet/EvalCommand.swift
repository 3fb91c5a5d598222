import ArgumentParser
import Foundation
import GRDAgent
import GRDImaging
import GRDRuntime

/// `grdnet eval`: image and pixel metrics of a model on a data set in the MVTec AD layout, run by
/// the Swift engine that runs on the box (not by the training framework).
struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Measure a model on a labelled data set (MVTec AD layout) and write heatmap overlays.",
        discussion: """
            DATASET/test/good/ holds defect-free images; DATASET/test/<defect>/ defective ones with \
            masks in DATASET/ground_truth/<defect>/<name>_mask.png. Prints image AUROC per defect \
            class, pixel AUROC, pixel average precision and PRO (area under the per-region overlap \
            curve up to 30 % false-positive rate), computed on the model's heatmap at model size. \
            Image and pixel AUROC have a 95 % bootstrap interval (images resampled, goods and defects \
            apart, 2000 resamples, fixed seed): where two models' intervals overlap widely, this data set \
            does not tell them apart. --scores writes every image's score; --baseline takes another \
            model (or its scores file) and gives the paired differences, which resolve far smaller gaps.
            """)

    @Option(help: "The .grdnet model.") var model: String
    @Option(help: "Data set folder in the MVTec AD layout.") var dataset: String
    @Option(help: "int8 or fp32.") var precision = "int8"
    @Option(help: "Worker threads.") var threads = 2
    @Option(help: "ROI mask PNG (default: the model's own ROI).") var roi: String?
    @Option(help: "Write heatmap overlays (PNG) for this many images, spread over the classes.") var overlays = 0
    @Option(name: .customLong("overlay-dir"), help: "Folder for the overlays.") var overlayDir = "eval-overlays"
    @Option(help: "Write each image's class, path and image score here (tab-separated).") var scores: String?
    @Option(help: ArgumentHelp("Another model to compare with on the same images: a .grdnet file (scored here too: image and pixel AUROC) or a --scores file of an earlier run (image AUROC). Prints the paired differences with their 95 % intervals.", valueName: "model-or-scores-file")) var baseline: String?
    @Flag(help: "Print one JSON object instead of tables.") var json = false

    func run() throws {
        let testDir = dataset + "/test"
        try requireFolder(dataset, what: "data set folder")
        if !isFolder(testDir) {
            // The usual slip: pointing at DATASET/test itself.
            if isFolder(dataset + "/good") {
                throw ValidationError("\(dataset) has no test/ folder but a good/ one: it looks like the test folder itself; give --dataset its parent, the folder holding test/ and ground_truth/")
            }
            throw ValidationError("\(testDir) not found: --dataset wants a data set's root folder in the MVTec AD layout (test/good/, test/<defect>/, ground_truth/<defect>/)")
        }
        let classes = try subfolders(of: testDir)
        guard classes.contains("good") else { throw ValidationError("\(testDir)/good not found: is \(dataset) in the MVTec AD layout?") }
        if let path = scores {
            // Checked before the minutes of scoring, not found out after them.
            let folder = (path as NSString).deletingLastPathComponent
            try requireFolder(folder.isEmpty ? "." : folder, what: "folder of the --scores file")
            if isFolder(path) { throw ValidationError("--scores \(path) is a folder; give a file name") }
        }
        // Read before scoring: a wrong file is named at once.
        let baselineSource = try baseline.map { try EvalBaseline.open($0, precision: precision, threads: threads, roiPath: roi) }
        let scorer = try ImageScorer(modelPath: model, precision: precision, threads: threads, roiPath: roi)
        let w = scorer.model.inputWidth, h = scorer.model.inputHeight
        var pixels = PixelMetrics()
        // Per class, the pixels of its images; a defect class's pixel metrics add the good images'.
        var pixelsByClass: [String: PixelMetrics] = [:]
        var imageScores: [String: [Double]] = [:]
        var scoreLines = ImageScoresFile.header + "\n"
        var items: [(cls: String, path: String)] = []
        for c in classes { for p in try imageFiles(in: testDir + "/" + c) { items.append((c, p)) } }
        guard !items.isEmpty else { throw ValidationError("no images under \(testDir)") }
        var baselineScores: [String: [Double]] = [:]
        var basePixels = PixelMetrics()
        if case .scores(let b) = baselineSource {
            let missing = items.filter { b.scores[ImageScoresFile.key(cls: $0.cls, path: $0.path)] == nil }
            if let first = missing.first {
                throw ValidationError("--baseline \(b.path) has no score for \(missing.count) of the \(items.count) images here (first: \(ImageScoresFile.key(cls: first.cls, path: first.path))): was it written on this data set?")
            }
            for item in items { baselineScores[item.cls, default: []].append(b.scores[ImageScoresFile.key(cls: item.cls, path: item.path)]!) }
        }
        let overlayEvery = overlays > 0 ? max(1, items.count / overlays) : Int.max
        if overlays > 0 {
            if FileManager.default.fileExists(atPath: overlayDir) && !isFolder(overlayDir) {
                throw ValidationError("--overlay-dir \(overlayDir) is a file, not a folder")
            }
            do { try FileManager.default.createDirectory(atPath: overlayDir, withIntermediateDirectories: true) } catch {
                throw ValidationError("cannot create the overlay folder \(overlayDir): \(error.localizedDescription)")
            }
        }
        var written = 0
        var missingMasks = 0
        let start = Date()
        for (i, item) in items.enumerated() {
            let score = try scorer.score(path: item.path)
            imageScores[item.cls, default: []].append(Double(score))
            if scores != nil { scoreLines += ImageScoresFile.line(cls: item.cls, path: item.path, score: score) }
            var mask = [UInt8](repeating: 0, count: w * h)
            var maskPath: String?
            if item.cls != "good" {
                let stem = ((item.path as NSString).lastPathComponent as NSString).deletingPathExtension
                let path = "\(dataset)/ground_truth/\(item.cls)/\(stem)_mask.png"
                if FileManager.default.fileExists(atPath: path) {
                    mask = try ImageScorer.maskAtModelSize(path: path, model: scorer.model)
                    maskPath = path
                } else {
                    missingMasks += 1
                }
            }
            pixels.add(heatmap: scorer.engine.heatmap, mask: mask, roi: scorer.roi, width: w, height: h)
            pixelsByClass[item.cls, default: PixelMetrics()].add(heatmap: scorer.engine.heatmap, mask: mask, roi: scorer.roi, width: w, height: h)
            if case .model(let base, _) = baselineSource {
                let baseScore = try base.score(path: item.path)
                baselineScores[item.cls, default: []].append(Double(baseScore))
                let bw = base.model.inputWidth, bh = base.model.inputHeight
                var baseMask = mask
                if bw != w || bh != h {
                    baseMask = try maskPath.map { try ImageScorer.maskAtModelSize(path: $0, model: base.model) }
                        ?? [UInt8](repeating: 0, count: bw * bh)
                }
                basePixels.add(heatmap: base.engine.heatmap, mask: baseMask, roi: base.roi, width: bw, height: bh)
            }
            if i % overlayEvery == 0 && written < overlays {
                let name = "\(item.cls)_\(((item.path as NSString).lastPathComponent as NSString).deletingPathExtension)_score\(fixed(Double(score), 3)).png"
                let overlay = heatmapOverlay(base: scorer.inputImage(), heatmap: scorer.engine.heatmap)
                try writePNG(overlay, path: overlayDir + "/" + name)
                written += 1
            }
            if !json && (i + 1) % 50 == 0 {
                FileHandle.standardError.write(Data("evaluated \(i + 1)/\(items.count) images\n".utf8))
            }
        }
        let seconds = Date().timeIntervalSince(start)
        let good = imageScores["good"] ?? []
        let defectClasses = classes.filter { $0 != "good" }
        var perClass: [(String, Int, Double, ClosedRange<Double>?)] = []
        for c in defectClasses {
            let s = imageScores[c] ?? []
            perClass.append((c, s.count, areaUnderROC(negatives: good, positives: s),
                             areaUnderROCInterval(negatives: good, positives: s)))
        }
        let allDefects = defectClasses.flatMap { imageScores[$0] ?? [] }
        let imageAUROC = areaUnderROC(negatives: good, positives: allDefects)
        let imageInterval = areaUnderROCInterval(negatives: good, positives: allDefects)
        if let path = scores {
            do { try scoreLines.write(toFile: path, atomically: true, encoding: .utf8) } catch {
                throw ValidationError("cannot write the scores file \(path): \(error.localizedDescription)")
            }
        }
        let pixelAUROC = pixels.auroc(), pixelAP = pixels.averagePrecision(), pro = pixels.pro(maxFPR: 0.3)
        let pixelInterval = pixels.aurocInterval()
        // Each defect class against all good images, as the image AUROC per class.
        let goodPixels = pixelsByClass["good"] ?? PixelMetrics()
        let pixelPerClass = defectClasses.map { c in
            let m = goodPixels.merged(with: pixelsByClass[c] ?? PixelMetrics())
            return (name: c, auroc: m.auroc(), interval: m.aurocInterval(), ap: m.averagePrecision(), pro: m.pro(maxFPR: 0.3))
        }
        // Paired comparison with the baseline: the same images, resampled together.
        var comparison: [(name: String, this: Double, base: Double, interval: ClosedRange<Double>?)] = []
        var pixelComparison: (name: String, this: Double, base: Double, interval: ClosedRange<Double>?)?
        if baselineSource != nil {
            let baseGood = baselineScores["good"] ?? []
            func compare(_ name: String, _ mine: [Double], _ theirs: [Double]) {
                comparison.append((name, areaUnderROC(negatives: good, positives: mine),
                                   areaUnderROC(negatives: baseGood, positives: theirs),
                                   areaUnderROCDifferenceInterval(negativesA: good, positivesA: mine,
                                                                  negativesB: baseGood, positivesB: theirs)))
            }
            for c in defectClasses { compare(c, imageScores[c] ?? [], baselineScores[c] ?? []) }
            compare("all defects", allDefects, defectClasses.flatMap { baselineScores[$0] ?? [] })
        }
        if case .model = baselineSource, pixelAUROC.isFinite, basePixels.auroc().isFinite {
            pixelComparison = ("pixels", pixelAUROC, basePixels.auroc(), PixelMetrics.aurocDifferenceInterval(pixels, basePixels))
        }

        if json {
            var o: [String: Any] = [
                "model": model, "dataset": dataset, "precision": precision, "threads": threads,
                "images": items.count, "good_images": good.count, "defective_images": allDefects.count,
                "image_auroc": imageAUROC, "pixel_auroc": pixelAUROC, "pixel_ap": pixelAP, "pro_0_3": pro,
                "seconds": seconds, "missing_masks": missingMasks, "overlays_written": written,
            ]
            o["image_auroc_per_class"] = Dictionary(uniqueKeysWithValues: perClass.map { ($0.0, $0.2) })
            func pair(_ r: ClosedRange<Double>?) -> Any { r.map { [$0.lowerBound, $0.upperBound] } ?? NSNull() }
            o["image_auroc_ci95"] = pair(imageInterval)
            o["pixel_auroc_ci95"] = pair(pixelInterval)
            o["image_auroc_ci95_per_class"] = Dictionary(uniqueKeysWithValues: perClass.map { ($0.0, pair($0.3)) })
            o["pixel_per_class"] = Dictionary(uniqueKeysWithValues: pixelPerClass.map {
                ($0.name, ["pixel_auroc": $0.auroc, "pixel_auroc_ci95": pair($0.interval), "pixel_ap": $0.ap, "pro_0_3": $0.pro] as [String: Any])
            })
            if let path = scores { o["scores_file"] = path }
            if let b = baselineSource {
                func row(_ r: (name: String, this: Double, base: Double, interval: ClosedRange<Double>?)) -> [String: Any] {
                    ["image_auroc": r.base, "difference": r.this - r.base, "difference_ci95": pair(r.interval)]
                }
                var base = row(comparison.last!)
                base["file"] = b.path
                if case .model = b { base["kind"] = "model" } else { base["kind"] = "scores" }
                if let r = pixelComparison {
                    base["pixel_auroc"] = r.base
                    base["pixel_difference"] = r.this - r.base
                    base["pixel_difference_ci95"] = pair(r.interval)
                }
                base["per_class"] = Dictionary(uniqueKeysWithValues: comparison.dropLast().map { ($0.name, row($0)) })
                o["baseline"] = base
            }
            try printJSONObject(o)
            return
        }
        func interval(_ r: ClosedRange<Double>?) -> String {
            r.map { "\(fixed($0.lowerBound * 100, 1)) - \(fixed($0.upperBound * 100, 1))" } ?? "-"
        }
        var t = TextTable(["class", "images", "image AUROC %", "95 % interval"])
        t.add(["good", String(good.count), "-", "-"])
        for (c, n, a, r) in perClass { t.add([c, String(n), fixed(a * 100, 2), interval(r)]) }
        t.add(["all defects", String(allDefects.count), fixed(imageAUROC * 100, 2), interval(imageInterval)])
        print("model \(model) (\(precision), \(threads) thread\(threads == 1 ? "" : "s")) on \(dataset): \(items.count) images in \(fixed(seconds, 1)) s")
        print(t.render())
        var p = TextTable(["pixels (model size \(w)x\(h))", "pixel AUROC %", "95 % interval", "pixel AP %", "PRO % (FPR <= 30 %)"])
        // NaN: no defect pixel in any mask, so nothing to rank; say so rather than print "nan".
        func percent(_ v: Double) -> String { v.isFinite ? fixed(v * 100, 2) : "-" }
        for r in pixelPerClass { p.add([r.name + " + good", percent(r.auroc), interval(r.interval), percent(r.ap), percent(r.pro)]) }
        p.add(["all images", percent(pixelAUROC), interval(pixelInterval), percent(pixelAP), percent(pro)])
        print("")
        print(p.render())
        if !pixelAUROC.isFinite { print("no defect pixels in any mask: the pixel metrics cannot be computed") }
        if missingMasks > 0 { print("warning: \(missingMasks) defective images had no mask (counted as all-good pixels)") }
        if written > 0 { print("\(written) heatmap overlays written to \(overlayDir)/") }
        if let path = scores { print("image scores written to \(path)") }
        if let b = baselineSource {
            print("")
            print("against the baseline \(b.path), AUROC on the same \(items.count) images (paired bootstrap, 2000 resamples):")
            var c = TextTable(["AUROC of", "this model %", "baseline %", "difference", "95 % interval", "verdict"])
            for r in comparison + (pixelComparison.map { [$0] } ?? []) {
                let verdict: String
                if let i = r.interval, i.lowerBound > 0 { verdict = "this model better" }
                else if let i = r.interval, i.upperBound < 0 { verdict = "baseline better" }
                else { verdict = "not told apart" }
                let interval = r.interval.map { "\(signed($0.lowerBound * 100)) to \(signed($0.upperBound * 100))" } ?? "-"
                c.add([r.name, fixed(r.this * 100, 2), fixed(r.base * 100, 2), signed((r.this - r.base) * 100), interval, verdict])
            }
            print(c.render())
            if case .scores = b { print("(a scores file holds image scores only; give the baseline's .grdnet to compare pixel AUROC too)") }
        }
    }

    private func signed(_ v: Double) -> String { (v >= 0 ? "+" : "") + fixed(v, 2) }
}

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
        values.sort()
        let alpha = 1 - min(max(confidence, 0), 1)
        return quantile(sorted: values, alpha / 2)...quantile(sorted: values, 1 - alpha / 2)
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
