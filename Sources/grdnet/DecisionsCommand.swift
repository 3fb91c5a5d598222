import ArgumentParser
import Foundation
import GRDAgent

/// `grdnet decisions`: the last N parts with their raw scores.
struct DecisionsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decisions", abstract: "Show the last decisions with raw scores, threshold and latency.")

    @Option(name: .shortAndLong, help: "How many (at most 1000).")
    var number: Int = 20

    @Option(help: "Only this camera.")
    var camera: String?

    @OptionGroup var connection: DaemonConnection

    func run() throws {
        var body: [String: Any] = ["cmd": "decisions", "n": number]
        if let camera { body["camera"] = camera }
        let r = try connection.request(body)
        if connection.json { printJSON(r); return }
        var t = TextTable(["part", "time (UTC)", "camera", "decision", "score", "threshold", "latency (ms)", "reason", "image"])
        let formatter = DateFormatter()
        formatter.dateFormat = "HH:mm:ss.SSS"
        formatter.timeZone = TimeZone(identifier: "UTC")
        for d in list(r["decisions"]) {
            let time = formatter.string(from: Date(timeIntervalSince1970: num(d["time_ms"]) / 1000))
            let origin = text(d["origin"]).split(separator: "/").last.map(String.init) ?? ""
            t.add([String(int(d["part"])), time, text(d["camera"]), text(d["decision"]).uppercased() == "REJECT" ? "REJECT" : "pass",
                   fixed(num(d["score"]), 4), fixed(num(d["threshold"]), 4), fixed(num(d["latency_us"]) / 1000, 1),
                   text(d["reason"]), origin])
        }
        print(t.render())
    }
}
