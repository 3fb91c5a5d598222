import XCTest
@testable import GRDImaging

final class FramePreprocessorTests: XCTestCase {
    func greyFrame(_ w: Int, _ h: Int, _ f: (Int, Int) -> UInt8) -> [UInt8] {
        var px = [UInt8](repeating: 0, count: w * h)
        for y in 0..<h { for x in 0..<w { px[y * w + x] = f(x, y) } }
        return px
    }

    /// Packs per-pixel Y with one U, V per pixel pair into YUYV.
    func yuyvFrame(_ w: Int, _ h: Int, y: UInt8, u: UInt8, v: UInt8) -> [UInt8] {
        var px = [UInt8](repeating: 0, count: w * h * 2)
        for i in stride(from: 0, to: px.count, by: 4) { px[i] = y; px[i + 1] = u; px[i + 2] = y; px[i + 3] = v }
        return px
    }

    func testAreaDownscaleAveragesBlocksExactly() throws {
        // 8x8 with 4x4 blocks of 10, 20, 30, 40 -> 2x2.
        // (Typed in two steps: Swift 6.0.3 gives up type-checking the one-expression form.)
        let frame = greyFrame(8, 8) { x, y in
            let level: Int = 10 * (1 + x / 4 + 2 * (y / 4))
            return UInt8(level)
        }
        let p = FramePreprocessor(targetWidth: 2, targetHeight: 2, targetChannels: 1, crop: nil)
        XCTAssertEqual(try p.prepare(frame, format: .grey, width: 8, height: 8), [10, 20, 30, 40])
        // A checkerboard averages to its mean under the area filter (no aliasing).
        let checker = greyFrame(64, 64) { x, y in (x + y) % 2 == 0 ? 0 : 200 }
        let q = FramePreprocessor(targetWidth: 16, targetHeight: 16, targetChannels: 1, crop: nil)
        let out = try q.prepare(checker, format: .grey, width: 64, height: 64)
        XCTAssertTrue(out.allSatisfy { $0 == 100 }, "checkerboard should average to 100, got \(Set(out))")
    }

    func testFractionalAreaAndBilinearKeepFlatImagesFlat() throws {
        let frame = greyFrame(37, 23) { _, _ in 77 }
        for filter in ResizeFilter.allCases {
            for (w, h) in [(5, 3), (16, 16), (100, 50), (37, 23)] {
                let p = FramePreprocessor(targetWidth: w, targetHeight: h, targetChannels: 1, crop: nil)
                p.filter = filter
                let out = try p.prepare(frame, format: .grey, width: 37, height: 23)
                XCTAssertTrue(out.allSatisfy { $0 == 77 }, "\(filter) \(w)x\(h): \(Set(out))")
            }
        }
    }

    func testBilinearUpscaleInterpolatesAGradient() throws {
        let frame: [UInt8] = [0, 100, 0, 100]  // 2x2: left column 0, right 100
        let p = FramePreprocessor(targetWidth: 4, targetHeight: 1, targetChannels: 1, crop: nil)
        // Pixel centres map to source x = -0.25, 0.25, 0.75, 1.25 -> 0, 25, 75, 100.
        XCTAssertEqual(try p.prepare(frame, format: .grey, width: 2, height: 2), [0, 25, 75, 100])
    }

    func testCropSelectsTheRegionAndRejectsOutsideCrops() throws {
        let frame = greyFrame(64, 48) { x, y in x >= 32 && y >= 24 ? 200 : 10 }
        let p = FramePreprocessor(targetWidth: 8, targetHeight: 8, targetChannels: 1,
                                  crop: CropRect(x: 32, y: 24, width: 32, height: 24))
        XCTAssertTrue(try p.prepare(frame, format: .grey, width: 64, height: 48).allSatisfy { $0 == 200 })
        let bad = FramePreprocessor(targetWidth: 8, targetHeight: 8, targetChannels: 1,
                                    crop: CropRect(x: 40, y: 0, width: 32, height: 24))
        XCTAssertThrowsError(try bad.prepare(frame, format: .grey, width: 64, height: 48)) {
            XCTAssertEqual($0 as? PreprocessError, .cropOutsideFrame(crop: CropRect(x: 40, y: 0, width: 32, height: 24), frameWidth: 64, frameHeight: 48))
            XCTAssertTrue("\($0)".contains("does not fit inside the 64x48 camera frame"))
        }
    }

