import ArgumentParser
import GRDAgent
import GRDCapture
import GRDImaging

/// `grdnet bench-imaging`: what each stage of turning a camera frame into model input costs on
/// this machine (median of N runs; build with -c release for meaningful numbers).
struct BenchImagingCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-imaging",
        abstract: "Measure the cost of frame decoding, conversion and resizing to the model input.")

    @Option(help: "Timed runs per stage (the median is printed).")
    var iterations: Int = 30

    @Option(help: "Camera frame width.")
    var width: Int = 1280

    @Option(help: "Camera frame height.")
    var height: Int = 720

    @Option(help: "Model input size (square).")
    var size: Int = 256

    @Option(help: "JPEG quality of the synthetic MJPEG frame.")
    var quality: Int = 85

    func run() throws {
        guard iterations > 0, width >= 16, height >= 16, size > 0 else { throw ValidationError("sizes and --iterations must be positive") }
        let (rgbImage, greyImage) = syntheticScene(width: width, height: height)
        let jpegRGB = try encodeJPEG(rgbImage, quality: quality)
        let yuyv = packYUYV(rgbImage)
        print("frame \(width)x\(height) -> model input \(size)x\(size); median of \(iterations) runs; MJPEG frame \(jpegRGB.count) bytes (quality \(quality))")
        var table = TextTable(["stage", "ms/frame (median)", "ms (min)", "frames/s"])
        var results: [String: Double] = [:]
        var fastest: [String: Double] = [:]

        func measure(_ name: String, _ body: () throws -> Void) rethrows {
            for _ in 0..<3 { try body() }
            var times: [Double] = []
            for _ in 0..<iterations {
                let t0 = monotonicNanoseconds()
                try body()
                times.append(Double(monotonicNanoseconds() - t0) / 1e6)
            }
            times.sort()
            let median = times[times.count / 2]
            results[name] = median
            fastest[name] = times[0]
            table.add([name, fixed(median, 3), fixed(times[0], 3), fixed(1000 / max(median, 1e-9), 0)])
        }

        let decoder = JPEGDecoder()
        for channels in [1, 3] {
            let kind = channels == 1 ? "grey" : "RGB"
            var decoded = Image(width: 0, height: 0, channels: channels)
            let denom = JPEGDecoder.scaleDenominator(width: width, height: height, minWidth: size, minHeight: size)
            try jpegRGB.withUnsafeBytes { src in
                try measure("MJPEG decode only, full size (\(kind))") {
                    _ = try decoder.decode(src, into: &decoded, grey: channels == 1, scaleDenominator: 1)
                }
                try measure("MJPEG decode only, DCT 1/\(denom) (\(kind))") {
                    _ = try decoder.decode(src, into: &decoded, grey: channels == 1, scaleDenominator: denom)
                }
            }
            for scaled in [false, true] {
                let p = FramePreprocessor(targetWidth: size, targetHeight: size, targetChannels: channels, crop: nil)
                p.useDCTScaling = scaled
                var out = [UInt8](repeating: 0, count: p.outputCount)
                try jpegRGB.withUnsafeBytes { src in
                    try out.withUnsafeMutableBufferPointer { dst in
                        try measure("MJPEG -> \(size)x\(size) \(kind), \(scaled ? "with DCT scaling 1/\(denom)" : "without DCT scaling")") {
                            try p.prepare(src, format: .mjpeg, width: width, height: height, into: dst)
                        }
                    }
                }
            }
        }
        for channels in [1, 3] {
            let p = FramePreprocessor(targetWidth: size, targetHeight: size, targetChannels: channels, crop: nil)
            var out = [UInt8](repeating: 0, count: p.outputCount)
            try yuyv.withUnsafeBytes { src in
                try out.withUnsafeMutableBufferPointer { dst in
                    try measure("YUYV -> \(size)x\(size) \(channels == 1 ? "grey" : "RGB")") {
                        try p.prepare(src, format: .yuyv, width: width, height: height, into: dst)
                    }
                }
            }
        }
        do {
            let p = FramePreprocessor(targetWidth: size, targetHeight: size, targetChannels: 1, crop: nil)
            var out = [UInt8](repeating: 0, count: p.outputCount)
            try greyImage.pixels.withUnsafeBytes { src in
                try out.withUnsafeMutableBufferPointer { dst in
                    try measure("GREY -> \(size)x\(size) grey") {
                        try p.prepare(src, format: .grey, width: width, height: height, into: dst)
                    }
                }
            }
            // The cost of handing a frame over from the driver's buffer (one copy per frame).
            var frame = Frame.reusable(capacity: yuyv.count)
            yuyv.withUnsafeBytes { src in
                measure("copy one YUYV frame out of the driver buffer") { frame.setBytes(src) }
            }
        }
        print(table.render())
        for kind in ["grey", "RGB"] {
            let withKey = results.keys.first { $0.hasPrefix("MJPEG -> ") && $0.contains(" \(kind), with DCT") }
            let withoutKey = results.keys.first { $0.hasPrefix("MJPEG -> ") && $0.contains(" \(kind), without DCT") }
            if let w = withKey, let wo = withoutKey, let with = results[w], let without = results[wo],
               let withMin = fastest[w], let withoutMin = fastest[wo] {
                print("DCT scaling makes MJPEG -> \(kind) model input \(fixed(without / with, 2))x faster by median "
                      + "(\(fixed(without, 2)) -> \(fixed(with, 2)) ms), \(fixed(withoutMin / withMin, 2))x by fastest run "
                      + "(\(fixed(withoutMin, 2)) -> \(fixed(withMin, 2)) ms)")
            }
        }
    }
}

