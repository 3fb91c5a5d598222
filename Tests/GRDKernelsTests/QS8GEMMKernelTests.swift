import XCTest
@testable import GRDKernels
import GRDKernelsDotprod

/// Each micro-kernel against the scalar reference, bit for bit, on random and worst-case data.
final class QS8GEMMKernelTests: XCTestCase {
    /// The dot-loop module is compiled for the Cortex-A76 on arm64 hosts.
    var dotLoopSupported: Bool {
        #if arch(arm64)
        let ok = ((try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? "").contains(" asimddp")
        if !ok { print("skipping the dot-loop kernel: this CPU lacks dot-product instructions") }
        return ok
        #else
        return true
        #endif
    }

    struct Rng { var s: UInt64; mutating func next() -> UInt64 { s = s &* 6364136223846793005 &+ 1442695040888963407; return s >> 33 } }

    func check(kc: Int, n: Int, rows: Int, worstCase: Bool, slope: Float, seed: UInt64) {
        var r = Rng(s: seed)
        var a = (0..<(2 * kc)).map { _ in Int8(truncatingIfNeeded: Int(r.next() % 256) - 128) }
        var w = (0..<(n * kc)).map { _ in Int8(truncatingIfNeeded: Int(r.next() % 255) - 127) }
        if worstCase {
            a = [Int8](repeating: -128, count: 2 * kc)
            for i in 0..<(n * kc) { w[i] = (i / kc) % 2 == 0 ? 127 : -127 }
        }
        let bias = (0..<n).map { _ in Int32(Int(r.next() % 20001) - 10000) }
        let scales = (0..<n).map { _ in worstCase ? Float(1.0 / 16384) : 0.0001 + Float(r.next() % 1000) * 0.000001 }
        let zp: Int32 = Int32(Int(r.next() % 41) - 20)
        var want = [Int8](repeating: 0, count: 2 * n)
        let rq = RequantizationFP32(zeroPoint: zp)
        for row in 0..<rows { for c in 0..<n {
            var acc = bias[c]
            for k in 0..<kc { acc &+= Int32(a[row * kc + k]) * Int32(w[c * kc + k]) }
            want[row * n + c] = rq.requantize(acc, scale: scales[c], negativeSlope: slope)
        } }
        for family in dotLoopSupported ? ["c16", "kc4"] : ["c16"] {
            let nr = family == "c16" ? 8 : 4
            let blockBytes = family == "c16" ? qs8PackedC16BlockBytes(kc: kc) : qs8PackedKCBlockBytes(kc: kc)
            let packed = UnsafeMutableRawPointer.allocate(byteCount: blockBytes * ((n + nr - 1) / nr), alignment: 16)
            defer { packed.deallocate() }
            if family == "c16" {
                qs8PackC16(n: n, k: kc, kcPadded: kc, weights: w, bias: bias, scales: scales, into: packed)
            } else {
                qs8PackKC4(n: n, k: kc, kcPadded: kc, weights: w, bias: bias, scales: scales, into: packed)
            }
            var got = [Int8](repeating: 0, count: 2 * n)
            a.withUnsafeBufferPointer { ap in got.withUnsafeMutableBufferPointer { cp in
                var nb = 0
                while nb < n {
                    if family == "c16" {
                        qs8GEMM2x8C16HalvesA72(rows: rows, kc: kc, a: ap.baseAddress!, aStride: kc, packedWeights: packed + (nb / 8) * blockBytes,
                                               outputZeroPoint: zp, negativeSlope: slope, c: cp.baseAddress! + nb, cStride: n, channels: min(8, n - nb))
                    } else {
                        qs8GEMM2x4DotLoopA76(rows: rows, kc: kc, a: ap.baseAddress!, aStride: kc, packedWeights: packed + (nb / 4) * blockBytes,
                                             outputZeroPoint: zp, negativeSlope: slope, c: cp.baseAddress! + nb, cStride: n, channels: min(4, n - nb))
                    }
                    nb += nr
                }
            } }
            XCTAssertEqual(Array(got[0..<(rows * n)]), Array(want[0..<(rows * n)]),
                           "\(family) kc=\(kc) n=\(n) rows=\(rows) worst=\(worstCase) slope=\(slope)")
        }
    }

    func testKernelsMatchScalarReference() {
        var seed: UInt64 = 1
        for kc in [16, 32, 48, 112, 144, 576] {
            for n in [1, 3, 4, 5, 8, 13, 16] {
                for rows in [1, 2] {
                    for slope: Float in [1, 0, 0.2] {
                        check(kc: kc, n: n, rows: rows, worstCase: false, slope: slope, seed: seed)
                        seed += 1
                    }
                }
            }
        }
    }

    func testWorstCaseAccumulation() {
        // -128 activations against +-127 weights: int16 pair sums at their limit (2*128*127).
        for kc in [16, 64, 576, 1152] {
            check(kc: kc, n: 8, rows: 2, worstCase: true, slope: 1, seed: 99)
            check(kc: kc, n: 5, rows: 1, worstCase: true, slope: 0.2, seed: 98)
        }
    }
}
