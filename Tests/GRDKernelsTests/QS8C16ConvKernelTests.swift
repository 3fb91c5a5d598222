import XCTest
@testable import GRDKernels

/// The c16 convolution kernel with chunk tables (`qs8GEMM2x8C16A72`), the inline im2col and the
/// in-place window path, each against a plain reference, bit for bit.
final class QS8C16ConvKernelTests: XCTestCase {
    struct Rng { var s: UInt64; mutating func next() -> UInt64 { s = s &* 6364136223846793005 &+ 1442695040888963407; return s >> 33 } }

    /// Scalar reference of C[r][c] for dense rows A[r][0..<k].
    func reference(a: [Int8], rows: Int, k: Int, w: [Int8], n: Int, bias: [Int32], scales: [Float], zp: Int32, slope: Float) -> [Int8] {
        var want = [Int8](repeating: 0, count: rows * n)
        let rq = RequantizationFP32(zeroPoint: zp)
        for row in 0..<rows { for c in 0..<n {
            var acc = bias[c]
            for i in 0..<k { acc &+= Int32(a[row * k + i]) * Int32(w[c * k + i]) }
            want[row * n + c] = rq.requantize(acc, scale: scales[c], negativeSlope: slope)
        } }
        return want
    }

    /// Runs the kernel on rows whose 8-byte halves are scattered in memory (a shuffled, gapped half
    /// table, row stride not a multiple of 8) and compares with the reference on the dense rows.
    /// `paired`: the table keeps each chunk's two halves together (chunks shuffled, 19 bytes apart),
    /// and both the paired kernel (16-byte loads) and the general one read it.
    func check(kc: Int, n: Int, rows: Int, worstCase: Bool, slope: Float, seed: UInt64, paired: Bool = false, line: UInt = #line) {
        var r = Rng(s: seed)
        let chunks = kc / 16
        var a = (0..<(rows * kc)).map { _ in Int8(truncatingIfNeeded: Int(r.next() % 256) - 128) }
        var w = (0..<(n * kc)).map { _ in Int8(truncatingIfNeeded: Int(r.next() % 255) - 127) }
        if worstCase {
            a = [Int8](repeating: -128, count: rows * kc)
            for i in 0..<(n * kc) { w[i] = (i / kc) % 2 == 0 ? 127 : -127 }
        }
        let bias = (0..<n).map { _ in Int32(Int(r.next() % 20001) - 10000) }
        let scales = (0..<n).map { _ in worstCase ? Float(1.0 / 16384) : 0.0001 + Float(r.next() % 1000) * 0.000001 }
        let zp = Int32(Int(r.next() % 41) - 20)
        let want = reference(a: a, rows: rows, k: kc, w: w, n: n, bias: bias, scales: scales, zp: zp, slope: slope)

        // Half h of every row sits at slot perm[h] (slots 11 bytes apart), rows 22 * chunks + 5 apart.
        var perm = Array(0..<(2 * chunks))
        for i in stride(from: 2 * chunks - 1, to: 0, by: -1) { perm.swapAt(i, Int(r.next() % UInt64(i + 1))) }
        var offsets = perm.map { 11 * $0 }
        if paired {
            var chunkPerm = Array(0..<chunks)
            for i in stride(from: chunks - 1, to: 0, by: -1) { chunkPerm.swapAt(i, Int(r.next() % UInt64(i + 1))) }
            offsets = (0..<(2 * chunks)).map { 19 * chunkPerm[$0 / 2] + 8 * ($0 % 2) }
        }
        XCTAssertEqual(offsets.withUnsafeBufferPointer { qs8C16HalvesArePaired($0.baseAddress!, chunks: chunks) }, paired || chunks == 0)
        let aStride = 22 * chunks + 5
        var scattered = [Int8](repeating: 99, count: rows * aStride + 16)
        for row in 0..<rows { for h in 0..<(2 * chunks) { for j in 0..<8 {
            scattered[row * aStride + offsets[h] + j] = a[row * kc + 8 * h + j]
        } } }
        let blockBytes = qs8PackedC16BlockBytes(kc: kc)
        let packed = UnsafeMutableRawPointer.allocate(byteCount: blockBytes * ((n + 7) / 8), alignment: 16)
        defer { packed.deallocate() }
        qs8PackC16(n: n, k: kc, kcPadded: kc, weights: w, bias: bias, scales: scales, into: packed)
        // Output rows n + 3 apart, with a guard byte pattern that must survive past each row's n lanes.
        let cStride = n + 3
        for kernel in paired ? [qs8GEMM2x8C16A72, qs8GEMM2x8C16PairedA72] : [qs8GEMM2x8C16A72] {
        var got = [Int8](repeating: 55, count: rows * cStride)
        scattered.withUnsafeBufferPointer { ap in offsets.withUnsafeBufferPointer { op in got.withUnsafeMutableBufferPointer { cp in
            kernel(rows, chunks, ap.baseAddress!, aStride, op.baseAddress!, packed, blockBytes, zp, slope, cp.baseAddress!, cStride, n)
        } } }
        for row in 0..<rows {
            XCTAssertEqual(Array(got[(row * cStride)..<(row * cStride + n)]), Array(want[(row * n)..<(row * n + n)]),
                           "kc=\(kc) n=\(n) rows=\(rows) worst=\(worstCase) slope=\(slope) row=\(row)", line: line)
            XCTAssertEqual(Array(got[(row * cStride + n)..<(row * cStride + cStride)]), [55, 55, 55],
                           "kc=\(kc) n=\(n) rows=\(rows): wrote past the row's \(n) channels", line: line)
        }
        }
    }

