import XCTest
@testable import GRDImaging

final class PNGTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("png-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func testGreyAndRGBRoundTripExactly() throws {
        var grey = Image(width: 13, height: 7, channels: 1)
        for i in grey.pixels.indices { grey.pixels[i] = UInt8(i * 7 % 256) }
        var rgb = Image(width: 5, height: 9, channels: 3)
        for i in rgb.pixels.indices { rgb.pixels[i] = UInt8(i * 13 % 256) }
        for img in [grey, rgb] {
            let path = dir.appendingPathComponent("img\(img.channels).png").path
            try writePNG(img, path: path)
            let back = try loadPNG(path: path, channels: img.channels)
            XCTAssertEqual(back.width, img.width)
            XCTAssertEqual(back.height, img.height)
            XCTAssertEqual(back.pixels, img.pixels)
        }
        XCTAssertEqual(Array(try encodePNG(grey).prefix(4)), [0x89, 0x50, 0x4E, 0x47])
    }

    func testMaskFromColourPNGKeepsBlackAsIgnore() throws {
        var rgb = Image(width: 4, height: 1, channels: 3)
        rgb.pixels = [0, 0, 0, 255, 255, 255, 255, 0, 0, 0, 0, 0]
        let path = dir.appendingPathComponent("mask.png").path
        try writePNG(rgb, path: path)
        let mask = try loadPNGMask(path: path)
        XCTAssertEqual(mask.channels, 1)
        XCTAssertEqual(mask.pixels[0], 0)
        XCTAssertEqual(mask.pixels[1], 255)
        XCTAssertGreaterThan(mask.pixels[2], 0)
        XCTAssertEqual(mask.pixels[3], 0)
    }

    func testErrorsNameTheFile() throws {
        let missing = dir.appendingPathComponent("nope.png").path
        XCTAssertThrowsError(try loadPNGMask(path: missing)) {
            XCTAssertTrue("\($0)".contains("nope.png"), "\($0)")
            XCTAssertTrue("\($0)".contains("no such file"), "\($0)")
        }
        let notPNG = dir.appendingPathComponent("text.png")
        try Data("hello, this is not a png".utf8).write(to: notPNG)
        XCTAssertThrowsError(try loadPNGMask(path: notPNG.path)) { XCTAssertTrue("\($0)".contains("text.png")) }
        XCTAssertThrowsError(try writePNG(Image(width: 2, height: 2, channels: 1), path: dir.path + "/no/such/dir/x.png"))
    }

    func testHeatmapOverlayLeavesColdPixelsAndReddensHotOnes() {
        let base = Image(width: 2, height: 1, channels: 1, fill: 100)
        let heat: [Float] = [0, 1]
        let out = heat.withUnsafeBufferPointer { heatmapOverlay(base: base, heatmap: $0, opacity: 1) }
        XCTAssertEqual(Array(out.pixels[0..<3]), [100, 100, 100])
        XCTAssertEqual(Array(out.pixels[3..<6]), [255, 0, 0])
    }
}