    func testGreyToRGBReplicates() throws {
        let frame = greyFrame(4, 4) { x, _ in UInt8(x * 50) }
        let p = FramePreprocessor(targetWidth: 4, targetHeight: 4, targetChannels: 3, crop: nil)
        let out = try p.prepare(frame, format: .grey, width: 4, height: 4)
        XCTAssertEqual(Array(out[0..<12]), [0, 0, 0, 50, 50, 50, 100, 100, 100, 150, 150, 150])
    }

    func testYUYVLimitedRangeToGreyAndRGB() throws {
        let grey = FramePreprocessor(targetWidth: 4, targetHeight: 4, targetChannels: 1, crop: nil)
        XCTAssertTrue(try grey.prepare(yuyvFrame(16, 8, y: 16, u: 128, v: 128), format: .yuyv, width: 16, height: 8).allSatisfy { $0 == 0 })
        XCTAssertTrue(try grey.prepare(yuyvFrame(16, 8, y: 235, u: 128, v: 128), format: .yuyv, width: 16, height: 8).allSatisfy { $0 == 255 })
        XCTAssertTrue(try grey.prepare(yuyvFrame(16, 8, y: 126, u: 0, v: 255), format: .yuyv, width: 16, height: 8).allSatisfy { $0 == 128 })
        grey.yuvLimitedRange = false
        XCTAssertTrue(try grey.prepare(yuyvFrame(16, 8, y: 100, u: 0, v: 0), format: .yuyv, width: 16, height: 8).allSatisfy { $0 == 100 })

        let rgb = FramePreprocessor(targetWidth: 4, targetHeight: 2, targetChannels: 3, crop: nil)
        // BT.601 limited-range primaries: red (81, 90, 240), green (145, 54, 34), blue (41, 240, 110).
        for (yuv, expected) in [((81, 90, 240), (255, 0, 0)), ((145, 54, 34), (0, 255, 0)), ((41, 240, 110), (0, 0, 255))] {
            let out = try rgb.prepare(yuyvFrame(16, 8, y: UInt8(yuv.0), u: UInt8(yuv.1), v: UInt8(yuv.2)),
                                      format: .yuyv, width: 16, height: 8)
            for i in 0..<8 {
                XCTAssertEqual(Int(out[3 * i]), expected.0, accuracy: 3, "\(yuv)")
                XCTAssertEqual(Int(out[3 * i + 1]), expected.1, accuracy: 3, "\(yuv)")
                XCTAssertEqual(Int(out[3 * i + 2]), expected.2, accuracy: 3, "\(yuv)")
            }
        }
    }

    func testYUYVChromaFollowsTheCrop() throws {
        // Left half red, right half blue; crop the right half -> all blue.
        var frame = yuyvFrame(32, 4, y: 81, u: 90, v: 240)
        for row in 0..<4 { for pair in 8..<16 {
            let i = row * 64 + pair * 4
            frame[i] = 41; frame[i + 1] = 240; frame[i + 2] = 41; frame[i + 3] = 110
        } }
        let p = FramePreprocessor(targetWidth: 4, targetHeight: 2, targetChannels: 3,
                                  crop: CropRect(x: 16, y: 0, width: 16, height: 4))
        let out = try p.prepare(frame, format: .yuyv, width: 32, height: 4)
        for i in 0..<8 { XCTAssertLessThan(out[3 * i], 4); XCTAssertGreaterThan(out[3 * i + 2], 250) }
    }

