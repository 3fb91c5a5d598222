import Foundation
import XCTest
@testable import GRDRuntime

/// A small graph with every operator kind, random weights from a seeded generator.
func makeAllOpsModel(seed: UInt64 = 1, withGolden: Bool = false, roi: Bool = false) -> TestModelBuilder {
    var rng = SplitMix(seed: seed)
    func w(_ n: Int) -> [Int8] { (0..<n).map { _ in Int8(truncatingIfNeeded: Int(rng.next() % 255) - 127) } }
    func bias(_ n: Int) -> [Int32] { (0..<n).map { _ in Int32(truncatingIfNeeded: Int(rng.next() % 2001) - 1000) } }
    func scales(_ n: Int) -> [Float] { (0..<n).map { _ in 0.0004 + Float(rng.next() % 100) * 0.00002 } }
    var b = TestModelBuilder(height: 12, width: 10, channels: 1)
    let t1 = b.tensor(12, 10, 8, scale: 0.05, zp: -7)
    b.conv(0, t1, k: 3, stride: 1, pad: 1, slope: 0.2, weights: w(8 * 9), bias: bias(8), scales: scales(8))
    let t2 = b.tensor(12, 10, 8, scale: 0.04, zp: 3)
    b.conv(t1, t2, k: 1, stride: 1, pad: 0, slope: 1, weights: w(64), bias: bias(8), scales: scales(8))
    let t3 = b.tensor(12, 10, 8, scale: 0.06, zp: -20)
    b.add(t1, t2, t3, slope: 0)
    let t4 = b.tensor(6, 5, 8, scale: 0.06, zp: -20)
    b.pool(max: true, t3, t4)
    let t5 = b.tensor(12, 10, 8, scale: 0.06, zp: -20)
    b.resize(t4, t5)
    let t6 = b.tensor(6, 5, 8, scale: 0.03, zp: 1)
    b.pool(max: false, t1, t6)
    let t7 = b.tensor(12, 10, 5, scale: 0.05, zp: 0)
    b.conv(t6, t7, k: 4, stride: 2, pad: 1, slope: 0.2, weights: w(5 * 16 * 8), bias: bias(5), scales: scales(5), transposed: true)
    let t8 = b.tensor(12, 10, 21, scale: 0.05, zp: 0)
    b.concat([t5, t1, t7], t8)
    let t9 = b.tensor(6, 5, 19, scale: 0.08, zp: 5)
    b.conv(t8, t9, k: 4, stride: 2, pad: 1, slope: 0.2, weights: w(19 * 16 * 21), bias: bias(19), scales: scales(19))
    let t10 = b.tensor(12, 10, 19, scale: 0.08, zp: 5)
    b.resize(t9, t10)
    let t11 = b.tensor(12, 10, 1, scale: 0.1, zp: -10)
    b.conv(t10, t11, k: 3, stride: 1, pad: 1, slope: 1, weights: w(9 * 19), bias: bias(1), scales: scales(1))
    b.mapSigmoid(t11)
    if roi { b.roi = (0..<120).map { $0 % 10 < 7 ? 1 : 0 } }
    return b
}

struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension XCTestCase {
    /// Writes a model file for this test and removes it when the test ends (CI runs on shared
    /// machines: every run used to leave ~20 files in /tmp).
    func writeTemp(_ data: Data, _ name: String = "m") -> String {
        let path = NSTemporaryDirectory() + "grdnet-test-\(getpid())-\(name).grdnet"
        FileManager.default.createFile(atPath: path, contents: data)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }
}

final class ModelLoaderTests: XCTestCase {
    func testLoadsAValidModel() throws {
        let path = writeTemp(makeAllOpsModel(roi: true).build())
        let m = try GRDNetModel(path: path)
        XCTAssertEqual(m.inputWidth, 10); XCTAssertEqual(m.inputHeight, 12); XCTAssertEqual(m.inputChannels, 1)
        XCTAssertEqual(m.ops.count, 12)
        XCTAssertEqual(m.defaultThreshold, 0.5)
        XCTAssertEqual(m.defaultROI?.count, 120)
        XCTAssertTrue(m.metadataJSON.contains("model_card"))
        XCTAssertEqual(m.mapOp, 11)
    }

    func expectRejected(_ data: Data, containing words: String, file: StaticString = #filePath, line: UInt = #line) {
        let path = writeTemp(data, "bad")
        XCTAssertThrowsError(try GRDNetModel(path: path), file: file, line: line) { error in
            guard let e = error as? ModelFileError else { return XCTFail("wrong error type \(error)", file: file, line: line) }
            XCTAssertTrue(e.description.contains(words), "\(e.description) lacks '\(words)'", file: file, line: line)
            XCTAssertTrue(e.description.contains(path), file: file, line: line)
        }
    }

