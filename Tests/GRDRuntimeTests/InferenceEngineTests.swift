import Foundation
import XCTest
@testable import GRDRuntime
import GRDKernels

final class InferenceEngineTests: XCTestCase {
    func fill(_ e: InferenceEngine, seed: UInt64) {
        var rng = SplitMix(seed: seed)
        for i in 0..<e.input.count { e.input[i] = UInt8(truncatingIfNeeded: rng.next()) }
    }

    /// Every kernel family and thread count gives the same int8 tensors as the scalar reference,
    /// on a graph with every operator (odd channel counts: 1, 5, 8, 19, 21).
    func testKernelFamiliesAndThreadsAgreeWithScalarReference() throws {
        let m = try GRDNetModel(path: writeTemp(makeAllOpsModel(seed: 7).build()))
        let reference = try InferenceEngine(model: m, threads: 1, precision: .int8, kernels: .scalar)
        for seed in 0..<3 as Range<UInt64> {
            fill(reference, seed: seed)
            let refScore = try reference.run(roi: nil)
            let refOut = Array(reference.outputInt8)
            for family in [QS8KernelFamily.c16HalvesA72, .dotLoopA76, .sdotIGEMMA76, .x86AVX2, .x86AVXVNNI] where family.isSupported {
                for threads in [1, 2, 3] {
                    let e = try InferenceEngine(model: m, threads: threads, precision: .int8, kernels: family)
                    fill(e, seed: seed)
                    let s = try e.run(roi: nil)
                    XCTAssertEqual(Array(e.outputInt8), refOut, "\(family) x\(threads)")
                    XCTAssertEqual(s, refScore)
                }
            }
            XCTAssertGreaterThan(Set(refOut).count, 3, "output is not trivially constant")
        }
    }

    /// Transposed convolutions as the networks use them (k4 s2 p1, k2 s2 p0) and a k3 s1 p1, odd
    /// channel counts (3, 5, 7, 9, 13), input zero points at -128 and 127 (worst case for the
    /// x86 kernels' +128 offset): every family's parity-class GEMM path against the scalar gather
    /// loop, bit for bit, at 1 to 3 threads.
    func testTransposedConvolutionsAgreeAcrossFamilies() throws {
        var rng = SplitMix(seed: 3)
        func w(_ n: Int) -> [Int8] { (0..<n).map { _ in Int8(truncatingIfNeeded: Int(rng.next() % 255) - 127) } }
        func bias(_ n: Int) -> [Int32] { (0..<n).map { _ in Int32(truncatingIfNeeded: Int(rng.next() % 2001) - 1000) } }
        func scales(_ n: Int) -> [Float] { (0..<n).map { _ in 0.0002 + Float(rng.next() % 100) * 0.00001 } }
        var b = TestModelBuilder(height: 16, width: 12, channels: 3, inputScale: 0.01, inputZeroPoint: -128)
        let t1 = b.tensor(8, 6, 7, scale: 0.05, zp: 127)
        b.conv(0, t1, k: 4, stride: 2, pad: 1, slope: 0.2, weights: w(7 * 16 * 3), bias: bias(7), scales: scales(7))
        let t2 = b.tensor(16, 12, 13, scale: 0.05, zp: -128)
        b.conv(t1, t2, k: 4, stride: 2, pad: 1, slope: 0.2, weights: w(13 * 16 * 7), bias: bias(13), scales: scales(13), transposed: true)
        let t3 = b.tensor(8, 6, 5, scale: 0.04, zp: 3)
        b.conv(t2, t3, k: 2, stride: 2, pad: 0, slope: 0, weights: w(5 * 4 * 13), bias: bias(5), scales: scales(5))
        let t4 = b.tensor(16, 12, 9, scale: 0.06, zp: -20)
        b.conv(t3, t4, k: 2, stride: 2, pad: 0, slope: 1, weights: w(9 * 4 * 5), bias: bias(9), scales: scales(9), transposed: true)
        let t5 = b.tensor(16, 12, 6, scale: 0.05, zp: 0)
        b.conv(t4, t5, k: 3, stride: 1, pad: 1, slope: 0.2, weights: w(6 * 9 * 9), bias: bias(6), scales: scales(6), transposed: true)
        let t6 = b.tensor(16, 12, 28, scale: 0.06, zp: -5)
        b.concat([t2, t4, t5], t6)
        let t7 = b.tensor(16, 12, 1, scale: 0.1, zp: -10)
        b.conv(t6, t7, k: 3, stride: 1, pad: 1, slope: 1, weights: w(9 * 28), bias: bias(1), scales: scales(1))
        b.mapSigmoid(t7)
        let m = try GRDNetModel(path: writeTemp(b.build()))
        let reference = try InferenceEngine(model: m, threads: 1, precision: .int8, kernels: .scalar)
        var checked = 0
        for seed in 0..<3 as Range<UInt64> {
            fill(reference, seed: seed)
            try reference.run(roi: nil)
            let refT6 = Array(UnsafeBufferPointer(start: reference.tensorAddress(t6).assumingMemoryBound(to: Int8.self), count: 16 * 12 * 28))
            XCTAssertGreaterThan(Set(refT6).count, 8, "transposed outputs are not trivially constant")
            for family in [QS8KernelFamily.c16HalvesA72, .dotLoopA76, .sdotIGEMMA76, .x86AVX2, .x86AVXVNNI] where family.isSupported {
                for threads in [1, 2, 3] {
                    let e = try InferenceEngine(model: m, threads: threads, precision: .int8, kernels: family)
                    fill(e, seed: seed)
                    try e.run(roi: nil)
                    let t6Out = Array(UnsafeBufferPointer(start: e.tensorAddress(t6).assumingMemoryBound(to: Int8.self), count: 16 * 12 * 28))
                    XCTAssertEqual(t6Out, refT6, "\(family) x\(threads) concat of the three transposed convolutions")
                    XCTAssertEqual(Array(e.outputInt8), Array(reference.outputInt8), "\(family) x\(threads)")
                    checked += 1
                }
            }
        }
        XCTAssertGreaterThanOrEqual(checked, 9)
    }

