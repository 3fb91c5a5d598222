import Foundation
import XCTest
@testable import GRDKernels
import GRDKernelsX86
import GRDKernelsX86VNNI

/// The x86 indirect-GEMM kernels (AVX2 vpmaddwd and AVX-VNNI vpdpbusd) against the scalar
/// reference and against the A72 c16 kernels on the same inputs, bit for bit; and the
/// indirection buffers against im2col.
final class QS8X86KernelTests: XCTestCase {
    /// CPU flags missing for the x86 modules, which are compiled for Haswell (+ AVX-VNNI) on
    /// x86_64 hosts (same lists as QS8KernelFamily.x86AVX2Flags).
    static let missingFlags: (avx2: [String], vnni: [String]) = {
        #if arch(x86_64)
        let text = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let line = text.split(separator: "\n").first { $0.hasPrefix("flags") } ?? ""
        let flags = Set(line.split(separator: " ").map(String.init))
        let avx2 = ["avx", "avx2", "fma", "bmi1", "bmi2", "f16c", "movbe", "popcnt", "abm"].filter { !flags.contains($0) }
        return (avx2, avx2 + (flags.contains("avx_vnni") ? [] : ["avx_vnni"]))
        #else
        return (["x86_64"], ["x86_64"])
        #endif
    }()

    func requireAVX2() throws {
        let missing = QS8X86KernelTests.missingFlags.avx2
        try XCTSkipUnless(missing.isEmpty, "this CPU lacks \(missing) for the x86 kernels")
        if !QS8X86KernelTests.missingFlags.vnni.isEmpty {
            print("AVX-VNNI kernels not checked: this CPU lacks \(QS8X86KernelTests.missingFlags.vnni)")
        }
    }

    struct Rng { var s: UInt64; mutating func next() -> UInt64 { s = s &* 6364136223846793005 &+ 1442695040888963407; return s >> 33 } }

    enum Inputs { case random, minusVsExtremes, plusVsMinus }

