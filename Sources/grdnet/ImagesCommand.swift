import ArgumentParser
import GRDAgent
import GRDCapture
import GRDImaging

/// `grdnet images DIR`: decode every JPEG in a folder as the daemon would and print what it sees.
struct ImagesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "images",
        abstract: "Decode the JPEG images in a folder and print size, brightness and focus of each.")

    @Argument(help: "Folder of .jpg/.jpeg images.")
    var folder: String

    @Flag(help: "Decode to RGB instead of grey.")
    var rgb = false

    func run() throws {
        let source: FolderReplaySource
        do { source = try FolderReplaySource(folder: folder, framesPerSecond: 0, loop: false) }
        catch { throw ValidationError("\(error)") }
        let decoder = JPEGDecoder()
        var image = Image(width: 0, height: 0, channels: rgb ? 3 : 1)
        var table = TextTable(["image", "width", "height", "brightness (0-255)", "focus (Laplacian var.)"])
        var failures: [String] = []
        while let frame = try source.nextFrame(timeoutMilliseconds: 1000) {
            let name = String(frame.origin.split(separator: "/").last ?? "")
            do {
                _ = try frame.bytes.withUnsafeBytes { try decoder.decode($0, into: &image, grey: !rgb) }
                let s = ImageStatistics(of: image)
                table.add([name, String(image.width), String(image.height), fixed(s.meanBrightness, 1), fixed(s.focus, 1)])
            } catch {
                failures.append("\(name): \(error)")
            }
        }
        print(table.render())
        for f in failures { print(f) }
        print("\(source.counters.delivered) images, \(failures.count) could not be decoded")
        if !failures.isEmpty { throw ExitCode(1) }
    }
}
