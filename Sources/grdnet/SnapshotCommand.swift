import ArgumentParser
import Foundation
import GRDAgent

/// `grdnet snapshot --out F`: the latest inspected frame and its heatmap overlay as JPEGs.
struct SnapshotCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "snapshot",
        abstract: "Save the latest inspected frame (at model size) and its heatmap overlay as JPEG files.")

    @Option(name: .shortAndLong, help: "Output file for the frame; the heatmap goes next to it as NAME-heatmap.jpg.")
    var out: String

    @Option(help: "Camera (default: the first).")
    var camera: String?

    @OptionGroup var connection: DaemonConnection

    func run() throws {
        var body: [String: Any] = ["cmd": "snapshot"]
        if let camera { body["camera"] = camera }
        let r = try connection.request(body)
        guard let frame = Data(base64Encoded: r["frame_jpeg_base64"] as? String ?? ""),
              let heat = Data(base64Encoded: r["heatmap_jpeg_base64"] as? String ?? "") else {
            throw CLIError("the daemon's snapshot reply has no image data")
        }
        let heatPath = out.hasSuffix(".jpg") ? String(out.dropLast(4)) + "-heatmap.jpg" : out + "-heatmap.jpg"
        guard FileManager.default.createFile(atPath: out, contents: frame) else { throw CLIError("cannot write \(out)") }
        guard FileManager.default.createFile(atPath: heatPath, contents: heat) else { throw CLIError("cannot write \(heatPath)") }
        if connection.json {
            var summary = r
            summary["frame_jpeg_base64"] = nil; summary["heatmap_jpeg_base64"] = nil
            summary["frame_path"] = out; summary["heatmap_path"] = heatPath
            printJSON(summary); return
        }
        let d = dict(r["decision"])
        print("\(out): \(text(r["width"]))x\(text(r["height"])) frame of part \(int(d["part"])) (\(text(d["decision"])), score \(fixed(num(d["score"]), 4)))")
        print("\(heatPath): heatmap overlay (red = anomalous)")
    }
}