    /// `rows` pixels x `taps` taps x `cin` channels, `n` output channels; every third tap of
    /// pixel 1 reads the zero buffer (padding).
    func check(taps: Int, cin: Int, n: Int, rows: Int, data: Inputs, slope: Float, seed: UInt64,
               file: StaticString = #filePath, line: UInt = #line) {
        var r = Rng(s: seed)
        let k = taps * cin
        let zp = Int8(truncatingIfNeeded: Int(r.next() % 256) - 128)
        // 4 spare bytes after the pixels: the VNNI kernels read channels in groups of 4.
        var pixels = (0..<(4 * k + 4)).map { _ in Int8(truncatingIfNeeded: Int(r.next() % 256) - 128) }
        var w = (0..<(n * k)).map { _ in Int8(truncatingIfNeeded: Int(r.next() % 255) - 127) }
        switch data {
        case .random: break
        case .minusVsExtremes:
            pixels = [Int8](repeating: -128, count: 4 * k + 4)
            for i in 0..<(n * k) { w[i] = (i / k) % 2 == 0 ? 127 : -127 }
        case .plusVsMinus:
            pixels = [Int8](repeating: 127, count: 4 * k + 4)
            w = [Int8](repeating: -127, count: n * k)
        }
        let zero = [Int8](repeating: data == .random ? zp : pixels[0], count: cin + 4)
        let bias = (0..<n).map { _ in Int32(Int(r.next() % 20001) - 10000) }
        let scales = (0..<n).map { _ in data != .random ? Float(1.0 / Float(16 * k)) : 0.00005 + Float(r.next() % 1000) * 0.0000005 }
        let ozp = Int32(Int(r.next() % 41) - 20)
        pixels.withUnsafeBufferPointer { px in zero.withUnsafeBufferPointer { zb in
            // Indirection: pixel p, tap t -> p * k + t * cin, or the zero buffer.
            var ind = [UnsafePointer<Int8>](repeating: zb.baseAddress!, count: 4 * taps)
            for t in 0..<taps { for p in 0..<4 {
                let pad = p == 1 && t % 3 == 2
                ind[4 * t + p] = pad ? zb.baseAddress! : px.baseAddress! + min(p, rows - 1) * k + t * cin
            } }
            // Scalar reference on the same pointers.
            var want = [Int8](repeating: 0, count: 4 * n)
            let rq = RequantizationFP32(zeroPoint: ozp)
            for p in 0..<rows { for c in 0..<n {
                var acc = bias[c]
                for t in 0..<taps { for i in 0..<cin { acc &+= Int32(ind[4 * t + p][i]) * Int32(w[c * k + t * cin + i]) } }
                want[p * n + c] = rq.requantize(acc, scale: scales[c], negativeSlope: slope)
            } }
            // x86 AVX2.
            let bb = qs8PackedC1x8BlockBytes(k: k)
            let packed = UnsafeMutableRawPointer.allocate(byteCount: bb * ((n + 7) / 8), alignment: 64)
            defer { packed.deallocate() }
            qs8PackC1x8(n: n, k: k, weights: w, bias: bias, scales: scales, into: packed)
            var got = [Int8](repeating: 0x55, count: 4 * n)
            ind.withUnsafeBufferPointer { ip in got.withUnsafeMutableBufferPointer { cp in
                qs8IGEMM4xNC1BroadcastAVX2(rows: rows, taps: taps, cin: cin, indirection: ip.baseAddress!, packedWeights: packed,
                                           blockBytes: bb, outputZeroPoint: ozp, negativeSlope: slope,
                                           c: cp.baseAddress!, cStride: n, channels: n)
            } }
            XCTAssertEqual(Array(got[0..<(rows * n)]), Array(want[0..<(rows * n)]),
                           "x86 taps=\(taps) cin=\(cin) n=\(n) rows=\(rows) \(data) slope=\(slope)", file: file, line: line)
            XCTAssertEqual(Array(got[(rows * n)...]), [Int8](repeating: 0x55, count: (4 - rows) * n), "rows past `rows` written", file: file, line: line)
            // AVX-VNNI on the same pointers.
            if QS8X86KernelTests.missingFlags.vnni.isEmpty {
                let vb = qs8PackedC4x8BlockBytes(taps: taps, cin: cin)
                let packedV = UnsafeMutableRawPointer.allocate(byteCount: vb * ((n + 7) / 8), alignment: 64)
                defer { packedV.deallocate() }
                qs8PackC4x8(n: n, taps: taps, cin: cin, activationOffset: 128, weights: w, bias: bias, scales: scales, into: packedV)
                var vnni = [Int8](repeating: 0x55, count: 4 * n)
                ind.withUnsafeBufferPointer { ip in vnni.withUnsafeMutableBufferPointer { cp in
                    qs8IGEMM4xNC4AVXVNNI(rows: rows, taps: taps, cin: cin, indirection: ip.baseAddress!, packedWeights: packedV,
                                         blockBytes: vb, outputZeroPoint: ozp, negativeSlope: slope,
                                         c: cp.baseAddress!, cStride: n, channels: n)
                } }
                XCTAssertEqual(vnni, got, "vnni vs avx2 taps=\(taps) cin=\(cin) n=\(n) rows=\(rows) \(data) slope=\(slope)", file: file, line: line)
            }
            // A72 c16 on the same inputs, through the gathered tile: both families agree bit for bit.
            let kp = (k + 15) & ~15
            var tile = [Int8](repeating: 0, count: 2 * kp)
            let cb = qs8PackedC16BlockBytes(kc: kp)
            let packedC16 = UnsafeMutableRawPointer.allocate(byteCount: cb * ((n + 7) / 8), alignment: 64)
            defer { packedC16.deallocate() }
            qs8PackC16(n: n, k: k, kcPadded: kp, weights: w, bias: bias, scales: scales, into: packedC16)
            var a72 = [Int8](repeating: 0, count: 4 * n)
            var p = 0
            while p < rows {
                let pr = min(2, rows - p)
                var sub = [UnsafePointer<Int8>](repeating: zb.baseAddress!, count: 2 * taps)
                for t in 0..<taps { for j in 0..<2 { sub[2 * t + j] = ind[4 * t + p + min(j, pr - 1)] } }
                sub.withUnsafeBufferPointer { sp in tile.withUnsafeMutableBufferPointer { tp in
                    qs8GatherIndirection(taps: taps, channels: cin, rows: pr, mr: 2, indirection: sp.baseAddress!, paddedK: kp, tile: tp.baseAddress!)
                } }
                tile.withUnsafeBufferPointer { tp in a72.withUnsafeMutableBufferPointer { cp in
                    var nb = 0
                    while nb < n {
                        qs8GEMM2x8C16HalvesA72(rows: pr, kc: kp, a: tp.baseAddress!, aStride: kp, packedWeights: packedC16 + (nb / 8) * cb,
                                               outputZeroPoint: ozp, negativeSlope: slope, c: cp.baseAddress! + p * n + nb, cStride: n,
                                               channels: min(8, n - nb))
                        nb += 8
                    }
                } }
                p += pr
            }
            XCTAssertEqual(Array(got[0..<(rows * n)]), Array(a72[0..<(rows * n)]), "x86 vs a72 taps=\(taps) cin=\(cin) n=\(n) rows=\(rows) \(data)",
                           file: file, line: line)
        } }
    }