    func testChunkTableKernelMatchesScalarReference() {
        var seed: UInt64 = 1
        for kc in [16, 32, 48, 80, 144, 576] {
            for n in [1, 2, 3, 4, 5, 7, 8, 13, 16, 24, 64] {
                for rows in [1, 2] {
                    for slope: Float in [1, 0, 0.2] {
                        check(kc: kc, n: n, rows: rows, worstCase: false, slope: slope, seed: seed)
                        seed += 1
                    }
                }
            }
        }
    }

    func testChunkTableKernelWorstCaseAccumulation() {
        // -128 activations against +-127 weights: the Int16 pair sums at their limit (2 * 128 * 127).
        for kc in [16, 64, 576, 1152] {
            for paired in [false, true] {
                check(kc: kc, n: 8, rows: 2, worstCase: true, slope: 1, seed: 99, paired: paired)
                check(kc: kc, n: 5, rows: 1, worstCase: true, slope: 0.2, seed: 98, paired: paired)
            }
        }
    }

    /// The paired kernel (16-byte loads, SMLAL2) on chunk-shuffled tables, against the reference
    /// and the general kernel.
    func testPairedChunkKernelMatchesScalarReference() {
        var seed: UInt64 = 3000
        for kc in [16, 32, 80, 144, 576] {
            for n in [1, 5, 8, 13, 24, 64] {
                for rows in [1, 2] {
                    for slope: Float in [1, 0, 0.2, 1.5] {
                        check(kc: kc, n: n, rows: rows, worstCase: false, slope: slope, seed: seed, paired: true)
                        seed += 1
                    }
                }
            }
        }
    }

    /// Every activation form of the requantisation epilogue (max(f, f * slope) for slopes <= 1,
    /// min(f, f * slope) above 1), zero points at both ends, and no chunks at all (bias only).
    func testChunkTableKernelSlopesAndBiasOnly() {
        var seed: UInt64 = 500
        for slope: Float in [1.5, 2, -0.5, 0.5, 0] {
            for kc in [16, 48, 288] {
                for n in [3, 8, 21] {
                    for rows in [1, 2] {
                        check(kc: kc, n: n, rows: rows, worstCase: false, slope: slope, seed: seed)
                        seed += 1
                    }
                }
            }
        }
        // chunks == 0: C[r][c] = requant(bias[c]) for every row.
        let n = 11, bb = qs8PackedC16BlockBytes(kc: 0)
        let bias = (0..<n).map { Int32($0 * 997 - 5000) }, scales = (0..<n).map { 0.003 + Float($0) * 0.001 }
        let packed = UnsafeMutableRawPointer.allocate(byteCount: bb * 2, alignment: 16)
        defer { packed.deallocate() }
        qs8PackC16(n: n, k: 0, kcPadded: 0, weights: [], bias: bias, scales: scales, into: packed)
        for zp: Int32 in [-128, 0, 127] {
            let rq = RequantizationFP32(zeroPoint: zp)
            var got = [Int8](repeating: 55, count: 2 * n)
            let a = [Int8](repeating: 1, count: 16), offsets = [0, 8]
            qs8GEMM2x8C16A72(rows: 2, chunks: 0, a: a, aStride: 0, halfOffsets: offsets, packedWeights: packed, blockBytes: bb,
                             outputZeroPoint: zp, negativeSlope: 0.2, c: &got, cStride: n, channels: n)
            let want = (0..<n).map { rq.requantize(bias[$0], scale: scales[$0], negativeSlope: 0.2) }
            XCTAssertEqual(Array(got[0..<n]), want, "zp=\(zp) row 0")
            XCTAssertEqual(Array(got[n..<(2 * n)]), want, "zp=\(zp) row 1")
        }
    }

