import ArgumentParser
import Foundation

/// grdnet: the operator's command-line tool.
struct GRDNet: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "grdnet",
        abstract: "Operate a grdnet-edge inspection box: look at images, models, cameras and the running daemon.",
        version: "0.1.0",
        subcommands: [
            ImagesCommand.self,
            ModelCommand.self,
            EvalCommand.self,
            CalibrateCommand.self,
            BenchCommand.self,
            CamerasCommand.self,
            RecordCommand.self,
            BenchImagingCommand.self,
            GPIOCommand.self,
            BenchRejectCommand.self,
            StatusCommand.self,
            StatsCommand.self,
            DecisionsCommand.self,
            ThresholdCommand.self,
            SnapshotCommand.self,
            PauseCommand.self,
            ResumeCommand.self,
            MetricsCommand.self
        ])
}

/// ArgumentParser's `main()` prints the root command's usage after every `ValidationError`, also
/// one thrown from `run()` for a model file that does not open or a folder that is missing: that
/// told an operator their command line was wrong when a file was. A `ValidationError` from `run()`
/// is printed alone, with the exit code `main()` gives it (64); everything else (errors of the
/// command line itself, --help, other errors of `run()`) goes to `exit(withError:)` as before.
do {
    var command = try GRDNet.parseAsRoot()
    do {
        try command.run()
    } catch let error as ValidationError {
        FileHandle.standardError.write(Data(("Error: " + GRDNet.message(for: error) + "\n").utf8))
        GRDNet.exit(withError: GRDNet.exitCode(for: error))
    }
} catch {
    GRDNet.exit(withError: error)
}
