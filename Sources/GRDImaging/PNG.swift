import CPNG
#if canImport(Glibc)
import Glibc
#endif

/// PNG read/write failures, naming the file and libpng's reason.
public enum PNGError: Error, CustomStringConvertible {
    case cannotRead(path: String, reason: String)
    case cannotWrite(path: String, reason: String)
    case cannotEncode(reason: String)

    public var description: String {
        switch self {
        case let .cannotRead(path, reason): return "cannot read PNG \(path): \(reason)"
        case let .cannotWrite(path, reason): return "cannot write PNG \(path): \(reason)"
        case let .cannotEncode(reason): return "cannot encode PNG: \(reason)"
        }
    }
}

private func pngMessage(_ image: inout png_image) -> String {
    withUnsafeBytes(of: &image.message) { raw in
        let text = String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        return text.isEmpty ? "unknown libpng error" : text
    }
}

/// Reads a PNG file as 8-bit grey (channels 1) or RGB (3) through libpng's simplified API, which
/// converts any bit depth, palette or colour type. Transparent pixels are composited onto black.
public func loadPNG(path: String, channels: Int) throws -> Image {
    precondition(channels == 1 || channels == 3, "PNG images are loaded as grey (1) or RGB (3)")
    var png = png_image()
    png.version = UInt32(PNG_IMAGE_VERSION)
    defer { png_image_free(&png) }
    guard png_image_begin_read_from_file(&png, path) != 0 else {
        let reason = pngMessage(&png)
        let exists = access(path, F_OK) == 0
        throw PNGError.cannotRead(path: path, reason: exists ? reason : "no such file")
    }
    png.format = channels == 1 ? UInt32(PNG_FORMAT_GRAY) : UInt32(PNG_FORMAT_RGB)
    let width = Int(png.width), height = Int(png.height)
    guard width > 0, height > 0, width <= 1 << 15, height <= 1 << 15 else {
        throw PNGError.cannotRead(path: path, reason: "unreasonable size \(width)x\(height)")
    }
    var image = Image(width: width, height: height, channels: channels)
    let stride = Int32(width * channels)
    let ok = image.pixels.withUnsafeMutableBytes { buf in
        png_image_finish_read(&png, nil, buf.baseAddress, stride, nil)
    }
    guard ok != 0 else { throw PNGError.cannotRead(path: path, reason: pngMessage(&png)) }
    return image
}

/// Loads a region-of-interest mask: grey, 0 = ignore this pixel, anything else = inspect.
/// Colour or palette PNGs are converted to grey; transparent areas count as 0 (ignored).
public func loadPNGMask(path: String) throws -> Image {
    try loadPNG(path: path, channels: 1)
}

/// Writes an 8-bit grey or RGB image as PNG (heatmap overlays, audit snapshots).
public func writePNG(_ image: Image, path: String) throws {
    var png = png_image()
    png.version = UInt32(PNG_IMAGE_VERSION)
    png.width = UInt32(image.width)
    png.height = UInt32(image.height)
    png.format = image.channels == 1 ? UInt32(PNG_FORMAT_GRAY) : UInt32(PNG_FORMAT_RGB)
    defer { png_image_free(&png) }
    let ok = image.pixels.withUnsafeBytes { buf in
        png_image_write_to_file(&png, path, 0, buf.baseAddress, Int32(image.rowStride), nil)
    }
    guard ok != 0 else { throw PNGError.cannotWrite(path: path, reason: pngMessage(&png)) }
}

/// Encodes an 8-bit grey or RGB image as PNG in memory.
public func encodePNG(_ image: Image) throws -> [UInt8] {
    var png = png_image()
    png.version = UInt32(PNG_IMAGE_VERSION)
    png.width = UInt32(image.width)
    png.height = UInt32(image.height)
    png.format = image.channels == 1 ? UInt32(PNG_FORMAT_GRAY) : UInt32(PNG_FORMAT_RGB)
    defer { png_image_free(&png) }
    var size: Int = 0
    // First call measures, second writes.
    let measured = image.pixels.withUnsafeBytes { buf in
        png_image_write_to_memory(&png, nil, &size, 0, buf.baseAddress, Int32(image.rowStride), nil)
    }
    guard measured != 0, size > 0 else { throw PNGError.cannotEncode(reason: pngMessage(&png)) }
    var out = [UInt8](repeating: 0, count: size)
    let ok = out.withUnsafeMutableBytes { dst in
        image.pixels.withUnsafeBytes { buf in
            png_image_write_to_memory(&png, dst.baseAddress, &size, 0, buf.baseAddress, Int32(image.rowStride), nil)
        }
    }
    guard ok != 0 else { throw PNGError.cannotEncode(reason: pngMessage(&png)) }
    return Array(out.prefix(size))
}

/// Paints an anomaly heatmap (values 0...1, `width` x `height`, same size as `base`) over the
/// model-input image, from transparent (0) through yellow to opaque red (1), for operators and
/// audit records.
public func heatmapOverlay(base: Image, heatmap: UnsafeBufferPointer<Float>, opacity: Float = 0.6) -> Image {
    precondition(heatmap.count == base.width * base.height, "heatmap must have the image's size")
    var out = Image(width: base.width, height: base.height, channels: 3)
    for i in 0..<(base.width * base.height) {
        var t = heatmap[i]
        if !(t >= 0) { t = 0 }   // NaN -> 0
        if t > 1 { t = 1 }
        // Yellow (255, 255, 0) at 0 -> red (255, 0, 0) at 1, blended by t * opacity.
        let a = t * opacity
        for c in 0..<3 {
            let g: Float = base.channels == 1 ? Float(base.pixels[i]) : Float(base.pixels[i * 3 + c])
            let colour: Float = c == 0 ? 255 : (c == 1 ? 255 * (1 - t) : 0)
            out.pixels[i * 3 + c] = UInt8(min(255, max(0, g * (1 - a) + colour * a + 0.5)))
        }
    }
    return out
}
