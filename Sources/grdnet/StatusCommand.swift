import ArgumentParser
import Foundation
import GRDAgent

/// Options every command that talks to the daemon shares.
struct DaemonConnection: ParsableArguments {
    @Option(name: .customLong("socket"), help: "The daemon's control socket (default: $GRDNET_SOCKET or /run/grdnet/grdnet.sock).")
    var socketPath: String?

    @Flag(name: .customLong("json"), help: "Print the daemon's JSON reply, for scripts.")
    var json = false

    var path: String {
        socketPath ?? ProcessInfo.processInfo.environment["GRDNET_SOCKET"] ?? "/run/grdnet/grdnet.sock"
    }

    /// Sends one request; a reply with ok=false becomes an error with the daemon's words.
    func request(_ body: [String: Any]) throws -> [String: Any] {
        let client: ControlClient
        do { client = try ControlClient.connect(path: path) } catch { throw CLIError("\(error)") }
        let reply: [String: Any]
        do { reply = try client.request(body) } catch { throw CLIError("\(path): \(error)") }
        if reply["ok"] as? Bool != true {
            if json { printJSON(reply) }
            throw CLIError("the daemon refused: \(reply["error"] as? String ?? "unknown error")")
        }
        return reply
    }
}

struct CLIError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

func printJSON(_ object: Any) {
    if let data = try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys]) {
        print(String(decoding: data, as: UTF8.self))
    }
}

// Small readers for loosely typed JSON replies.
func num(_ v: Any?) -> Double { (v as? NSNumber)?.doubleValue ?? 0 }
func int(_ v: Any?) -> UInt64 { (v as? NSNumber)?.uint64Value ?? 0 }
func text(_ v: Any?) -> String { v.map { $0 is NSNull ? "-" : "\($0)" } ?? "-" }
func dict(_ v: Any?) -> [String: Any] { v as? [String: Any] ?? [:] }
func list(_ v: Any?) -> [[String: Any]] { v as? [[String: Any]] ?? [] }

func duration(_ seconds: Double) -> String {
    if seconds < 120 { return fixed(seconds, 1) + " s" }
    if seconds < 7200 { return fixed(seconds / 60, 1) + " min" }
    if seconds < 172_800 { return fixed(seconds / 3600, 1) + " h" }
    return fixed(seconds / 86400, 1) + " d"
}

/// `grdnet status`: is the box inspecting, with what, since when.
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Show the daemon's state per camera, the model, uptime and versions.")

    @OptionGroup var connection: DaemonConnection

    func run() throws {
        let r = try connection.request(["cmd": "status"])
        if connection.json { printJSON(r); return }
        print("grdnetd \(text(r["version"])), pid \(text(r["pid"])), up \(duration(num(r["uptime_s"])))  -  \(r["inspecting"] as? Bool == true ? "INSPECTING" : "NOT INSPECTING")")
        print("config: \(text(r["config"]))")
        print("model:  \(text(r["model"]))")
        print("gpio:   \(text(r["gpio_library"]))")
        if int(r["failed_reloads"]) > 0 { print("last reload FAILED (old configuration still running): \(text(r["last_reload_error"]))") }
        var t = TextTable(["camera", "state", "source", "threshold", "parts", "rejected", "last frame", "reject line"])
        for c in list(r["cameras"]) {
            let age = c["last_frame_age_s"].map { fixed(num($0), 1) + " s ago" } ?? "never"
            t.add([text(c["name"]), text(c["state"]), text(c["source"]), fixed(num(c["threshold"]), 3),
                   String(int(c["frames"])), String(int(c["rejects"])), age, text(c["reject_line"])])
        }
        print("")
        print(t.render())
        for c in list(r["cameras"]) {
            print("\(text(c["name"])): detector: \(text(c["detector"]))")
            if let how = c["reject_scheduling"] as? String { print("\(text(c["name"])): reject pulse thread: \(how)") }
            if let e = c["last_error"] as? String { print("\(text(c["name"])): last error: \(e)") }
            if let d = c["drift"] as? String { print("\(text(c["name"])): drift: \(d == "alarm" ? "ALARM (process drifted from commissioning; see grdnet stats)" : d)") }
        }
        let a = dict(r["audit"])
        if !a.isEmpty {
            print("audit: \(int(a["records"])) parts, \(fixed(num(a["bytes_used"]) / 1048576, 1)) of \(fixed(num(a["quota_bytes"]) / 1048576, 0)) MiB in \(text(a["folder"])); \(int(a["write_errors"])) write errors, \(int(a["dropped_queue_full"])) dropped")
        }
    }
}

/// `grdnet pause` / `grdnet resume`: stop and restart inspection without stopping the daemon.
struct PauseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pause", abstract: "Pause inspection (frames are skipped and counted; no reject pulses).")
    @Option(help: "Only this camera.") var camera: String?
    @OptionGroup var connection: DaemonConnection
    func run() throws { try pauseOrResume("pause", camera, connection) }
}

struct ResumeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "resume", abstract: "Resume inspection after `grdnet pause`.")
    @Option(help: "Only this camera.") var camera: String?
    @OptionGroup var connection: DaemonConnection
    func run() throws { try pauseOrResume("resume", camera, connection) }
}

func pauseOrResume(_ cmd: String, _ camera: String?, _ connection: DaemonConnection) throws {
    var body: [String: Any] = ["cmd": cmd]
    if let camera { body["camera"] = camera }
    let r = try connection.request(body)
    if connection.json { printJSON(r); return }
    for c in list(r["cameras"]) { print("\(text(c["name"])): \(text(c["state"]))") }
}
