import ArgumentParser
import GRDAgent
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// grdnetd: the inspection daemon (capture -> infer -> decide -> reject), run by systemd.
struct GRDNetDaemon: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "grdnetd",
        abstract: "Inspect parts on a production line with a GRD-Net anomaly detector and fire the reject line.",
        discussion: """
            grdnetd reads its settings from a YAML configuration file (cameras, model, ROI masks, \
            threshold, reject line timing, fail-safe policy, control socket). Run it under \
            systemd (systemd/grdnetd.service); talk to it with `grdnet status` and `grdnet stats`. \
            SIGHUP reloads the configuration and the model; a bad new configuration keeps the old one running.
            """,
        version: ProductVersion.string)

    @Option(name: .shortAndLong, help: "Configuration file (YAML).")
    var config: String = "/etc/grdnet/grdnet.yaml"

    @Flag(name: .customLong("check-config"), help: "Validate the configuration and the model, then exit.")
    var checkConfig = false

    @Option(name: .customLong("frames"), help: "Stop after inspecting this many frames per camera (demo, tests).")
    var frames: UInt64?

    @Option(name: .customLong("duration"), help: "Stop after this many seconds (demo, tests).")
    var duration: Double?

    @Option(name: .customLong("linger"), help: "With --frames: keep serving the control socket this many seconds after the last frame.")
    var linger: Double = 0

    @Flag(name: .customLong("print-decisions"), help: "Print every decision on stdout (the demo).")
    var printDecisions = false

    func run() throws {
        let cfg: AgentConfig
        do { cfg = try AgentConfig.load(path: config) } catch {
            printError("configuration is not valid:\n\(error)")
            throw ExitCode(2)
        }
        if checkConfig {
            // Build the detectors too: a model that does not load is a config error.
            let agent = Agent(config: cfg)
            do { try agent.checkBuild() } catch {
                printError("\(error)")
                throw ExitCode(2)
            }
            print("\(config): OK (\(cfg.cameras.count) camera(s), model: \(cfg.modelPath ?? "demo"), threshold \(cfg.threshold.map { "\($0)" } ?? "from the model file"))")
            return
        }
        Agent.blockControlSignals()
        let agent = Agent(config: cfg, stopAfterFrames: frames)
        // Decisions are printed by a thread of their own that reads the decision ring, not by the
        // inspection thread: formatting text allocates, and inspection must not.
        let printer = printDecisions ? DecisionPrinter(agent: agent) : nil
        if printer != nil { setvbuf(stdout, nil, _IOLBF, 0) }
        do { try agent.start() } catch {
            printError("cannot start: \(error)")
            agent.stop()
            throw ExitCode(1)
        }
        printer?.start()
        agent.runUntilStopped(configPath: config, maxSeconds: duration, lingerSeconds: linger)
        Log.shared.notice("final: \(agent.summaryLine())")
        agent.stop()
        printer?.printNew()
    }

    func printError(_ s: String) {
        var line = "grdnetd: " + s + "\n"
        line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
    }
}

/// Prints every decision once (polls the cameras' last-decisions rings every 100 ms).
final class DecisionPrinter: @unchecked Sendable {
    let agent: Agent
    let lock = NSLock()
    var printed: [ObjectIdentifier: UInt64] = [:]

    init(agent: Agent) { self.agent = agent }

    func start() {
        let t = Thread { [self] in
            while true { printNew(); usleep(100_000) }
        }
        t.name = "grdnetd-print"
        t.start()
    }

    func printNew() {
        lock.lock(); defer { lock.unlock() }
        for p in agent.cameras {
            let id = ObjectIdentifier(p)
            let seen = printed[id] ?? 0
            for d in p.recentDecisions(256) where d.partID > seen {
                let name = d.origin.split(separator: "/").last.map(String.init) ?? d.origin
                print("part \(d.partID) \(d.camera) \(d.reject ? "REJECT" : "pass  ") score \(fixed(Double(d.score), 3)) (threshold \(fixed(Double(d.threshold), 3)))\(d.reason == "score" ? "" : " [\(d.reason)]") \(fixed(Double(d.latencyMicroseconds) / 1000, 1)) ms  \(name)")
                printed[id] = d.partID
            }
        }
    }
}

GRDNetDaemon.main()
