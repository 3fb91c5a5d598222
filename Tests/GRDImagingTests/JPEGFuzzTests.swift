import XCTest
import Foundation
@testable import GRDImaging

/// Garbled camera data must give a counted error or an image, never a crash, a hang or a huge
/// allocation. Thousands of deterministic mutations of real JPEGs through the decoder and the
/// preprocessor (which also parses the frame header itself).
final class JPEGFuzzTests: XCTestCase {
    /// SplitMix64: a fixed seed gives the same mutations on every machine.
    struct SplitMix64: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    func seeds() throws -> [[UInt8]] {
        var rgb = Image(width: 96, height: 64, channels: 3)
        var grey = Image(width: 80, height: 48, channels: 1)
        for i in rgb.pixels.indices { rgb.pixels[i] = UInt8(truncatingIfNeeded: i &* 31 &+ (i / 288) &* 7) }
        for i in grey.pixels.indices { grey.pixels[i] = UInt8(truncatingIfNeeded: (i % 80) * 3 + (i / 80) * 2) }
        return [try encodeJPEG(rgb, quality: 85), try encodeJPEG(grey, quality: 60)]
    }

    func mutate(_ original: [UInt8], _ rng: inout SplitMix64) -> [UInt8] {
        var b = original
        switch rng.next() % 8 {
        case 0:  // flip a few bits anywhere
            for _ in 0..<(1 + Int(rng.next() % 8)) {
                let i = Int(rng.next() % UInt64(b.count))
                b[i] ^= UInt8(1 << (rng.next() % 8))
            }
        case 1:  // overwrite a run with random bytes
            let i = Int(rng.next() % UInt64(b.count)), n = Int(1 + rng.next() % 32)
            for k in i..<min(b.count, i + n) { b[k] = UInt8(truncatingIfNeeded: rng.next()) }
        case 2:  // truncate (a frame cut short in transfer)
            b = Array(b.prefix(Int(rng.next() % UInt64(b.count))))
        case 3:  // truncate but keep an end marker (the header still claims the whole image)
            b = Array(b.prefix(Int(rng.next() % UInt64(b.count)))) + [0xFF, 0xD9]
        case 4:  // delete a chunk
            let i = Int(rng.next() % UInt64(b.count)), n = Int(1 + rng.next() % 64)
            b.removeSubrange(i..<min(b.count, i + n))
        case 5:  // duplicate a chunk
            let i = Int(rng.next() % UInt64(b.count)), n = Int(1 + rng.next() % 64)
            b.insert(contentsOf: b[i..<min(b.count, i + n)], at: i)
        case 6:  // corrupt the header region (segment lengths, tables, frame size)
            for _ in 0..<(1 + Int(rng.next() % 4)) {
                let i = Int(rng.next() % UInt64(min(b.count, 400)))
                b[i] = [0x00, 0xFF, 0x7F, 0x80, UInt8(truncatingIfNeeded: rng.next())][Int(rng.next() % 5)]
            }
        default:  // insert a random marker
            let i = Int(rng.next() % UInt64(b.count))
            b.insert(contentsOf: [0xFF, UInt8(0xC0 + rng.next() % 0x3F)], at: i)
        }
        return b
    }

    func testThousandsOfMutatedJPEGsGiveAnImageOrACountedError() throws {
        var rng = SplitMix64(state: 0x6772_646E_6574)   // fixed seed
        let originals = try seeds()
        let decoder = JPEGDecoder()
        let preprocessors = [FramePreprocessor(targetWidth: 32, targetHeight: 32, targetChannels: 1, crop: nil),
                             FramePreprocessor(targetWidth: 24, targetHeight: 16, targetChannels: 3, crop: nil)]
        var image = Image(width: 0, height: 0, channels: 1)
        var out = [[UInt8](repeating: 0, count: 32 * 32), [UInt8](repeating: 0, count: 24 * 16 * 3)]
        var decoded = 0, truncated = 0, corrupt = 0, empty = 0, preprocessed = 0, preprocessErrors = 0, withWarnings = 0
        // Fewer under emulation (Tests/arm64 sets GRD_FUZZ_ITERATIONS): the same code, 50x slower there.
        let cases = ProcessInfo.processInfo.environment["GRD_FUZZ_ITERATIONS"].flatMap(Int.init) ?? 4000
        for n in 0..<cases {
            let bytes = mutate(originals[n % 2], &rng)
            let grey = n % 3 != 0
            if image.channels != (grey ? 1 : 3) { image = Image(width: 0, height: 0, channels: grey ? 1 : 3) }
            do {
                let warnings = try bytes.withUnsafeBytes {
                    try decoder.decode($0, into: &image, grey: grey, scaleDenominator: [1, 2, 4, 8][n % 4])
                }
                XCTAssertGreaterThan(image.width, 0)
                XCTAssertEqual(image.pixels.count, image.width * image.height * image.channels)
                decoded += 1
                if warnings > 0 { withWarnings += 1 }
            } catch let e as JPEGError {
                switch e {
                case .truncated: truncated += 1
                case .corrupt: corrupt += 1
                case .empty: empty += 1
                }
            }
            let p = n % 2
            do {
                try bytes.withUnsafeBytes { src in
                    try out[p].withUnsafeMutableBufferPointer { try preprocessors[p].prepare(src, format: .mjpeg, width: 0, height: 0, into: $0) }
                }
                preprocessed += 1
            } catch is JPEGError {
                preprocessErrors += 1
            } catch is PreprocessError {
                preprocessErrors += 1
            }
        }
        print("JPEG fuzz: \(cases) mutated frames -> decoded \(decoded) (\(withWarnings) with corrupt-data warnings), "
              + "truncated \(truncated), corrupt \(corrupt), empty \(empty); preprocessor: \(preprocessed) ok, \(preprocessErrors) errors")
        XCTAssertEqual(decoded + truncated + corrupt + empty, cases)
        XCTAssertEqual(preprocessed + preprocessErrors, cases)
        // Both outcomes must actually occur, or the mutations are not exercising anything.
        XCTAssertGreaterThan(decoded, cases / 10)
        XCTAssertGreaterThan(truncated, cases / 20)
        XCTAssertGreaterThan(corrupt, cases / 20)
        // The decoder is still healthy afterwards.
        XCTAssertEqual(try decoder.decode(originals[0], grey: false).width, 96)
    }

    func testAHeaderClaimingAHugeImageIsRefusedBeforeAllocating() throws {
        var jpeg = try seeds()[1]
        // Find SOF0 and claim 60000x60000.
        let sof = try XCTUnwrap((0..<(jpeg.count - 1)).first { jpeg[$0] == 0xFF && jpeg[$0 + 1] == 0xC0 })
        jpeg[sof + 5] = 0xEA; jpeg[sof + 6] = 0x60; jpeg[sof + 7] = 0xEA; jpeg[sof + 8] = 0x60
        XCTAssertThrowsError(try JPEGDecoder().decode(jpeg, grey: true)) {
            XCTAssertTrue("\($0)".contains("implausible image size 60000x60000"), "\($0)")
        }
        let p = FramePreprocessor(targetWidth: 8, targetHeight: 8, targetChannels: 1, crop: nil)
        XCTAssertThrowsError(try p.prepare(jpeg, format: .mjpeg, width: 0, height: 0))
        XCTAssertThrowsError(try p.prepare(jpeg, format: .mjpeg, width: 80, height: 48)) {
            XCTAssertEqual($0 as? PreprocessError, .jpegSizeMismatch(expectedWidth: 80, expectedHeight: 48, jpegWidth: 60000, jpegHeight: 60000))
        }
    }
}
