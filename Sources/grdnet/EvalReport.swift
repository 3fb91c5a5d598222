import Foundation
import GRDAgent

/// What `grdnet eval` measured: computed once from the scores and pixel histograms, then printed
/// as tables or as one JSON object, so the two outputs cannot disagree.
struct EvalReport {
    struct ImageRow { var name: String, count: Int, auroc: Double, interval: ClosedRange<Double>? }
    struct PixelRow { var name: String, auroc: Double, interval: ClosedRange<Double>?, ap: Double, pro: Double }
    /// One paired comparison: this model's AUROC, the baseline's, the interval of the difference.
    struct Comparison { var name: String, this: Double, base: Double, interval: ClosedRange<Double>? }

    var model = "", dataset = "", precision = "", threads = 0
    var images = 0, seconds = 0.0, modelWidth = 0, modelHeight = 0
    var missingMasks = 0, overlaysWritten = 0, overlayDir = "", scoresFile: String?
    var goodCount = 0
    var imageRows: [ImageRow] = []
    var allDefects = ImageRow(name: "all defects", count: 0, auroc: .nan, interval: nil)
    var pixelRows: [PixelRow] = []
    var allPixels = PixelRow(name: "all images", auroc: .nan, interval: nil, ap: .nan, pro: .nan)
    var baselinePath: String?, baselineIsModel = false
    var comparisons: [Comparison] = []
    var pixelComparison: Comparison?

    /// Metrics of `imageScores` (per class, in image order) and of the pixel histograms; each
    /// defect class is measured against all good images. With a baseline, the paired comparisons.
    mutating func measure(defectClasses: [String], imageScores: [String: [Double]],
                          pixels: PixelMetrics, pixelsByClass: [String: PixelMetrics],
                          baselineScores: [String: [Double]]?, basePixels: PixelMetrics?) {
        let good = imageScores["good"] ?? []
        goodCount = good.count
        imageRows = defectClasses.map { c in
            let s = imageScores[c] ?? []
            return ImageRow(name: c, count: s.count, auroc: areaUnderROC(negatives: good, positives: s),
                            interval: areaUnderROCInterval(negatives: good, positives: s))
        }
        let defects = defectClasses.flatMap { imageScores[$0] ?? [] }
        allDefects = ImageRow(name: "all defects", count: defects.count, auroc: areaUnderROC(negatives: good, positives: defects),
                              interval: areaUnderROCInterval(negatives: good, positives: defects))
        let goodPixels = pixelsByClass["good"] ?? PixelMetrics()
        pixelRows = defectClasses.map { c in
            PixelRow(metrics: goodPixels.merged(with: pixelsByClass[c] ?? PixelMetrics()), name: c + " + good")
        }
        allPixels = PixelRow(metrics: pixels, name: "all images")
        guard let baseScores = baselineScores else { return }
        let baseGood = baseScores["good"] ?? []
        func compare(_ name: String, _ mine: [Double], _ theirs: [Double]) -> Comparison {
            Comparison(name: name, this: areaUnderROC(negatives: good, positives: mine),
                       base: areaUnderROC(negatives: baseGood, positives: theirs),
                       interval: areaUnderROCDifferenceInterval(negativesA: good, positivesA: mine,
                                                                negativesB: baseGood, positivesB: theirs))
        }
        comparisons = defectClasses.map { compare($0, imageScores[$0] ?? [], baseScores[$0] ?? []) }
        comparisons.append(compare("all defects", defects, defectClasses.flatMap { baseScores[$0] ?? [] }))
        if let basePixels, allPixels.auroc.isFinite, basePixels.auroc().isFinite {
            pixelComparison = Comparison(name: "pixels", this: allPixels.auroc, base: basePixels.auroc(),
                                         interval: PixelMetrics.aurocDifferenceInterval(pixels, basePixels))
        }
    }

