#if canImport(Glibc)
import Glibc
#endif
import GRDImaging
import GRDCapture
import GRDRejectIO
import GRDRuntime

/// The scoring stage as the pipeline sees it. GRDRuntime's InferenceEngine has exactly this
/// shape (input buffer, run(roi:) -> score, heatmap); the protocol lets the pipeline and its tests
/// run with the demo detector, and lets each camera own its own engine.
public protocol AnomalyDetector: AnyObject {
    var inputWidth: Int { get }
    var inputHeight: Int { get }
    var inputChannels: Int { get }
    /// The model-sized UInt8 HWC buffer to fill before run().
    var input: UnsafeMutableBufferPointer<UInt8> { get }
    /// Scores the input; roi is an optional H*W mask at model size (0 = ignore).
    func run(roi: UnsafePointer<UInt8>?) throws -> Float
    /// H*W anomaly map in [0, 1], valid after run().
    var heatmap: UnsafeBufferPointer<Float> { get }
    /// What scores the parts, shown in status and at start ("no model: demo detector", a model name).
    var detectorDescription: String { get }
}

/// Turns a camera frame into the detector's input. GRDImaging's FramePreprocessor has this shape.
public protocol FramePreparing: AnyObject {
    func prepare(_ bytes: UnsafeRawBufferPointer, format: PixelFormat, width: Int, height: Int,
                 into dst: UnsafeMutableBufferPointer<UInt8>) throws
    /// The ROI for the frame just prepared: `base` less any padding the preparer added
    /// (FramePreprocessor's letterbox); `base` itself by default.
    func inspectionROI(_ base: [UInt8]?) -> [UInt8]?
}

extension FramePreparing {
    public func inspectionROI(_ base: [UInt8]?) -> [UInt8]? { base }
}

/// Schedules reject pulses at capture time + delay. GRDRejectIO's RejectScheduler has this shape.
public protocol RejectSink: AnyObject {
    func schedule(captureTimestampNanoseconds: UInt64, partID: UInt64)
    func start()
    /// Stops after firing every queued pulse: parts already judged still get their reject.
    func stopDraining()
    var counters: RejectCounters { get }
    /// How the pulse thread is scheduled ("SCHED_FIFO priority 50", "normal scheduling", or why
    /// the wanted priority was refused); meaningful after start().
    var realtimeStatus: String { get }
}

extension RejectSink {
    public var realtimeStatus: String { "normal scheduling" }
}

extension RejectScheduler: RejectSink {
    public func stopDraining() { stop(drain: true) }
}

extension FramePreprocessor: FramePreparing {}

extension InferenceEngine: AnomalyDetector {
    public var inputWidth: Int { model.inputWidth }
    public var inputHeight: Int { model.inputHeight }
    public var inputChannels: Int { model.inputChannels }
    public var detectorDescription: String {
        "\(model.path) (\(model.inputWidth)x\(model.inputHeight)x\(model.inputChannels), \(precision.rawValue), \(threads) thread\(threads == 1 ? "" : "s"))"
    }
}

// MARK: - The demo detector

/// The built-in stand-in used when the config says `model: demo`: a difference of box means
/// (5x5 against 25x25) that lights up small spots which differ from their surroundings, i.e.
/// blob-like defects. It is a plain image statistic, not a trained network, and everything that
/// shows the detector says "no model: demo detector". Buffers are allocated once; run() does not
/// allocate.
public final class DemoDetector: AnomalyDetector {
    public let inputWidth: Int
    public let inputHeight: Int
    public let inputChannels = 1
    public let input: UnsafeMutableBufferPointer<UInt8>
    private let map: UnsafeMutableBufferPointer<Float>
    private let integral: UnsafeMutableBufferPointer<UInt32>
    public var heatmap: UnsafeBufferPointer<Float> { UnsafeBufferPointer(map) }
    public var detectorDescription: String { "no model: demo detector" }
    /// Grey-level difference that maps to a heat of 1.
    let fullScale: Float = 64
    let inner = 2, outer = 12
    /// Border pixels left out (box means are one-sided there).
    let margin = 8

    public init(width: Int = 256, height: Int = 256) {
        inputWidth = width; inputHeight = height
        input = .allocate(capacity: width * height)
        input.initialize(repeating: 0)
        map = .allocate(capacity: width * height)
        map.initialize(repeating: 0)
        integral = .allocate(capacity: (width + 1) * (height + 1))
        integral.initialize(repeating: 0)
    }

    deinit {
        input.deallocate(); map.deallocate(); integral.deallocate()
    }

    @inline(__always)
    private func boxMean(_ x: Int, _ y: Int, _ r: Int) -> Float {
        let w = inputWidth, h = inputHeight, iw = w + 1
        let x0 = max(0, x - r), x1 = min(w, x + r + 1), y0 = max(0, y - r), y1 = min(h, y + r + 1)
        let s = integral[y1 * iw + x1] &+ integral[y0 * iw + x0] &- integral[y0 * iw + x1] &- integral[y1 * iw + x0]
        return Float(s) / Float((y1 - y0) * (x1 - x0))
    }

    public func run(roi: UnsafePointer<UInt8>?) throws -> Float {
        let w = inputWidth, h = inputHeight, iw = w + 1
        for x in 0...w { integral[x] = 0 }
        for y in 0..<h {
            var rowSum: UInt32 = 0
            integral[(y + 1) * iw] = 0
            for x in 0..<w {
                rowSum &+= UInt32(input[y * w + x])
                integral[(y + 1) * iw + x + 1] = integral[y * iw + x + 1] &+ rowSum
            }
        }
        var score: Float = 0
        for y in 0..<h {
            for x in 0..<w {
                let border = x < margin || y < margin || x >= w - margin || y >= h - margin
                let inside = !border && (roi.map { $0[y * w + x] != 0 } ?? true)
                var heat: Float = 0
                if inside {
                    heat = min(1, abs(boxMean(x, y, inner) - boxMean(x, y, outer)) / fullScale)
                }
                map[y * w + x] = heat
                if heat > score { score = heat }
            }
        }
        return score
    }
}

