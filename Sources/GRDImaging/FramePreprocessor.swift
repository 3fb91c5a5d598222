/// A rectangle of the camera frame, in full-resolution pixels (the region the model inspects).
public struct CropRect: Equatable, Sendable, CustomStringConvertible {
    public var x: Int
    public var y: Int
    public var width: Int
    public var height: Int

    public init(x: Int, y: Int, width: Int, height: Int) {
        self.x = x
        self.y = y
        self.width = width
        self.height = height
    }

    public var description: String { "\(width)x\(height) at (\(x), \(y))" }
}

/// Where a `width` x `height` frame lands on a `targetWidth` x `targetHeight` grid when its
/// aspect ratio is kept (letterbox): as large as fits, centred. Integer arithmetic only, the same
/// formula as training's `data.letterbox_box`, so the box places a part on exactly the pixels the
/// network was trained with.
public func letterboxPlacement(width: Int, height: Int, targetWidth: Int, targetHeight: Int) -> CropRect {
    precondition(width > 0 && height > 0 && targetWidth > 0 && targetHeight > 0)
    var w = targetWidth, h = targetHeight
    if width * targetHeight >= height * targetWidth {
        h = max(1, (height * targetWidth + width / 2) / width)
    } else {
        w = max(1, (width * targetHeight + height / 2) / height)
    }
    return CropRect(x: (targetWidth - w) / 2, y: (targetHeight - h) / 2, width: w, height: h)
}

/// Why a frame could not be turned into model input. The daemon counts these and moves on.
public enum PreprocessError: Error, Equatable, CustomStringConvertible {
    case invalidFrameSize(format: PixelFormat, width: Int, height: Int)
    case frameTooShort(format: PixelFormat, width: Int, height: Int, expectedBytes: Int, actualBytes: Int)
    case cropOutsideFrame(crop: CropRect, frameWidth: Int, frameHeight: Int)
    case jpegSizeMismatch(expectedWidth: Int, expectedHeight: Int, jpegWidth: Int, jpegHeight: Int)
    case destinationSize(expected: Int, actual: Int)
    case maskSize(maskWidth: Int, maskHeight: Int, frameWidth: Int, frameHeight: Int, modelWidth: Int, modelHeight: Int)

    public var description: String {
        switch self {
        case let .invalidFrameSize(f, w, h):
            return "\(f.rawValue) frame size \(w)x\(h) is not usable (YUYV needs an even width)"
        case let .frameTooShort(f, w, h, e, a):
            return "\(f.rawValue) frame of \(w)x\(h) needs \(e) bytes but has \(a) (cut short)"
        case let .cropOutsideFrame(c, w, h):
            return "crop \(c) does not fit inside the \(w)x\(h) camera frame"
        case let .jpegSizeMismatch(ew, eh, jw, jh):
            return "MJPEG frame is \(jw)x\(jh) but the camera was set to \(ew)x\(eh)"
        case let .destinationSize(e, a):
            return "model input buffer holds \(a) bytes, expected \(e)"
        case let .maskSize(mw, mh, fw, fh, w, h):
            return "mask is \(mw)x\(mh); it must be the camera frame size \(fw)x\(fh) or the model input size \(w)x\(h)"
        }
    }
}

/// Turns one camera frame (MJPEG, YUYV or GREY) into the model's input: an optional crop, then a
/// resize to the model geometry (squashed, or letterboxed for a model trained that way), as grey
/// or RGB, UInt8 HWC. Normalisation and quantisation are the inference engine's job.
///
/// All working buffers are sized on the first frame of a given geometry and reused afterwards, so
/// a camera streaming at a fixed format costs no heap allocation per frame. One instance per
/// camera thread (not thread-safe).
///
/// - MJPEG: libjpeg-turbo decodes straight to grey or RGB, with DCT scaling (1/2, 1/4, 1/8) to
///   the smallest size that still covers the (cropped) model input: most of the IDCT work of a
///   1280x720 frame is skipped for a 256x256 model.
/// - YUYV: the resampler reads Y (and U, V for RGB) directly from the packed frame; colour
///   conversion happens at model size, not camera size.
/// - GREY: resampled directly.
public final class FramePreprocessor {
    public let targetWidth: Int
    public let targetHeight: Int
    public let targetChannels: Int
    public let crop: CropRect?
    /// nil: the frame is stretched over the whole input. Else the frame keeps its aspect ratio
    /// (`letterboxPlacement`) and the rest of the input gets these values (one per channel);
    /// `inspectionROI` leaves that padding out of the score.
    public let letterboxPad: [UInt8]?
    /// Where the last prepared frame landed on the input grid (all of it when squashing).
    public private(set) var placement: CropRect
    /// Area (default) or bilinear; changing it takes effect on the next frame.
    public var filter: ResizeFilter = .area { didSet { geometry = nil; jpegResamplers.removeAll(keepingCapacity: true) } }
    /// Use libjpeg's DCT scaling for MJPEG (on by default; off only to measure what it saves).
    public var useDCTScaling = true { didSet { geometry = nil; jpegResamplers.removeAll(keepingCapacity: true) } }
    /// YUYV from webcams is BT.601 "limited range" (Y 16...235); expand it to 0...255 so the model
    /// sees the same levels as from a JPEG. Set false for full-range sensors.
    public var yuvLimitedRange = true { didSet { buildLookupTables() } }
    /// Frames with libjpeg corrupt-data warnings (damaged entropy data that libjpeg papers over
    /// with grey) are rejected as corrupt rather than inspected.
    public var rejectJPEGWarnings = true

