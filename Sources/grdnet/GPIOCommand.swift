import ArgumentParser
import Foundation
import GRDRejectIO

/// `grdnet gpio`: what the integrator needs while wiring the box: which chips and lines exist,
/// who holds them, and a way to drive or watch one line by hand with the daemon's own code.
struct GPIOCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gpio",
        abstract: "List GPIO chips and lines; pulse, hold or watch a line for wiring checks.",
        subcommands: [List.self, Pulse.self, Hold.self, Watch.self, RejectCheck.self],
        defaultSubcommand: List.self)

    /// Chip/line options shared by the subcommands that request a line.
    struct LineOptions: ParsableArguments {
        @Option(help: "Chip: /dev/gpiochipN, gpiochipN or the chip label (e.g. pinctrl-bcm2711).")
        var chip: String
        @Option(help: "Line: offset or line name.")
        var line: String
        @Flag(help: "The line is active when low.")
        var activeLow = false
        @Option(help: "Bias: as-is, disabled, pull-up or pull-down.")
        var bias: String = "as-is"
        @Option(help: "Drive (outputs): push-pull, open-drain or open-source.")
        var drive: String = "push-pull"
        @Option(help: "Consumer label shown by gpioinfo while the line is held.")
        var consumer: String = "grdnet"

        func config() throws -> GPIOLineConfig {
            guard let b = GPIOBias(rawValue: bias) else {
                throw ValidationError("--bias \(bias): use one of \(GPIOBias.allCases.map { $0.rawValue }.joined(separator: ", "))")
            }
            guard let d = GPIODrive(rawValue: drive) else {
                throw ValidationError("--drive \(drive): use one of \(GPIODrive.allCases.map { $0.rawValue }.joined(separator: ", "))")
            }
            return GPIOLineConfig(chip: chip, line: line, activeLow: activeLow, bias: b, drive: d, consumer: consumer)
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list", abstract: "List chips and their lines (like gpioinfo).")

        @Option(help: "Only this chip (path, name or label).")
        var chip: String?

        func run() throws {
            print(GPIODOutputLine.libraryDescription)
            var paths: [String]
            if let c = chip { paths = [try GPIOChips.resolveChip(c)] } else { paths = GPIOChips.chipPaths() }
            if paths.isEmpty {
                print("no GPIO chips found in \(GPIOChips.deviceDirectory) (no /dev/gpiochip* device)")
                throw ExitCode(1)
            }
            var failed = false
            for path in paths {
                do {
                    let info = try GPIOChips.describe(chipPath: path)
                    print("\(info.name) [\(info.label)] \(info.lineCount) lines (\(path))")
                    for l in try GPIOChips.lines(chipPath: path) {
                        let name = l.name.isEmpty ? "unnamed" : "\"\(l.name)\""
                        let consumer = l.used ? (l.consumer.isEmpty ? "used" : "\"\(l.consumer)\"") : "unused"
                        var flags: [String] = []
                        if l.bias != .asIs { flags.append(l.bias.rawValue) }
                        if l.drive != .pushPull { flags.append(l.drive.rawValue) }
                        let extra = flags.isEmpty ? "" : " [\(flags.joined(separator: ", "))]"
                        print("  line \(pad(String(l.offset), 3)): \(pad(name, 16)) \(pad(consumer, 16)) "
                              + "\(pad(l.isOutput ? "output" : "input", 6)) \(l.activeLow ? "active-low" : "active-high")\(extra)")
                    }
                } catch {
                    print("\(path): \(error)")
                    failed = true
                }
            }
            if failed { throw ExitCode(1) }
        }

        private func pad(_ s: String, _ n: Int) -> String {
            s.count >= n ? s : s + String(repeating: " ", count: n - s.count)
        }
    }

    struct Pulse: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "pulse",
            abstract: "Fire reject pulses on a line through the daemon's scheduler, then report.",
            discussion: """
                The line is requested inactive, pulsed --count times every --period-ms (each pulse \
                --width-ms long), held inactive for --hold-ms, then released (the kernel returns it \
                to its default/pull).
                """)

        @OptionGroup var lineOptions: LineOptions
        @Option(help: "Pulse width in milliseconds.")
        var widthMs: Double
        @Option(help: "Number of pulses.")
        var count: Int = 1
        @Option(help: "Time between pulse starts in milliseconds (default: twice the width).")
        var periodMs: Double?
        @Option(help: "Keep the line requested (inactive) this long after the last pulse, in ms.")
        var holdMs: Double = 0

        func run() throws {
            let config = try lineOptions.config()
            guard widthMs > 0, count > 0 else { throw ValidationError("--width-ms and --count must be > 0") }
            let period = periodMs ?? widthMs * 2
            let line = try GPIODOutputLine(config: config)
            print("requested \(line.name) (\(config.chip) line \(config.line), consumer \(config.consumer), "
                  + "\(config.activeLow ? "active-low" : "active-high")): inactive")
            fflush(stdout)
            let scheduler = RejectScheduler(line: line, delayNanoseconds: 0,
                                            widthNanoseconds: UInt64(widthMs * 1e6))
            let start = monotonicNow() + 50_000_000
            scheduler.pulseObserver = { part, intended, actual in
                print("pulse \(part + 1): active at +\(String(format: "%.3f", Double(actual - start) / 1e6)) ms "
                      + "(start error \(String(format: "%.3f", Double(actual - intended) / 1e6)) ms)")
                fflush(stdout)
            }
            scheduler.start()
            for k in 0..<count {
                scheduler.scheduleAt(startNanoseconds: start + UInt64(Double(k) * period * 1e6), partID: UInt64(k))
            }
            scheduler.stop()
            let c = scheduler.counters
            print("done: \(c.fired) pulses fired, \(c.activations) activations, \(c.overlapped) overlapped, "
                  + "\(c.writeErrors) write errors")
            fflush(stdout)
            if holdMs > 0 { usleep(useconds_t(holdMs * 1000)) }
            if c.writeErrors > 0 || c.fired != UInt64(count) { throw ExitCode(1) }
        }
    }

    struct Hold: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "hold",
            abstract: "Request a line as an output, set it, and hold it until killed or --seconds pass.")

        @OptionGroup var lineOptions: LineOptions
        @Flag(help: "Hold the line active (default: inactive).")
        var active = false
        @Option(help: "Seconds to hold (default: until killed).")
        var seconds: Double?

        func run() throws {
            let config = try lineOptions.config()
            let line = try GPIODOutputLine(config: config, initialActive: active)
            print("holding \(line.name) \(active ? "active" : "inactive") "
                  + "(\(config.activeLow ? "active-low" : "active-high"))")
            fflush(stdout)
            if let s = seconds { usleep(useconds_t(s * 1e6)) } else { while true { pause() } }
            withExtendedLifetime(line) {}
        }
    }

    struct Watch: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "watch",
            abstract: "Print the debounced edges of an input line (a confirmation sensor, a trigger).")

        @OptionGroup var lineOptions: LineOptions
        @Option(help: "Debounce period in milliseconds.")
        var debounceMs: Double = 2
        @Option(help: "Stop after this many debounced edges.")
        var count: Int?
        @Option(help: "Stop after this many seconds.")
        var seconds: Double = 10

        func run() throws {
            let config = try lineOptions.config()
            let input = try GPIODInputLine(config: config)
            let initial = try input.read()
            print("watching \(input.name): level \(initial ? "active" : "inactive")")
            fflush(stdout)
            let watcher = InputWatcher(line: input, debounceNanoseconds: UInt64(debounceMs * 1e6))
            let done = DispatchSemaphore(value: 0)
            let lock = NSLock()
            var seen = 0
            watcher.onChange = { edge in
                print("edge: \(edge.active ? "active" : "inactive") at \(edge.timeNanoseconds) ns")
                fflush(stdout)
                lock.lock(); seen += 1; let enough = count.map { seen >= $0 } ?? false; lock.unlock()
                if enough { done.signal() }
            }
            watcher.start()
            _ = done.wait(timeout: .now() + seconds)
            watcher.stop()
            let c = watcher.counters
            print("\(c.changes) edges, \(c.rawEdges) raw, \(c.bouncesRejected) rejected as bounce, \(c.readErrors) errors")
            if let n = count, c.changes < UInt64(n) { throw ExitCode(1) }
        }
    }

    /// The whole reject path on real lines, as the daemon runs it: scheduler -> reject output,
    /// confirmation sensor input -> confirmation watch -> alarm output, plus the ready output.
    /// Prints one line per event (flushed) so a test script can read sysfs at the right moments.
    struct RejectCheck: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "reject-check",
            abstract: "Fire reject pulses and check their confirmations on real lines (wiring and VM tests).")

        @Option(help: "Chip of all lines: /dev/gpiochipN, gpiochipN or label.")
        var chip: String
        @Option(help: "Reject output line (offset or name).") var rejectLine: String
        @Flag(help: "The reject output is active when low.") var activeLow = false
        @Option(help: "Confirmation sensor input line (offset or name).") var confirmLine: String?
        @Option(help: "Bias of the confirmation input: as-is, disabled, pull-up, pull-down.")
        var confirmBias: String = "as-is"
        @Flag(help: "The confirmation input is active when low.") var confirmActiveLow = false
        @Option(help: "Alarm output line (offset or name).") var alarmLine: String?
        @Option(help: "Ready output line (offset or name): active while this check runs.") var readyLine: String?
        @Option(help: "Number of pulses.") var pulses: Int = 1
        @Option(help: "Pulse width, ms.") var widthMs: Double = 1000
        @Option(help: "Time between pulse starts, ms.") var periodMs: Double = 3000
        @Option(help: "Confirmation window after each pulse start, ms.") var windowMs: Double = 2000
        @Option(help: "Confirmation debounce, ms.") var debounceMs: Double = 5
        @Option(help: "Keep all lines requested this long at the end, ms (read the alarm then).")
        var holdMs: Double = 0
        @Option(help: "Exit 1 unless exactly this many pulses were confirmed.") var expectConfirmed: Int?

        func run() throws {
            guard let bias = GPIOBias(rawValue: confirmBias) else { throw ValidationError("--confirm-bias \(confirmBias): unknown") }
            let reject = try GPIODOutputLine(config: GPIOLineConfig(chip: chip, line: rejectLine, activeLow: activeLow,
                                                                    consumer: "grdnet-reject"))
            let alarm = try alarmLine.map { try GPIODOutputLine(config: GPIOLineConfig(chip: chip, line: $0, consumer: "grdnet-alarm")) }
            let readyOut = try readyLine.map { try GPIODOutputLine(config: GPIOLineConfig(chip: chip, line: $0, consumer: "grdnet-ready")) }
            let confirm = try confirmLine.map {
                try GPIODInputLine(config: GPIOLineConfig(chip: chip, line: $0, activeLow: confirmActiveLow, bias: bias,
                                                          consumer: "grdnet-confirm"))
            }
            let ready = readyOut.map { ReadySignal(line: $0, watchdogNanoseconds: 3_600_000_000_000) }
            let watch = confirm.map {
                ConfirmationWatch(input: $0, debounceNanoseconds: UInt64(debounceMs * 1e6),
                                  windowNanoseconds: UInt64(windowMs * 1e6), alarm: alarm)
            }
            let scheduler = RejectScheduler(line: reject, delayNanoseconds: 0, widthNanoseconds: UInt64(widthMs * 1e6))
            let start = monotonicNow() + 200_000_000
            scheduler.pulseObserver = { part, intended, actual in
                watch?.expect(pulseStartNanoseconds: intended)
                print("pulse \(part + 1) active at +\(Int((actual - start) / 1_000_000)) ms for \(Int(widthMs)) ms")
                fflush(stdout)
            }
            print("lines: reject \(reject.name)\(confirm.map { ", confirm \($0.name)" } ?? "")"
                  + "\(alarm.map { ", alarm \($0.name)" } ?? "")\(readyOut.map { ", ready \($0.name)" } ?? "")")
            watch?.start()
            ready?.setInspecting(true)
            scheduler.start()
            print("ready: \(ready == nil ? "no ready line" : "active"); \(pulses) pulses every \(Int(periodMs)) ms")
            fflush(stdout)
            for k in 0..<pulses {
                scheduler.scheduleAt(startNanoseconds: start + UInt64(Double(k) * periodMs * 1e6), partID: UInt64(k))
            }
            scheduler.stop()
            print("pulses done: \(scheduler.counters.fired) fired, \(scheduler.counters.writeErrors) write errors")
            fflush(stdout)
            if let w = watch {
                // Let the last window close (plus debounce) so a missing confirmation is counted.
                usleep(useconds_t((windowMs + 2 * debounceMs) * 1000 + 100_000))
                w.stop()
                let c = w.counters
                print("confirmations: \(c.expected) expected, \(c.confirmed) confirmed, \(c.missed) missed, "
                      + "\(c.unexpected) unexpected; alarm \(c.alarmActive ? "active" : "inactive")")
                fflush(stdout)
            }
            if holdMs > 0 { usleep(useconds_t(holdMs * 1000)) }
            ready?.shutdown()
            print("ready: inactive")
            fflush(stdout)
            if let n = expectConfirmed, (watch?.counters.confirmed ?? 0) != UInt64(n) { throw ExitCode(1) }
        }
    }
}
