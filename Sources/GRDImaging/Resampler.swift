/// How the preprocessor shrinks or enlarges a frame to the model's geometry.
public enum ResizeFilter: String, Sendable, CaseIterable {
    /// Box filter with fractional pixel coverage when shrinking (each output pixel is the mean
    /// of the source area it covers: no aliasing of fine texture such as scratches), bilinear
    /// when enlarging. The default.
    case area
    /// Two-tap linear interpolation on each axis, also when shrinking (cheaper, but aliases).
    case bilinear
}

/// The taps of one axis of a separable resampling filter: for every output index the first
/// source index and `taps` fixed-point weights (Q12, summing to exactly 4096).
///
/// Hand-written instead of a library (no vImage/OpenCV on the box): built once per geometry, then
/// the per-frame work is integer multiply-adds over preallocated buffers.
struct AxisFilter {
    static let weightBits = 12
    static let one: Int32 = 1 << 12

    var outputs = 0
    var taps = 0
    var first: [Int32] = []
    var weights: [Int32] = []
    /// Range of source indices any tap touches (for sizing the intermediate buffer).
    var lowestSource = 0
    var highestSource = 0  // exclusive

    /// - Parameters:
    ///   - start, length: the source interval (in source pixel units; fractional after DCT
    ///     scaling) that maps onto `outputs` output pixels.
    ///   - limit: valid source indices are `limit.lowerBound ..< limit.upperBound`.
    mutating func build(start: Double, length: Double, limit: Range<Int>, outputs: Int, filter: ResizeFilter) {
        precondition(outputs > 0 && !limit.isEmpty && length > 0)
        self.outputs = outputs
        let scale = length / Double(outputs)
        let lo = limit.lowerBound, hi = limit.upperBound
        let shrinking = filter == .area && scale > 1.0
        var tapCount = 2
        if shrinking {
            // The widest footprint actually met (an exact 5:1 shrink needs 5 taps, not 6).
            tapCount = 1
            for j in 0..<outputs {
                let a = start + Double(j) * scale, b = a + scale
                let i0 = max(Int(a.rounded(.down)), lo), i1 = min(Int(b.rounded(.up)), hi)
                tapCount = max(tapCount, i1 - i0)
            }
        }
        tapCount = min(tapCount, hi - lo)
        taps = tapCount
        first = [Int32](repeating: 0, count: outputs)
        weights = [Int32](repeating: 0, count: outputs * tapCount)
        var real = [Double](repeating: 0, count: tapCount)
        lowestSource = hi
        highestSource = lo
        for j in 0..<outputs {
            for k in 0..<tapCount { real[k] = 0 }
            var base: Int
            if shrinking {
                let a = start + Double(j) * scale, b = a + scale
                var i0 = Int(a.rounded(.down)), i1 = Int(b.rounded(.up))
                i0 = max(i0, lo); i1 = min(i1, hi)
                if i1 <= i0 { i1 = min(i0 + 1, hi); i0 = i1 - 1 }
                base = min(i0, hi - tapCount)
                for i in i0..<i1 {
                    let w = min(b, Double(i + 1)) - max(a, Double(i))
                    if w > 0 && i - base < tapCount { real[i - base] += w }
                }
            } else {
                let x = start + (Double(j) + 0.5) * scale - 0.5
                let i0 = Int(x.rounded(.down))
                let f = x - Double(i0)
                if tapCount == 1 {
                    base = min(max(i0, lo), hi - 1)
                    real[0] = 1
                } else if i0 < lo {
                    base = lo; real[0] = 1
                } else if i0 + 1 > hi - 1 {
                    base = hi - 2; real[1] = 1
                } else {
                    base = i0; real[0] = 1 - f; real[1] = f
                }
            }
            // Quantise to Q12 so that the weights sum to exactly 4096 (flat areas stay flat).
            var total = 0.0
            for k in 0..<tapCount { total += real[k] }
            if total <= 0 { real[0] = 1; total = 1 }
            // Rounding the running sum (not each weight) keeps every weight >= 0 and the total
            // exactly 4096 even for large shrink factors with many small taps.
            var cumulative = 0.0
            var previous: Int32 = 0
            for k in 0..<tapCount {
                cumulative += real[k]
                let edge = k == tapCount - 1 ? AxisFilter.one : Int32((cumulative / total * Double(AxisFilter.one)).rounded())
                weights[j * tapCount + k] = edge - previous
                previous = edge
            }
            first[j] = Int32(base)
            lowestSource = min(lowestSource, base)
            highestSource = max(highestSource, base + tapCount)
        }
    }
}

/// Resamples 8-bit pixels of one channel (any pixel stride, so it reads Y, U or V straight out of
/// YUYV) or three interleaved channels (RGB) from a source rectangle to an output grid.
/// Not thread-safe; owns its intermediate buffers, sized at `configure` time, so `run` never
/// allocates.
///
/// Two passes: horizontal taps per source row into a Q8 UInt16 buffer, then the vertical taps as
/// whole-row multiply-adds over contiguous memory (tap-outer, pixel-inner: the compiler
/// vectorises it).
struct PlaneResampler {
    var x = AxisFilter()
    var y = AxisFilter()
    private(set) var channels = 1
    private(set) var scratch: [UInt16] = []
    private var accumulator: [Int32] = []