    /// The DCT scale denominator used for the last MJPEG frame (1, 2, 4 or 8).
    public private(set) var lastScaleDenominator = 1
    /// How many times working buffers were (re)sized: 1 after the first frame of a fixed format.
    public private(set) var geometryChanges = 0

    private let decoder = JPEGDecoder()
    private var decoded = Image(width: 0, height: 0, channels: 1)
    private var planes = [PlaneResampler](repeating: PlaneResampler(), count: 3)
    private var chroma = [UInt8]()   // U and V at model size (YUYV -> RGB)
    private var lumaLUT = [UInt8](repeating: 0, count: 256)

    private struct Geometry: Equatable {
        var format: PixelFormat
        var width: Int
        var height: Int
        var rowStride: Int
        var scale: Int
    }
    private var geometry: Geometry?
    /// MJPEG resamplers by frame geometry, configured once each: a replayed folder of images of
    /// different sizes (or a camera switching resolution) then costs no allocation per frame
    /// either. Up to `jpegResamplerCapacity` geometries; beyond that the oldest is reconfigured.
    private var jpegResamplers: [(key: Geometry, resampler: PlaneResampler)] = []
    private var activeJPEGResampler = 0
    private var nextJPEGResamplerToReplace = 0
    static let jpegResamplerCapacity = 32
    /// inspectionROI's masks by placement (a replayed folder of different sizes has several).
    private var roiCache: [(placement: CropRect, mask: [UInt8])] = []
    private var roiCacheHasBase = false
    private var nextROIToReplace = 0

    public init(targetWidth: Int, targetHeight: Int, targetChannels: Int, crop: CropRect?, letterboxPad: [UInt8]? = nil) {
        precondition(targetWidth > 0 && targetHeight > 0, "model input size must be positive")
        precondition(targetChannels == 1 || targetChannels == 3, "model input is grey (1) or RGB (3) channels")
        precondition(letterboxPad == nil || letterboxPad!.count == targetChannels, "one padding value per channel")
        self.targetWidth = targetWidth
        self.targetHeight = targetHeight
        self.targetChannels = targetChannels
        self.crop = crop
        self.letterboxPad = letterboxPad
        placement = CropRect(x: 0, y: 0, width: targetWidth, height: targetHeight)
        buildLookupTables()
        jpegResamplers.reserveCapacity(FramePreprocessor.jpegResamplerCapacity)
    }

    /// Bytes `prepare` writes: targetHeight * targetWidth * targetChannels.
    public var outputCount: Int { targetWidth * targetHeight * targetChannels }

    /// Decodes/converts one frame into dst (targetHeight*targetWidth*targetChannels UInt8, HWC).
    /// For MJPEG, width and height may be 0 (take them from the JPEG); otherwise the JPEG must
    /// have that size.
    public func prepare(_ bytes: UnsafeRawBufferPointer, format: PixelFormat, width: Int,
                        height: Int, into dst: UnsafeMutableBufferPointer<UInt8>) throws {
        try prepare(bytes, format: format, width: width, height: height, rowStride: 0, into: dst)
    }

