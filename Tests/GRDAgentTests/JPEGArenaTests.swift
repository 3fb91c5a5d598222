import XCTest
import Foundation
import GRDImaging
import GRDAllocationCounter

/// The decompressor's arena (Sources/CJPEG/shim.h): a reused decoder allocates nothing per frame
/// once warmed up, stays correct and usable after garbled and truncated data, and decodes
/// progressive JPEGs (through libjpeg's own pool, which allocates: counted, not hidden).
/// In GRDAgentTests because it needs the counting malloc of GRDAllocationCounter.
final class JPEGArenaTests: XCTestCase {
    /// 96x64 RGB, progressive (made by Pillow, quality 90).
    static let progressive = Data(base64Encoded: "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAMCAgMCAgMDAwMEAwMEBQgFBQQEBQoHBwYIDAoMDAsKCwsNDhIQDQ4RDgsLEBYQERMUFRUVDA8XGBYUGBIUFRT/2wBDAQMEBAUEBQkFBQkUDQsNFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBT/wgARCABAAGADASIAAhEBAxEB/8QAGgABAQEBAQEBAAAAAAAAAAAABAUHBgIDCP/EABkBAAMBAQEAAAAAAAAAAAAAAAQFBwYBA//aAAwDAQACEAMQAAAB/MrKDO+U9lBhbyeygwt7PZQYU8nsoMLe8tn2uZ/rpj4ZQZH5pPZQYW8nsoMLez2UGFPJ7KDC3vLZ9rmf66Y+GUGSCZz2UGFPZ7KDC3k9lBhT2eygwt5y2W65lOdn3SMoMAk89lBhT2eygwt5PZQYU9n/ACoFnWp5bPtcz/J4D//EABkQAAMBAQEAAAAAAAAAAAAAAAACAwUlEf/aAAgBAQABBQJYixFiLEWIsRYixFiLE1o85ZCxFiLEWIsRYixFiLEWJrS5yyFkLIWQshZCyFkLIWQsjWjzliLIWQshZCyFkLIWQshZGtLnLIWQshZCyFkLIWQshZCyNaXOq3gshZCyFkLIWQshZCyFkbzeZyyFkLIWQshZCyFkLIWRVvDWlzliLIWQshZCyFkLIWRVvBZGtHnLI//EAB4RAAMAAQUBAQAAAAAAAAAAAAADBAIBBiVysUJS/9oACAEDAQE/AU0CaBNAmgTQbvo5BfTT3ITQJoE0CaBNBu+jkF9NPchNAmgTQJoE0G6cuQXll+NPchNAmgTQJoI8vrI3fRyC+mnuR//EACYRAAIBAQYGAwAAAAAAAAAAAAECAHEEBQYjUWEDERMhMUEiQtH/2gAIAQIBAT8BUxTFMUxTLrOUaxTFMUxTFMus5RrFMUxTFMUy8MTdPhPYrEe/P5NpsN9T6r4UxTFMUzEWJunzsVibv9m02G+p9V8XWco1/J//xAAgEAAABQUAAwAAAAAAAAAAAAACAzCBsQAQEjFRAREh/9oACAEBAAY/AkjWlQ1pUNaVDWlQ1prEO+pnBDv578uniHfaNaUsQ77Y1pt//8QAHBABAQACAwEBAAAAAAAAAAAAAGEBQSFR8HHB/9oACAEBAAE/IZJJJJJJJJJNH7imkkkkkkkkkk0/uKaaaaaaaaaabR+4pJppppppppptP7immmmmmmmmmm0/uLn/AHdE000000000347Timmmmmmmmmm5/3dGn9xSTTTTTTTTc/7uibR+4pv/9oADAMBAAIAAwAAABDLHDPBrLPDPBrHLHLFvHLHLFj/xAAbEQADAAMBAQAAAAAAAAAAAAAAITEBEUFhgf/aAAgBAwEBPxCLIsiyLIs7wUWRZFkWRZ3gosiyLIsizf5BgosiyLIs26+GDvBf/8QAHhEAAQMEAwAAAAAAAAAAAAAAAREgkQAxsfBBYXH/2gAIAQIBAT8Qb/8APMB3/wA8wHf/AMi8AdApNBBcWv8A8HQSJoILjSeYp//EACAQAQEAAQQDAAMAAAAAAAAAADEAARBhcbEhUaERQYH/2gAIAQEAAT8QCBAgQIECBAgaCEYECBAgQIECBA0MIwYMGDBgwYMGDoIQgwYMGDBgwYMHQwjBgwYMGDBgwYOhh80euL4xv1yDBgwYMGDBgwZ+bn6sH8ON+uQYMGDBgwYMGDPNHri+Mb9ckwhBgwYMGDBgzzR64vjG/XIOghGf/9k=")!

