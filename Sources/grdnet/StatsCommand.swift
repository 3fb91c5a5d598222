import ArgumentParser
import Foundation
import GRDAgent
#if canImport(Glibc)
import Glibc
#endif

/// `grdnet stats [--watch]`: the numbers a line engineer checks.
struct StatsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Show frames, drops, pass/reject counts, latency per stage, deadline misses, scores and SoC health.")

    @Flag(help: "Refresh until interrupted, with rates since the previous refresh.")
    var watch = false

    @Option(help: "Seconds between refreshes with --watch.")
    var interval: Double = 2

    @Option(help: "With --watch: stop after this many refreshes.")
    var count: Int?

    @OptionGroup var connection: DaemonConnection

    func run() throws {
        var previous: [String: Any]? = nil
        var previousTime = Date()
        var shown = 0
        repeat {
            let r = try connection.request(["cmd": "stats"])
            let now = Date()
            if connection.json { printJSON(r) } else {
                if watch && isatty(1) != 0 { print("\u{1B}[H\u{1B}[2J", terminator: "") }
                print(render(r, previous: previous, seconds: now.timeIntervalSince(previousTime)))
            }
            previous = r; previousTime = now
            shown += 1
            if watch && (count.map { shown < $0 } ?? true) { usleep(useconds_t(max(0.1, interval) * 1e6)) }
        } while watch && (count.map { shown < $0 } ?? true)
    }

    func render(_ r: [String: Any], previous: [String: Any]?, seconds: Double) -> String {
        var out: [String] = []
        let prevCams = Dictionary(uniqueKeysWithValues: list(previous?["cameras"]).map { (text($0["name"]), $0) })
        for c in list(r["cameras"]) {
            let name = text(c["name"])
            let inspected = int(c["frames_inspected"])
            var rate = ""
            if let p = prevCams[name], seconds > 0 {
                rate = " (" + fixed(Double(inspected &- int(p["frames_inspected"])) / seconds, 1) + " parts/s)"
            }
            out.append("camera \(name): \(text(c["state"])), threshold \(fixed(num(c["threshold"]), 3))\(rate)")
            let passes = int(c["passes"]), rejects = int(c["rejects"])
            let total = max(1, passes + rejects)
            let pulses = dict(c["pulses"])
            var t = TextTable(["counter", "value", "note"])
            t.add(["frames captured", String(int(c["frames_captured"])), ""])
            t.add(["frames inspected", String(inspected), ""])
            t.add(["frames dropped", String(int(c["frames_dropped"]) + int(c["source_dropped"])), "newest frame wins when inspection is behind; \(int(c["frames_dropped_rejected"])) of their parts rejected (fail-safe); \(int(c["source_dropped"])) lost before capture"])
            t.add(["frames skipped (paused)", String(int(c["frames_skipped_paused"])), ""])
            t.add(["passed", String(passes), fixed(Double(passes) * 100 / Double(total), 1) + " %"])
            t.add(["rejected", String(rejects), fixed(Double(rejects) * 100 / Double(total), 1) + " %"])
            t.add(["deadline misses", String(int(c["deadline_misses"])), "rejected by the fail-safe"])
            t.add(["inspection errors", String(int(c["errors"])), "rejected by the fail-safe"])
            t.add(["corrupt frames", String(int(c["source_corrupt"])), ""])
            t.add(["camera errors", String(int(c["capture_errors"])), "\(int(c["reconnects"])) reconnects, \(int(c["source_timeouts"])) timeouts"])
            t.add(["reject pulses fired", String(int(pulses["fired"])), "\(int(pulses["scheduled"])) scheduled, \(int(pulses["late"])) late decisions, \(int(pulses["started_late"])) started late, \(int(pulses["write_errors"])) write errors, \(int(pulses["overflow"])) overflow"])
            let alloc = dict(c["allocations"])
            if !alloc.isEmpty {
                let perFrame = (alloc["per_frame"] as? NSNumber).map { fixed($0.doubleValue, 2) + " per frame over the last \(int(alloc["window_frames"])) frames" } ?? "no full window yet"
                t.add(["allocations (inspection)", String(int(alloc["after_warmup"])), "after the first \(int(alloc["warmup_frames"])) frames; \(perFrame)"])
            }
            let drift = dict(c["drift"])
            if let state = drift["state"] as? String {
                let worst = list(drift["signals"]).max { abs(num($0["shift_sd"])) < abs(num($1["shift_sd"])) }
                let note = drift["learning_baseline"] as? Bool == true ? "learning the baseline (\(int(drift["parts_in_window"])) of \(int(drift["window"])) passed parts)"
                    : worst.map { "largest shift: \(text($0["signal"])) \(fixed(num($0["shift_sd"]), 1)) sd" } ?? ""
                t.add(["drift", state.uppercased() == "ALARM" ? "ALARM" : state, note])
            }
            out.append(t.render())
            out.append("")
            var l = TextTable(["stage", "p50 (ms)", "p99 (ms)", "max (ms)", "mean (ms)", "count"])
            let lat = dict(c["latency"])
            for (label, key) in [("preprocess", "prepare"), ("inference", "infer"), ("decide", "decide"), ("capture to decision", "end_to_end")] {
                let h = dict(lat[key])
                l.add([label, fixed(num(h["p50_us"]) / 1000, 2), fixed(num(h["p99_us"]) / 1000, 2),
                       fixed(num(h["max_us"]) / 1000, 2), fixed(num(h["mean_us"]) / 1000, 2), String(int(h["count"]))])
            }
            out.append(l.render())
            out.append("")
            out.append(scoreBars(dict(c["scores"]), threshold: num(c["threshold"])))
            out.append("")
        }
        let a = dict(r["audit"])
        if !a.isEmpty {
            out.append("audit: \(int(a["records"])) parts kept in \(text(a["folder"])), \(fixed(num(a["bytes_used"]) / 1048576, 1)) of \(fixed(num(a["quota_bytes"]) / 1048576, 0)) MiB; \(int(a["written"])) written, \(int(a["evicted_passes"])) passes and \(int(a["evicted_rejects"])) rejects evicted, \(int(a["dropped_queue_full"])) dropped (writer behind), \(int(a["write_errors"])) write errors (\(int(a["disk_full"])) disk full)")
            if let e = a["last_error"] as? String { out.append("audit: last error: \(e)") }
        }
        let s = dict(r["system"])
        var sys = "system: up \(duration(num(s["uptime_s"])))"
        if let t = s["cpu_temperature_c"] as? NSNumber { sys += ", CPU \(fixed(t.doubleValue, 1)) °C" } else { sys += ", CPU temperature n/a" }
        if let flags = s["throttled_flags"] as? [String] { sys += flags.isEmpty ? ", not throttled" : ", THROTTLED: " + flags.joined(separator: "; ") }
        else { sys += ", throttling n/a (not a Raspberry Pi)" }
        if let rss = s["peak_rss_kb"] as? NSNumber { sys += ", peak RSS \(fixed(rss.doubleValue / 1024, 1)) MB" }
        sys += ", socket: \(int(s["socket_requests"])) requests, \(int(s["socket_rejected"])) refused"
        out.append(sys)
        return out.joined(separator: "\n")
    }

    /// The score histogram as text bars, with the threshold marked.
    func scoreBars(_ s: [String: Any], threshold: Double) -> String {
        let counts = (s["counts"] as? [Any])?.map { int($0) } ?? []
        guard !counts.isEmpty else { return "" }
        let lower = num(s["lower"]), upper = num(s["upper"])
        let peak = max(1, counts.max() ?? 1)
        var lines = ["score histogram (\(int(s["below"])) below \(fixed(lower, 2)), \(int(s["above"])) at or above \(fixed(upper, 2))):"]
        let step = (upper - lower) / Double(counts.count)
        for (i, c) in counts.enumerated() {
            let lo = lower + Double(i) * step
            let mark = threshold >= lo && threshold < lo + step ? " <- threshold" : ""
            let bar = String(repeating: "#", count: Int((Double(c) / Double(peak) * 40).rounded(.up)))
            let label = fixed(lo, 3)
            lines.append(String(repeating: " ", count: max(0, 6 - label.count)) + label + " | " + bar + " " + String(c) + mark)
        }
        return lines.joined(separator: "\n")
    }
}