    /// As above, with the driver's bytes per line (`rowStride`, 0 = packed).
    public func prepare(_ bytes: UnsafeRawBufferPointer, format: PixelFormat, width: Int,
                        height: Int, rowStride: Int, into dst: UnsafeMutableBufferPointer<UInt8>) throws {
        guard dst.count == outputCount, let out = dst.baseAddress else {
            throw PreprocessError.destinationSize(expected: outputCount, actual: dst.count)
        }
        switch format {
        case .mjpeg: try prepareJPEG(bytes, width: width, height: height, out: out)
        case .yuyv: try prepareYUYV(bytes, width: width, height: height, rowStride: rowStride, out: out)
        case .grey: try prepareGrey(bytes, width: width, height: height, rowStride: rowStride, out: out)
        }
        fillPadding(out)
    }

    /// The ROI to score the last prepared frame with: `base` (model size, 0 = ignore; nil = all)
    /// without the letterbox padding. Squashing: `base` itself. Built once per placement (up to
    /// `jpegResamplerCapacity` of them, like the resamplers), so frames allocate nothing in steady
    /// state; `base` must be the same on every call (one preprocessor per camera, one ROI each).
    public func inspectionROI(_ base: [UInt8]?) -> [UInt8]? {
        guard letterboxPad != nil else { return base }
        if roiCacheHasBase != (base != nil) { roiCache.removeAll(); roiCacheHasBase = base != nil }
        var i = 0
        while i < roiCache.count {
            if roiCache[i].placement == placement { return roiCache[i].mask }
            i += 1
        }
        var mask = base ?? [UInt8](repeating: 255, count: targetWidth * targetHeight)
        let p = placement
        for y in 0..<targetHeight {
            for x in 0..<targetWidth where y < p.y || y >= p.y + p.height || x < p.x || x >= p.x + p.width {
                mask[y * targetWidth + x] = 0
            }
        }
        if roiCache.count < FramePreprocessor.jpegResamplerCapacity {
            if roiCache.isEmpty { roiCache.reserveCapacity(FramePreprocessor.jpegResamplerCapacity) }
            roiCache.append((p, mask))
        } else {
            roiCache[nextROIToReplace] = (p, mask)
            nextROIToReplace = (nextROIToReplace + 1) % FramePreprocessor.jpegResamplerCapacity
        }
        return mask
    }

    /// Where a frame (after the crop) lands on the input grid.
    private func place(_ c: CropRect) -> CropRect {
        guard letterboxPad != nil else { return CropRect(x: 0, y: 0, width: targetWidth, height: targetHeight) }
        return letterboxPlacement(width: c.width, height: c.height, targetWidth: targetWidth, targetHeight: targetHeight)
    }

    /// Start of the placed frame inside `out`.
    private func placed(_ out: UnsafeMutablePointer<UInt8>, channels: Int) -> UnsafeMutablePointer<UInt8> {
        out + (placement.y * targetWidth + placement.x) * channels
    }

    /// Writes the padding around the placed frame (every frame: the caller's buffer may have held
    /// a frame of another shape).
    private func fillPadding(_ out: UnsafeMutablePointer<UInt8>) {
        guard let pad = letterboxPad else { return }
        let p = placement, ch = targetChannels
        // Only the padding's spans: whole rows above and below, the two sides of the frame's rows.
        func fill(_ start: Int, _ pixels: Int) {
            for x in start..<(start + pixels) { for k in 0..<ch { out[x * ch + k] = pad[k] } }
        }
        fill(0, p.y * targetWidth)
        for y in p.y..<(p.y + p.height) {
            fill(y * targetWidth, p.x)
            fill(y * targetWidth + p.x + p.width, targetWidth - p.x - p.width)
        }
        fill((p.y + p.height) * targetWidth, (targetHeight - p.y - p.height) * targetWidth)
    }

