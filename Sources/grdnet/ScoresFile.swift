import ArgumentParser
import Foundation
import GRDRuntime

/// The image scores `grdnet eval --scores` writes: a header line `class<TAB>path<TAB>score`, then
/// one line per image. Read back by `--baseline` to compare two models on the same images.
/// Images are matched by class and file name, not by full path, so a data set that moved (another
/// machine, another mount point) still matches.
struct ImageScoresFile {
    static let header = "class\tpath\tscore"

    /// Score per `key(cls:path:)`.
    let scores: [String: Double]
    let path: String

    static func key(cls: String, path: String) -> String {
        cls + "/" + (path as NSString).lastPathComponent
    }

    static func line(cls: String, path: String, score: Float) -> String {
        "\(cls)\t\(path)\t\(score)\n"
    }

    init(path: String) throws {
        self.path = path
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ValidationError("--baseline \(path) cannot be read (does it exist?)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ValidationError("--baseline \(path) is not text: give a file written by grdnet eval --scores")
        }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines.last == "" { lines.removeLast() }
        guard lines.first == Self.header else {
            throw ValidationError("--baseline \(path): first line is not '\(Self.header.replacingOccurrences(of: "\t", with: "<TAB>"))': give a file written by grdnet eval --scores")
        }
        var scores: [String: Double] = [:]
        for (n, line) in lines.enumerated().dropFirst() {
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false)
            guard fields.count == 3 else {
                throw ValidationError("--baseline \(path) line \(n + 1): \(fields.count) tab-separated fields, expected 3 (class, path, score)")
            }
            guard let score = Double(fields[2]), score.isFinite else {
                throw ValidationError("--baseline \(path) line \(n + 1): score '\(fields[2])' is not a number")
            }
            let key = Self.key(cls: String(fields[0]), path: String(fields[1]))
            guard scores.updateValue(score, forKey: key) == nil else {
                throw ValidationError("--baseline \(path) line \(n + 1): \(key) is listed twice")
            }
        }
        guard !scores.isEmpty else { throw ValidationError("--baseline \(path) lists no images") }
        self.scores = scores
    }
}

/// What `grdnet eval --baseline` compares with: another model, run here on the same images (image
/// and pixel AUROC), or the scores file of an earlier run (image AUROC only). Told apart by the
/// model file's magic bytes, so either can be given under any name.
enum EvalBaseline {
    case scores(ImageScoresFile)
    case model(ImageScorer, path: String)

    var path: String {
        switch self {
        case .scores(let file): return file.path
        case .model(_, let path): return path
        }
    }

    static func open(_ path: String, precision: String, threads: Int, roiPath: String?) throws -> EvalBaseline {
        // A folder opens as a FileHandle, and readData(ofLength:) then traps: check first.
        if isFolder(path) { throw ValidationError("--baseline \(path) is a folder, not a model or scores file") }
        let head = try FileHandle(forReadingAtPath: path).map { handle in
            defer { try? handle.close() }
            return [UInt8](try handle.read(upToCount: GRDNetModel.magic.count) ?? Data())
        }
        if head == GRDNetModel.magic {
            return .model(try ImageScorer(modelPath: path, precision: precision, threads: threads, roiPath: roiPath), path: path)
        }
        return .scores(try ImageScoresFile(path: path))
    }
}