    func testMatchesScalarReferenceAndA72() throws {
        try requireAVX2()
        var seed: UInt64 = 11
        for (taps, cin) in [(1, 1), (1, 16), (9, 1), (9, 2), (9, 3), (16, 12), (4, 24), (9, 13), (1, 48), (9, 96)] {
            for n in [1, 2, 5, 8, 9, 12, 13, 16, 17, 24, 33, 48] {
                for rows in [1, 3, 4] {
                    check(taps: taps, cin: cin, n: n, rows: rows, data: .random, slope: [1, 0, 0.2][Int(seed % 3)], seed: seed)
                    seed += 1
                }
            }
        }
    }

    func testWorstCaseAccumulation() throws {
        // -128 activations against +-127 weights (u = 0 after the +128 offset: the whole sum is the
        // folded bias), and +127 against -127; K up to 9 x 128.
        try requireAVX2()
        for (taps, cin) in [(1, 16), (9, 12), (9, 128), (16, 48)] {
            for n in [3, 8, 13, 24] {
                check(taps: taps, cin: cin, n: n, rows: 4, data: .minusVsExtremes, slope: 1, seed: 99)
                check(taps: taps, cin: cin, n: n, rows: 2, data: .plusVsMinus, slope: 0.2, seed: 98)
            }
        }
    }

    /// Conv indirection + gather reproduces im2col (padding taps read the zero point).
    func testIndirectionMatchesIm2Col() {
        var r = Rng(s: 5)
        for (h, w, c, k, s, pad) in [(7, 9, 3, 3, 1, 1), (8, 8, 5, 4, 2, 1), (6, 5, 2, 3, 2, 0), (5, 7, 16, 1, 1, 0)] {
            let oh = (h + 2 * pad - k) / s + 1, ow = (w + 2 * pad - k) / s + 1
            let g = ConvGeometry(inputHeight: h, inputWidth: w, inputChannels: c, kernelHeight: k, kernelWidth: k, strideY: s, strideX: s,
                                 padTop: pad, padLeft: pad, outputHeight: oh, outputWidth: ow, outputChannels: 1)
            let input = (0..<(h * w * c)).map { _ in Int8(truncatingIfNeeded: Int(r.next() % 256) - 128) }
            let zp: Int8 = -7
            let zero = [Int8](repeating: zp, count: c)
            let kp = g.paddedReductionSize
            for first in stride(from: 0, to: oh * ow, by: 3) {
                let count = min(3, oh * ow - first)
                var want = [Int8](repeating: 0, count: 3 * kp), got = [Int8](repeating: 1, count: 3 * kp)
                var ind = [UnsafePointer<Int8>](repeating: UnsafePointer(bitPattern: 1)!, count: 3 * k * k)
                input.withUnsafeBufferPointer { ip in zero.withUnsafeBufferPointer { zb in
                    qs8Im2Col(g, input: ip.baseAddress!, zeroPoint: zp, firstPixel: first, count: count, tile: &want)
                    qs8ConvIndirection(g, input: ip.baseAddress!, zeroBuffer: zb.baseAddress!, firstPixel: first, count: count, mr: 3, out: &ind)
                    qs8GatherIndirection(taps: k * k, channels: c, rows: count, mr: 3, indirection: ind, paddedK: kp, tile: &got)
                } }
                XCTAssertEqual(Array(got[0..<(count * kp)]), Array(want[0..<(count * kp)]), "h=\(h) w=\(w) c=\(c) k=\(k) s=\(s) first=\(first)")
            }
        }
    }
}
