import ArgumentParser
import GRDAgent

/// `grdnet metrics`: the daemon's numbers in the Prometheus text format, for node_exporter's
/// textfile collector or any scraper that can run a command.
struct MetricsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "metrics",
        abstract: "Print the daemon's stats in the Prometheus text exposition format.")

    @OptionGroup var connection: DaemonConnection

    func run() throws {
        let stats = try connection.request(["cmd": "stats"])
        let status = try connection.request(["cmd": "status"])
        print(MetricsRendering.prometheusText(stats: stats, status: status), terminator: "")
    }
}