    func testShortAndMisSizedFramesAreErrorsNamingTheProblem() throws {
        let p = FramePreprocessor(targetWidth: 4, targetHeight: 4, targetChannels: 1, crop: nil)
        XCTAssertThrowsError(try p.prepare([UInt8](repeating: 0, count: 100), format: .yuyv, width: 16, height: 8)) {
            XCTAssertEqual($0 as? PreprocessError, .frameTooShort(format: .yuyv, width: 16, height: 8, expectedBytes: 256, actualBytes: 100))
        }
        XCTAssertThrowsError(try p.prepare([UInt8](repeating: 0, count: 100), format: .yuyv, width: 15, height: 2))
        XCTAssertThrowsError(try p.prepare([UInt8](repeating: 0, count: 10), format: .grey, width: 0, height: 2))
        var small = [UInt8](repeating: 0, count: 3)
        XCTAssertThrowsError(try [UInt8](repeating: 0, count: 16).withUnsafeBytes { src in
            try small.withUnsafeMutableBufferPointer { try p.prepare(src, format: .grey, width: 4, height: 4, into: $0) }
        }) { XCTAssertEqual($0 as? PreprocessError, .destinationSize(expected: 16, actual: 3)) }
    }

    func rgbGradient(_ w: Int, _ h: Int) -> Image {
        var img = Image(width: w, height: h, channels: 3)
        for y in 0..<h { for x in 0..<w {
            let i = (y * w + x) * 3
            img.pixels[i] = UInt8(x * 255 / (w - 1)); img.pixels[i + 1] = UInt8(y * 255 / (h - 1)); img.pixels[i + 2] = 128
        } }
        return img
    }

    func testMJPEGWithDCTScalingMatchesAFullDecode() throws {
        let jpeg = try encodeJPEG(rgbGradient(1280, 720), quality: 90)
        XCTAssertTrue(jpeg.withUnsafeBytes { jpegDimensions($0) }! == (1280, 720))
        for channels in [1, 3] {
            let scaled = FramePreprocessor(targetWidth: 256, targetHeight: 256, targetChannels: channels, crop: nil)
            let full = FramePreprocessor(targetWidth: 256, targetHeight: 256, targetChannels: channels, crop: nil)
            full.useDCTScaling = false
            let a = try scaled.prepare(jpeg, format: .mjpeg, width: 1280, height: 720)
            let b = try full.prepare(jpeg, format: .mjpeg, width: 0, height: 0)
            XCTAssertEqual(scaled.lastScaleDenominator, 2)
            XCTAssertEqual(full.lastScaleDenominator, 1)
            let meanDiff = Double(zip(a, b).map { abs(Int($0) - Int($1)) }.reduce(0, +)) / Double(a.count)
            XCTAssertLessThan(meanDiff, 1.5, "channels \(channels)")
            if channels == 3 {
                // Red follows x, green follows y: pixel (row 128, col 0) is dark red, bright green ~128.
                XCTAssertLessThan(a[128 * 256 * 3], 10)
                XCTAssertEqual(Int(a[128 * 256 * 3 + 1]), 128, accuracy: 6)
                XCTAssertGreaterThan(a[(128 * 256 + 255) * 3], 245)
            }
        }
        // A crop of 512x512 still decodes at 1/2 for 256x256.
        let cropped = FramePreprocessor(targetWidth: 256, targetHeight: 256, targetChannels: 1,
                                        crop: CropRect(x: 640, y: 100, width: 512, height: 512))
        let c = try cropped.prepare(jpeg, format: .mjpeg, width: 1280, height: 720)
        XCTAssertEqual(cropped.lastScaleDenominator, 2)
        XCTAssertEqual(c.count, 256 * 256)
        XCTAssertThrowsError(try cropped.prepare(jpeg, format: .mjpeg, width: 640, height: 480)) {
            XCTAssertEqual($0 as? PreprocessError, .jpegSizeMismatch(expectedWidth: 640, expectedHeight: 480, jpegWidth: 1280, jpegHeight: 720))
        }
    }

