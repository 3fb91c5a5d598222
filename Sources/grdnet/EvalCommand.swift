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
        // Per class, the pixels of its images; a defect class's pixel metrics add the good images',
        // the whole set's are all classes merged (in item order, as the baseline's are added).
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
            pixelsByClass[item.cls, default: PixelMetrics()].add(heatmap: scorer.engine.heatmap, mask: mask, roi: scorer.frameROI, width: w, height: h)
            if case .model(let base, _) = baselineSource {
                let baseScore = try base.score(path: item.path)
                baselineScores[item.cls, default: []].append(Double(baseScore))
                let bw = base.model.inputWidth, bh = base.model.inputHeight
                var baseMask = mask
                if bw != w || bh != h || base.model.frameFit != scorer.model.frameFit {
                    baseMask = try maskPath.map { try ImageScorer.maskAtModelSize(path: $0, model: base.model) }
                        ?? [UInt8](repeating: 0, count: bw * bh)
                }
                basePixels.add(heatmap: base.engine.heatmap, mask: baseMask, roi: base.frameROI, width: bw, height: bh)
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
        if let path = scores {
            do { try scoreLines.write(toFile: path, atomically: true, encoding: .utf8) } catch {
                throw ValidationError("cannot write the scores file \(path): \(error.localizedDescription)")
            }
        }
        var report = EvalReport(model: model, dataset: dataset, precision: precision, threads: threads,
                                images: items.count, seconds: seconds, modelWidth: w, modelHeight: h,
                                missingMasks: missingMasks, overlaysWritten: written, overlayDir: overlayDir,
                                scoresFile: scores)
        report.baselinePath = baselineSource?.path
        if case .model = baselineSource { report.baselineIsModel = true }
        let pixels = classes.reduce(PixelMetrics()) { $0.merged(with: pixelsByClass[$1] ?? PixelMetrics()) }
        report.measure(defectClasses: classes.filter { $0 != "good" }, imageScores: imageScores,
                       pixels: pixels, pixelsByClass: pixelsByClass,
                       baselineScores: baselineSource == nil ? nil : baselineScores,
                       basePixels: report.baselineIsModel ? basePixels : nil)
        if json {
            try printJSONObject(report.jsonObject())
        } else {
            report.printTables()
        }
    }
}