    /// Convolutions with 8 to 48 input channels (the c16 family reads interior windows in place
    /// through half tables, the borders through the im2col tile), odd
    /// widths so that pixel pairs straddle output rows, k3 s1/s2 and k1: every family against the
    /// scalar reference, bit for bit, at 1 to 3 threads.
    func testWideConvolutionsAgreeAcrossFamilies() throws {
        // The graph cut after op `ops` (only the output tensor outlives the run: the arena reuses
        // the others), so every layer is checked as some model's output.
        func model(ops: Int) -> (TestModelBuilder, count: Int) {
            var rng = SplitMix(seed: 31)
            func w(_ n: Int) -> [Int8] { (0..<n).map { _ in Int8(truncatingIfNeeded: Int(rng.next() % 255) - 127) } }
            func bias(_ n: Int) -> [Int32] { (0..<n).map { _ in Int32(truncatingIfNeeded: Int(rng.next() % 2001) - 1000) } }
            // Requantisation scales ~ 1 / (80 sqrt(K)): outputs spread over the int8 range.
            func scales(_ n: Int, k: Int) -> [Float] {
                (0..<n).map { _ in (0.5 + Float(rng.next() % 100) * 0.01) / (80 * Float(k).squareRoot()) }
            }
            var b = TestModelBuilder(height: 13, width: 11, channels: 1, inputScale: 0.01, inputZeroPoint: -5)
            // (h, w, c, input, k, stride, pad, slope, transposed, output zero point)
            let layers: [(Int, Int, Int, Int, Int, Int, Int, Float, Bool, Int32)] = [
                (13, 11, 16, 0, 3, 1, 1, 0.2, false, -9),   // 1 -> 16 (im2col)
                (13, 11, 32, 1, 3, 1, 1, 0, false, 4),      // 16 -> 32, odd width: pairs straddle rows
                (7, 6, 48, 2, 3, 2, 1, 0.2, false, -2),     // stride 2
                (7, 6, 13, 3, 3, 1, 1, 1, false, 6),        // 48 -> 13
                (7, 6, 16, 4, 1, 1, 0, 0.2, false, 0),      // 1x1, C = 13 (im2col)
                (7, 6, 8, 5, 3, 1, 1, 0.2, false, -3),      // 16 -> 8
                (7, 6, 5, 6, 1, 1, 0, 1, false, 1),         // 1x1, C = 8 (half table)
                (14, 12, 8, 5, 4, 2, 1, 0.2, true, 2),      // transposed k4 s2 p1, C = 16
                (28, 24, 5, 8, 2, 2, 0, 1, true, -1),       // transposed k2 s2, C = 8
                (7, 6, 24, 8, 4, 2, 1, 0, false, 0),        // k4 s2 on C = 8
            ]
            var tensors = [0]
            var last = 0
            for (i, l) in layers.prefix(ops).enumerated() {
                let (h, wd, c, input, k, s, p, slope, transposed, zp) = l
                let t = b.tensor(h, wd, c, scale: 0.05 + 0.01 * Float(i % 3), zp: zp)
                let cin = b.tensors[tensors[input]].c
                b.conv(tensors[input], t, k: k, stride: s, pad: p, slope: slope, weights: w(c * k * k * cin), bias: bias(c), scales: scales(c, k: k * k * cin),
                       transposed: transposed)
                tensors.append(t)
                last = h * wd * c
            }
            return (b, last)
        }
        var checked = 0
        for ops in 1...10 {
            let (b, count) = model(ops: ops)
            let m = try GRDNetModel(path: writeTemp(b.build(), "wide\(ops)"))
            let reference = try InferenceEngine(model: m, threads: 1, precision: .int8, kernels: .scalar)
            for seed in 0..<2 as Range<UInt64> {
                fill(reference, seed: seed)
                try reference.run(roi: nil)
                let want = Array(reference.outputInt8)
                XCTAssertEqual(want.count, count)
                XCTAssertGreaterThan(Set(want).count, 3, "layer \(ops): outputs are not trivially constant")
                for family in [QS8KernelFamily.c16HalvesA72, .dotLoopA76, .x86AVX2, .x86AVXVNNI] where family.isSupported {
                    for threads in [1, 3] {
                        let e = try InferenceEngine(model: m, threads: threads, precision: .int8, kernels: family)
                        fill(e, seed: seed)
                        try e.run(roi: nil)
                        XCTAssertEqual(Array(e.outputInt8), want, "\(family) x\(threads) layer \(ops)")
                        checked += 1
                    }
                }
            }
        }
        XCTAssertGreaterThanOrEqual(checked, 40)
    }

