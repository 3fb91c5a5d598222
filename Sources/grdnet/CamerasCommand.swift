import ArgumentParser
import Foundation
import GRDAgent
import GRDCapture
import GRDImaging

/// `grdnet cameras`: what cameras are attached and what they can do, like `v4l2-ctl --all`, but
/// in words a line engineer can act on.
struct CamerasCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cameras",
        abstract: "List cameras with their formats, sizes, frame rates and settings; optionally change settings.")

    @Option(help: "Only this camera (/dev/video0, a /dev/v4l/by-id/... path or a by-id name).")
    var device: String?

    @Option(name: .customLong("set"), help: "Change a setting as NAME=VALUE and read it back (needs --device); repeatable.")
    var assignments: [String] = []

    func run() throws {
        if !assignments.isEmpty && device == nil {
            throw ValidationError("--set needs --device: say which camera to change")
        }
        let paths = device.map { [resolveVideoDevicePath($0)] } ?? videoDeviceNodes()
        if paths.isEmpty {
            print("No cameras found: there is no /dev/video* device. Check the cable and `dmesg`; inside a container the devices must be passed in.")
            throw ExitCode(1)
        }
        let stableNames = stableDeviceNames()
        var failures = 0
        for path in paths {
            do {
                try show(path: path, stableNames: stableNames[realDevicePath(path)] ?? [])
            } catch {
                failures += 1
                let text = "\(error)"
                print(text.hasPrefix(path) ? text : "\(path): \(text)")
            }
            print("")
        }
        if failures > 0 { throw ExitCode(1) }
    }

    func show(path: String, stableNames: [String]) throws {
        var settings = CameraSettings(device: path)
        settings.otherControls = try parseControlAssignments(assignments, option: "--set")
        let dev = V4L2Device(settings: settings)
        defer { dev.close() }
        let caps = try dev.capabilities()
        print("\(path)  \"\(caps.card)\"  (driver \(caps.driver), connected at \(caps.busInfo))")
        for name in stableNames { print("  stable name: \(name)  (use this in the config: it survives re-plugging)") }
        if stableNames.isEmpty && path.hasPrefix("/dev/video") { print("  stable name: none (not a USB camera, or udev has not named it)") }
        guard caps.canCapture else {
            print("  not a picture source (a metadata or output node of a camera); skip it")
            return
        }
        if !caps.canStream { print("  WARNING: this device cannot stream (no mmap streaming I/O); grdnet cannot use it") }

        print("  Picture formats it can send:")
        let formats = try dev.formats()
        for f in formats where f.pixelFormat != nil {
            print("    \(fourCCString(f.fourcc))  \(f.description)  (\(f.compressed ? "compressed" : "uncompressed"); usable)")
            switch f.sizes {
            case .discrete(let sizes):
                for s in sizes {
                    let rates = s.rates.isEmpty ? "rate not listed" : s.rates.map { fixed($0, $0 == $0.rounded() ? 0 : 2) }.joined(separator: ", ") + " frames/s"
                    print("      \(s.width)x\(s.height)  at \(rates)")
                }
            case let .stepwise(minW, maxW, stepW, minH, maxH, stepH):
                print("      any size from \(minW)x\(minH) to \(maxW)x\(maxH) (width in steps of \(stepW), height in steps of \(stepH))")
            }
        }
        let others = formats.filter { $0.pixelFormat == nil }.map { fourCCString($0.fourcc).trimmingCharacters(in: .whitespaces) }
        if !others.isEmpty { print("    also offers \(others.joined(separator: ", ")) (not usable by grdnet: it decodes MJPG, YUYV and GREY)") }
        if formats.allSatisfy({ $0.pixelFormat == nil }) { print("    WARNING: none of these formats is usable by grdnet") }
        if let cur = try? dev.currentFormat() {
            let rate = dev.currentFrameRate().map { " at \(fixed($0, 2)) frames/s" } ?? ""
            print("  Set now: \(fourCCString(cur.fourcc)) \(cur.width)x\(cur.height)\(rate)")
        }

        if !assignments.isEmpty {
            let report = try dev.applyControls()
            for problem in dev.controlProblems { print("  note: \(problem)") }
            print("  Changed settings (read back from the camera):")
            for r in report {
                if let e = r.error {
                    print("    \(r.name): could not set \(r.sent): \(e)")
                } else {
                    print("    \(r.name): set \(r.sent), camera reports \(r.readBack.map(String.init) ?? "?")\(r.matches ? "" : "  <- DIFFERENT")")
                }
            }
        }

        print("  Settings (change with --set NAME=VALUE, or in the config):")
        for c in try dev.controls() {
            let value: String
            if c.kind == .button {
                value = "(action button)"
            } else if case .other = c.kind {
                value = "(not a number; not shown)"
            } else if let v = try? dev.getControl(c.id, name: c.key) {
                if c.kind == .menu, let label = c.menu.first(where: { $0.0 == v })?.1 {
                    value = "\(v) (\(label))"
                } else if c.kind == .boolean {
                    value = v != 0 ? "1 (on)" : "0 (off)"
                } else {
                    value = String(v)
                }
            } else {
                value = "(unreadable)"
            }
            var line = "    \(c.key) = \(value)"
            switch c.kind {
            case .integer: line += "   range \(c.minimum)...\(c.maximum)\(c.step > 1 ? " in steps of \(c.step)" : ""), default \(c.defaultValue)"
            case .boolean: line += "   on/off, default \(c.defaultValue != 0 ? "on" : "off")"
            case .menu: line += "   choices: " + c.menu.map { "\($0.0) \($0.1)" }.joined(separator: ", ") + "; default \(c.defaultValue)"
            case .button, .other: break
            }
            if c.readOnly { line += "   [read-only]" }
            if c.inactive { line += "   [inactive: an automatic mode is on; switch it off to use this]" }
            print(line)
        }
    }
}

/// /dev/video* nodes in numeric order.
func videoDeviceNodes() -> [String] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: "/dev")) ?? []
    return names.filter { $0.hasPrefix("video") && Int($0.dropFirst(5)) != nil }
        .sorted { Int($0.dropFirst(5))! < Int($1.dropFirst(5))! }
        .map { "/dev/" + $0 }
}

/// Stable names (/dev/v4l/by-id, by-path) per real device node.
func stableDeviceNames() -> [String: [String]] {
    var out: [String: [String]] = [:]
    for dir in ["/dev/v4l/by-id", "/dev/v4l/by-path"] {
        for name in ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted() {
            let link = dir + "/" + name
            out[realDevicePath(link), default: []].append(link)
        }
    }
    return out
}
