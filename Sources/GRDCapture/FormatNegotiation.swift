/// The frame sizes a format offers (VIDIOC_ENUM_FRAMESIZES).
public enum FrameSizes: Equatable, Sendable {
    /// A list of fixed sizes, each with its frame rates (frames per second, best first).
    case discrete([(width: Int, height: Int, rates: [Double])])
    /// Any size in a range on a step grid (continuous = step 1).
    case stepwise(minWidth: Int, maxWidth: Int, stepWidth: Int, minHeight: Int, maxHeight: Int, stepHeight: Int)

    public static func == (a: FrameSizes, b: FrameSizes) -> Bool {
        switch (a, b) {
        case let (.discrete(x), .discrete(y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.width == $1.width && $0.height == $1.height && $0.rates == $1.rates }
        case let (.stepwise(a1, a2, a3, a4, a5, a6), .stepwise(b1, b2, b3, b4, b5, b6)):
            return (a1, a2, a3, a4, a5, a6) == (b1, b2, b3, b4, b5, b6)
        default: return false
        }
    }
}

/// One pixel format a camera offers (VIDIOC_ENUM_FMT) and its sizes.
public struct FormatDescription: Equatable, Sendable {
    public var fourcc: UInt32
    public var description: String
    public var compressed: Bool
    public var sizes: FrameSizes
    public init(fourcc: UInt32, description: String, compressed: Bool, sizes: FrameSizes) {
        self.fourcc = fourcc
        self.description = description
        self.compressed = compressed
        self.sizes = sizes
    }
    /// The pipeline's name for this format, if it can process it.
    public var pixelFormat: PixelFormat? { PixelFormat(fourcc: fourcc) }
}

extension PixelFormat {
    /// Maps a V4L2 fourcc to a format the pipeline decodes (JPEG is treated as MJPEG).
    public init?(fourcc: UInt32) {
        switch fourCCString(fourcc) {
        case "MJPG", "JPEG": self = .mjpeg
        case "YUYV": self = .yuyv
        case "GREY": self = .grey
        default: return nil
        }
    }
    public var fourcc: UInt32 { fourCC(rawValue) }
}

/// What to ask the driver for with VIDIOC_S_FMT.
public struct FormatChoice: Equatable, Sendable {
    public var format: PixelFormat
    public var fourcc: UInt32
    public var width: Int
    public var height: Int
}

/// Why no format could be chosen; the text lists what the camera offers.
public struct FormatNegotiationError: Error, CustomStringConvertible {
    public var device: String
    public var message: String
    public var description: String { "\(device): \(message)" }
}

/// Picks the format and size to request: the first preferred format the camera offers, at the
/// requested size if offered, else the smallest offered size covering it, else the largest.
/// A camera that enumerates nothing (some drivers) gets the first preference as asked.
public func chooseFormat(device: String, offered: [FormatDescription], preferred: [PixelFormat],
                         width: Int, height: Int) throws -> FormatChoice {
    if offered.isEmpty, let first = preferred.first {
        return FormatChoice(format: first, fourcc: first.fourcc, width: width, height: height)
    }
    for want in preferred {
        guard let f = offered.first(where: { $0.pixelFormat == want }) else { continue }
        switch f.sizes {
        case .discrete(let sizes):
            if sizes.isEmpty { return FormatChoice(format: want, fourcc: f.fourcc, width: width, height: height) }
            if sizes.contains(where: { $0.width == width && $0.height == height }) {
                return FormatChoice(format: want, fourcc: f.fourcc, width: width, height: height)
            }
            let covering = sizes.filter { $0.width >= width && $0.height >= height }
                .min { $0.width * $0.height < $1.width * $1.height }
            let pick = covering ?? sizes.max { $0.width * $0.height < $1.width * $1.height }!
            return FormatChoice(format: want, fourcc: f.fourcc, width: pick.width, height: pick.height)
        case let .stepwise(minW, maxW, stepW, minH, maxH, stepH):
            func fit(_ v: Int, _ lo: Int, _ hi: Int, _ step: Int) -> Int {
                let c = min(max(v, lo), hi)
                let s = max(step, 1)
                return min(lo + ((c - lo + s - 1) / s) * s, hi)
            }
            return FormatChoice(format: want, fourcc: f.fourcc, width: fit(width, minW, maxW, stepW),
                                height: fit(height, minH, maxH, stepH))
        }
    }
    let offeredNames = offered.map { "\(fourCCString($0.fourcc)) (\($0.description))" }.joined(separator: ", ")
    let wanted = preferred.map(\.rawValue).joined(separator: ", ")
    throw FormatNegotiationError(device: device, message: "offers \(offeredNames); none of the formats this program decodes (\(wanted))")
}

/// Checks what VIDIOC_S_FMT answered: drivers may change any field. The format must still be
/// one we decode; the size may differ (the preprocessor resizes) but is reported.
public func acceptNegotiated(device: String, asked: FormatChoice, gotFourcc: UInt32, gotWidth: Int,
                             gotHeight: Int) throws -> (format: PixelFormat, note: String?) {
    guard let got = PixelFormat(fourcc: gotFourcc) else {
        throw FormatNegotiationError(device: device, message: "asked for \(asked.format.rawValue) but the driver chose \(fourCCString(gotFourcc)), which this program cannot decode")
    }
    var notes: [String] = []
    if got != asked.format { notes.append("asked for \(asked.format.rawValue), driver gave \(got.rawValue)") }
    if gotWidth != asked.width || gotHeight != asked.height {
        notes.append("asked for \(asked.width)x\(asked.height), driver gave \(gotWidth)x\(gotHeight)")
    }
    return (got, notes.isEmpty ? nil : notes.joined(separator: "; "))
}

/// True when an MJPEG frame ends with the end-of-image marker FFD9 (some cameras pad a few
/// bytes after it). A frame cut short by the USB transfer lacks it and must be skipped.
public func jpegHasEndMarker(_ data: UnsafeRawBufferPointer) -> Bool {
    let n = data.count
    guard n >= 4, data[0] == 0xFF, data[1] == 0xD8 else { return false }
    var i = n - 2
    let stop = max(2, n - 64)
    while i >= stop {
        if data[i] == 0xFF && data[i + 1] == 0xD9 { return true }
        i -= 1
    }
    return false
}
