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

            With --live N, scores the next N parts a running grdnetd inspects instead (send good parts \
            past the camera meanwhile): no model or images needed, the daemon's own scores are used. \
            --apply then sets the proposed threshold live, --write-config FILE writes it into the \
            configuration (comments and layout kept; checked with the daemon's parser first).
            """)

    @Option(help: "The .grdnet model (not with --live).") var model: String?
    @Option(help: "Folder of good images (repeatable).") var good: [String] = []
    @Option(help: "Score the next N parts of the running daemon (they must be good parts).") var live: Int?
    @Option(help: "With --live: the daemon's camera (needed when it has several).") var camera: String?
    @Option(help: "With --live: seconds to wait for the N parts.") var timeout: Double = 600
    @Option(name: .customLong("socket"), help: "The daemon's control socket (default: $GRDNET_SOCKET or /run/grdnet/grdnet.sock).") var socketPath: String?
    @Flag(help: "Set the proposed threshold live in the running daemon (persisted by the daemon).") var apply = false
    @Option(name: .customLong("write-config"), help: "Write the proposed threshold into this grdnetd configuration file.") var writeConfig: String?
    @Option(name: .customLong("good-list"), help: "Text file with one good image path per line.") var goodList: String?
    @Option(help: "Folder of defective images, or a folder of class folders (repeatable; a 'good' class folder is skipped).") var defects: [String] = []
    @Option(name: .customLong("check-good"), help: "Folder of other good images to check the predicted false-reject rate on.") var checkGood: String?
    @Option(name: .customLong("target-frr"), help: "Target false-reject rate, e.g. 0.1% or 0.001.") var targetFRR = "0.1%"
    @Option(help: "Confidence of the interval, e.g. 95%.") var confidence = "95%"
    @Option(help: "ROI mask PNG (default: the model's own ROI).") var roi: String?
    @Option(help: "int8 or fp32.") var precision = "int8"
    @Option(help: "Worker threads.") var threads = 2
    @Flag(help: "Print one JSON object instead of a table.") var json = false

    var daemonSocket: String {
        socketPath ?? ProcessInfo.processInfo.environment["GRDNET_SOCKET"] ?? "/run/grdnet/grdnet.sock"
    }

    func validate() throws {
        if let live {
            guard live >= 30 else { throw ValidationError("--live needs at least 30 parts (calibration fits the tail of their scores)") }
            guard model == nil, good.isEmpty, goodList == nil, checkGood == nil else {
                throw ValidationError("--live scores with the daemon's own model: leave out --model, --good, --good-list and --check-good")
            }
            guard timeout > 0 else { throw ValidationError("--timeout must be more than 0 seconds") }
        } else {
            guard model != nil else { throw ValidationError("give --model M with --good DIR, or --live N to score a running daemon's parts") }
        }
    }

    func run() throws {
        let target = try parseRate(targetFRR)
        let conf = try parseRate(confidence)
        if let live { return try runLive(count: live, target: target, conf: conf) }
        let model = self.model!
        var goodPaths: [String] = []
        for folder in good { goodPaths += try imageFiles(in: folder) }
        if let list = goodList { goodPaths += try imageListFile(list) }
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
        if apply || writeConfig != nil {
            try applyAndWrite(Float(r.threshold), camera: camera)
        } else {
            print("\nApply it to a running daemon with: grdnet threshold \(fixed(r.threshold, 4))")
        }
    }

    /// `--live N`: the daemon's scores of the next N parts, the same fit and table.
    private func runLive(count: Int, target: Double, conf: Double) throws {
        let collector = LiveScoreCollector(socketPath: daemonSocket, camera: camera)
        let got: LiveScoreCollector.Collected
        do {
            got = try collector.collect(count: count, timeoutSeconds: timeout) { n, total in
                if !json && (n == total || n % 50 == 0) {
                    FileHandle.standardError.write(Data("scored \(n)/\(total) live parts\n".utf8))
                }
            }
        } catch { throw CLIError("\(error)") }
        let r: ThresholdCalibration.Result
        do {
            r = try ThresholdCalibration(confidence: conf).calibrate(goodScores: got.scores, targetFalseRejectRate: target)
        } catch { throw ValidationError("\(error)") }
        let proposed = Float(r.threshold)
        let sorted = got.scores.sorted()
        if json {
            var o: [String: Any] = [
                "source": "live", "socket": daemonSocket, "camera": got.camera, "good_parts": r.goodCount,
                "daemon_threshold": got.daemonThreshold, "missed_parts": got.missed, "failed_parts": got.failed,
                "seconds": got.seconds, "target_false_reject_rate": target, "confidence": conf,
                "threshold": Double(proposed), "method": r.method.rawValue,
                "threshold_interval": [r.thresholdInterval.lowerBound, r.thresholdInterval.upperBound],
                "false_reject_rate_interval": [r.falseRejectRateInterval.lowerBound, r.falseRejectRateInterval.upperBound],
                "in_sample_false_reject_rate": r.inSampleFalseRejectRate,
                "good_score_min": sorted.first!, "good_score_median": quantile(sorted: sorted, 0.5),
                "good_score_p99": quantile(sorted: sorted, 0.99), "good_score_max": sorted.last!,
            ]
            if let s = r.tailShape { o["tail_shape"] = s }
            if let s = r.tailScale { o["tail_scale"] = s }
            o["applied"] = apply
            if let w = writeConfig { o["written_to"] = w }
            if apply || writeConfig != nil { try applyAndWrite(proposed, camera: got.camera, quiet: true) }
            try printJSONObject(o)
            return
        }
        func pct(_ v: Double) -> String { fixed(v * 100, 3) + " %" }
        var t = TextTable(["calibration", "value"])
        t.add(["source", "live: camera \(got.camera) of the daemon on \(daemonSocket)"])
        t.add(["good parts scored", "\(r.goodCount) in \(fixed(got.seconds, 1)) s" +
               (got.missed > 0 ? " (\(got.missed) parts passed unseen between polls)" : "") +
               (got.failed > 0 ? " (\(got.failed) failed inspections left out)" : "")])
        t.add(["good scores min / median / p99 / max",
               [sorted.first!, quantile(sorted: sorted, 0.5), quantile(sorted: sorted, 0.99), sorted.last!].map { fixed($0, 4) }.joined(separator: " / ")])
        t.add(["target false-reject rate", pct(target)])
        t.add(["method", r.method.rawValue + (r.tailShape.map { " (shape \(fixed($0, 3)), scale \(fixed(r.tailScale!, 4)))" } ?? "")])
        t.add(["threshold in use", fixed(got.daemonThreshold, 4)])
        t.add(["proposed threshold", fixed(r.threshold, 4)])
        t.add(["threshold \(fixed(conf * 100, 0)) % interval", "\(fixed(r.thresholdInterval.lowerBound, 4)) ... \(fixed(r.thresholdInterval.upperBound, 4))"])
        t.add(["predicted false-reject rate, \(fixed(conf * 100, 0)) % interval", "\(pct(r.falseRejectRateInterval.lowerBound)) ... \(pct(r.falseRejectRateInterval.upperBound))"])
        t.add(["false-reject rate on these good parts", pct(r.inSampleFalseRejectRate)])
        print(t.render())
        if apply || writeConfig != nil {
            try applyAndWrite(proposed, camera: got.camera)
        } else {
            print("\nApply it with --apply (live) and --write-config FILE, or: grdnet threshold \(proposed) --camera \(got.camera)")
        }
    }

    /// --apply (set-threshold over the socket) and --write-config FILE.
    private func applyAndWrite(_ value: Float, camera: String?, quiet: Bool = false) throws {
        if let path = writeConfig {
            let e: ConfigThresholdEditor.Edit
            do { e = try ConfigThresholdEditor.write(threshold: value, camera: camera, configPath: path) } catch { throw CLIError("\(error)") }
            if !quiet { print("\(path):\(e.line): \(e.key) \(e.inserted ? "added" : "set") to \(value) (validated with the daemon's parser)") }
        }
        if apply {
            var body: [String: Any] = ["cmd": "threshold", "value": Double("\(value)") ?? Double(value)]
            if let camera { body["camera"] = camera }
            let client: ControlClient
            do { client = try ControlClient.connect(path: daemonSocket) } catch { throw CLIError("\(error)") }
            let reply: [String: Any]
            do { reply = try client.request(body) } catch { throw CLIError("\(daemonSocket): \(error)") }
            guard reply["ok"] as? Bool == true else {
                throw CLIError("the daemon refused the threshold: \(reply["error"] as? String ?? "unknown error")")
            }
            if !quiet {
                for c in list(reply["cameras"]) {
                    print("\(text(c["name"])): threshold \(fixed(num(c["threshold"]), 4)) set live (persisted in \(text(reply["persisted_in"])))")
                }
            }
        }
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
