import ArgumentParser
import Foundation
import GRDAgent
import GRDCapture
import GRDImaging
#if canImport(Glibc)
import Glibc
#endif

/// Options shared by the camera commands: which camera, and how to set it up.
struct CameraOptions: ParsableArguments {
    @Option(help: "Camera: /dev/video0, a stable /dev/v4l/by-id/... path, or a by-id name.")
    var device: String

    @Option(help: "Pixel formats to try, best first, comma-separated (mjpeg, yuyv, grey).")
    var format: String = "mjpeg,yuyv,grey"

    @Option(help: "Frame width to ask for.")
    var width: Int = 1280

    @Option(help: "Frame height to ask for.")
    var height: Int = 720

    @Option(help: "Frames per second to ask for (0 = the camera's default).")
    var fps: Double = 0

    @Option(name: .customLong("exposure-us"), help: "Manual exposure in microseconds (turns auto exposure off).")
    var exposureMicroseconds: Int?

    @Option(help: "Manual gain (turns auto gain off).")
    var gain: Int?

    @Option(name: .customLong("white-balance"), help: "Manual white balance in kelvin (turns auto white balance off).")
    var whiteBalance: Int?

    @Option(help: "Manual focus (turns autofocus off).")
    var focus: Int?

    @Option(name: .customLong("control"), help: "Any other control as NAME=VALUE (names as `grdnet cameras` prints them); repeatable.")
    var controls: [String] = []

    @Option(name: .customLong("stall-ms"), help: "Restart the stream when no frame arrives for this many milliseconds.")
    var stallMilliseconds: Int = 2000

    func settings() throws -> CameraSettings {
        var s = CameraSettings(device: device)
        var formats: [PixelFormat] = []
        for name in format.split(separator: ",") {
            switch name.trimmingCharacters(in: .whitespaces).lowercased() {
            case "mjpeg", "mjpg", "jpeg": formats.append(.mjpeg)
            case "yuyv", "yuv": formats.append(.yuyv)
            case "grey", "gray", "y8": formats.append(.grey)
            default: throw ValidationError("--format: '\(name)' is not one of mjpeg, yuyv, grey")
            }
        }
        guard !formats.isEmpty else { throw ValidationError("--format: name at least one of mjpeg, yuyv, grey") }
        guard width > 0, height > 0 else { throw ValidationError("--width and --height must be positive") }
        s.formats = formats
        s.width = width
        s.height = height
        s.framesPerSecond = fps
        s.exposureMicroseconds = exposureMicroseconds
        s.gain = gain
        s.whiteBalanceKelvin = whiteBalance
        s.focus = focus
        s.stallTimeoutMilliseconds = max(100, stallMilliseconds)
        s.otherControls = try parseControlAssignments(controls, option: "--control")
        return s
    }
}

func parseControlAssignments(_ items: [String], option: String) throws -> [String: Int] {
    var out: [String: Int] = [:]
    for item in items {
        let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
        guard parts.count == 2, !parts[0].isEmpty, let v = Int(parts[1].trimmingCharacters(in: .whitespaces)) else {
            throw ValidationError("\(option) \(item): write NAME=VALUE with a whole number, e.g. brightness=140")
        }
        out[parts[0].trimmingCharacters(in: .whitespaces)] = v
    }
    return out
}

func describe(_ info: StreamInfo) -> String {
    var text = "\(info.format.rawValue) \(info.width)x\(info.height)"
    if let fps = info.framesPerSecond { text += " at \(fixed(fps, 2)) frames/s" }
    text += ", \(info.bufferCount) driver buffers, \(info.sizeImage) bytes per frame max"
    return text
}

func controlReport(_ readbacks: [ControlReadback]) -> String {
    var table = TextTable(["setting", "asked", "sent", "camera reports", "ok"])
    for r in readbacks {
        table.add([r.name, String(r.requested), String(r.sent), r.readBack.map(String.init) ?? (r.error ?? "-"),
                   r.matches ? "yes" : "NO"])
    }
    return table.render()
}

/// One machine-readable line of every counter (for scripts and the VM tests), then the counts in words.
func counterLines(_ c: CaptureCounters) -> [String] {
    let kv = "counters delivered=\(c.delivered) captured=\(c.captured) dropped=\(c.dropped) sequence_gaps=\(c.sequenceGaps) "
        + "discarded_behind=\(c.discardedBehind) replaced_unread=\(c.replacedUnread) corrupt=\(c.corrupt) "
        + "truncated_jpeg=\(c.truncatedJPEG) timeouts=\(c.timeouts) stalls=\(c.stalls) stream_errors=\(c.streamErrors) disconnects=\(c.disconnects) "
        + "reconnects=\(c.reconnects) reopen_failures=\(c.reopenFailures)"
    return [
        kv,
        "  \(c.captured) good frames came from the camera, \(c.delivered) were used.",
        "  \(c.dropped) frames were lost: \(c.sequenceGaps) never arrived (gaps in the camera's numbering), "
            + "\(c.discardedBehind) were skipped as stale, \(c.replacedUnread) were overwritten because saving was slower.",
        "  \(c.corrupt) damaged frames were skipped (\(c.truncatedJPEG) of them cut-short JPEGs).",
        "  The camera disappeared \(c.disconnects) times, went silent \(c.stalls) times and stopped with a driver error \(c.streamErrors) times; it was re-opened \(c.reconnects) times "
            + "(\(c.reopenFailures) failed attempts while it was away).",
    ]
}