    func testSteadyStateReusesBuffers() throws {
        let jpeg = try encodeJPEG(rgbGradient(320, 240), quality: 80)
        let yuyv = yuyvFrame(320, 240, y: 100, u: 120, v: 130)
        for (format, bytes, w, h) in [(PixelFormat.mjpeg, jpeg, 320, 240), (.yuyv, yuyv, 320, 240)] {
            let p = FramePreprocessor(targetWidth: 64, targetHeight: 64, targetChannels: 3, crop: nil)
            var out = [UInt8](repeating: 0, count: p.outputCount)
            let first = try p.prepare(bytes, format: format, width: w, height: h)
            try bytes.withUnsafeBytes { src in
                try out.withUnsafeMutableBufferPointer { dst in
                    for _ in 0..<20 { try p.prepare(src, format: format, width: w, height: h, into: dst) }
                }
            }
            XCTAssertEqual(out, first)
            XCTAssertEqual(p.geometryChanges, 1, "\(format): working buffers were rebuilt")
        }
    }

    func testAxisFilterWeightsSumToOneAndStayInBounds() {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<300 {
            let lo = Int.random(in: 0..<50, using: &rng), len = Int.random(in: 1..<400, using: &rng)
            let outs = Int.random(in: 1..<300, using: &rng)
            for filter in ResizeFilter.allCases {
                var f = AxisFilter()
                f.build(start: Double(lo), length: Double(len), limit: lo..<(lo + len), outputs: outs, filter: filter)
                for j in 0..<outs {
                    let w = f.weights[(j * f.taps)..<((j + 1) * f.taps)]
                    XCTAssertEqual(w.reduce(0, +), 4096)
                    XCTAssertTrue(w.allSatisfy { $0 >= 0 })
                    XCTAssertGreaterThanOrEqual(Int(f.first[j]), lo)
                    XCTAssertLessThanOrEqual(Int(f.first[j]) + f.taps, lo + len)
                }
            }
        }
    }

    func testInterleavedRGBResampleEqualsThreeSingleChannelRuns() {
        let w = 97, h = 61, outW = 40, outH = 23
        var src = [UInt8](repeating: 0, count: w * h * 3)
        var state: UInt32 = 99
        for i in src.indices { state = state &* 1_103_515_245 &+ 12345; src[i] = UInt8(truncatingIfNeeded: state >> 16) }
        for filter in ResizeFilter.allCases {
            var rgb = PlaneResampler()
            rgb.configure(sourceX: 3.5, sourceY: 2, sourceWidth: 90, sourceHeight: 55, limitX: 0..<w, limitY: 0..<h,
                          outputWidth: outW, outputHeight: outH, filter: filter, channels: 3)
            var single = PlaneResampler()
            single.configure(sourceX: 3.5, sourceY: 2, sourceWidth: 90, sourceHeight: 55, limitX: 0..<w, limitY: 0..<h,
                             outputWidth: outW, outputHeight: outH, filter: filter)
            var a = [UInt8](repeating: 0, count: outW * outH * 3), b = a
            src.withUnsafeBufferPointer { s in
                a.withUnsafeMutableBufferPointer { rgb.run(source: s.baseAddress!, pixelStride: 3, rowStride: w * 3, destination: $0.baseAddress!, destinationPixelStride: 3) }
                b.withUnsafeMutableBufferPointer { d in
                    for c in 0..<3 { single.run(source: s.baseAddress! + c, pixelStride: 3, rowStride: w * 3, destination: d.baseAddress! + c, destinationPixelStride: 3) }
                }
            }
            XCTAssertEqual(a, b, "\(filter)")
            XCTAssertGreaterThan(Set(a).count, 100)
        }
    }