    mutating func configure(sourceX: Double, sourceY: Double, sourceWidth: Double, sourceHeight: Double,
                            limitX: Range<Int>, limitY: Range<Int>,
                            outputWidth: Int, outputHeight: Int, filter: ResizeFilter, channels: Int = 1) {
        precondition(channels == 1 || channels == 3)
        self.channels = channels
        x.build(start: sourceX, length: sourceWidth, limit: limitX, outputs: outputWidth, filter: filter)
        y.build(start: sourceY, length: sourceHeight, limit: limitY, outputs: outputHeight, filter: filter)
        let rows = y.highestSource - y.lowestSource
        let lanes = outputWidth * channels
        if scratch.count < rows * lanes { scratch = [UInt16](repeating: 0, count: rows * lanes) }
        if accumulator.count < lanes { accumulator = [Int32](repeating: 0, count: lanes) }
    }

    /// - Parameters:
    ///   - source: pointer to pixel (0, 0), first channel.
    ///   - pixelStride, rowStride: in bytes.
    ///   - destination: output pixel (0, 0). With one channel, `destinationPixelStride` may
    ///     exceed 1 (writing one channel of an interleaved image); with three it must be 3.
    ///   - destinationRowPixels: pixels from one output row to the next (0 = packed rows; larger
    ///     when the output is a rectangle inside a bigger image, as a letterboxed frame is).
    mutating func run(source: UnsafePointer<UInt8>, pixelStride: Int, rowStride: Int,
                      destination: UnsafeMutablePointer<UInt8>, destinationPixelStride: Int,
                      destinationRowPixels: Int = 0) {
        let ch = channels
        precondition(ch == 1 || destinationPixelStride == ch)
        let outW = x.outputs, outH = y.outputs
        let lanes = outW * ch
        let rowPixels = destinationRowPixels > 0 ? destinationRowPixels : outW
        precondition(rowPixels >= outW)
        let rowLo = y.lowestSource, rowHi = y.highestSource
        let xt = x.taps, yt = y.taps
        let accumulatorBase = accumulator.withUnsafeMutableBufferPointer { $0.baseAddress! }
        scratch.withUnsafeMutableBufferPointer { scratchBuffer in
            let tmp = scratchBuffer.baseAddress!
            x.first.withUnsafeBufferPointer { xFirst in
            x.weights.withUnsafeBufferPointer { xw in
                // Horizontal pass: Q12 weights, stored as value * 256 in UInt16 (max 65280).
                for r in rowLo..<rowHi {
                    let row = source + r * rowStride
                    let out = tmp + (r - rowLo) * lanes
                    if ch == 1 {
                        for j in 0..<outW {
                            var p = row + Int(xFirst[j]) * pixelStride
                            var acc: Int32 = 0
                            var k = j * xt
                            let end = k + xt
                            while k < end {
                                acc &+= xw[k] &* Int32(p.pointee)
                                p += pixelStride
                                k += 1
                            }
                            out[j] = UInt16(truncatingIfNeeded: (acc &+ 8) >> 4)
                        }
                    } else {
                        for j in 0..<outW {
                            var p = row + Int(xFirst[j]) * pixelStride
                            var a0: Int32 = 0, a1: Int32 = 0, a2: Int32 = 0
                            var k = j * xt
                            let end = k + xt
                            while k < end {
                                let w = xw[k]
                                a0 &+= w &* Int32(p[0])
                                a1 &+= w &* Int32(p[1])
                                a2 &+= w &* Int32(p[2])
                                p += pixelStride
                                k += 1
                            }
                            out[3 * j] = UInt16(truncatingIfNeeded: (a0 &+ 8) >> 4)
                            out[3 * j + 1] = UInt16(truncatingIfNeeded: (a1 &+ 8) >> 4)
                            out[3 * j + 2] = UInt16(truncatingIfNeeded: (a2 &+ 8) >> 4)
                        }
                    }
                }
            }
            }
            y.first.withUnsafeBufferPointer { yFirst in
            y.weights.withUnsafeBufferPointer { yw in
                let acc = accumulatorBase
                let dps = ch == 1 ? destinationPixelStride : 1
                for i in 0..<outH {
                    let base = tmp + (Int(yFirst[i]) - rowLo) * lanes
                    let out = destination + i * rowPixels * destinationPixelStride
                    let w0 = yw[i * yt]
                    for l in 0..<lanes { acc[l] = w0 &* Int32(base[l]) }
                    var k = 1
                    while k < yt {
                        let w = yw[i * yt + k]
                        let src = base + k * lanes
                        if w != 0 { for l in 0..<lanes { acc[l] &+= w &* Int32(src[l]) } }
                        k += 1
                    }
                    for l in 0..<lanes {
                        let v = (acc[l] &+ (1 << 19)) >> 20
                        out[l * dps] = UInt8(truncatingIfNeeded: v > 255 ? 255 : v)
                    }
                }
            }
            }
        }
    }
}
