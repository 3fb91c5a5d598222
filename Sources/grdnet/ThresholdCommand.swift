import ArgumentParser
import Foundation
import GRDAgent

/// `grdnet threshold [VALUE]`: read or set the decision threshold live (persisted by the daemon).
struct ThresholdCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "threshold",
        abstract: "Show the threshold, or set it live (a score at or above it rejects the part).",
        discussion: "A threshold set here is kept across restarts until the configuration's own threshold is edited.")

    @Argument(help: "The new threshold (omit to show the current one).")
    var value: Double?

    @Option(help: "Only this camera.")
    var camera: String?

    @OptionGroup var connection: DaemonConnection

    func validate() throws {
        if let value, !(value >= 0 && value.isFinite) { throw ValidationError("the threshold must be a number >= 0") }
    }

    func run() throws {
        var body: [String: Any] = ["cmd": "threshold"]
        if let value { body["value"] = value }
        if let camera { body["camera"] = camera }
        let r = try connection.request(body)
        if connection.json { printJSON(r); return }
        for c in list(r["cameras"]) {
            print("\(text(c["name"])): threshold \(fixed(num(c["threshold"]), 4))\(value == nil ? "" : " (set live, persisted in \(text(r["persisted_in"])))")")
        }
    }
}
