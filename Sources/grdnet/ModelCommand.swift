import ArgumentParser
import Foundation
import GRDRuntime

/// `grdnet model ...`: look at a .grdnet model, run its self-test, or run it on one raw frame.
struct ModelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "Inspect a .grdnet model, run its parity self-test, or run it on one frame.",
        subcommands: [Info.self, SelfTest.self, Infer.self, ScoreStatisticsCommand.self])

    struct Info: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the model's geometry, operators and metadata.")
        @Option(help: "Path of the .grdnet model file.") var model: String

        func run() throws {
            let m = try loadModel(model)
            print("model \(m.path): input \(m.inputWidth)x\(m.inputHeight)x\(m.inputChannels), \(m.ops.count) ops, \(m.tensors.count) tensors")
            print(String(format: "multiply-accumulates: %.3f G per frame", Double(m.multiplyAccumulates) / 1e9))
            print("default threshold: \(m.defaultThreshold.map { "\($0)" } ?? "none"), default ROI: \(m.defaultROI == nil ? "none" : "yes"), golden vectors: \(m.goldenVectors.count)")
            switch m.frameFit {
            case .squash: print("frames: squashed to \(m.inputWidth)x\(m.inputHeight) (aspect ratio not kept)")
            case .letterbox(let pad): print("frames: letterboxed (aspect ratio kept, padding \(pad.map(String.init).joined(separator: " ")) outside the ROI)")
            }
            print(m.metadataJSON)
        }
    }

    struct SelfTest: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "selftest", abstract: "Run the golden vectors stored in the model; exit 1 on any difference.")
        @Option(help: "Path of the .grdnet model file.") var model: String
        @Option(help: "Worker threads.") var threads = 1
        @Option(help: "int8 or fp32.") var precision = "int8"
        @Option(help: "Kernel family: a72-c16-halves, a76-sdot-igemm, a76-dotloop, x86-avx2-igemm, x86-avxvnni-igemm or scalar (default: detected).") var kernels: String?

        func run() throws {
            let m = try loadModel(model)
            let engine = try makeEngine(m, threads: threads, precision: precision, kernels: kernels)
            do {
                try engine.selfTest()
            } catch {
                FileHandle.standardError.write("selftest FAILED: \(error)\n".data(using: .utf8)!)
                throw ExitCode(1)
            }
            print("selftest ok: \(m.goldenVectors.count) golden vectors match (\(precision), \(engine.kernelFamily.rawValue), \(threads) threads)")
        }
    }

    struct Infer: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Run the model on one raw HWC uint8 frame and print the score.")
        @Option(help: "Path of the .grdnet model file.") var model: String
        @Option(help: "Raw input: height*width*channels bytes, HWC.") var input: String
        @Option(help: "Worker threads.") var threads = 1
        @Option(help: "int8 or fp32.") var precision = "int8"
        @Option(help: "Kernel family (default: detected).") var kernels: String?
        @Option(help: "Write the output tensor (int8 or float32, NHWC) to this file.") var dumpOutput: String?
        @Option(help: "Write the heatmap (float32, H*W) to this file.") var dumpHeatmap: String?

        func run() throws {
            let m = try loadModel(model)
            let engine = try makeEngine(m, threads: threads, precision: precision, kernels: kernels)
            guard let data = FileManager.default.contents(atPath: input) else {
                throw ValidationError("cannot read input file \(input)")
            }
            if data.count != engine.input.count {
                throw ValidationError("input file \(input) has \(data.count) bytes; the model needs \(engine.input.count) (\(m.inputHeight)x\(m.inputWidth)x\(m.inputChannels) HWC)")
            }
            _ = data.copyBytes(to: engine.input)
            let score = try engine.run(roi: nil)
            if let path = dumpOutput {
                let d = engine.precision == .int8 ? Data(buffer: engine.outputInt8) : Data(buffer: engine.outputFloat)
                try d.write(to: URL(fileURLWithPath: path))
            }
            if let path = dumpHeatmap { try Data(buffer: engine.heatmap).write(to: URL(fileURLWithPath: path)) }
            print(String(format: "score %.9g", score))
        }
    }
}

func loadModel(_ path: String) throws -> GRDNetModel {
    do { return try GRDNetModel(path: path) } catch let e as ModelFileError { throw ValidationError(e.description) }
}

func makeEngine(_ m: GRDNetModel, threads: Int, precision: String, kernels: String?) throws -> InferenceEngine {
    guard let p = Precision(rawValue: precision) else { throw ValidationError("precision '\(precision)' must be int8 or fp32") }
    var family = QS8KernelFamily.detected
    if let k = kernels {
        guard let f = QS8KernelFamily(rawValue: k) else {
            throw ValidationError("kernel family '\(k)' must be one of \(QS8KernelFamily.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        family = f
    }
    return try InferenceEngine(model: m, threads: threads, precision: p, kernels: family)
}
