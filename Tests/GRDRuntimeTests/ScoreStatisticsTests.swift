import Foundation
import XCTest
@testable import GRDRuntime

/// Section 6 (good-part score statistics): the container writer, the loader's checks, the
/// standardised score and the accumulator that learns the statistics.
final class ScoreStatisticsTests: XCTestCase {
    let h = 12, w = 10

    func stats(box: Int, seed: UInt64 = 3) -> ScoreStatistics {
        var rng = SplitMix(seed: seed)
        let mean = (0..<(h * w)).map { _ in Float(rng.next() % 1000) / 2000 }
        let std = (0..<(h * w)).map { i in i % 7 == 0 ? 0 : Float(rng.next() % 1000) / 10000 }
        return ScoreStatistics(box: box, floor: 0.01, mean: mean, std: std)
    }

    func model(with s: ScoreStatistics?, threshold: Float? = nil, body: [UInt8]? = nil) throws -> Data {
        var f = try ModelFileSections(validatedFile: [UInt8](makeAllOpsModel(roi: true).build()))
        if let b = body ?? s.map({ $0.encoded(height: h, width: w) }) { f.set(kind: 6, body: b) }
        if let t = threshold {
            var g = f.body(kind: 2)!
            let at = 12 + 8 + 256, bits = t.bitPattern
            g.replaceSubrange(at..<(at + 4), with: [UInt8(bits & 0xFF), UInt8(bits >> 8 & 0xFF), UInt8(bits >> 16 & 0xFF), UInt8(bits >> 24)])
            f.set(kind: 2, body: g)
        }
        return Data(f.encoded())
    }