/// `grdnet record`: capture frames from a camera into a folder for training, calibration and replay.
struct RecordCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "record",
        abstract: "Record frames from a camera into a folder (one file per frame plus index.tsv).",
        discussion: """
            The folder can be replayed in place of the camera, and its frames used for training and \
            calibration. Dropped, damaged and lost frames are counted and printed at the end; an \
            unplugged camera is re-opened when it comes back.
            """)

    @OptionGroup var camera: CameraOptions

    @Option(help: "How many frames to record.")
    var frames: Int = 100

    @Option(help: "Folder to write (created if missing).")
    var out: String

    @Option(name: .customLong("wait-seconds"), help: "Give up when no frame arrives for this long (covers re-plugging the camera).")
    var waitSeconds: Double = 10

    @Flag(help: "Also write each frame as frame-NNNNNN.png (full size, RGB) for training tools.")
    var png = false

    @Flag(help: "Print only the summary, not one line per frame.")
    var quiet = false

    func run() throws {
        guard frames > 0 else { throw ValidationError("--frames must be at least 1") }
        let settings = try camera.settings()
        let cam = V4L2Camera(settings: settings)
        do { try cam.start() } catch {
            print("cannot start camera: \(error)")
            throw ExitCode(1)
        }
        defer { cam.stop() }
        let writer: RecordingWriter
        do { writer = try RecordingWriter(directory: out) } catch {
            print("\(error)")
            throw ExitCode(1)
        }
        if let info = cam.stream {
            print("camera \(cam.name) (\(realDevicePath(cam.name))): \(describe(info))")
            for note in info.notes { print("  note: \(note)") }
            if !info.controls.isEmpty { print(controlReport(info.controls)) }
        }
        var frame = Frame.reusable(capacity: cam.stream?.sizeImage ?? 0)
        var converter: FramePreprocessor?
        var rgb: [UInt8] = []
        var lastFrameAt = monotonicNanoseconds()
        var lastState = cam.state
        var firstStamp: UInt64?
        var lastStamp: UInt64 = 0
        while writer.framesWritten < frames {
            let state = cam.state
            if state != lastState {
                switch state {
                case .streaming:
                    if let info = cam.stream { print("camera back: \(describe(info))") }
                case .reconnecting(let why): print("camera lost: \(why); re-opening")
                case .stopped: print("camera stopped")
                }
                lastState = state
            }
            guard try cam.nextFrame(into: &frame, timeoutMilliseconds: 200) else {
                if Double(monotonicNanoseconds() - lastFrameAt) / 1e9 > waitSeconds {
                    print("no frame from \(cam.name) for \(fixed(waitSeconds, 1)) s (camera state: \(cam.state)); stopping")
                    writer.close()
                    for line in counterLines(cam.counters) { print(line) }
                    print("recorded \(writer.framesWritten) of \(frames) frames into \(out)")
                    throw ExitCode(2)
                }
                continue
            }
            lastFrameAt = monotonicNanoseconds()
            let name = try writer.write(frame)
            if firstStamp == nil { firstStamp = frame.timestampNanoseconds }
            lastStamp = frame.timestampNanoseconds
            if png {
                if converter == nil || converter!.targetWidth != frame.width || converter!.targetHeight != frame.height {
                    converter = FramePreprocessor(targetWidth: frame.width, targetHeight: frame.height, targetChannels: 3, crop: nil)
                    rgb = [UInt8](repeating: 0, count: frame.width * frame.height * 3)
                }
                do {
                    try frame.bytes.withUnsafeBytes { src in
                        try rgb.withUnsafeMutableBufferPointer {
                            try converter!.prepare(src, format: frame.format, width: frame.width, height: frame.height,
                                                   rowStride: frame.rowStride, into: $0)
                        }
                    }
                    let pngName = String(name.prefix { $0 != "." }) + ".png"
                    try writePNG(Image(width: frame.width, height: frame.height, channels: 3, pixels: rgb), path: out + "/" + pngName)
                } catch {
                    print("  \(name): not converted to PNG: \(error)")
                }
            }
            if !quiet {
                let age = Int64(bitPattern: monotonicNanoseconds() &- frame.timestampNanoseconds) / 1_000_000
                print("frame \(writer.framesWritten - 1) seq=\(frame.sequence) t=\(frame.timestampNanoseconds) bytes=\(frame.bytes.count) age_ms=\(age) -> \(name)")
            }
        }
        writer.close()
        let c = cam.counters
        for line in counterLines(c) { print(line) }
        if let first = firstStamp, lastStamp > first, frames > 1 {
            let rate = Double(frames - 1) / (Double(lastStamp - first) / 1e9)
            print("recorded \(frames) frames into \(out) (\(fixed(rate, 2)) frames/s by camera timestamps)")
        } else {
            print("recorded \(frames) frames into \(out)")
        }
    }
}