/// A deterministic scene with texture like a product on a conveyor: gradients, edges and a few
/// grey levels of sensor noise (a flat image would compress to nothing and flatter the decoder;
/// heavy noise would make entropy decoding dominate unrealistically).
func syntheticScene(width: Int, height: Int) -> (rgb: Image, grey: Image) {
    var rgb = Image(width: width, height: height, channels: 3)
    var grey = Image(width: width, height: height, channels: 1)
    var state: UInt32 = 12345
    for y in 0..<height {
        for x in 0..<width {
            state = state &* 1_664_525 &+ 1_013_904_223
            let noise = Int(state >> 29) - 4   // sensor noise of a few grey levels
            let inside = (x - width / 2) * (x - width / 2) + (y - height / 2) * (y - height / 2) < (height / 3) * (height / 3)
            let base = inside ? 170 + ((x / 8 + y / 8) % 2) * 30 : 60 + x * 60 / width
            let i = y * width + x
            rgb.pixels[3 * i] = UInt8(clamping: base + noise)
            rgb.pixels[3 * i + 1] = UInt8(clamping: base - 20 + noise + y * 40 / height)
            rgb.pixels[3 * i + 2] = UInt8(clamping: (inside ? 90 : base) + noise)
            grey.pixels[i] = UInt8(clamping: base + noise)
        }
    }
    return (rgb, grey)
}

/// RGB -> YUYV (BT.601 limited range), as a webcam would send the scene.
func packYUYV(_ img: Image) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: img.width * img.height * 2)
    for y in 0..<img.height {
        for x in stride(from: 0, to: img.width - 1, by: 2) {
            var ys = [0, 0], us = 0, vs = 0
            for k in 0..<2 {
                let i = (y * img.width + x + k) * 3
                let r = Int(img.pixels[i]), g = Int(img.pixels[i + 1]), b = Int(img.pixels[i + 2])
                ys[k] = ((66 * r + 129 * g + 25 * b + 128) >> 8) + 16
                us += ((-38 * r - 74 * g + 112 * b + 128) >> 8) + 128
                vs += ((112 * r - 94 * g - 18 * b + 128) >> 8) + 128
            }
            let o = (y * img.width + x) * 2
            out[o] = UInt8(clamping: ys[0]); out[o + 1] = UInt8(clamping: us / 2)
            out[o + 2] = UInt8(clamping: ys[1]); out[o + 3] = UInt8(clamping: vs / 2)
        }
    }
    return out
}
