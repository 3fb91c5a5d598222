import ArgumentParser
import Foundation
import GRDAgent

/// `grdnet calibrate`: proposes a reject threshold from good parts only, for a target
/// false-reject rate, with a confidence interval.
struct CalibrateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "calibrate",
        abstract: "Propose a reject threshold from good parts for a target false-reject rate.",
        discussion: """
            Scores good parts (image folders, or a list file of image paths), fits the upper tail of \
            their scores and proposes the threshold at which the target share of good parts would be \
            rejected, with a confidence interval. With --defects, also prints the expected miss rate \
            and AUROC. With --check-good, scores other good parts and checks that their measured \
            false-reject rate agrees with the prediction.
            """)

    @Option(help: "The .grdnet model.") var model: String
    @Option(help: "Folder of good images (repeatable).") var good: [String] = []
    @Option(name: .customLong("good-list"), help: "Text file with one good image path per line.") var goodList: String?
    @Option(help: "Folder of defective images, or a folder of class folders (repeatable; a 'good' class folder is skipped).") var defects: [String] = []
    @Option(name: .customLong("check-good"), help: "Folder of other good images to check the predicted false-reject rate on.") var checkGood: String?
    @Option(name: .customLong("target-frr"), help: "Target false-reject rate, e.g. 0.1% or 0.001.") var targetFRR = "0.1%"
    @Option(help: "Confidence of the interval, e.g. 95%.") var confidence = "95%"
    @Option(help: "ROI mask PNG (default: the model's own ROI).") var roi: String?
    @Option(help: "int8 or fp32.") var precision = "int8"
    @Option(help: "Worker threads.") var threads = 2
    @Flag(help: "Print one JSON object instead of a table.") var json = false

    func run() throws {
        let target = try parseRate(targetFRR)
        let conf = try parseRate(confidence)
        var goodPaths: [String] = []
        for folder in good { goodPaths += try imageFiles(in: folder) }
        if let list = goodList {
            guard let text = try? String(contentsOfFile: list, encoding: .utf8) else {
                throw ValidationError("cannot read the list file \(list)")
            }
            let base = (list as NSString).deletingLastPathComponent
            for line in text.split(separator: "\n") {
                let p = line.trimmingCharacters(in: .whitespaces)
                if p.isEmpty || p.hasPrefix("#") { continue }
                goodPaths.append(p.hasPrefix("/") ? p : base + "/" + p)
            }
        }
        guard !goodPaths.isEmpty else { throw ValidationError("no good images: give --good DIR or --good-list FILE") }

        let scorer = try ImageScorer(modelPath: model, precision: precision, threads: threads, roiPath: roi)
        let goodScores = try scoreAll(goodPaths, scorer: scorer, what: "good")
        var defectScores: [Double]? = nil
        if !defects.isEmpty {
            var paths: [String] = []
            for folder in defects {
                let classes = try subfolders(of: folder).filter { $0 != "good" }
                if classes.isEmpty { paths += try imageFiles(in: folder) }
                for c in classes { paths += try imageFiles(in: folder + "/" + c) }
            }
            defectScores = try scoreAll(paths, scorer: scorer, what: "defective")
        }

        let calibration = ThresholdCalibration(confidence: conf)
        let r: ThresholdCalibration.Result
        do {
            r = try calibration.calibrate(goodScores: goodScores, targetFalseRejectRate: target, defectScores: defectScores)
        } catch {
            throw ValidationError("\(error)")
        }

        var check: (n: Int, rejected: Int, interval: ClosedRange<Double>)? = nil
        if let folder = checkGood {
            let scores = try scoreAll(try imageFiles(in: folder), scorer: scorer, what: "check")
            let rejected = scores.filter { $0 >= r.threshold }.count
            check = (scores.count, rejected, clopperPearson(successes: rejected, trials: scores.count, confidence: conf))
        }

        let sorted = goodScores.sorted()
        if json {
            var o: [String: Any] = [
                "model": model, "precision": precision, "good_parts": r.goodCount,
                "target_false_reject_rate": target, "confidence": conf,
                "threshold": r.threshold, "method": r.method.rawValue,
                "threshold_interval": [r.thresholdInterval.lowerBound, r.thresholdInterval.upperBound],
                "false_reject_rate_interval": [r.falseRejectRateInterval.lowerBound, r.falseRejectRateInterval.upperBound],
                "in_sample_false_reject_rate": r.inSampleFalseRejectRate,
                "good_score_min": sorted.first!, "good_score_median": quantile(sorted: sorted, 0.5),
                "good_score_p99": quantile(sorted: sorted, 0.99), "good_score_max": sorted.last!,
            ]
            if let s = r.tailShape { o["tail_shape"] = s }
            if let s = r.tailScale { o["tail_scale"] = s }
            if let m = r.missRate { o["miss_rate"] = m; o["defective_parts"] = defectScores!.count }
            if let a = r.auroc { o["auroc"] = a }
            if let c = check {
                o["check_good_parts"] = c.n
                o["check_rejected"] = c.rejected
                o["check_false_reject_rate"] = Double(c.rejected) / Double(c.n)
                o["check_false_reject_rate_interval"] = [c.interval.lowerBound, c.interval.upperBound]
                o["check_consistent"] = c.interval.overlaps(r.falseRejectRateInterval)
            }
            try printJSONObject(o)
            return
        }

        func pct(_ v: Double) -> String { fixed(v * 100, 3) + " %" }
        var t = TextTable(["calibration", "value"])
        t.add(["model", model + " (\(precision))"])
        t.add(["good parts scored", String(r.goodCount)])
        t.add(["good scores min / median / p99 / max",
               [sorted.first!, quantile(sorted: sorted, 0.5), quantile(sorted: sorted, 0.99), sorted.last!].map { fixed($0, 4) }.joined(separator: " / ")])
        t.add(["target false-reject rate", pct(target)])
        t.add(["method", r.method.rawValue + (r.tailShape.map { " (shape \(fixed($0, 3)), scale \(fixed(r.tailScale!, 4)))" } ?? "")])
        t.add(["proposed threshold", fixed(r.threshold, 4)])
        t.add(["threshold \(fixed(conf * 100, 0)) % interval", "\(fixed(r.thresholdInterval.lowerBound, 4)) ... \(fixed(r.thresholdInterval.upperBound, 4))"])
        t.add(["predicted false-reject rate, \(fixed(conf * 100, 0)) % interval", "\(pct(r.falseRejectRateInterval.lowerBound)) ... \(pct(r.falseRejectRateInterval.upperBound))"])
        t.add(["false-reject rate on these good parts", pct(r.inSampleFalseRejectRate)])
        if let m = r.missRate, let a = r.auroc {
            t.add(["defective parts scored", String(defectScores!.count)])
            t.add(["expected miss rate (defects passed)", pct(m)])
            t.add(["AUROC (good vs defective)", fixed(a * 100, 2) + " %"])
        }
        if let c = check {
            t.add(["check: good parts", String(c.n)])
            t.add(["check: rejected", "\(c.rejected) (\(pct(Double(c.rejected) / Double(c.n))))"])
            t.add(["check: measured rate, \(fixed(conf * 100, 0)) % interval", "\(pct(c.interval.lowerBound)) ... \(pct(c.interval.upperBound))"])
            t.add(["check: agrees with prediction", c.interval.overlaps(r.falseRejectRateInterval) ? "yes" : "NO"])
        }
        print(t.render())
        print("\nApply it to a running daemon with: grdnet threshold \(fixed(r.threshold, 4))")
    }

    private func scoreAll(_ paths: [String], scorer: ImageScorer, what: String) throws -> [Double] {
        var scores: [Double] = []
        scores.reserveCapacity(paths.count)
        var failures = 0
        for (i, p) in paths.enumerated() {
            do {
                scores.append(Double(try scorer.score(path: p)))
            } catch {
                failures += 1
                FileHandle.standardError.write(Data("skipped \(p): \(error)\n".utf8))
            }
            if !json && (i + 1) % 50 == 0 {
                FileHandle.standardError.write(Data("scored \(i + 1)/\(paths.count) \(what) images\n".utf8))
            }
        }
        if failures > 0 {
            FileHandle.standardError.write(Data("\(failures) of \(paths.count) \(what) images could not be scored\n".utf8))
        }
        return scores
    }
}
