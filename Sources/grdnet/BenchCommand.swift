import ArgumentParser
import Foundation
import GRDRuntime
import GRDAllocationCounter
#if canImport(Glibc)
import Glibc
#endif

// MARK: - grdnet bench (allocation counter: module GRDAllocationCounter)

/// `grdnet bench`: speed and memory of one model on this machine, with peers measured in the
/// same run (ONNX Runtime fp32 and int8 QDQ, PyTorch fp32) through Models/converter/bench_peers.py.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmark a .grdnet model: median latency at 1 and 2 threads, GMAC/s, peak RSS, allocations, and peers.",
        discussion: "A benchmark, not a test: machines are noisy, compare the ratios measured in the same run.")

    @Option(help: "Path of the .grdnet model file.") var model: String
    @Option(help: "Timed runs per configuration.") var runs = 20
    @Option(parsing: .upToNextOption, help: "Thread counts.") var threads: [Int] = [1, 2]
    @Option(help: "Kernel family (default: detected for this CPU).") var kernels: String?
    @Option(help: "fp32 ONNX of the same network for the peers (default: the model path with .onnx).") var onnx: String?
    @Option(help: "TorchScript file for the PyTorch peer (default: the model path with .pt).") var torchscript: String?
    @Option(help: "Python with onnxruntime and torch (default: .venv/bin/python of this checkout, else python3).") var python: String?
    @Flag(help: "Skip the ONNX Runtime / PyTorch peers.") var noPeers = false
    @Flag(help: "Print one JSON object instead of a table.") var json = false

    func run() throws {
        let m = try loadModel(model)
        let gmac = Double(m.multiplyAccumulates) / 1e9
        var results: [String: Any] = [
            "model": model, "input": "\(m.inputWidth)x\(m.inputHeight)x\(m.inputChannels)", "gmac_per_frame": gmac, "runs": runs,
        ]
        // Self-check of the counter: one deliberate allocation must be seen.
        let before = allocationCalls
        // An allocation inside glibc (opendir mallocs its buffer): the optimiser removes a plain
        // malloc/free pair from a release build, and a library's own calls are what must be seen.
        if let dir = opendir("/") { closedir(dir) }
        let counterWorks = allocationCalls > before
        results["allocation_counter_works"] = counterWorks

        var ours: [String: [String: Any]] = [:]
        for t in threads {
            for precision in [Precision.int8] {
                let engine = try makeEngine(m, threads: t, precision: precision.rawValue, kernels: kernels)
                for i in 0..<engine.input.count { engine.input[i] = UInt8(truncatingIfNeeded: (i &* 2654435761) >> 24) }
                for _ in 0..<3 { try engine.run(roi: nil) }
                var times = [Double](repeating: 0, count: runs), cpu = [Double](repeating: 0, count: runs)
                let a0 = allocationCalls
                for r in 0..<runs {
                    var t0 = timespec(), t1 = timespec(), c0 = timespec(), c1 = timespec()
                    clock_gettime(CLOCK_MONOTONIC, &t0)
                    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0)
                    _ = try engine.run(roi: nil)
                    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1)
                    clock_gettime(CLOCK_MONOTONIC, &t1)
                    times[r] = Double(t1.tv_sec - t0.tv_sec) * 1e3 + Double(t1.tv_nsec - t0.tv_nsec) / 1e6
                    cpu[r] = Double(c1.tv_sec - c0.tv_sec) * 1e3 + Double(c1.tv_nsec - c0.tv_nsec) / 1e6
                }
                let allocations = allocationCalls - a0
                times.sort(); cpu.sort()
                let median = times[runs / 2]
                ours[String(t)] = [
                    "median_ms": median, "min_ms": times[0], "gmac_per_s": gmac / (median / 1e3), "cpu_ms": cpu[runs / 2],
                    "allocations_in_timed_loop": allocations,
                    "kernels": engine.kernelFamily.rawValue, "arena_bytes": engine.arenaBytes,
                ]
            }
        }
        results["grdnet_int8"] = ours
        let family = (ours.values.first?["kernels"] as? String) ?? QS8KernelFamily.detected.rawValue
        results["kernel_family"] = family
        var usage = rusage()
        getrusage(Int32(RUSAGE_SELF.rawValue), &usage)
        results["peak_rss_mib"] = Double(usage.ru_maxrss) / 1024

        var peers: [String: Any] = [:]
        if !noPeers { peers = runPeers() }
        results["peers"] = peers

        if json {
            let data = try JSONSerialization.data(withJSONObject: results, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
            return
        }
        print(String(format: "model %@: %@, %.3f GMAC per frame, %d timed runs", model, m.inputWidth.description + "x" + m.inputHeight.description, gmac, runs))
        print("int8 kernel family: \(family) (\(kernels == nil ? "detected for this CPU, or GRDNET_KERNELS" : "chosen with --kernels"); "
              + "supported here: \(QS8KernelFamily.allCases.filter(\.isSupported).map(\.rawValue).joined(separator: ", ")))")
        print(String(format: "peak RSS %.1f MiB; allocation counter %@", results["peak_rss_mib"] as! Double, counterWorks ? "verified" : "NOT WORKING"))
        print("wall = median wall-clock ms per frame; cpu = median process CPU ms per frame (on a shared machine")
        print("wall time includes waiting for a core). ratio = peer / grdnet int8 at the same thread count (> 1: ours faster).")
        func row(_ name: String, _ t: Int, _ wall: Double, _ cpuMs: Double, _ allocs: String, _ ratio: String) {
            print(name.padding(toLength: 30, withPad: " ", startingAt: 0) + String(format: "%3d %9.1f %9.1f %8.2f ", t, wall, cpuMs, gmac / (wall / 1e3))
                  + allocs.padding(toLength: 7, withPad: " ", startingAt: 0) + " " + ratio)
        }
        print("engine".padding(toLength: 30, withPad: " ", startingAt: 0) + "thr   wall ms    cpu ms   GMAC/s  allocs  ratio wall / cpu")
        for t in threads {
            guard let o = ours[String(t)], let ms = o["median_ms"] as? Double, let c = o["cpu_ms"] as? Double else { continue }
            row("grdnet int8 (\(o["kernels"] as! String))", t, ms, c, "\(o["allocations_in_timed_loop"] as! Int)", "")
        }
        for name in ["onnxruntime_fp32", "onnxruntime_int8_qdq", "pytorch_fp32"] {
            guard let p = peers[name] as? [String: Any] else { continue }
            if let e = p["error"] { print("\(name): not measured (\(e))"); continue }
            for t in threads {
                guard let r = p[String(t)] as? [String: Any], let ms = r["median_ms"] as? Double, let c = r["cpu_ms"] as? Double,
                      let o = ours[String(t)]?["median_ms"] as? Double, let oc = ours[String(t)]?["cpu_ms"] as? Double else { continue }
                row(name, t, ms, c, "-", String(format: "%.2f / %.2f", ms / o, c / oc))
            }
        }
        if let e = peers["error"] { print("peers: not measured (\(e))") }
    }

    private func runPeers() -> [String: Any] {
        let base = (model as NSString).deletingPathExtension
        let onnxPath = onnx ?? base + ".onnx"
        let ptPath = torchscript ?? base + ".pt"
        guard FileManager.default.fileExists(atPath: onnxPath) else {
            return ["error": "no ONNX file \(onnxPath) (give --onnx)"]
        }
        let cwd = FileManager.default.currentDirectoryPath
        let py = python ?? (FileManager.default.isExecutableFile(atPath: cwd + "/.venv/bin/python") ? cwd + "/.venv/bin/python" : "/usr/bin/python3")
        let script = cwd + "/Models/converter/bench_peers.py"
        guard FileManager.default.fileExists(atPath: script) else {
            return ["error": "\(script) not found (run from the repository root)"]
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: py)
        p.arguments = [script, "--onnx", onnxPath, "--torchscript", ptPath, "--runs", String(runs), "--threads"] + threads.map(String.init)
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        do { try p.run() } catch { return ["error": "cannot run \(py): \(error)"] }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard let line = String(data: data, encoding: .utf8)?.split(separator: "\n").last,
              let obj = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
            return ["error": "bench_peers.py printed no result (exit \(p.terminationStatus))"]
        }
        return obj
    }
}
