import CJPEG
#if canImport(Glibc)
import Glibc
#endif

/// Why a JPEG could not be decoded. Garbled camera frames are expected in the field: they are
/// counted and skipped by the caller, never fatal.
public enum JPEGError: Error, Equatable, CustomStringConvertible {
    case empty
    case truncated
    case corrupt(String)

    public var description: String {
        switch self {
        case .empty: return "empty JPEG data"
        case .truncated: return "truncated JPEG (no end-of-image marker)"
        case .corrupt(let why): return "corrupt JPEG: \(why)"
        }
    }
}

/// A reusable libjpeg-turbo decompressor (one per capture thread; not thread-safe).
///
/// Decodes straight to grey or RGB and uses libjpeg's DCT scaling (1/2, 1/4, 1/8) so that a
/// 1280x720 MJPEG frame meant for a 256x256 model costs a fraction of a full decode.
public final class JPEGDecoder {
    private let state: UnsafeMutablePointer<grd_jpeg_decoder>
    /// Largest image accepted (full size, before DCT scaling), in pixels: 64 Mpixel by default, far
    /// above any inspection camera, far below what would exhaust a Raspberry Pi's memory.
    public var maxPixels = 8192 * 8192

    public init() {
        state = .allocate(capacity: 1)
        // Only fails on out-of-memory inside libjpeg, which a daemon cannot recover from.
        precondition(grd_jpeg_decoder_init(state) == 0, "libjpeg could not create a decompressor")
    }

    deinit {
        grd_jpeg_decoder_destroy(state)
        state.deallocate()
    }

    /// The largest DCT scale denominator (1, 2, 4, 8) that keeps both sides >= the minimum.
    public static func scaleDenominator(width: Int, height: Int, minWidth: Int, minHeight: Int) -> Int {
        var denom = 8
        while denom > 1 {
            if (width + denom - 1) / denom >= minWidth && (height + denom - 1) / denom >= minHeight {
                return denom
            }
            denom /= 2
        }
        return 1
    }

    /// Decodes `data` into `image`, reusing its buffer when the size matches.
    /// - Parameters:
    ///   - grey: decode to one channel (true) or RGB.
    ///   - scaleDenominator: 1, 2, 4 or 8 (libjpeg DCT scaling).
    /// - Returns: the number of corrupt-data warnings libjpeg reported (0 for a clean frame).
    @discardableResult
    public func decode(_ data: UnsafeRawBufferPointer, into image: inout Image,
                       grey: Bool, scaleDenominator: Int = 1) throws -> Int {
        guard let base = data.baseAddress, data.count > 0 else { throw JPEGError.empty }
        // A frame cut short by the USB transfer has no EOI marker; libjpeg would pad it with grey.
        if data.count < 4 || data[data.count - 2] != 0xFF || data[data.count - 1] != 0xD9 {
            // Some encoders pad after EOI: look back a little for FFD9.
            var found = false
            var i = data.count - 2
            let stop = max(0, data.count - 64)
            while i >= stop {
                if data[i] == 0xFF && data[i + 1] == 0xD9 { found = true; break }
                i -= 1
            }
            if !found { throw JPEGError.truncated }
        }
        var w: Int32 = 0, h: Int32 = 0, comps: Int32 = 0
        let src = base.assumingMemoryBound(to: UInt8.self)
        if grd_jpeg_start(state, src, data.count, grey ? 1 : 0, Int32(scaleDenominator), maxPixels, &w, &h, &comps) != 0 {
            throw JPEGError.corrupt(message())
        }
        let width = Int(w), height = Int(h), channels = Int(comps)
        // A damaged header can claim 65535x65535: refuse before allocating gigabytes.
        guard width > 0, height > 0, width * height <= maxPixels, channels == (grey ? 1 : 3) else {
            grd_jpeg_abort(state)
            throw JPEGError.corrupt("implausible image size \(width)x\(height)x\(channels) (limit \(maxPixels) pixels)")
        }
        if image.width != width || image.height != height || image.channels != channels {
            // Resized in place: the buffer keeps its capacity, so frames of sizes seen before
            // (a replayed folder of different images) cost no allocation.
            resizeBytes(&image.pixels, to: width * height * channels)
            image.width = width
            image.height = height
            image.channels = channels
        }
        let stride = image.rowStride
        let status = image.pixels.withUnsafeMutableBufferPointer { buf in
            grd_jpeg_finish(state, buf.baseAddress!, stride)
        }
        if status != 0 { throw JPEGError.corrupt(message()) }
        return Int(state.pointee.err.warnings)
    }

    /// Convenience: decode a whole JPEG held in an array.
    public func decode(_ bytes: [UInt8], grey: Bool, scaleDenominator: Int = 1) throws -> Image {
        var image = Image(width: 0, height: 0, channels: grey ? 1 : 3)
        _ = try bytes.withUnsafeBytes { try decode($0, into: &image, grey: grey, scaleDenominator: scaleDenominator) }
        return image
    }

    /// The decompressor's per-image memory (see the arena in Sources/CJPEG/shim.h): bytes of the
    /// arena, requests that did not fit and went to libjpeg's own (malloc-backed) pool, virtual
    /// arrays requested (progressive or multi-scan JPEGs: these always use libjpeg's pool), and
    /// how many times the arena was replaced by a larger one.
    public var memoryCounters: (arenaBytes: Int, fallbacks: Int, virtualArrays: Int, grows: Int) {
        let a = state.pointee.arena
        return (Int(a.size), Int(a.fallbacks), Int(a.virtual_arrays), Int(a.grows))
    }

    /// libjpeg's message for the first corrupt-data warning of the last decode ("" if none).
    public var lastWarning: String { state.pointee.err.warnings > 0 ? message() : "" }

    private func message() -> String {
        withUnsafeBytes(of: &state.pointee.err.message) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }
}

/// Encodes an 8-bit grey or RGB image as JPEG (audit images, snapshots, overlays).
public func encodeJPEG(_ image: Image, quality: Int = 90) throws -> [UInt8] {
    var out: UnsafeMutablePointer<UInt8>? = nil
    var size: UInt = 0
    var message = [CChar](repeating: 0, count: 256)
    let status = image.pixels.withUnsafeBufferPointer { px in
        grd_jpeg_encode(px.baseAddress, Int32(image.width), Int32(image.height),
                        Int32(image.channels), Int32(quality), &out, &size, &message)
    }
    defer { free(out) }
    guard status == 0, let out else {
        throw JPEGError.corrupt(String(cString: message))
    }
    return Array(UnsafeBufferPointer(start: out, count: Int(size)))
}