    func testMaskFollowsCropAndResizeAndIsBinary() throws {
        // 64x48 frame mask: left half ignored (0), right half inspected (any non-zero value).
        var mask = Image(width: 64, height: 48, channels: 1)
        for y in 0..<48 { for x in 32..<64 { mask.pixels[y * 64 + x] = 7 } }
        let whole = FramePreprocessor(targetWidth: 8, targetHeight: 4, targetChannels: 1, crop: nil)
        let m = try whole.modelMask(mask, frameWidth: 64, frameHeight: 48)
        XCTAssertEqual(Array(m[0..<8]), [0, 0, 0, 0, 255, 255, 255, 255])
        let cropped = FramePreprocessor(targetWidth: 8, targetHeight: 4, targetChannels: 1,
                                        crop: CropRect(x: 24, y: 0, width: 16, height: 48))
        XCTAssertEqual(Array(try cropped.modelMask(mask, frameWidth: 64, frameHeight: 48)[0..<8]), [0, 0, 0, 0, 255, 255, 255, 255])
        let modelSized = Image(width: 8, height: 4, channels: 1, fill: 3)
        XCTAssertTrue(try whole.modelMask(modelSized, frameWidth: 64, frameHeight: 48).allSatisfy { $0 == 255 })
        XCTAssertThrowsError(try whole.modelMask(Image(width: 10, height: 10, channels: 1), frameWidth: 64, frameHeight: 48)) {
            XCTAssertTrue("\($0)".contains("mask is 10x10; it must be the camera frame size 64x48 or the model input size 8x4"))
        }
    }

    func testAreaFilterUsesOnlyTheTapsItNeeds() {
        var f = AxisFilter()
        f.build(start: 0, length: 1280, limit: 0..<1280, outputs: 256, filter: .area)
        XCTAssertEqual(f.taps, 5)
        XCTAssertTrue(f.weights.allSatisfy { $0 == 819 || $0 == 820 })
        f.build(start: 0, length: 640, limit: 0..<640, outputs: 256, filter: .area)
        XCTAssertEqual(f.taps, 3)
        f.build(start: 0, length: 100, limit: 0..<100, outputs: 400, filter: .area)
        XCTAssertEqual(f.taps, 2, "enlarging is bilinear")
    }

    func testJPEGDimensionsRejectsGarbage() {
        XCTAssertNil(jpegDimensions(UnsafeRawBufferPointer(start: nil, count: 0)))
        let junk: [UInt8] = [0xFF, 0xD8, 0xFF, 0xE0, 0xFF, 0xFF]
        junk.withUnsafeBytes { XCTAssertNil(jpegDimensions($0)) }
    }
}

/// Letterbox: a model trained on aspect-preserved frames (training's `data.letterbox_box`) must see
/// the part on exactly the same pixels, with the padding value around it and outside the ROI.
final class LetterboxTests: XCTestCase {
    func testPlacementMatchesTheTrainingFormula() {
        // Values computed by Models/training/grdnet_train/data.letterbox_box (integer arithmetic).
        XCTAssertEqual(letterboxPlacement(width: 103, height: 388, targetWidth: 256, targetHeight: 256),
                       CropRect(x: 94, y: 0, width: 68, height: 256))
        XCTAssertEqual(letterboxPlacement(width: 617, height: 222, targetWidth: 256, targetHeight: 256),
                       CropRect(x: 0, y: 82, width: 256, height: 92))
        XCTAssertEqual(letterboxPlacement(width: 300, height: 300, targetWidth: 256, targetHeight: 256),
                       CropRect(x: 0, y: 0, width: 256, height: 256))
        // a part already at its placed size is placed on itself (the validation sets rely on it)
        XCTAssertEqual(letterboxPlacement(width: 68, height: 256, targetWidth: 256, targetHeight: 256),
                       CropRect(x: 94, y: 0, width: 68, height: 256))
        XCTAssertEqual(letterboxPlacement(width: 1, height: 1000, targetWidth: 8, targetHeight: 8),
                       CropRect(x: 3, y: 0, width: 1, height: 8))
    }

