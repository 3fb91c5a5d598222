import ArgumentParser

/// Placeholder replaced below in this branch.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bench", abstract: "Benchmark a model.")
    func run() throws { throw ValidationError("bench: not built yet") }
}
