import XCTest
@testable import GRDImaging

final class JPEGDecoderTests: XCTestCase {
    func gradient(width: Int, height: Int) -> Image {
        var img = Image(width: width, height: height, channels: 1)
        for y in 0..<height { for x in 0..<width { img.pixels[y * width + x] = UInt8((x * 255) / (width - 1)) } }
        return img
    }

    func testEncodeDecodeRoundTripKeepsPixelsClose() throws {
        let img = gradient(width: 64, height: 48)
        let jpeg = try encodeJPEG(img, quality: 95)
        XCTAssertEqual(Array(jpeg.prefix(2)), [0xFF, 0xD8])
        let decoded = try JPEGDecoder().decode(jpeg, grey: true)
        XCTAssertEqual(decoded.width, 64)
        XCTAssertEqual(decoded.height, 48)
        let maxErr = zip(img.pixels, decoded.pixels).map { abs(Int($0) - Int($1)) }.max()!
        XCTAssertLessThanOrEqual(maxErr, 8)
    }

    func testDCTScalingDecodesSmaller() throws {
        let jpeg = try encodeJPEG(gradient(width: 640, height: 480))
        let quarter = try JPEGDecoder().decode(jpeg, grey: true, scaleDenominator: 4)
        XCTAssertEqual(quarter.width, 160)
        XCTAssertEqual(quarter.height, 120)
        XCTAssertEqual(JPEGDecoder.scaleDenominator(width: 1280, height: 720, minWidth: 256, minHeight: 256), 2)
        XCTAssertEqual(JPEGDecoder.scaleDenominator(width: 2560, height: 2048, minWidth: 256, minHeight: 256), 8)
    }

    func testTruncatedAndGarbledJPEGsAreErrorsNotCrashes() throws {
        let jpeg = try encodeJPEG(gradient(width: 64, height: 64))
        let decoder = JPEGDecoder()
        XCTAssertThrowsError(try decoder.decode(Array(jpeg.prefix(jpeg.count / 2)), grey: true)) {
            XCTAssertEqual($0 as? JPEGError, .truncated)
        }
        XCTAssertThrowsError(try decoder.decode([], grey: true)) { XCTAssertEqual($0 as? JPEGError, .empty) }
        var garbled = jpeg
        for i in 2..<min(200, garbled.count - 2) { garbled[i] = UInt8(truncatingIfNeeded: i &* 37) }
        XCTAssertThrowsError(try decoder.decode(garbled, grey: true)) {
            guard case .corrupt = $0 as? JPEGError else { return XCTFail("expected corrupt, got \($0)") }
        }
        // The decoder stays usable after errors.
        XCTAssertEqual(try decoder.decode(jpeg, grey: true).width, 64)
    }

    func testFocusDropsWhenBlurred() {
        var sharp = Image(width: 32, height: 32, channels: 1)
        for y in 0..<32 { for x in 0..<32 { sharp.pixels[y * 32 + x] = (x / 4 + y / 4) % 2 == 0 ? 0 : 255 } }
        var blurred = sharp
        for y in 1..<31 { for x in 1..<31 {
            var s = 0
            for dy in -1...1 { for dx in -1...1 { s += Int(sharp.pixels[(y + dy) * 32 + x + dx]) } }
            blurred.pixels[y * 32 + x] = UInt8(s / 9)
        } }
        let a = ImageStatistics(of: sharp), b = ImageStatistics(of: blurred)
        XCTAssertEqual(a.meanBrightness, 127.5, accuracy: 0.01)
        XCTAssertGreaterThan(a.focus, b.focus * 2)
    }
}