    /// One convolution checked against a hand-written loop with the documented requantisation.
    func testConvolutionMatchesDocumentedSemantics() throws {
        var b = TestModelBuilder(height: 6, width: 6, channels: 1, inputScale: 0.02, inputZeroPoint: -3)
        let t = b.tensor(3, 3, 3, scale: 0.05, zp: 4)
        var w: [Int8] = []
        for i in 0..<(3 * 16) { w.append(Int8(i * 37 % 255 - 127)) }
        let bias: [Int32] = [100, -2000, 7], scales: [Float] = [0.003, 0.0011, 0.02]
        b.conv(0, t, k: 4, stride: 2, pad: 1, slope: 0.2, weights: w, bias: bias, scales: scales)
        let m = try GRDNetModel(path: writeTemp(b.build()))
        let e = try InferenceEngine(model: m, threads: 1, precision: .int8, kernels: .c16HalvesA72)
        fill(e, seed: 9)
        try e.run(roi: nil)
        let q = (0..<36).map { m.inputTable[Int(e.input[$0])] }
        let rq = RequantizationFP32(zeroPoint: 4)
        for oy in 0..<3 { for ox in 0..<3 { for co in 0..<3 {
            var acc = bias[co]
            for ky in 0..<4 { for kx in 0..<4 {
                let iy = oy * 2 - 1 + ky, ix = ox * 2 - 1 + kx
                let v = (iy >= 0 && iy < 6 && ix >= 0 && ix < 6) ? Int32(q[iy * 6 + ix]) : -3
                acc += v * Int32(w[co * 16 + ky * 4 + kx])
            } }
            var f = Float(acc) * scales[co]
            if f < 0 { f *= 0.2 }
            let want = Int8(clamping: Int32(f.rounded(.toNearestOrEven)) + 4)
            XCTAssertEqual(rq.requantize(acc, scale: scales[co], negativeSlope: 0.2), want)
            XCTAssertEqual(e.outputInt8[(oy * 3 + ox) * 3 + co], want, "pixel \(oy),\(ox) channel \(co)")
        } } }
    }