    func testRejectionsNameTheProblem() {
        let good = makeAllOpsModel().build()
        expectRejected(good.prefix(40), containing: "shorter than the 64-byte header")
        expectRejected(good.prefix(good.count - 10), containing: "truncated")
        expectRejected(Data("NOTAMODL".utf8) + good.dropFirst(8), containing: "not a .grdnet model")
        var v = good; v[8] = 9; TestModelBuilder.refreshChecksums(&v)
        expectRejected(v, containing: "format version 9 is not supported")
        var c = good; c[c.count - 5] ^= 0x10
        expectRejected(c, containing: "checksum mismatch")
        // a weight of -128 is outside the symmetric range
        var b = TestModelBuilder(height: 4, width: 4, channels: 1)
        let t = b.tensor(4, 4, 1)
        b.conv(0, t, k: 1, stride: 1, pad: 0, slope: 1, weights: [-128], bias: [0], scales: [0.1])
        expectRejected(b.build(), containing: "weight of -128")
        // an output shape that does not follow from the attributes
        var s = TestModelBuilder(height: 4, width: 4, channels: 1)
        let t2 = s.tensor(3, 4, 2)
        s.conv(0, t2, k: 3, stride: 1, pad: 1, slope: 1, weights: [Int8](repeating: 1, count: 18), bias: [0, 0], scales: [0.1, 0.1])
        expectRejected(s.build(), containing: "output is 3x4, but its input and attributes give 4x4")
        expectRejected(Data(), containing: "shorter than")
        XCTAssertThrowsError(try GRDNetModel(path: "/nonexistent/x.grdnet")) { e in
            XCTAssertTrue("\(e)".contains("cannot open"))
        }
        let folder = NSTemporaryDirectory() + "grdnet-model-folder-\(getpid())"
        try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        XCTAssertThrowsError(try GRDNetModel(path: folder)) { e in
            XCTAssertTrue("\(e)".contains("\(folder): is a folder, not a model file"), "\(e)")
        }
    }

    func testFrameFitSection() throws {
        XCTAssertEqual(try GRDNetModel(path: writeTemp(makeAllOpsModel().build())).frameFit, .squash)
        var b = makeAllOpsModel()
        var body = Data(); body.le(UInt32(1)); body.le(UInt32(1)); body.append(109)
        b.frameFit = body
        let m = try GRDNetModel(path: writeTemp(b.build()))
        XCTAssertEqual(m.frameFit, .letterbox(pad: [109]))
        XCTAssertEqual(m.letterboxPad, [109])
        func bad(_ d: Data, _ words: String, line: UInt = #line) {
            var c = makeAllOpsModel(); c.frameFit = d
            expectRejected(c.build(), containing: words, line: line)
        }
        var mode = Data(); mode.le(UInt32(2)); mode.le(UInt32(1)); mode.append(0)
        bad(mode, "frame fit mode 2 is unknown")
        var channels = Data(); channels.le(UInt32(1)); channels.le(UInt32(3)); channels.append(contentsOf: [1, 2, 3])
        bad(channels, "letterbox padding has 3 values, the input has 1 channels")
        bad(body + Data([0]), "frame fit section has 1 unexpected trailing bytes")
        bad(body.prefix(8), "letterbox padding")
    }

    /// Thousands of mutated and truncated files: each is rejected with a ModelFileError or loads
    /// and then runs to a score in [0, 1]; none crashes.
    func testFuzzMutatedAndTruncatedFiles() throws {
        let good = makeAllOpsModel(seed: 3).build()
        var rng = SplitMix(seed: 42)
        var rejected = 0, loaded = 0
        // Fewer under emulation (Tests/arm64 sets GRD_FUZZ_ITERATIONS): the same code, 50x slower there.
        let iterations = ProcessInfo.processInfo.environment["GRD_FUZZ_ITERATIONS"].flatMap(Int.init) ?? 3000
        for i in 0..<iterations {
            var d = good
            switch i % 4 {
            case 0:  // truncation
                d = d.prefix(Int(rng.next() % UInt64(d.count)))
            case 1:  // random byte flips, checksums fixed so the structure is checked
                for _ in 0..<(1 + Int(rng.next() % 4)) { d[Int(rng.next() % UInt64(d.count))] ^= UInt8(truncatingIfNeeded: 1 + rng.next() % 255) }
                TestModelBuilder.refreshChecksums(&d)
            case 2:  // flips confined to the header, table and graph (the interesting structure)
                let limit = min(d.count, 1200)
                for _ in 0..<(1 + Int(rng.next() % 3)) { d[Int(rng.next() % UInt64(limit))] = UInt8(truncatingIfNeeded: rng.next()) }
                TestModelBuilder.refreshChecksums(&d)
            default:  // 32-bit fields overwritten with boundary values
                let at = 64 + Int(rng.next() % UInt64(min(d.count, 1200) - 68))
                let values: [UInt32] = [0, 1, 0xFFFF_FFFF, 0x8000_0000, 8193, 4097, 16, 2, 0x7F80_0000, 0x7FC0_0000]
                let v = values[Int(rng.next() % UInt64(values.count))]
                withUnsafeBytes(of: v.littleEndian) { d.replaceSubrange(at..<(at + 4), with: $0) }
                TestModelBuilder.refreshChecksums(&d)
            }
            let path = writeTemp(d, "fuzz")
            do {
                let m = try GRDNetModel(path: path)
                loaded += 1
                if loaded % 3 == 1 && m.multiplyAccumulates < 50_000_000 {  // a third of them, to keep the debug-build test short
                    let e = try InferenceEngine(model: m, threads: 1, precision: .int8)
                    let s = try e.run(roi: nil)
                    XCTAssertTrue(s >= 0 && s <= 1, "iteration \(i): score \(s)")
                    XCTAssertTrue(e.heatmap.allSatisfy { $0 >= 0 && $0 <= 1 })
                }
            } catch is ModelFileError {
                rejected += 1
            } catch is InferenceError {
                rejected += 1
            }
        }
        XCTAssertEqual(rejected + loaded, iterations)
        XCTAssertGreaterThan(rejected, iterations / 2)
        print("fuzz: \(iterations) files, \(rejected) rejected, \(loaded) loaded and ran")
    }
}
