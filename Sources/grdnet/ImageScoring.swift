import ArgumentParser
import Foundation
import GRDImaging
import GRDRuntime

/// Scores image files with a model exactly as the daemon scores camera frames: the same
/// preprocessing (GRDImaging.FramePreprocessor), the same engine, ROI and score. Shared by
/// `grdnet calibrate` and `grdnet eval`, so that offline numbers are the numbers the line sees.
final class ImageScorer {
    let model: GRDNetModel
    let engine: InferenceEngine
    let preprocessor: FramePreprocessor
    let roi: [UInt8]?

    init(modelPath: String, precision: String, threads: Int, roiPath: String?) throws {
        model = try loadModel(modelPath)
        engine = try makeEngine(model, threads: threads, precision: precision, kernels: nil)
        preprocessor = FramePreprocessor(targetWidth: model.inputWidth, targetHeight: model.inputHeight,
                                         targetChannels: model.inputChannels, crop: nil, letterboxPad: model.letterboxPad)
        if let roiPath {
            roi = try ImageScorer.maskAtModelSize(path: roiPath, model: model)
        } else {
            roi = model.defaultROI
        }
    }

    /// Loads a PNG mask and resizes it to the model geometry (area filter, then >= 50 % = set),
    /// squashed or letterboxed as the model places an image of the mask's size (padding: not set).
    static func maskAtModelSize(path: String, model: GRDNetModel) throws -> [UInt8] {
        let mask = try namingFile(path) { try loadPNGMask(path: path) }
        let resize = FramePreprocessor(targetWidth: model.inputWidth, targetHeight: model.inputHeight,
                                       targetChannels: 1, crop: nil, letterboxPad: model.letterboxPad.map { _ in [0] })
        let resized = try resize.prepare(mask.pixels, format: .grey, width: mask.width, height: mask.height)
        return resized.map { $0 >= 128 ? 255 : 0 }
    }

    /// Fills the engine input from an image file (JPEG, or grey PNG); a decode error names the file.
    func loadInput(path: String) throws {
        try namingFile(path) { try decodeInput(path: path) }
    }

    private func decodeInput(path: String) throws {
        let lower = path.lowercased()
        if lower.hasSuffix(".png") {
            guard model.inputChannels == 1 else {
                throw ValidationError("\(path): PNG input is supported for grey models only; convert the images to JPEG")
            }
            let image = try loadPNG(path: path, channels: 1)
            try image.pixels.withUnsafeBytes { src in
                try preprocessor.prepare(src, format: .grey, width: image.width, height: image.height, into: engine.input)
            }
        } else {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw ValidationError("cannot read image \(path)")
            }
            try data.withUnsafeBytes { src in
                try preprocessor.prepare(src, format: .mjpeg, width: 0, height: 0, into: engine.input)
            }
        }
    }

    /// The ROI the last image was scored with: `roi` less any letterbox padding of that image.
    var frameROI: [UInt8]? { preprocessor.inspectionROI(roi) }

    /// Scores one image file; the heatmap stays in `engine.heatmap` until the next call.
    func score(path: String) throws -> Float {
        try loadInput(path: path)
        if let roi = frameROI {
            return try roi.withUnsafeBufferPointer { try engine.run(roi: $0.baseAddress) }
        }
        return try engine.run(roi: nil)
    }

    /// The model-sized input as an image (for overlays).
    func inputImage() -> Image {
        Image(width: model.inputWidth, height: model.inputHeight, channels: model.inputChannels,
              pixels: Array(engine.input))
    }
}

/// The image paths of a list file: one per line, blank lines and `#` comments skipped, relative
/// paths taken from the list's own folder.
/// Runs `body`; an error from it that does not already name `path` is rethrown prefixed with
/// `path` (the decoders' errors say what is wrong, e.g. "truncated JPEG", but not in which file).
func namingFile<T>(_ path: String, _ body: () throws -> T) throws -> T {
    do { return try body() } catch {
        let text = "\(error)"
        if text.contains(path) { throw error }
        throw ValidationError("\(path): \(text)")
    }
}

func imageListFile(_ list: String) throws -> [String] {
    guard let text = try? String(contentsOfFile: list, encoding: .utf8) else {
        throw ValidationError("cannot read the list file \(list)")
    }
    let base = (list as NSString).deletingLastPathComponent
    var paths: [String] = []
    for line in text.split(separator: "\n") {
        let p = line.trimmingCharacters(in: .whitespaces)
        if p.isEmpty || p.hasPrefix("#") { continue }
        paths.append(p.hasPrefix("/") ? p : base + "/" + p)
    }
    return paths
}

/// Image files (JPEG, PNG) directly inside a folder, sorted by name.
func imageFiles(in folder: String) throws -> [String] {
    try requireFolder(folder, what: "image folder")
    let names = try FileManager.default.contentsOfDirectory(atPath: folder)
    let base = folder.hasSuffix("/") ? folder : folder + "/"
    return names.filter { n in
        let l = n.lowercased()
        return l.hasSuffix(".jpg") || l.hasSuffix(".jpeg") || l.hasSuffix(".png")
    }.sorted().map { base + $0 }
}

/// True when `path` exists and is a folder.
func isFolder(_ path: String) -> Bool {
    var isDirectory: ObjCBool = false
    return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
}

/// Throws an error naming `path` (and what it should have been) unless it is a folder: Foundation's
/// own error for a missing folder reads "The file doesn't exist" with an NSCocoaErrorDomain dump.
func requireFolder(_ path: String, what: String) throws {
    var isDirectory: ObjCBool = false
    if !FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
        throw ValidationError("\(what) \(path) does not exist")
    }
    if !isDirectory.boolValue { throw ValidationError("\(what) \(path) is a file, not a folder") }
}

/// Sub-folders of a folder, sorted by name.
func subfolders(of folder: String) throws -> [String] {
    try requireFolder(folder, what: "folder")
    let names = try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
    return names.filter { n in
        var d: ObjCBool = false
        return FileManager.default.fileExists(atPath: folder + "/" + n, isDirectory: &d) && d.boolValue
    }
}

/// Parses "0.1%", "0.001" or "1e-3" as a rate.
func parseRate(_ text: String) throws -> Double {
    let trimmed = text.trimmingCharacters(in: .whitespaces)
    if trimmed.hasSuffix("%") {
        guard let v = Double(trimmed.dropLast()) else { throw ValidationError("cannot read '\(text)' as a percentage") }
        return v / 100
    }
    guard let v = Double(trimmed) else { throw ValidationError("cannot read '\(text)' as a rate (e.g. 0.1% or 0.001)") }
    return v
}

/// Prints a JSON object with sorted keys. A metric that cannot be computed (pixel AUROC of a data
/// set without defect masks) is NaN, which JSON cannot hold: it is written as null instead of
/// failing the whole report.
func printJSONObject(_ object: [String: Any]) throws {
    let data = try JSONSerialization.data(withJSONObject: nonFiniteAsNull(object), options: [.sortedKeys, .prettyPrinted])
    print(String(decoding: data, as: UTF8.self))
}

private func nonFiniteAsNull(_ value: Any) -> Any {
    switch value {
    case let d as Double: return d.isFinite ? d : NSNull()
    case let f as Float: return f.isFinite ? f : NSNull()
    case let dict as [String: Any]: return dict.mapValues(nonFiniteAsNull)
    case let array as [Any]: return array.map(nonFiniteAsNull)
    default: return value
    }
}
