#if canImport(Glibc)
import Glibc
#endif
import GRDImaging
import GRDCapture
import GRDRejectIO

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
}

/// Schedules reject pulses at capture time + delay. GRDRejectIO's RejectScheduler has this shape.
public protocol RejectSink: AnyObject {
    func schedule(captureTimestampNanoseconds: UInt64, partID: UInt64)
    func start()
    func stop()
    /// (scheduled, fired, late, dropped) so far.
    var pulseCounts: PulseCounts { get }
}

public struct PulseCounts: Equatable, Sendable, Codable {
    public var scheduled: UInt64 = 0
    public var fired: UInt64 = 0
    /// Pulses whose due time had passed when they were scheduled; fired at once and counted.
    public var late: UInt64 = 0
    /// Pulses refused because the queue was full, or line errors.
    public var failed: UInt64 = 0
    public init() {}
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

// MARK: - A frame preparer until GRDImaging's FramePreprocessor is wired in

public enum PrepareError: Error, CustomStringConvertible {
    case unsupported(PixelFormat)
    case badSize(Int, Int, Int)
    case cropOutside(CropBox, Int, Int)
    public var description: String {
        switch self {
        case .unsupported(let f): return "pixel format \(f) is not supported by this preparer"
        case .badSize(let w, let h, let n): return "frame of \(w)x\(h) does not match its \(n) bytes"
        case .cropOutside(let c, let w, let h): return "crop \(c.width)x\(c.height) at (\(c.x),\(c.y)) is outside the \(w)x\(h) frame"
        }
    }
}

/// Decodes MJPEG (libjpeg DCT scaling), or takes GREY / the Y of YUYV, crops, and area-averages to
/// the detector's size. Grey or RGB output. Scratch images are reused: no allocation per frame
/// once the first frame has set their size.
public final class SimpleFramePreparer: FramePreparing {
    let width: Int, height: Int, channels: Int
    let crop: CropBox?
    private let decoder = JPEGDecoder()
    private var decoded = Image(width: 0, height: 0, channels: 1)

    public init(targetWidth: Int, targetHeight: Int, targetChannels: Int, crop: CropBox?) {
        width = targetWidth; height = targetHeight; channels = targetChannels; self.crop = crop
    }

    public func prepare(_ bytes: UnsafeRawBufferPointer, format: PixelFormat, width fw: Int, height fh: Int,
                        into dst: UnsafeMutableBufferPointer<UInt8>) throws {
        switch format {
        case .mjpeg:
            let scale: Int
            if crop == nil, fw > 0, fh > 0 {
                scale = JPEGDecoder.scaleDenominator(width: fw, height: fh, minWidth: width, minHeight: height)
            } else { scale = 1 }
            try decoder.decode(bytes, into: &decoded, grey: channels == 1, scaleDenominator: scale)
            try decoded.pixels.withUnsafeBufferPointer { px in
                try resample(UnsafeRawBufferPointer(px), srcWidth: decoded.width, srcHeight: decoded.height,
                             srcChannels: decoded.channels, pixelStride: decoded.channels, into: dst)
            }
        case .grey:
            guard bytes.count >= fw * fh else { throw PrepareError.badSize(fw, fh, bytes.count) }
            try resample(bytes, srcWidth: fw, srcHeight: fh, srcChannels: 1, pixelStride: 1, into: dst)
        case .yuyv:
            guard bytes.count >= fw * fh * 2 else { throw PrepareError.badSize(fw, fh, bytes.count) }
            try resample(bytes, srcWidth: fw, srcHeight: fh, srcChannels: 1, pixelStride: 2, into: dst)
        }
    }