    func testGreyYUYVAndJPEGFramesLandInsideThePadding() throws {
        // a 12x24 frame of 200 on an 8x8 grid: 4x8 at x 2, padding 7
        let grey = [UInt8](repeating: 200, count: 12 * 24)
        let p = FramePreprocessor(targetWidth: 8, targetHeight: 8, targetChannels: 1, crop: nil, letterboxPad: [7])
        let out = try p.prepare(grey, format: .grey, width: 12, height: 24)
        XCTAssertEqual(p.placement, CropRect(x: 2, y: 0, width: 4, height: 8))
        for y in 0..<8 { XCTAssertEqual(Array(out[(y * 8)..<(y * 8 + 8)]), [7, 7, 200, 200, 200, 200, 7, 7], "row \(y)") }

        // RGB from YUYV (full range, neutral chroma: R = G = B = Y); padding per channel
        let rgb = FramePreprocessor(targetWidth: 8, targetHeight: 8, targetChannels: 3, crop: nil, letterboxPad: [1, 2, 3])
        rgb.yuvLimitedRange = false
        var yuyv = [UInt8](repeating: 0, count: 24 * 12 * 2)
        for i in stride(from: 0, to: yuyv.count, by: 4) { yuyv[i] = 90; yuyv[i + 1] = 128; yuyv[i + 2] = 90; yuyv[i + 3] = 128 }
        let o3 = try rgb.prepare(yuyv, format: .yuyv, width: 24, height: 12)   // wide: 8x4 at y 2
        XCTAssertEqual(rgb.placement, CropRect(x: 0, y: 2, width: 8, height: 4))
        for y in 0..<8 {
            for x in 0..<8 {
                let px = Array(o3[(3 * (y * 8 + x))..<(3 * (y * 8 + x) + 3)])
                XCTAssertEqual(px, (2..<6).contains(y) ? [90, 90, 90] : [1, 2, 3], "pixel \(x),\(y)")
            }
        }

        // MJPEG of another shape into the same grey preprocessor: the padding is rewritten
        let jpeg = try encodeJPEG(Image(width: 32, height: 16, channels: 1, pixels: [UInt8](repeating: 120, count: 512)), quality: 95)
        let oj = try p.prepare(jpeg, format: .mjpeg, width: 0, height: 0)
        XCTAssertEqual(p.placement, CropRect(x: 0, y: 2, width: 8, height: 4))
        for y in 0..<8 {
            for x in 0..<8 {
                let v = Int(oj[y * 8 + x])
                if (2..<6).contains(y) { XCTAssertLessThanOrEqual(abs(v - 120), 2, "pixel \(x),\(y)") } else { XCTAssertEqual(v, 7, "pixel \(x),\(y)") }
            }
        }
    }

    func testInspectionROILeavesThePaddingOutAndKeepsTheBase() throws {
        let p = FramePreprocessor(targetWidth: 4, targetHeight: 4, targetChannels: 1, crop: nil, letterboxPad: [0])
        _ = try p.prepare([UInt8](repeating: 50, count: 2 * 4), format: .grey, width: 2, height: 4)   // 2x4 at x 1
        XCTAssertEqual(p.inspectionROI(nil), [0, 255, 255, 0, 0, 255, 255, 0, 0, 255, 255, 0, 0, 255, 255, 0])
        let base: [UInt8] = [1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 1, 0, 1, 0]
        XCTAssertEqual(p.inspectionROI(base), [0, 1, 1, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 1, 0])
        // another shape moves it; squashing returns the base untouched
        _ = try p.prepare([UInt8](repeating: 50, count: 4 * 2), format: .grey, width: 4, height: 2)  // 4x2 at y 1
        XCTAssertEqual(p.inspectionROI(nil), [0, 0, 0, 0, 255, 255, 255, 255, 255, 255, 255, 255, 0, 0, 0, 0])
        let squash = FramePreprocessor(targetWidth: 4, targetHeight: 4, targetChannels: 1, crop: nil)
        _ = try squash.prepare([UInt8](repeating: 50, count: 2 * 4), format: .grey, width: 2, height: 4)
        XCTAssertNil(squash.inspectionROI(nil))
        XCTAssertEqual(squash.inspectionROI(base), base)
    }

    func testAFrameSizedMaskIsPlacedLikeItsFrame() throws {
        // 4x8 frame, mask = its top half; 4x4 grid: placed 2x4 at x 1
        let p = FramePreprocessor(targetWidth: 4, targetHeight: 4, targetChannels: 1, crop: nil, letterboxPad: [9])
        let mask = Image(width: 4, height: 8, channels: 1, pixels: (0..<32).map { $0 < 16 ? 255 : 0 })
        XCTAssertEqual(try p.modelMask(mask, frameWidth: 4, frameHeight: 8),
                       [0, 255, 255, 0, 0, 255, 255, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    }
}