    func testWriterReproducesTheShippedFileByteForByte() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let shipped = try Data(contentsOf: root.appendingPathComponent("Models/magnetic-tile.grdnet"))
        let sections = try ModelFileSections(validatedFile: [UInt8](shipped))
        XCTAssertGreaterThanOrEqual(sections.sections.count, 4)
        XCTAssertEqual(sections.encoded(), [UInt8](shipped), "re-encoding the shipped file (converter sections + section 6 from score-stats) must give the same bytes")
        // and the Swift test builder's independent layout agrees with it too
        let built = makeAllOpsModel(withGolden: false, roi: true).build()
        XCTAssertEqual(try ModelFileSections(validatedFile: [UInt8](built)).encoded(), [UInt8](built))
    }

    func testStandardisedScoreIsTheMaximumInsideTheROIOfTheBoxZ() throws {
        for box in [1, 3, 5] {
            let s = stats(box: box)
            let m = try GRDNetModel(path: writeTemp(try model(with: s, threshold: 4.5), "z\(box)"))
            XCTAssertEqual(m.scoreStatistics?.box, box)
            XCTAssertEqual(m.defaultThreshold, 4.5, "a standardised threshold may exceed 1")
            let plain = try GRDNetModel(path: writeTemp(makeAllOpsModel(roi: true).build(), "plain"))
            for family in [QS8KernelFamily.scalar, .detected] {
                let e = try InferenceEngine(model: m, threads: 2, precision: .int8, kernels: family)
                let p = try InferenceEngine(model: plain, threads: 1, precision: .int8, kernels: .scalar)
                var rng = SplitMix(seed: UInt64(box))
                for i in 0..<e.input.count { e.input[i] = UInt8(truncatingIfNeeded: rng.next()); p.input[i] = e.input[i] }
                let got = try e.run(roi: nil)
                let plainScore = try p.run(roi: nil)
                // independent computation from the engine's (ROI-masked) heatmap
                let roi = m.defaultROI!, r = box / 2
                var best = -Double.infinity
                for y in 0..<h {
                    for x in 0..<w where roi[y * w + x] != 0 {
                        var sum: UInt32 = 0
                        for yy in max(0, y - r)...min(h - 1, y + r) {
                            for xx in max(0, x - r)...min(w - 1, x + r) { sum += UInt32(e.heatmap[yy * w + xx] * 65535 + 0.5) }
                        }
                        let i = y * w + x
                        let z = (Double(sum) / (Double(box * box) * 65535.0) - Double(s.mean[i])) / (Double(s.std[i]) + Double(s.floor))
                        best = max(best, z)
                    }
                }
                XCTAssertEqual(got.bitPattern, Float(best).bitPattern, "box \(box) \(family): \(got) vs \(Float(best))")
                XCTAssertNotEqual(got, plainScore, "the statistics must change the score")
            }
        }
    }

    func testLoaderRejectsBadStatisticsWithNamedProblem() throws {
        let s = stats(box: 5)
        func rejected(_ d: Data, _ words: String, line: UInt = #line) {
            let path = writeTemp(d, "badstats")
            XCTAssertThrowsError(try GRDNetModel(path: path), line: line) { e in
                let text = "\(e)"
                XCTAssertTrue(text.contains(words) && text.contains(path), "\(text) lacks '\(words)'", line: line)
            }
        }
        var body = s.encoded(height: h, width: w)
        rejected(try model(with: nil, body: ScoreStatistics(box: 5, floor: 0.01, mean: Array(s.mean.prefix(110)), std: Array(s.std.prefix(110))).encoded(height: 11, width: w)),
                 "score statistics are 10x11, not the input size 10x12")
        body[8] = 4; rejected(try model(with: nil, body: body), "box 4 must be odd")
        body = s.encoded(height: h, width: w); body[8] = 65; rejected(try model(with: nil, body: body), "score statistics box")
        body = s.encoded(height: h, width: w); body.replaceSubrange(12..<16, with: [0, 0, 0, 0])
        rejected(try model(with: nil, body: body), "floor 0.0 must be a positive number")
        body = s.encoded(height: h, width: w); body.replaceSubrange(16..<20, with: [0, 0, 0xC0, 0x7F])  // NaN mean[0]
        rejected(try model(with: nil, body: body), "mean[0] = nan is outside [0, 1]")
        body = s.encoded(height: h, width: w); body.replaceSubrange((16 + 4 * h * w)..<(20 + 4 * h * w), with: [0, 0, 0, 0x40])  // std[0] = 2
        rejected(try model(with: nil, body: body), "std[0] = 2.0 is outside [0, 1]")
        rejected(try model(with: nil, body: s.encoded(height: h, width: w) + [0]), "1 unexpected trailing bytes")
        rejected(try model(with: nil, body: Array(s.encoded(height: h, width: w).dropLast(4))), "score statistics")
        // a threshold above 1 is a probability error without statistics, fine with them
        rejected(try model(with: nil, threshold: 1.5), "default threshold 1.5 is outside [0, 1]")
        XCTAssertEqual(try GRDNetModel(path: writeTemp(try model(with: s, threshold: 1.5), "ok")).defaultThreshold, 1.5)
    }

    func testAccumulatorLearnsPerPixelMeanAndStd() {
        var one = ScoreStatistics.Accumulator(box: 1, width: w, height: h)
        for v: Float in [0.2, 0.4] {
            let map = [Float](repeating: v, count: h * w)
            map.withUnsafeBufferPointer { one.add(map: $0) }
        }
        let s1 = one.finish(floor: 0.02)
        XCTAssertEqual(one.count, 2)
        XCTAssertEqual(s1.floor, 0.02)
        for i in 0..<(h * w) { XCTAssertEqual(s1.mean[i], 0.3, accuracy: 1e-4); XCTAssertEqual(s1.std[i], 0.1, accuracy: 1e-4) }
        // box 3, zero padding: a corner sees 4 of 9 pixels, the interior all 9
        var three = ScoreStatistics.Accumulator(box: 3, width: w, height: h)
        let map = [Float](repeating: 0.9, count: h * w)
        map.withUnsafeBufferPointer { three.add(map: $0) }
        let s3 = three.finish(floor: 0.01)
        XCTAssertEqual(s3.mean[0], 0.9 * 4 / 9, accuracy: 1e-4)
        XCTAssertEqual(s3.mean[5 * w + 5], 0.9, accuracy: 1e-4)
        XCTAssertEqual(s3.std[5 * w + 5], 0, accuracy: 1e-6)
    }
}