    /// Convenience for tests and tools: returns a new buffer.
    public func prepare(_ bytes: [UInt8], format: PixelFormat, width: Int, height: Int) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: outputCount)
        try bytes.withUnsafeBytes { src in
            try out.withUnsafeMutableBufferPointer { try prepare(src, format: format, width: width, height: height, into: $0) }
        }
        return out
    }

    /// Maps a region-of-interest mask (grey, 0 = ignore; from `loadPNGMask`) onto the model
    /// input grid: a mask the size of the camera frame gets the same crop and resize (or
    /// letterbox) as the frames; a mask already at model size is used as is. A model pixel is inspected (255) when
    /// at least half of the frame area it covers is inspected, else ignored (0).
    /// Called once at start-up, not per frame.
    public func modelMask(_ mask: Image, frameWidth: Int, frameHeight: Int) throws -> [UInt8] {
        precondition(mask.channels == 1, "masks are grey images")
        if mask.width == targetWidth && mask.height == targetHeight && (frameWidth != targetWidth || frameHeight != targetHeight) {
            return mask.pixels.map { $0 == 0 ? 0 : 255 }
        }
        guard mask.width == frameWidth && mask.height == frameHeight else {
            throw PreprocessError.maskSize(maskWidth: mask.width, maskHeight: mask.height, frameWidth: frameWidth,
                                           frameHeight: frameHeight, modelWidth: targetWidth, modelHeight: targetHeight)
        }
        let c = try cropRect(width: frameWidth, height: frameHeight)
        let at = place(c)
        var resampler = PlaneResampler()
        resampler.configure(sourceX: Double(c.x), sourceY: Double(c.y), sourceWidth: Double(c.width),
                            sourceHeight: Double(c.height), limitX: c.x..<(c.x + c.width), limitY: c.y..<(c.y + c.height),
                            outputWidth: at.width, outputHeight: at.height, filter: .area)
        let binary = mask.pixels.map { $0 == 0 ? UInt8(0) : 255 }
        var out = [UInt8](repeating: 0, count: targetWidth * targetHeight)   // letterbox padding: not inspected
        binary.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                resampler.run(source: src.baseAddress!, pixelStride: 1, rowStride: frameWidth,
                              destination: dst.baseAddress! + at.y * targetWidth + at.x, destinationPixelStride: 1,
                              destinationRowPixels: targetWidth)
            }
        }
        return out.map { $0 >= 128 ? 255 : 0 }
    }

    // MARK: - Per format

    private func cropRect(width: Int, height: Int) throws -> CropRect {
        guard let c = crop else { return CropRect(x: 0, y: 0, width: width, height: height) }
        guard c.x >= 0, c.y >= 0, c.width > 0, c.height > 0, c.x + c.width <= width, c.y + c.height <= height else {
            throw PreprocessError.cropOutsideFrame(crop: c, frameWidth: width, frameHeight: height)
        }
        return c
    }

    private func prepareJPEG(_ bytes: UnsafeRawBufferPointer, width: Int, height: Int,
                             out: UnsafeMutablePointer<UInt8>) throws {
        guard bytes.count > 0 else { throw JPEGError.empty }
        guard let size = jpegDimensions(bytes) else {
            throw JPEGError.corrupt("no frame header (SOF marker) found")
        }
        if width > 0 && height > 0 && (size.width != width || size.height != height) {
            throw PreprocessError.jpegSizeMismatch(expectedWidth: width, expectedHeight: height,
                                                   jpegWidth: size.width, jpegHeight: size.height)
        }
        let c = try cropRect(width: size.width, height: size.height)
        placement = place(c)
        var denom = 1
        if useDCTScaling {
            var d = 8
            while d > 1 && (c.width / d < placement.width || c.height / d < placement.height) { d /= 2 }
            denom = d
        }
        lastScaleDenominator = denom
        let warnings = try decoder.decode(bytes, into: &decoded, grey: targetChannels == 1, scaleDenominator: denom)
        if warnings > 0 && rejectJPEGWarnings {
            throw JPEGError.corrupt(decoder.lastWarning)
        }
        let key = Geometry(format: .mjpeg, width: size.width, height: size.height, rowStride: decoded.rowStride, scale: denom)
        if geometry != key {
            var found = -1
            var i = 0
            while i < jpegResamplers.count {
                if jpegResamplers[i].key == key { found = i; break }
                i += 1
            }
            if found >= 0 {
                activeJPEGResampler = found
            } else {
                // libjpeg's scaled size is ceil(size / denom); map the crop into that grid.
                let sx = Double(decoded.width) / Double(size.width)
                let sy = Double(decoded.height) / Double(size.height)
                // Grey or interleaved RGB: one resampler handles all channels of a pixel together.
                var r = PlaneResampler()
                r.configure(sourceX: Double(c.x) * sx, sourceY: Double(c.y) * sy,
                            sourceWidth: Double(c.width) * sx, sourceHeight: Double(c.height) * sy,
                            limitX: 0..<decoded.width, limitY: 0..<decoded.height,
                            outputWidth: placement.width, outputHeight: placement.height, filter: filter,
                            channels: decoded.channels)
                if jpegResamplers.count < FramePreprocessor.jpegResamplerCapacity {
                    jpegResamplers.append((key, r))
                    activeJPEGResampler = jpegResamplers.count - 1
                } else {
                    activeJPEGResampler = nextJPEGResamplerToReplace
                    jpegResamplers[activeJPEGResampler] = (key, r)
                    nextJPEGResamplerToReplace = (nextJPEGResamplerToReplace + 1) % FramePreprocessor.jpegResamplerCapacity
                }
                geometryChanges += 1
            }
            geometry = key
        }
        let ch = decoded.channels, stride = decoded.rowStride
        let index = activeJPEGResampler
        let dst = placed(out, channels: ch), rowPixels = targetWidth
        decoded.pixels.withUnsafeBufferPointer { px in
            jpegResamplers[index].resampler.run(source: px.baseAddress!, pixelStride: ch, rowStride: stride,
                                                destination: dst, destinationPixelStride: ch,
                                                destinationRowPixels: rowPixels)
        }
    }

    private func prepareGrey(_ bytes: UnsafeRawBufferPointer, width: Int, height: Int, rowStride: Int,
                             out: UnsafeMutablePointer<UInt8>) throws {
        guard width > 0, height > 0 else { throw PreprocessError.invalidFrameSize(format: .grey, width: width, height: height) }
        let stride = rowStride > 0 ? rowStride : width
        let needed = stride * (height - 1) + width
        guard bytes.count >= needed, stride >= width, let base = bytes.baseAddress else {
            throw PreprocessError.frameTooShort(format: .grey, width: width, height: height,
                                               expectedBytes: needed, actualBytes: bytes.count)
        }
        let c = try cropRect(width: width, height: height)
        let key = Geometry(format: .grey, width: width, height: height, rowStride: stride, scale: 1)
        placement = place(c)
        if geometry != key {
            planes[0].configure(sourceX: Double(c.x), sourceY: Double(c.y), sourceWidth: Double(c.width),
                                sourceHeight: Double(c.height), limitX: c.x..<(c.x + c.width),
                                limitY: c.y..<(c.y + c.height), outputWidth: placement.width,
                                outputHeight: placement.height, filter: filter)
            geometry = key
            geometryChanges += 1
        }
        let src = base.assumingMemoryBound(to: UInt8.self)
        planes[0].run(source: src, pixelStride: 1, rowStride: stride, destination: placed(out, channels: targetChannels),
                      destinationPixelStride: targetChannels, destinationRowPixels: targetWidth)
        if targetChannels == 3 { replicateGrey(out) }
    }

    private func prepareYUYV(_ bytes: UnsafeRawBufferPointer, width: Int, height: Int, rowStride: Int,
                             out: UnsafeMutablePointer<UInt8>) throws {
        guard width >= 2, height > 0, width % 2 == 0 else {
            throw PreprocessError.invalidFrameSize(format: .yuyv, width: width, height: height)
        }
        let stride = rowStride > 0 ? rowStride : width * 2
        let needed = stride * (height - 1) + width * 2
        guard bytes.count >= needed, stride >= width * 2, let base = bytes.baseAddress else {
            throw PreprocessError.frameTooShort(format: .yuyv, width: width, height: height,
                                               expectedBytes: needed, actualBytes: bytes.count)
        }
        let c = try cropRect(width: width, height: height)
        let key = Geometry(format: .yuyv, width: width, height: height, rowStride: stride, scale: 1)
        placement = place(c)
        let pw = placement.width, ph = placement.height
        if geometry != key {
            planes[0].configure(sourceX: Double(c.x), sourceY: Double(c.y), sourceWidth: Double(c.width),
                                sourceHeight: Double(c.height), limitX: c.x..<(c.x + c.width),
                                limitY: c.y..<(c.y + c.height), outputWidth: pw,
                                outputHeight: ph, filter: filter)
            if targetChannels == 3 {
                // Chroma is sampled once per two pixels: the same rectangle at half the x scale.
                let cx0 = c.x / 2, cx1 = (c.x + c.width + 1) / 2
                for p in 1...2 {
                    planes[p].configure(sourceX: Double(c.x) / 2, sourceY: Double(c.y),
                                        sourceWidth: Double(c.width) / 2, sourceHeight: Double(c.height),
                                        limitX: cx0..<cx1, limitY: c.y..<(c.y + c.height),
                                        outputWidth: pw, outputHeight: ph, filter: filter)
                }
                if chroma.count != 2 * targetWidth * targetHeight {
                    chroma = [UInt8](repeating: 0, count: 2 * targetWidth * targetHeight)
                }
            }
            geometry = key
            geometryChanges += 1
        }
        let src = base.assumingMemoryBound(to: UInt8.self)
        let n = targetWidth * targetHeight
        let offset = placement.y * targetWidth + placement.x, rowPixels = targetWidth
        // The conversions below run over the whole grid; the padding is written over afterwards.
        if targetChannels == 1 {
            planes[0].run(source: src, pixelStride: 2, rowStride: stride, destination: out + offset, destinationPixelStride: 1,
                          destinationRowPixels: rowPixels)
            lumaLUT.withUnsafeBufferPointer { lut in
                for i in 0..<n { out[i] = lut[Int(out[i])] }
            }
            return
        }
        // Y into the R slot of the output, U and V into the chroma buffer, then convert in place.
        planes[0].run(source: src, pixelStride: 2, rowStride: stride, destination: out + 3 * offset, destinationPixelStride: 3,
                      destinationRowPixels: rowPixels)
        chroma.withUnsafeMutableBufferPointer { uv in
            let u = uv.baseAddress!, v = u + n
            planes[1].run(source: src + 1, pixelStride: 4, rowStride: stride, destination: u + offset, destinationPixelStride: 1,
                          destinationRowPixels: rowPixels)
            planes[2].run(source: src + 3, pixelStride: 4, rowStride: stride, destination: v + offset, destinationPixelStride: 1,
                          destinationRowPixels: rowPixels)
            // BT.601 in Q8; limited range expands Y by 255/219 and chroma by 255/224.
            let limited = yuvLimitedRange
            let yMul: Int32 = limited ? 298 : 256, yOff: Int32 = limited ? 16 : 0
            let rv: Int32 = limited ? 409 : 359, gu: Int32 = limited ? 100 : 88
            let gv: Int32 = limited ? 208 : 183, bu: Int32 = limited ? 516 : 454
            for i in 0..<n {
                let yy = (Int32(out[3 * i]) - yOff) * yMul + 128
                let d = Int32(u[i]) - 128, e = Int32(v[i]) - 128
                out[3 * i] = clampByte((yy + rv * e) >> 8)
                out[3 * i + 1] = clampByte((yy - gu * d - gv * e) >> 8)
                out[3 * i + 2] = clampByte((yy + bu * d) >> 8)
            }
        }
    }

    private func replicateGrey(_ out: UnsafeMutablePointer<UInt8>) {
        for i in 0..<(targetWidth * targetHeight) {
            let g = out[3 * i]
            out[3 * i + 1] = g
            out[3 * i + 2] = g
        }
    }

    private func buildLookupTables() {
        for v in 0..<256 {
            lumaLUT[v] = yuvLimitedRange ? clampByte(Int32(((v - 16) * 255 + 109) / 219)) : UInt8(v)
        }
    }
}