    func jsonObject() -> [String: Any] {
        func pair(_ r: ClosedRange<Double>?) -> Any { r.map { [$0.lowerBound, $0.upperBound] } ?? NSNull() }
        var o: [String: Any] = [
            "model": model, "dataset": dataset, "precision": precision, "threads": threads,
            "images": images, "good_images": goodCount, "defective_images": allDefects.count,
            "image_auroc": allDefects.auroc, "pixel_auroc": allPixels.auroc, "pixel_ap": allPixels.ap,
            "pro_0_3": allPixels.pro, "seconds": seconds, "missing_masks": missingMasks,
            "overlays_written": overlaysWritten,
        ]
        o["image_auroc_per_class"] = Dictionary(uniqueKeysWithValues: imageRows.map { ($0.name, $0.auroc) })
        o["image_auroc_ci95"] = pair(allDefects.interval)
        o["pixel_auroc_ci95"] = pair(allPixels.interval)
        o["image_auroc_ci95_per_class"] = Dictionary(uniqueKeysWithValues: imageRows.map { ($0.name, pair($0.interval)) })
        o["pixel_per_class"] = Dictionary(uniqueKeysWithValues: zip(imageRows, pixelRows).map { image, r in
            (image.name, ["pixel_auroc": r.auroc, "pixel_auroc_ci95": pair(r.interval), "pixel_ap": r.ap, "pro_0_3": r.pro] as [String: Any])
        })
        if let scoresFile { o["scores_file"] = scoresFile }
        if let baselinePath, let all = comparisons.last {
            func row(_ r: Comparison) -> [String: Any] {
                ["image_auroc": r.base, "difference": r.this - r.base, "difference_ci95": pair(r.interval)]
            }
            var base = row(all)
            base["file"] = baselinePath
            base["kind"] = baselineIsModel ? "model" : "scores"
            if let r = pixelComparison {
                base["pixel_auroc"] = r.base
                base["pixel_difference"] = r.this - r.base
                base["pixel_difference_ci95"] = pair(r.interval)
            }
            base["per_class"] = Dictionary(uniqueKeysWithValues: comparisons.dropLast().map { ($0.name, row($0)) })
            o["baseline"] = base
        }
        return o
    }

    func printTables() {
        func interval(_ r: ClosedRange<Double>?) -> String {
            r.map { "\(fixed($0.lowerBound * 100, 1)) - \(fixed($0.upperBound * 100, 1))" } ?? "-"
        }
        // NaN: no defect pixel in any mask, so nothing to rank; "-" rather than "nan".
        func percent(_ v: Double) -> String { v.isFinite ? fixed(v * 100, 2) : "-" }
        func signed(_ v: Double) -> String { (v >= 0 ? "+" : "") + fixed(v, 2) }

        var t = TextTable(["class", "images", "image AUROC %", "95 % interval"])
        t.add(["good", String(goodCount), "-", "-"])
        for r in imageRows + [allDefects] { t.add([r.name, String(r.count), fixed(r.auroc * 100, 2), interval(r.interval)]) }
        print("model \(model) (\(precision), \(threads) thread\(threads == 1 ? "" : "s")) on \(dataset): \(images) images in \(fixed(seconds, 1)) s")
        print(t.render())
        var p = TextTable(["pixels (model size \(modelWidth)x\(modelHeight))", "pixel AUROC %", "95 % interval", "pixel AP %", "PRO % (FPR <= 30 %)"])
        for r in pixelRows + [allPixels] { p.add([r.name, percent(r.auroc), interval(r.interval), percent(r.ap), percent(r.pro)]) }
        print("")
        print(p.render())
        if !allPixels.auroc.isFinite { print("no defect pixels in any mask: the pixel metrics cannot be computed") }
        if missingMasks > 0 { print("warning: \(missingMasks) defective images had no mask (counted as all-good pixels)") }
        if overlaysWritten > 0 { print("\(overlaysWritten) heatmap overlays written to \(overlayDir)/") }
        if let scoresFile { print("image scores written to \(scoresFile)") }
        guard let baselinePath else { return }
        print("")
        print("against the baseline \(baselinePath), AUROC on the same \(images) images (paired bootstrap, 2000 resamples):")
        var c = TextTable(["AUROC of", "this model %", "baseline %", "difference", "95 % interval", "verdict"])
        for r in comparisons + (pixelComparison.map { [$0] } ?? []) {
            let verdict: String
            if let i = r.interval, i.lowerBound > 0 { verdict = "this model better" }
            else if let i = r.interval, i.upperBound < 0 { verdict = "baseline better" }
            else { verdict = "not told apart" }
            let range = r.interval.map { "\(signed($0.lowerBound * 100)) to \(signed($0.upperBound * 100))" } ?? "-"
            c.add([r.name, fixed(r.this * 100, 2), fixed(r.base * 100, 2), signed((r.this - r.base) * 100), range, verdict])
        }
        print(c.render())
        if !baselineIsModel { print("(a scores file holds image scores only; give the baseline's .grdnet to compare pixel AUROC too)") }
    }
}

extension EvalReport.PixelRow {
    init(metrics m: PixelMetrics, name: String) {
        self.init(name: name, auroc: m.auroc(), interval: m.aurocInterval(), ap: m.averagePrecision(), pro: m.pro(maxFPR: 0.3))
    }
}