    func texture(width: Int, height: Int, seed: Int) -> Image {
        var img = Image(width: width, height: height, channels: 1)
        for y in 0..<height { for x in 0..<width {
            img.pixels[y * width + x] = UInt8(truncatingIfNeeded: (x * 3 + y * 5 + seed * 11) % 200 + ((x / 8 + y / 8) % 2) * 40)
        } }
        return img
    }

    /// Allocations made on this thread by `body`.
    func allocations(_ body: () throws -> Void) rethrows -> Int {
        let slot = registerCountedThread()
        defer { unregisterCountedThread(slot) }
        XCTAssertGreaterThanOrEqual(slot, 0)
        let before = countedThreadAllocations(slot)
        try body()
        return countedThreadAllocations(slot) - before
    }

    func testNoAllocationPerDecodeOnceWarm() throws {
        let jpegs = try [texture(width: 640, height: 480, seed: 1), texture(width: 320, height: 240, seed: 2),
                         texture(width: 504, height: 371, seed: 3)].map { try encodeJPEG($0, quality: 90) }
        let decoder = JPEGDecoder()
        var image = Image(width: 0, height: 0, channels: 1)
        // Warm-up: every geometry once or twice (the arena grows to the largest).
        for _ in 0..<2 { for j in jpegs { try j.withUnsafeBytes { _ = try decoder.decode($0, into: &image, grey: true, scaleDenominator: 2) } } }
        let grows = decoder.memoryCounters.grows
        let fallbacks = decoder.memoryCounters.fallbacks
        // Indexes, not `for j in jpegs`: a debug build's array iterator boxes each element.
        let n = try allocations {
            var round = 0
            while round < 20 {
                var i = 0
                while i < jpegs.count {
                    try jpegs[i].withUnsafeBytes { _ = try decoder.decode($0, into: &image, grey: true, scaleDenominator: 2) }
                    i += 1
                }
                round += 1
            }
        }
        XCTAssertEqual(n, 0, "allocations in 60 warm decodes")
        XCTAssertEqual(decoder.memoryCounters.grows, grows)
        XCTAssertEqual(decoder.memoryCounters.fallbacks, fallbacks)
        XCTAssertGreaterThan(decoder.memoryCounters.arenaBytes, 0)
        // The measurement can fail: the library's own manager (a fresh decoder each time) allocates.
        let fresh = try allocations {
            for j in jpegs { try j.withUnsafeBytes { _ = try JPEGDecoder().decode($0, into: &image, grey: true, scaleDenominator: 2) } }
        }
        XCTAssertGreaterThan(fresh, 10)
    }