    /// The kernel's building blocks (SMULL + SMLAL, SADDLP, SADALP, ADDP on aarch64; their
    /// plain-Swift stand-ins elsewhere) against scalar arithmetic, at the Int16 limits.
    func testC16BuildingBlocksMatchScalar() {
        var r = Rng(s: 77)
        for trial in 0..<200 {
            func v8() -> SIMD8<Int8> {
                var x = SIMD8<Int8>()
                for i in 0..<8 { x[i] = trial < 20 ? (trial % 2 == 0 ? -128 : 127) : Int8(truncatingIfNeeded: Int(r.next() % 256) - 128) }
                return x
            }
            let aLo = v8(), aHi = v8()
            var wLo = v8(), wHi = v8()
            for i in 0..<8 { if wLo[i] == -128 { wLo[i] = -127 }; if wHi[i] == -128 { wHi[i] = -127 } }
            if trial < 20 { wLo = SIMD8(repeating: trial % 4 < 2 ? 127 : -127); wHi = wLo }
            let p = qs8C16MulPair(aLo, aHi, wLo, wHi)
            for i in 0..<8 {
                XCTAssertEqual(Int(p[i]), Int(aLo[i]) * Int(wLo[i]) + Int(aHi[i]) * Int(wHi[i]), "trial \(trial) lane \(i)")
            }
            var acc = SIMD4<Int32>()
            for i in 0..<4 { acc[i] = Int32(truncatingIfNeeded: Int(r.next() % 2_000_001) - 1_000_000) }
            let long = qs8C16PairwiseLong(p), accumulated = qs8C16PairwiseAccumulate(acc, p)
            for i in 0..<4 {
                let pair = Int32(p[2 * i]) + Int32(p[2 * i + 1])
                XCTAssertEqual(long[i], pair, "trial \(trial) SADDLP lane \(i)")
                XCTAssertEqual(accumulated[i], acc[i] + pair, "trial \(trial) SADALP lane \(i)")
            }
            let y = SIMD4<Int32>(accumulated[3], accumulated[2], long[1], long[0])
            let added = qs8C16Pairwise(accumulated, y)
            XCTAssertEqual(added, SIMD4(accumulated[0] &+ accumulated[1], accumulated[2] &+ accumulated[3], y[0] &+ y[1], y[2] &+ y[3]))
        }
    }