    /// Box-averages the (cropped) source onto the target grid.
    private func resample(_ src: UnsafeRawBufferPointer, srcWidth: Int, srcHeight: Int, srcChannels: Int,
                          pixelStride: Int, into dst: UnsafeMutableBufferPointer<UInt8>) throws {
        let c = crop ?? CropBox(x: 0, y: 0, width: srcWidth, height: srcHeight)
        guard c.x >= 0, c.y >= 0, c.x + c.width <= srcWidth, c.y + c.height <= srcHeight else {
            throw PrepareError.cropOutside(c, srcWidth, srcHeight)
        }
        let rowBytes = srcWidth * pixelStride
        for ty in 0..<height {
            let sy0 = c.y + ty * c.height / height
            let sy1 = max(sy0 + 1, c.y + (ty + 1) * c.height / height)
            for tx in 0..<width {
                let sx0 = c.x + tx * c.width / width
                let sx1 = max(sx0 + 1, c.x + (tx + 1) * c.width / width)
                for ch in 0..<channels {
                    let sc = srcChannels == 1 ? 0 : min(ch, srcChannels - 1)
                    var sum = 0
                    for sy in sy0..<sy1 {
                        let row = sy * rowBytes
                        for sx in sx0..<sx1 { sum += Int(src[row + sx * pixelStride + sc]) }
                    }
                    let n = (sy1 - sy0) * (sx1 - sx0)
                    dst[(ty * width + tx) * channels + ch] = UInt8((sum + n / 2) / n)
                }
            }
        }
    }
}

// MARK: - A pulse scheduler until GRDRejectIO's RejectScheduler is wired in

/// Fires one pulse of `width` on `line` at capture + `delay` per scheduled part, on its own
/// thread, from a preallocated ring of due times (schedule() never allocates and never blocks
/// inspection for longer than a mutex hold).
public final class PulseScheduler: RejectSink, @unchecked Sendable {
    let line: OutputLine
    let delay: UInt64
    let width: UInt64
    private let lock = Lock()
    private let cond: UnsafeMutablePointer<pthread_cond_t> = .allocate(capacity: 1)
    private var ring: [UInt64]
    private var head = 0, count = 0
    private var counts = PulseCounts()
    private var running = false
    private var thread: pthread_t? = nil

    public init(line: OutputLine, delayNanoseconds: UInt64, widthNanoseconds: UInt64, capacity: Int = 256) {
        self.line = line; delay = delayNanoseconds; width = widthNanoseconds
        ring = [UInt64](repeating: 0, count: capacity)
        var attr = pthread_condattr_t()
        pthread_condattr_init(&attr)
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)
        pthread_cond_init(cond, &attr)
        pthread_condattr_destroy(&attr)
    }

    public var pulseCounts: PulseCounts { lock.withLock { counts } }

    public func schedule(captureTimestampNanoseconds: UInt64, partID: UInt64) {
        lock.withLock {
            guard count < ring.count else { counts.failed &+= 1; return }
            let due = captureTimestampNanoseconds &+ delay
            // Keep the ring sorted by due time (delays are equal, so this is almost always append).
            var i = count
            while i > 0 && ring[(head + i - 1) % ring.count] > due {
                ring[(head + i) % ring.count] = ring[(head + i - 1) % ring.count]
                i -= 1
            }
            ring[(head + i) % ring.count] = due
            count += 1
            counts.scheduled &+= 1
            pthread_cond_signal(cond)
        }
    }

    public func start() {
        lock.withLock { running = true }
        let box = Unmanaged.passRetained(self)
        var t = pthread_t()
        pthread_create(&t, nil, { arg in
            let me = Unmanaged<PulseScheduler>.fromOpaque(arg!).takeRetainedValue()
            me.loop()
            return nil
        }, box.toOpaque())
        thread = t
    }

    public func stop() {
        lock.withLock { running = false; pthread_cond_signal(cond) }
        if let t = thread { pthread_join(t, nil); thread = nil }
        try? line.set(false)
    }

    private func loop() {
        lock.lock()
        while running || count > 0 {
            if count == 0 {
                if !running { break }
                pthread_cond_wait(cond, lockPointer)
                continue
            }
            let due = ring[head]
            let now = monotonicNow()
            if now + 50_000 < due {
                var ts = timespec(tv_sec: Int(due / 1_000_000_000), tv_nsec: Int(due % 1_000_000_000))
                pthread_cond_timedwait(cond, lockPointer, &ts)
                continue
            }
            head = (head + 1) % ring.count
            count -= 1
            lock.unlock()
            var late = false
            var fireAt = monotonicNow()
            if fireAt < due { sleepUntil(due); fireAt = due }
            else if fireAt > due + 2_000_000 { late = true }
            var ok = (try? line.set(true)) != nil
            sleepUntil(fireAt + width)
            ok = ((try? line.set(false)) != nil) && ok
            lock.lock()
            if ok { counts.fired &+= 1 } else { counts.failed &+= 1 }
            if late { counts.late &+= 1 }
        }
        lock.unlock()
    }

    private var lockPointer: UnsafeMutablePointer<pthread_mutex_t> { lock.rawMutex }
}

func sleepUntil(_ t: UInt64) {
    var ts = timespec(tv_sec: Int(t / 1_000_000_000), tv_nsec: Int(t % 1_000_000_000))
    while clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nil) == EINTR {}
}
