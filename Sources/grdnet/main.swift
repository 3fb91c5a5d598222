import ArgumentParser

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
            ResumeCommand.self
        ])
}

GRDNet.main()