    /// The im2col tile against a plain per-tap reference, for every pixel, including the zero
    /// padding of k up to the next multiple of 16.
    func testIm2ColMatchesNaiveReference() {
        var r = Rng(s: 7)
        for (h, w, c, k, s, pad) in [(7, 9, 1, 3, 1, 1), (6, 6, 2, 3, 1, 1), (9, 7, 3, 3, 2, 1), (8, 8, 8, 3, 1, 1), (8, 10, 8, 3, 2, 1),
                                     (6, 5, 16, 3, 1, 1), (5, 5, 32, 3, 2, 1), (4, 6, 64, 3, 1, 1), (5, 7, 16, 1, 1, 0), (8, 8, 5, 4, 2, 1),
                                     (6, 6, 40, 2, 2, 0)] {
            let oh = (h + 2 * pad - k) / s + 1, ow = (w + 2 * pad - k) / s + 1
            let g = ConvGeometry(inputHeight: h, inputWidth: w, inputChannels: c, kernelHeight: k, kernelWidth: k, strideY: s, strideX: s,
                                 padTop: pad, padLeft: pad, outputHeight: oh, outputWidth: ow, outputChannels: 1)
            let input = (0..<(h * w * c)).map { _ in Int8(truncatingIfNeeded: Int(r.next() % 256) - 128) }
            let zp: Int8 = -7
            let kp = g.paddedReductionSize
            var want = [Int8](repeating: 0, count: oh * ow * kp)
            for oy in 0..<oh { for ox in 0..<ow {
                var i = (oy * ow + ox) * kp
                for ky in 0..<k { for kx in 0..<k { for ch in 0..<c {
                    let iy = oy * s - pad + ky, ix = ox * s - pad + kx
                    want[i] = (iy >= 0 && iy < h && ix >= 0 && ix < w) ? input[(iy * w + ix) * c + ch] : zp
                    i += 1
                } } }
            } }
            for first in stride(from: 0, to: oh * ow, by: 3) {
                let count = min(3, oh * ow - first)
                var got = [Int8](repeating: 33, count: 3 * kp + 1)
                input.withUnsafeBufferPointer { ip in
                    qs8Im2Col(g, input: ip.baseAddress!, zeroPoint: zp, firstPixel: first, count: count, tile: &got)
                }
                XCTAssertEqual(Array(got[0..<(count * kp)]), Array(want[(first * kp)..<((first + count) * kp)]),
                               "h=\(h) w=\(w) c=\(c) k=\(k) s=\(s) pad=\(pad) first=\(first)")
                XCTAssertEqual(got[count * kp], 33, "im2col wrote past \(count) patches (c=\(c) k=\(k))")
            }
        }
    }

    /// A run of window pairs in one call (qs8ConvWindowRun2xNC16A72, general and paired tables)
    /// equals the im2col tile path pair by pair, and writes nothing outside its pairs' outputs.
    func testWindowRunMatchesIm2ColPairs() {
        var r = Rng(s: 41)
        for (h, w, c, s, n, k, pad) in [(6, 11, 16, 1, 8, 3, 1), (7, 13, 8, 1, 13, 3, 1), (9, 15, 32, 2, 5, 3, 1), (5, 9, 24, 1, 16, 1, 0),
                                        (6, 12, 8, 2, 8, 2, 0)] {
            let oh = (h + 2 * pad - k) / s + 1, ow = (w + 2 * pad - k) / s + 1
            let g = ConvGeometry(inputHeight: h, inputWidth: w, inputChannels: c, kernelHeight: k, kernelWidth: k, strideY: s, strideX: s,
                                 padTop: pad, padLeft: pad, outputHeight: oh, outputWidth: ow, outputChannels: n)
            let kp = g.paddedReductionSize, kk = k * k * c
            let input = (0..<(h * w * c)).map { _ in Int8(truncatingIfNeeded: Int(r.next() % 256) - 128) }
            let wts = (0..<(n * kk)).map { _ in Int8(truncatingIfNeeded: Int(r.next() % 255) - 127) }
            let bias = (0..<n).map { _ in Int32(Int(r.next() % 2001) - 1000) }
            let scales = (0..<n).map { _ in 0.001 + Float(r.next() % 1000) * 0.00001 }
            let bb = qs8PackedC16BlockBytes(kc: kp)
            let packed = UnsafeMutableRawPointer.allocate(byteCount: bb * ((n + 7) / 8), alignment: 16)
            defer { packed.deallocate() }
            qs8PackC16(n: n, k: kk, kcPadded: kp, weights: wts, bias: bias, scales: scales, into: packed)
            var window = [Int](repeating: -1, count: 2 * qs8ConvWindowChunks(g))
            qs8ConvWindowHalfOffsets(g, out: &window)
            let paired = window.withUnsafeBufferPointer { qs8C16HalvesArePaired($0.baseAddress!, chunks: window.count / 2) }
            let dense = (0..<(kp / 8)).map { 8 * $0 }
            var runs = 0
            input.withUnsafeBufferPointer { ip in
                for oy in 0..<oh {
                    // interior pairs of this row: ox, ox + 1 with both windows inside the input
                    let inside = (0..<(ow - 1)).filter { qs8ConvWindowOrigin(g, input: ip.baseAddress!, firstPixel: oy * ow + $0, count: 2, mr: 2) != nil }
                    guard let first = inside.first else { continue }
                    let pairs = (inside.count + 1) / 2
                    guard inside.contains(first + 2 * (pairs - 1)) else { continue }
                    runs += 1
                    var want = [Int8](repeating: 77, count: (2 * pairs + 1) * n), got = want
                    for i in 0..<pairs {
                        var tile = [Int8](repeating: 0, count: 2 * kp)
                        qs8Im2Col(g, input: ip.baseAddress!, zeroPoint: 0, firstPixel: oy * ow + first + 2 * i, count: 2, tile: &tile)
                        want.withUnsafeMutableBufferPointer { wp in
                            qs8GEMM2x8C16A72(rows: 2, chunks: kp / 16, a: tile, aStride: kp, halfOffsets: dense, packedWeights: packed,
                                             blockBytes: bb, outputZeroPoint: -5, negativeSlope: 0.2, c: wp.baseAddress! + 2 * i * n, cStride: n, channels: n)
                        }
                    }
                    let origin = qs8ConvWindowOrigin(g, input: ip.baseAddress!, firstPixel: oy * ow + first, count: 2, mr: 2)!
                    for usePaired in paired ? [false, true] : [false] {
                        got = [Int8](repeating: 77, count: (2 * pairs + 1) * n)
                        qs8ConvWindowRun2xNC16A72(pairs: pairs, chunks: window.count / 2, origin: origin, pixelStride: s * c, halfOffsets: window,
                                                  paired: usePaired, packedWeights: packed, blockBytes: bb, outputZeroPoint: -5,
                                                  negativeSlope: 0.2, c: &got, cStride: n, channels: n)
                        XCTAssertEqual(got, want, "h=\(h) w=\(w) c=\(c) k=\(k) s=\(s) oy=\(oy) pairs=\(pairs) paired=\(usePaired)")
                    }
                }
            }
            XCTAssertGreaterThan(runs, 0, "no interior run in \(h)x\(w) stride \(s)")
        }
    }

