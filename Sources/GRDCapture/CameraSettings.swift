import CV4L2

/// What the inspection wants from a camera: which device, format, size, rate and the manual
/// image controls. Inspection needs fixed exposure, gain and white balance: a camera that
/// re-adjusts itself between parts changes the image the model was calibrated on.
public struct CameraSettings: Equatable, Sendable {
    /// A device path (/dev/video0), a stable path (/dev/v4l/by-id/usb-...-video-index0 or
    /// /dev/v4l/by-path/...), or a bare by-id name.
    public var device: String
    /// Preferred pixel formats, best first. MJPEG first: a USB 2 bus fits one YUYV camera.
    public var formats: [PixelFormat] = [.mjpeg, .yuyv, .grey]
    public var width: Int = 1280
    public var height: Int = 720
    /// 0 = leave the driver's default.
    public var framesPerSecond: Double = 0
    /// Driver buffers for mmap streaming (more tolerate scheduling hiccups, fewer add less latency).
    public var bufferCount: Int = 4

    /// Manual exposure in microseconds (sets auto exposure to manual). nil = leave as is.
    public var exposureMicroseconds: Int?
    /// Manual gain in the driver's units (turns auto gain off).
    public var gain: Int?
    /// Manual white balance in kelvin (turns auto white balance off).
    public var whiteBalanceKelvin: Int?
    /// Manual focus in the driver's units (turns autofocus off).
    public var focus: Int?
    /// Any other control by its name as `grdnet cameras` prints it (brightness, contrast,
    /// power_line_frequency, ...), set after the ones above.
    public var otherControls: [String: Int] = [:]

    /// Restart the stream when no frame arrives for this long.
    public var stallTimeoutMilliseconds: Int = 2000
    /// Back-off between re-open attempts after an unplug grows from the first to the last value.
    public var reopenBackoffMilliseconds: (first: Int, last: Int) = (100, 2000)

    public init(device: String) { self.device = device }

    public static func == (a: CameraSettings, b: CameraSettings) -> Bool {
        a.device == b.device && a.formats == b.formats && a.width == b.width && a.height == b.height
            && a.framesPerSecond == b.framesPerSecond && a.bufferCount == b.bufferCount
            && a.exposureMicroseconds == b.exposureMicroseconds && a.gain == b.gain
            && a.whiteBalanceKelvin == b.whiteBalanceKelvin && a.focus == b.focus
            && a.otherControls == b.otherControls && a.stallTimeoutMilliseconds == b.stallTimeoutMilliseconds
            && a.reopenBackoffMilliseconds == b.reopenBackoffMilliseconds
    }
}

/// The V4L2 control ids the settings map to (re-exported: the C macros do not import).
public enum V4L2ControlID {
    public static let brightness = GRD_CID_BRIGHTNESS
    public static let exposureAuto = GRD_CID_EXPOSURE_AUTO
    public static let exposureAbsolute = GRD_CID_EXPOSURE_ABSOLUTE
    public static let exposureAutoPriority = GRD_CID_EXPOSURE_AUTO_PRIORITY
    public static let exposure = GRD_CID_EXPOSURE
    public static let autogain = GRD_CID_AUTOGAIN
    public static let gain = GRD_CID_GAIN
    public static let autoWhiteBalance = GRD_CID_AUTO_WHITE_BALANCE
    public static let whiteBalanceTemperature = GRD_CID_WHITE_BALANCE_TEMPERATURE
    public static let focusAuto = GRD_CID_FOCUS_AUTO
    public static let focusAbsolute = GRD_CID_FOCUS_ABSOLUTE
}

/// One control as VIDIOC_QUERYCTRL describes it.
public struct ControlInfo: Equatable, Sendable {
    public enum Kind: Equatable, Sendable { case integer, boolean, menu, button, other(UInt32) }

    public var id: UInt32
    public var name: String
    public var kind: Kind
    public var minimum: Int
    public var maximum: Int
    public var step: Int
    public var defaultValue: Int
    public var readOnly: Bool
    public var inactive: Bool
    /// Menu entries (value, label), for menu controls.
    public var menu: [(Int, String)]

    public init(id: UInt32, name: String, kind: Kind, minimum: Int, maximum: Int, step: Int,
                defaultValue: Int, readOnly: Bool = false, inactive: Bool = false, menu: [(Int, String)] = []) {
        self.id = id
        self.name = name
        self.kind = kind
        self.minimum = minimum
        self.maximum = maximum
        self.step = step
        self.defaultValue = defaultValue
        self.readOnly = readOnly
        self.inactive = inactive
        self.menu = menu
    }

    public static func == (a: ControlInfo, b: ControlInfo) -> Bool {
        a.id == b.id && a.name == b.name && a.kind == b.kind && a.minimum == b.minimum && a.maximum == b.maximum
            && a.step == b.step && a.defaultValue == b.defaultValue && a.readOnly == b.readOnly
            && a.inactive == b.inactive && a.menu.map(\.0) == b.menu.map(\.0) && a.menu.map(\.1) == b.menu.map(\.1)
    }