    /// Memory is planned once: buffers keep their addresses and runs are repeatable.
    func testBuffersAreStableAndRunsRepeatable() throws {
        let m = try GRDNetModel(path: writeTemp(makeAllOpsModel(seed: 2, roi: true).build()))
        let e = try InferenceEngine(model: m, threads: 2, precision: .int8)
        let inputAddress = e.input.baseAddress, heatAddress = e.heatmap.baseAddress
        let outAddress = e.outputInt8.baseAddress
        fill(e, seed: 5)
        let s1 = try e.run(roi: nil)
        let h1 = Array(e.heatmap)
        for _ in 0..<5 { XCTAssertEqual(try e.run(roi: nil), s1) }
        XCTAssertEqual(Array(e.heatmap), h1)
        XCTAssertEqual(e.input.baseAddress, inputAddress)
        XCTAssertEqual(e.heatmap.baseAddress, heatAddress)
        XCTAssertEqual(e.outputInt8.baseAddress, outAddress)
        // default ROI: pixels with x % 10 >= 7 are ignored and zero in the heatmap
        for i in 0..<120 where i % 10 >= 7 { XCTAssertEqual(e.heatmap[i], 0) }
        // an all-zero ROI gives score 0; a full ROI at least the default ROI's score
        let none = [UInt8](repeating: 0, count: 120), all = [UInt8](repeating: 1, count: 120)
        XCTAssertEqual(try none.withUnsafeBufferPointer { try e.run(roi: $0.baseAddress) }, 0)
        XCTAssertGreaterThanOrEqual(try all.withUnsafeBufferPointer { try e.run(roi: $0.baseAddress) }, s1)
    }

    func testSelfTestPassesAndDetectsDifferences() throws {
        var b = makeAllOpsModel(seed: 4)
        let m0 = try GRDNetModel(path: writeTemp(b.build(), "g0"))
        let ref = try InferenceEngine(model: m0, threads: 1, precision: .int8, kernels: .scalar)
        fill(ref, seed: 1)
        let s = try ref.run(roi: nil)
        let input = Array(ref.input), out = Array(ref.outputInt8)
        b.addGolden(input: input, output: out, score: s, fp32Score: 0)
        let good = try GRDNetModel(path: writeTemp(b.build(), "g1"))
        XCTAssertNoThrow(try InferenceEngine(model: good, threads: 2, precision: .int8, kernels: .c16HalvesA72).selfTest())
        var bad = makeAllOpsModel(seed: 4)
        var wrong = out
        wrong[17] = wrong[17] == 127 ? 126 : wrong[17] + 1
        bad.addGolden(input: input, output: wrong, score: s, fp32Score: 0)
        let badModel = try GRDNetModel(path: writeTemp(bad.build(), "g2"))
        XCTAssertThrowsError(try InferenceEngine(model: badModel, threads: 1, precision: .int8).selfTest()) { e in
            XCTAssertTrue("\(e)".contains("first at element 17"), "\(e)")
        }
    }

    func testBoxFilterScore() throws {
        // a 1-channel map driven straight from the input: conv 1x1 with weight 127
        var b = TestModelBuilder(height: 30, width: 30, channels: 1)
        let t = b.tensor(30, 30, 1, scale: 0.1, zp: 0)
        b.conv(0, t, k: 1, stride: 1, pad: 0, slope: 1, weights: [127], bias: [0], scales: [1])
        b.mapSigmoid(t)
        let m = try GRDNetModel(path: writeTemp(b.build()))
        let e = try InferenceEngine(model: m, threads: 1, precision: .int8)
        for i in 0..<900 { e.input[i] = 0 }
        let base = try e.run(roi: nil)
        let p0 = e.heatmap[0]
        XCTAssertEqual(base, Float(Double(UInt32(p0 * 65535 + 0.5) * 441) / (441.0 * 65535.0)), accuracy: 1e-6)
        e.input[15 * 30 + 15] = 255  // one hot pixel: the 21x21 mean rises by (p1 - p0) / 441
        let s = try e.run(roi: nil)
        let p1 = e.heatmap[15 * 30 + 15]
        XCTAssertEqual(s - base, (p1 - p0) / 441, accuracy: 2e-5)
    }
}