    /// The in-place window (half table from the window origin) gives the same outputs as the
    /// im2col tile for every pixel pair whose windows lie inside the input.
    func testWindowHalvesMatchIm2Col() {
        var r = Rng(s: 21)
        for (h, w, c, s, n, k, pad) in [(6, 7, 16, 1, 8, 3, 1), (7, 9, 32, 2, 13, 3, 1), (5, 6, 48, 1, 16, 3, 1), (6, 6, 16, 2, 3, 3, 1),
                                        (7, 8, 8, 1, 8, 3, 1), (8, 7, 8, 2, 16, 3, 1), (5, 7, 24, 1, 5, 3, 1), (5, 5, 8, 1, 1, 1, 0),
                                        (6, 5, 40, 1, 9, 1, 0), (6, 6, 8, 2, 4, 2, 0)] {
            let oh = (h + 2 * pad - k) / s + 1, ow = (w + 2 * pad - k) / s + 1
            let g = ConvGeometry(inputHeight: h, inputWidth: w, inputChannels: c, kernelHeight: k, kernelWidth: k, strideY: s, strideX: s,
                                 padTop: pad, padLeft: pad, outputHeight: oh, outputWidth: ow, outputChannels: n)
            XCTAssertEqual(qs8ConvWindowChunks(g), (k * k * c + 15) / 16)
            let kp = g.paddedReductionSize
            let input = (0..<(h * w * c)).map { _ in Int8(truncatingIfNeeded: Int(r.next() % 256) - 128) }
            let kk = k * k * c
            let wts = (0..<(n * kk)).map { _ in Int8(truncatingIfNeeded: Int(r.next() % 255) - 127) }
            let bias = (0..<n).map { _ in Int32(Int(r.next() % 2001) - 1000) }
            let scales = (0..<n).map { _ in 0.001 + Float(r.next() % 1000) * 0.00001 }
            let bb = qs8PackedC16BlockBytes(kc: kp)
            let packed = UnsafeMutableRawPointer.allocate(byteCount: bb * ((n + 7) / 8), alignment: 16)
            defer { packed.deallocate() }
            qs8PackC16(n: n, k: kk, kcPadded: kp, weights: wts, bias: bias, scales: scales, into: packed)
            var window = [Int](repeating: -1, count: 2 * qs8ConvWindowChunks(g))
            qs8ConvWindowHalfOffsets(g, out: &window)
            XCTAssertFalse(window.contains(-1), "half table not filled")
            var dense = [Int](repeating: -1, count: kp / 8)
            qs8DenseHalfOffsets(chunks: kp / 16, out: &dense)
            XCTAssertEqual(dense, (0..<(kp / 8)).map { 8 * $0 })
            var inside = 0
            input.withUnsafeBufferPointer { ip in
                for p in 0..<(oh * ow) {
                    for rows in [1, 2] where p + rows <= oh * ow {
                        guard let origin = qs8ConvWindowOrigin(g, input: ip.baseAddress!, firstPixel: p, count: rows, mr: rows) else { continue }
                        inside += 1
                        var tile = [Int8](repeating: 0, count: 2 * kp)
                        qs8Im2Col(g, input: ip.baseAddress!, zeroPoint: 0, firstPixel: p, count: rows, tile: &tile)
                        var viaTile = [Int8](repeating: 0, count: 2 * n), viaWindow = [Int8](repeating: 1, count: 2 * n)
                        qs8GEMM2x8C16A72(rows: rows, chunks: kp / 16, a: tile, aStride: kp, halfOffsets: dense, packedWeights: packed,
                                         blockBytes: bb, outputZeroPoint: 3, negativeSlope: 0.2, c: &viaTile, cStride: n, channels: n)
                        qs8GEMM2x8C16A72(rows: rows, chunks: window.count / 2, a: origin, aStride: s * c, halfOffsets: window, packedWeights: packed,
                                         blockBytes: bb, outputZeroPoint: 3, negativeSlope: 0.2, c: &viaWindow, cStride: n, channels: n)
                        XCTAssertEqual(Array(viaWindow[0..<(rows * n)]), Array(viaTile[0..<(rows * n)]), "h=\(h) w=\(w) c=\(c) k=\(k) s=\(s) p=\(p) rows=\(rows)")
                        // C a multiple of 16: every chunk's halves are adjacent, the paired kernel reads them.
                        let paired = window.withUnsafeBufferPointer { qs8C16HalvesArePaired($0.baseAddress!, chunks: window.count / 2) }
                        if c % 16 == 0 { XCTAssertTrue(paired, "c=\(c) k=\(k)") }
                        if c % 16 != 0 && k == 3 { XCTAssertFalse(paired, "c=\(c) k=\(k)") }
                        if paired {
                            var viaPaired = [Int8](repeating: 2, count: 2 * n), viaTilePaired = [Int8](repeating: 4, count: 2 * n)
                            qs8GEMM2x8C16PairedA72(rows: rows, chunks: window.count / 2, a: origin, aStride: s * c, halfOffsets: window,
                                                   packedWeights: packed, blockBytes: bb, outputZeroPoint: 3, negativeSlope: 0.2,
                                                   c: &viaPaired, cStride: n, channels: n)
                            qs8GEMM2x8C16PairedA72(rows: rows, chunks: kp / 16, a: tile, aStride: kp, halfOffsets: dense,
                                                   packedWeights: packed, blockBytes: bb, outputZeroPoint: 3, negativeSlope: 0.2,
                                                   c: &viaTilePaired, cStride: n, channels: n)
                            XCTAssertEqual(Array(viaPaired[0..<(rows * n)]), Array(viaTile[0..<(rows * n)]), "paired window c=\(c) p=\(p)")
                            XCTAssertEqual(Array(viaTilePaired[0..<(rows * n)]), Array(viaTile[0..<(rows * n)]), "paired tile c=\(c) p=\(p)")
                        }
                    }
                }
            }
            XCTAssertGreaterThan(inside, 0, "no interior pixel in \(h)x\(w) stride \(s)")
        }
        // C not a multiple of 8: no window path.
        for c in [1, 2, 3, 12] {
            let g = ConvGeometry(inputHeight: 8, inputWidth: 8, inputChannels: c, kernelHeight: 3, kernelWidth: 3, strideY: 1, strideX: 1,
                                 padTop: 1, padLeft: 1, outputHeight: 8, outputWidth: 8, outputChannels: 8)
            XCTAssertEqual(qs8ConvWindowChunks(g), 0)
        }
    }
}