    /// The name used in settings and by `grdnet cameras`: lower case, words joined by "_"
    /// ("White Balance Temperature" -> "white_balance_temperature").
    public var key: String { controlKey(name) }

    /// The nearest value the control accepts (inside min...max, on the step grid).
    public func clamp(_ value: Int) -> Int {
        var v = min(max(value, minimum), maximum)
        if step > 1 { v = minimum + ((v - minimum + step / 2) / step) * step; if v > maximum { v -= step } }
        return v
    }
}

public func controlKey(_ name: String) -> String {
    var out = ""
    var pendingSeparator = false
    for ch in name.lowercased() {
        if ch.isLetter || ch.isNumber {
            if pendingSeparator && !out.isEmpty { out.append("_") }
            pendingSeparator = false
            out.append(ch)
        } else {
            pendingSeparator = true
        }
    }
    return out
}

/// One VIDIOC_S_CTRL to make, in order, with why.
public struct ControlWrite: Equatable, Sendable {
    public var id: UInt32
    public var name: String
    public var requested: Int
    /// The value actually sent (clamped to the control's range and step).
    public var value: Int
    public init(id: UInt32, name: String, requested: Int, value: Int) {
        self.id = id
        self.name = name
        self.requested = requested
        self.value = value
    }
}

/// After a write: what the driver reports back.
public struct ControlReadback: Equatable, Sendable {
    public var name: String
    public var requested: Int
    public var sent: Int
    public var readBack: Int?
    public var error: String?
    public var matches: Bool { error == nil && readBack == sent }
}

/// V4L2_EXPOSURE_MANUAL in the V4L2_CID_EXPOSURE_AUTO menu.
let exposureManual = 1
/// V4L2_EXPOSURE_APERTURE_PRIORITY: the only "auto" most UVC cameras offer.
let exposureAperturePriority = 3

/// Turns settings into the ordered control writes for the controls this camera has: each
/// automatic mode is switched off before its manual value is written (drivers ignore or refuse
/// the manual value while the auto mode is on). Problems (a requested control the camera lacks)
/// are returned as sentences for the log.
public func planControlWrites(_ settings: CameraSettings, available: [ControlInfo]) -> (writes: [ControlWrite], problems: [String]) {
    var writes: [ControlWrite] = []
    var problems: [String] = []
    func find(_ id: UInt32) -> ControlInfo? { available.first { $0.id == id && !$0.readOnly } }
    func add(_ c: ControlInfo, _ requested: Int) {
        writes.append(ControlWrite(id: c.id, name: c.key, requested: requested, value: c.clamp(requested)))
    }
    if let us = settings.exposureMicroseconds {
        if let absolute = find(GRD_CID_EXPOSURE_ABSOLUTE) {
            if let auto = find(GRD_CID_EXPOSURE_AUTO) { add(auto, exposureManual) }
            if let priority = find(GRD_CID_EXPOSURE_AUTO_PRIORITY) { add(priority, 0) }
            // EXPOSURE_ABSOLUTE counts in 100 microsecond units.
            add(absolute, (us + 50) / 100)
        } else if let plain = find(GRD_CID_EXPOSURE) {
            add(plain, us)
        } else {
            problems.append("exposure: this camera has no exposure control; exposure_us \(us) ignored")
        }
    }
    if let g = settings.gain {
        if let gain = find(GRD_CID_GAIN) {
            if let auto = find(GRD_CID_AUTOGAIN) { add(auto, 0) }
            add(gain, g)
        } else {
            problems.append("gain: this camera has no gain control; gain \(g) ignored")
        }
    }
    if let k = settings.whiteBalanceKelvin {
        if let wb = find(GRD_CID_WHITE_BALANCE_TEMPERATURE) {
            if let auto = find(GRD_CID_AUTO_WHITE_BALANCE) { add(auto, 0) }
            add(wb, k)
        } else {
            problems.append("white balance: this camera has no white balance temperature control; \(k) K ignored")
        }
    }
    if let f = settings.focus {
        if let focus = find(GRD_CID_FOCUS_ABSOLUTE) {
            if let auto = find(GRD_CID_FOCUS_AUTO) { add(auto, 0) }
            add(focus, f)
        } else {
            problems.append("focus: this camera has no manual focus control; focus \(f) ignored")
        }
    }
    for (name, value) in settings.otherControls.sorted(by: { $0.key < $1.key }) {
        let key = controlKey(name)
        if let c = available.first(where: { $0.key == key }) {
            if c.readOnly {
                problems.append("\(key): the camera reports this control as read-only; \(value) ignored")
            } else {
                add(c, value)
            }
        } else {
            let known = available.map(\.key).joined(separator: ", ")
            problems.append("\(key): no such control on this camera (it has: \(known))")
        }
    }
    for w in writes where w.value != w.requested {
        problems.append("\(w.name): \(w.requested) is outside what the camera accepts; using \(w.value)")
    }
    return (writes, problems)
}
