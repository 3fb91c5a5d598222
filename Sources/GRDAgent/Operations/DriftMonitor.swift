/// Notices when the process drifts away from what the detector was commissioned on: a dimming
/// lamp (brightness), a camera knocked out of focus (focus), or parts that look slowly different
/// (anomaly scores creeping up). Only *passed* parts are fed in, so real defects do not count as
/// drift.
///
/// Each signal keeps a rolling window (preallocated ring, no allocation per part). Once the window
/// is full, its mean is compared with the commissioning baseline in units of the baseline's
/// standard deviation: |mean_window - mean_baseline| / sd_baseline. Above `warningShift` the state
/// is `.warning`, above `alarmShift` `.alarm`.
public struct DriftMonitor: Sendable {
    public enum State: String, Sendable, Comparable {
        case learning, ok, warning, alarm

        var rank: Int {
            switch self {
            case .learning: return 0
            case .ok: return 1
            case .warning: return 2
            case .alarm: return 3
            }
        }

        public static func < (a: State, b: State) -> Bool { a.rank < b.rank }
    }

    /// Mean and standard deviation of one signal over the commissioning parts.
    public struct Baseline: Sendable, Equatable, Codable {
        public var mean: Double
        public var standardDeviation: Double

        public init(mean: Double, standardDeviation: Double) {
            self.mean = mean
            self.standardDeviation = standardDeviation
        }

        public init(samples: [Double]) {
            let n = Double(max(samples.count, 1))
            let m = samples.reduce(0, +) / n
            let v = samples.reduce(0) { $0 + ($1 - m) * ($1 - m) } / max(n - 1, 1)
            self.init(mean: m, standardDeviation: v.squareRoot())
        }
    }

    public enum Signal: String, CaseIterable, Sendable {
        case score, brightness, focus
    }

    public struct SignalReport: Sendable {
        public var signal: Signal
        public var baseline: Baseline
        public var windowMean: Double
        /// Shift of the window mean in baseline standard deviations (signed).
        public var shift: Double
        public var state: State
    }

    public let windowSize: Int
    public var warningShift: Double
    public var alarmShift: Double
    public private(set) var baselines: [Baseline]
    private var rings: [[Double]]
    private var sums: [Double]
    private var filled = 0
    private var next = 0

    /// - Parameters:
    ///   - baselines: score, brightness, focus baselines (in `Signal.allCases` order).
    public init(score: Baseline, brightness: Baseline, focus: Baseline, windowSize: Int = 200,
                warningShift: Double = 1.5, alarmShift: Double = 3.0) {
        precondition(windowSize > 0, "drift window must hold at least one part")
        self.windowSize = windowSize
        self.warningShift = warningShift
        self.alarmShift = alarmShift
        self.baselines = [score, brightness, focus]
        // Three distinct buffers: Array(repeating: ring, count: 3) would share one, and the first
        // record() would copy two of them (allocating on the inspection thread).
        self.rings = (0..<3).map { _ in [Double](repeating: 0, count: windowSize) }
        self.sums = [0, 0, 0]
        // An optimised build may emit a constant array literal such as [0, 0, 0] as a static,
        // immortal buffer that is never uniquely referenced: the first write on the inspection
        // thread (rebase after learning) would copy it. Take private copies now, at set-up.
        sums.withUnsafeMutableBufferPointer { _ in }
        baselines.withUnsafeMutableBufferPointer { _ in }
        for i in 0..<3 { rings[i].withUnsafeMutableBufferPointer { _ in } }
    }

    /// Replaces the baselines (commissioning learned or configured later) and empties the
    /// window. In place: no allocation.
    public mutating func rebase(score: Baseline, brightness: Baseline, focus: Baseline) {
        baselines[0] = score; baselines[1] = brightness; baselines[2] = focus
        sums[0] = 0; sums[1] = 0; sums[2] = 0
        filled = 0
        next = 0
    }

    /// Records one passed part.
    public mutating func record(score: Double, brightness: Double, focus: Double) {
        let values = (score, brightness, focus)
        if filled == windowSize {
            sums[0] -= rings[0][next]; sums[1] -= rings[1][next]; sums[2] -= rings[2][next]
        } else {
            filled += 1
        }
        rings[0][next] = values.0; rings[1][next] = values.1; rings[2][next] = values.2
        sums[0] += values.0; sums[1] += values.1; sums[2] += values.2
        next = (next + 1) % windowSize
    }

    public var partsInWindow: Int { filled }

    public func report() -> [SignalReport] {
        Signal.allCases.enumerated().map { i, signal in
            let b = baselines[i]
            guard filled > 0 else {
                return SignalReport(signal: signal, baseline: b, windowMean: .nan, shift: 0, state: .learning)
            }
            // Recompute the sum now and then would guard against float creep; windows are small.
            let mean = sums[i] / Double(filled)
            let sd = max(b.standardDeviation, abs(b.mean) * 1e-3, 1e-9)
            let shift = (mean - b.mean) / sd
            let state: State
            if filled < windowSize { state = .learning }
            else if abs(shift) >= alarmShift { state = .alarm }
            else if abs(shift) >= warningShift { state = .warning }
            else { state = .ok }
            return SignalReport(signal: signal, baseline: b, windowMean: mean, shift: shift, state: state)
        }
    }

    /// The worst state over all signals.
    public var state: State { report().map(\.state).max() ?? .learning }
}
