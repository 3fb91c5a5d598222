/// An 8-bit image in host memory, interleaved (HWC), one or three channels.
///
/// The pixel buffer is owned by the value; pipelines that must not allocate per frame keep one
/// `Image` per stage and decode into it (see `JPEGDecoder.decode(_:into:)`).
public struct Image: Sendable {
    public var width: Int
    public var height: Int
    public var channels: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, channels: Int, pixels: [UInt8]) {
        precondition(channels == 1 || channels == 3, "images are grey (1) or RGB (3)")
        precondition(pixels.count == width * height * channels, "pixel count does not match the size")
        self.width = width
        self.height = height
        self.channels = channels
        self.pixels = pixels
    }

    public init(width: Int, height: Int, channels: Int, fill: UInt8 = 0) {
        self.init(width: width, height: height, channels: channels,
                  pixels: [UInt8](repeating: fill, count: width * height * channels))
    }

    public var rowStride: Int { width * channels }
}

private let zeroBytes = [UInt8](repeating: 0, count: 4096)

/// Sets `bytes.count` to `n`; new bytes are 0. No allocation while the capacity suffices, and
/// no per-element generic code: appending a generic sequence such as repeatElement(0, count:)
/// boxes every element in an unoptimised (debug) build, one malloc per byte.
public func resizeBytes(_ bytes: inout [UInt8], to n: Int) {
    if bytes.count > n { bytes.removeLast(bytes.count - n); return }
    if bytes.count == n { return }
    if bytes.capacity < n { bytes.reserveCapacity(n) }
    zeroBytes.withUnsafeBufferPointer { zeros in
        while bytes.count < n {
            let k = min(n - bytes.count, zeros.count)
            bytes.append(contentsOf: UnsafeBufferPointer(start: zeros.baseAddress, count: k))
        }
    }
}