    func testArenaDecodesMatchAFreshDecoderAndSurviveGarbledAndTruncatedData() throws {
        let good = try encodeJPEG(texture(width: 320, height: 240, seed: 4), quality: 90)
        let reference = try JPEGDecoder().decode(good, grey: true)
        let decoder = JPEGDecoder()
        var image = Image(width: 0, height: 0, channels: 1)
        func decodeGood() throws {
            try good.withUnsafeBytes { _ = try decoder.decode($0, into: &image, grey: true) }
            XCTAssertEqual(image.pixels, reference.pixels, "arena decode differs from libjpeg's own manager")
        }
        try decodeGood()
        // Truncated (cut in the entropy data, no EOI).
        let cut = Array(good[0..<(good.count / 2)])
        XCTAssertThrowsError(try cut.withUnsafeBytes { _ = try decoder.decode($0, into: &image, grey: true) }) {
            XCTAssertEqual($0 as? JPEGError, .truncated)
        }
        try decodeGood()
        // Cut short but with an EOI appended: libjpeg sees the premature end (a warning).
        let cutWithEOI = Array(good[0..<(good.count / 2)]) + [0xFF, 0xD9]
        var warnings = 0
        do { try cutWithEOI.withUnsafeBytes { warnings = try decoder.decode($0, into: &image, grey: true) } } catch {
            XCTAssertTrue("\(error)".contains("corrupt"), "\(error)")
            warnings = 1
        }
        XCTAssertGreaterThan(warnings, 0, "a cut frame must not look clean")
        try decodeGood()
        // Garbled headers and entropy data, many variants: each is an error or a warning, never a
        // crash, and the decoder decodes the good frame exactly afterwards.
        var rng = SystemRandomNumberGenerator()
        var errors = 0
        for i in 0..<200 {
            var bad = good
            let from = i % 2 == 0 ? 2 : 300   // headers, or entropy-coded data
            for _ in 0..<(1 + i % 8) { bad[Int.random(in: from..<(bad.count - 2), using: &rng)] = UInt8.random(in: 0...255, using: &rng) }
            do { try bad.withUnsafeBytes { _ = try decoder.decode($0, into: &image, grey: true) } } catch { errors += 1 }
            if i % 20 == 0 { try decodeGood() }
        }
        XCTAssertGreaterThan(errors, 0)
        try decodeGood()
        XCTAssertEqual(decoder.memoryCounters.virtualArrays, 0)
    }

    func testProgressiveJPEGsDecodeThroughTheLibrarysPoolAndAreCounted() throws {
        let bytes = [UInt8](JPEGArenaTests.progressive)
        let reference = try JPEGDecoder().decode(bytes, grey: false)
        XCTAssertEqual(reference.width, 96)
        XCTAssertEqual(reference.height, 64)
        let decoder = JPEGDecoder()
        var image = Image(width: 0, height: 0, channels: 3)
        for _ in 0..<3 { try bytes.withUnsafeBytes { _ = try decoder.decode($0, into: &image, grey: false) } }
        XCTAssertEqual(image.pixels, reference.pixels)
        XCTAssertGreaterThan(decoder.memoryCounters.virtualArrays, 0, "progressive frames must be visible in the counters")
        // Pixel check against the pattern it was made from (JPEG error is small on this gradient).
        var error = 0, count = 0
        for y in 8..<56 { for x in 8..<80 {
            let i = (y * 96 + x) * 3
            error += abs(Int(image.pixels[i]) - (x * 3) % 256) + abs(Int(image.pixels[i + 1]) - (y * 4) % 256)
            count += 2
        } }
        XCTAssertLessThan(Double(error) / Double(count), 12, "mean error against the pattern (chroma is subsampled)")
        // They allocate per frame (libjpeg's virtual arrays): more than 0, counted.
        let n = try allocations { try bytes.withUnsafeBytes { _ = try decoder.decode($0, into: &image, grey: false) } }
        XCTAssertGreaterThan(n, 0)
        // And a baseline frame after them is allocation-free again.
        let good = try encodeJPEG(texture(width: 96, height: 64, seed: 5), quality: 90)
        var grey = Image(width: 0, height: 0, channels: 1)
        for _ in 0..<3 { try good.withUnsafeBytes { _ = try decoder.decode($0, into: &grey, grey: true) } }
        XCTAssertEqual(try allocations { try good.withUnsafeBytes { _ = try decoder.decode($0, into: &grey, grey: true) } }, 0)
    }
}
