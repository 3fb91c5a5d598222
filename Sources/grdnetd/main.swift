import ArgumentParser
import GRDAgent

/// grdnetd: the inspection daemon (capture -> infer -> decide -> reject), run by systemd.
struct GRDNetDaemon: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "grdnetd",
        abstract: "Inspect parts on a production line with a GRD-Net anomaly detector and fire the reject line.",
        discussion: """
            grdnetd reads its settings from a configuration file (cameras, model, ROI masks, \
            threshold, reject line timing, fail-safe policy, control socket). Run it under \
            systemd (systemd/grdnetd.service); talk to it with `grdnet status` and `grdnet stats`.
            """,
        version: ProductVersion.string)

    @Option(name: .shortAndLong, help: "Configuration file.")
    var config: String = "/etc/grdnet/grdnet.toml"

    @Flag(name: .customLong("check-config"), help: "Validate the configuration and the model, then exit.")
    var checkConfig = false

    func run() throws {
        throw ValidationError("the inspection pipeline is not built yet in this version (\(ProductVersion.string)); use `grdnet` for offline work")
    }
}

GRDNetDaemon.main()