@inline(__always) func clampByte(_ v: Int32) -> UInt8 {
    UInt8(truncatingIfNeeded: v < 0 ? 0 : (v > 255 ? 255 : v))
}

/// Width and height from a JPEG's frame header (SOFn), without decoding; nil if there is none.
/// Bounds-checked at every step: it runs on untrusted camera data.
public func jpegDimensions(_ data: UnsafeRawBufferPointer) -> (width: Int, height: Int)? {
    let n = data.count
    guard n >= 4, data[0] == 0xFF, data[1] == 0xD8 else { return nil }
    var i = 2
    while i + 3 < n {
        guard data[i] == 0xFF else { return nil }
        let marker = data[i + 1]
        if marker == 0xFF { i += 1; continue }  // fill bytes
        if marker == 0xD8 || (0xD0...0xD7).contains(marker) || marker == 0x01 { i += 2; continue }
        if marker == 0xD9 || marker == 0xDA { return nil }  // image data before any frame header
        let length = Int(data[i + 2]) << 8 | Int(data[i + 3])
        guard length >= 2 else { return nil }
        let isSOF = (0xC0...0xCF).contains(marker) && marker != 0xC4 && marker != 0xC8 && marker != 0xCC
        if isSOF {
            guard i + 8 < n, length >= 7 else { return nil }
            let h = Int(data[i + 5]) << 8 | Int(data[i + 6])
            let w = Int(data[i + 7]) << 8 | Int(data[i + 8])
            return w > 0 && h > 0 ? (w, h) : nil
        }
        i += 2 + length
    }
    return nil
}
