#if canImport(Glibc)
import Glibc
#endif
import CGPIOD

public enum GPIOBias: String, CaseIterable, Sendable {
    case asIs = "as-is", disabled, pullUp = "pull-up", pullDown = "pull-down"
    var code: Int32 {
        switch self {
        case .asIs: return Int32(GRD_GPIO_BIAS_AS_IS)
        case .disabled: return Int32(GRD_GPIO_BIAS_DISABLED)
        case .pullUp: return Int32(GRD_GPIO_BIAS_PULL_UP)
        case .pullDown: return Int32(GRD_GPIO_BIAS_PULL_DOWN)
        }
    }
    init(code: Int32) {
        switch code {
        case Int32(GRD_GPIO_BIAS_DISABLED): self = .disabled
        case Int32(GRD_GPIO_BIAS_PULL_UP): self = .pullUp
        case Int32(GRD_GPIO_BIAS_PULL_DOWN): self = .pullDown
        default: self = .asIs
        }
    }
}

public enum GPIODrive: String, CaseIterable, Sendable {
    case pushPull = "push-pull", openDrain = "open-drain", openSource = "open-source"
    var code: Int32 {
        switch self {
        case .pushPull: return Int32(GRD_GPIO_DRIVE_PUSH_PULL)
        case .openDrain: return Int32(GRD_GPIO_DRIVE_OPEN_DRAIN)
        case .openSource: return Int32(GRD_GPIO_DRIVE_OPEN_SOURCE)
        }
    }
    init(code: Int32) {
        switch code {
        case Int32(GRD_GPIO_DRIVE_OPEN_DRAIN): self = .openDrain
        case Int32(GRD_GPIO_DRIVE_OPEN_SOURCE): self = .openSource
        default: self = .pushPull
        }
    }
}

/// Where a line is and how it is wired, as the integrator writes it in the config:
/// chip by path ("/dev/gpiochip0"), name ("gpiochip0") or label ("pinctrl-bcm2711",
/// "gpio-sim.0-node0"); line by offset ("17") or name ("GPIO17", "reject").
public struct GPIOLineConfig: Equatable, Sendable {
    public var chip: String
    public var line: String
    public var activeLow: Bool
    public var bias: GPIOBias
    public var drive: GPIODrive
    public var consumer: String

    public init(chip: String, line: String, activeLow: Bool = false, bias: GPIOBias = .asIs,
                drive: GPIODrive = .pushPull, consumer: String = "grdnetd") {
        self.chip = chip; self.line = line; self.activeLow = activeLow
        self.bias = bias; self.drive = drive; self.consumer = consumer
    }
}

public struct GPIOChipInfo: Equatable, Sendable {
    public var path: String
    public var name: String
    public var label: String
    public var lineCount: Int
}

public struct GPIOLineInfo: Equatable, Sendable {
    public var offset: UInt32
    public var name: String
    public var consumer: String
    public var used: Bool
    public var isOutput: Bool
    public var activeLow: Bool
    public var bias: GPIOBias
    public var drive: GPIODrive
}

/// Finding chips and lines the way gpioinfo/gpiofind do, with errors that list what exists.
public enum GPIOChips {
    /// The directory scanned for gpiochip character devices (tests point it elsewhere).
    nonisolated(unsafe) public static var deviceDirectory = "/dev"

    /// Paths of every /dev/gpiochipN, in N order.
    public static func chipPaths() -> [String] {
        guard let dir = opendir(deviceDirectory) else { return [] }
        defer { closedir(dir) }
        var numbered: [(Int, String)] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            guard name.hasPrefix("gpiochip"), let n = Int(name.dropFirst("gpiochip".count)) else { continue }
            numbered.append((n, deviceDirectory + "/" + name))
        }
        return numbered.sorted { $0.0 < $1.0 }.map { $0.1 }
    }

    /// Every chip that opens (a chip that cannot be opened is skipped; `describe` says why).
    public static func chips() -> [GPIOChipInfo] {
        chipPaths().compactMap { try? describe(chipPath: $0) }
    }

    public static func describe(chipPath: String) throws -> GPIOChipInfo {
        guard let chip = grd_gpio_chip_open(chipPath) else {
            throw GPIOError(chip: chipPath, line: nil, operation: "open chip", errno: errno)
        }
        defer { grd_gpio_chip_close(chip) }
        var desc = grd_gpio_chip_desc()
        if grd_gpio_chip_describe(chip, &desc) < 0 {
            throw GPIOError(chip: chipPath, line: nil, operation: "read chip info", errno: errno)
        }
        return GPIOChipInfo(path: chipPath, name: cString(desc.name), label: cString(desc.label),
                            lineCount: Int(desc.num_lines))
    }

    public static func lines(chipPath: String) throws -> [GPIOLineInfo] {
        guard let chip = grd_gpio_chip_open(chipPath) else {
            throw GPIOError(chip: chipPath, line: nil, operation: "open chip", errno: errno)
        }
        defer { grd_gpio_chip_close(chip) }
        var desc = grd_gpio_chip_desc()
        if grd_gpio_chip_describe(chip, &desc) < 0 {
            throw GPIOError(chip: chipPath, line: nil, operation: "read chip info", errno: errno)
        }
        var out: [GPIOLineInfo] = []
        for offset in 0..<desc.num_lines {
            var l = grd_gpio_line_desc()
            if grd_gpio_line_describe(chip, offset, &l) < 0 {
                throw GPIOError(chip: chipPath, line: offset, operation: "read line info", errno: errno)
            }
            out.append(GPIOLineInfo(offset: offset, name: cString(l.name), consumer: cString(l.consumer),
                                    used: l.used != 0, isOutput: l.output != 0, activeLow: l.active_low != 0,
                                    bias: GPIOBias(code: l.bias), drive: GPIODrive(code: l.drive)))
        }
        return out
    }

    /// The device path of a chip given by path, name or label.
    public static func resolveChip(_ spec: String) throws -> String {
        if spec.hasPrefix("/") { return spec }
        let byName = deviceDirectory + "/" + spec
        if spec.hasPrefix("gpiochip"), access(byName, F_OK) == 0 { return byName }
        let all = chips()
        if let c = all.first(where: { $0.label == spec || $0.name == spec }) { return c.path }
        let known = all.isEmpty ? "no GPIO chips found in \(deviceDirectory)"
            : "chips: " + all.map { "\($0.name) [\($0.label)]" }.joined(separator: ", ")
        throw GPIOLookupError(message: "GPIO chip \"\(spec)\" not found (by path, name or label); \(known)")
    }

    /// The offset of a line given by offset or by name on the chip at `chipPath`.
    public static func resolveLine(_ spec: String, chipPath: String) throws -> UInt32 {
        if let n = UInt32(spec) { return n }
        guard let chip = grd_gpio_chip_open(chipPath) else {
            throw GPIOError(chip: chipPath, line: nil, operation: "open chip", errno: errno)
        }
        defer { grd_gpio_chip_close(chip) }
        errno = 0
        let offset = grd_gpio_find_line(chip, spec)
        if offset < 0 {
            throw GPIOLookupError(message: "GPIO \(chipPath): no line named \"\(spec)\" (give the offset or a name gpioinfo shows)")
        }
        return UInt32(offset)
    }

    static func cString<T>(_ tuple: T) -> String {
        withUnsafeBytes(of: tuple) { raw in
            let bytes = raw.bindMemory(to: UInt8.self)
            let end = bytes.firstIndex(of: 0) ?? bytes.count
            return String(decoding: bytes[0..<end], as: UTF8.self)
        }
    }
}

public struct GPIOLookupError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
