#if canImport(Glibc)
import Glibc
#endif
import GRDKernels
import GRDKernelsDotprod
import GRDKernelsX86
import GRDKernelsX86VNNI

/// Numeric precision the engine runs the network in.
public enum Precision: String, Sendable {
    /// The product path: int8 kernels, bit-exact with the converter's numpy reference.
    case int8
    /// The fp32 reference path (same weights before quantisation), for checking and diagnosis.
    case fp32
}

/// Why a run or self-test failed.
public struct InferenceError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Runs one GRD-Net-Edge model on one camera's frames.
///
/// All memory is planned when the engine is created: activations live in one arena (tensors
/// whose lifetimes do not overlap share bytes), weights are packed once for the chosen kernel
/// family, and the worker threads are started once. `run` allocates nothing. Not thread-safe:
/// one engine per camera thread.
public final class InferenceEngine: PartitionedWork {
    public let model: GRDNetModel
    public let precision: Precision
    public let threads: Int
    public let kernelFamily: QS8KernelFamily

    private let pixelCount: Int
    private let inputBuffer: UnsafeMutableBufferPointer<UInt8>
    private let heatmapBuffer: UnsafeMutableBufferPointer<Float>
    private let fixedMap: UnsafeMutablePointer<UInt32>
    private let rowSums: UnsafeMutablePointer<UInt32>
    /// The model's score statistics in Double, planned at load: mean and std + floor per pixel.
    private let statsMean: UnsafeMutablePointer<Double>?
    private let statsDenominator: UnsafeMutablePointer<Double>?
    private let arena: UnsafeMutableRawPointer
    public let arenaBytes: Int
    private var tensorOffsets: [Int]
    private var plans: [OpPlan] = []
    private let scratch: [UnsafeMutableRawPointer]
    /// Per-thread indirection buffers (4 pointers per tap, for the largest kernel).
    private let indirection: [UnsafeMutablePointer<UnsafePointer<Int8>>]
    /// c16 kernels: the identity half table (8 * h) for dense rows (im2col tiles), as long as
    /// the largest padded reduction / 8.
    private let denseHalfOffsets: UnsafeMutablePointer<Int>
    private let inputFloatTable: [Float]
    private let pool: WorkerPool
    private var activeROI: UnsafePointer<UInt8>?

    /// Per-op state prepared at load.
    private struct OpPlan {
        var geometry = ConvGeometry(inputHeight: 0, inputWidth: 0, inputChannels: 0, kernelHeight: 0, kernelWidth: 0,
                                    strideY: 1, strideX: 1, padTop: 0, padLeft: 0, outputHeight: 0, outputWidth: 0, outputChannels: 0)
        var packed: UnsafeMutableRawPointer?
        var blockBytes = 0
        var direct = false
        /// fp32 weights re-laid out as [ky][kx][ci][co] so the inner loop runs over output channels.
        var floatWeightsHWIO: UnsafeMutablePointer<Float>?
        var multipliers: [Float] = []
        var identical: [Bool] = []
        var units = 0
        /// `inputChannels` bytes of the input zero point: the target of padding taps in indirection buffers.
        var zeroBuffer: UnsafeMutablePointer<Int8>?
        /// Transposed convolution, one entry per parity class (cy * strideX + cx): packed sub-kernel,
        /// its block size and tap count (see GRDKernels/QS8Indirection.swift).
        var classPacked: [UnsafeMutableRawPointer] = []
        var classBlockBytes: [Int] = []
        var classTaps: [Int] = []
        /// SDOT family: per parity class, the byte offsets of its taps from the input pixel under
        /// its first tap (negative: later taps read earlier pixels), for the window form.
        var classTapOffsets: [UnsafeMutablePointer<Int>] = []
        /// c16 kernels: each class's taps are packed in reverse (ky, kx) order, so that they run
        /// over ascending input rows and columns; with C a multiple of 8 an interior output then
        /// reads its taps in place like a convolution window of nky x nkx taps, through this half
        /// table (nil otherwise). `classKernel` holds (nky, nkx) per class.
        var classWindowHalfOffsets: [UnsafeMutablePointer<Int>?] = []
        /// Per class: its half table pairs the halves of every chunk (C a multiple of 16), so the
        /// paired kernel (16-byte loads) reads it (qs8C16HalvesArePaired).
        var classWindowHalvesPaired: [Bool] = []
        var classKernel: [(Int, Int)] = []
        /// Convolution: byte offset of every tap from the window origin (qs8ConvTapOffsets).
        var tapOffsets: UnsafeMutablePointer<Int>?
        /// c16 kernels: half table of the convolution window (qs8ConvWindowHalfOffsets), read
        /// in place for pixels whose window lies inside the input; nil when C is not a multiple
        /// of 8 (those convolutions go through the im2col tile).
        var windowHalfOffsets: UnsafeMutablePointer<Int>?
        /// Its halves are paired (C a multiple of 16): `qs8GEMM2x8C16PairedA72` reads it.
        var windowHalvesPaired = false
    }

    /// Output pixels per micro-kernel call (the GEMM's rows).
    private var pixelsPerCall: Int { kernelFamily.isIndirect ? 4 : 2 }

    /// The indirect-GEMM kernels (x86, A76 SDOT; 4 pixels per call) for `taps` taps of `cin` channels.
    @inline(__always)
    private func indirectGEMM(rows: Int, taps: Int, cin: Int, indirection: UnsafePointer<UnsafePointer<Int8>>,
                              packed: UnsafeRawPointer, blockBytes: Int, zeroPoint: Int32, slope: Float,
                              c: UnsafeMutablePointer<Int8>, cStride: Int, channels: Int) {
        if kernelFamily == .sdotIGEMMA76 {
            qs8IGEMM4xNC4NeonDot(rows: rows, taps: taps, cin: cin, indirection: indirection, packedWeights: packed,
                                 blockBytes: blockBytes, outputZeroPoint: zeroPoint, negativeSlope: slope,
                                 c: c, cStride: cStride, channels: channels)
        } else if kernelFamily == .x86AVXVNNI {
            qs8IGEMM4xNC4AVXVNNI(rows: rows, taps: taps, cin: cin, indirection: indirection, packedWeights: packed,
                                 blockBytes: blockBytes, outputZeroPoint: zeroPoint, negativeSlope: slope,
                                 c: c, cStride: cStride, channels: channels)
        } else {
            qs8IGEMM4xNC1BroadcastAVX2(rows: rows, taps: taps, cin: cin, indirection: indirection, packedWeights: packed,
                                       blockBytes: blockBytes, outputZeroPoint: zeroPoint, negativeSlope: slope,
                                       c: c, cStride: cStride, channels: channels)
        }
    }

    /// `channels` bytes of the input zero point, plus 4 more: the AVX-VNNI and SDOT kernels read each tap's
    /// channels in groups of 4 (the arena has 64 bytes of slack after the last tensor for the same reason).
    private static func zeroBuffer(channels: Int, zeroPoint: Int32) -> UnsafeMutablePointer<Int8> {
        let zb = UnsafeMutablePointer<Int8>.allocate(capacity: channels + 4)
        zb.initialize(repeating: Int8(truncatingIfNeeded: zeroPoint), count: channels + 4)
        return zb
    }

    /// Packs `n` x (taps x cin) weights for the chosen family; returns the buffer and its block size.
    private static func pack(_ family: QS8KernelFamily, n: Int, taps: Int, cin: Int, weights: UnsafePointer<Int8>,
                             bias: UnsafePointer<Int32>, scales: UnsafePointer<Float>) -> (UnsafeMutableRawPointer?, Int) {
        let k = taps * cin
        let kp = (k + 15) & ~15
        switch family {
        case .c16HalvesA72:
            let bb = qs8PackedC16BlockBytes(kc: kp)
            let p = UnsafeMutableRawPointer.allocate(byteCount: max(1, (n + 7) / 8 * bb), alignment: 64)
            qs8PackC16(n: n, k: k, kcPadded: kp, weights: weights, bias: bias, scales: scales, into: p)
            return (p, bb)
        case .dotLoopA76:
            let bb = qs8PackedKCBlockBytes(kc: kp)
            let p = UnsafeMutableRawPointer.allocate(byteCount: max(1, (n + 3) / 4 * bb), alignment: 64)
            qs8PackKC4(n: n, k: k, kcPadded: kp, weights: weights, bias: bias, scales: scales, into: p)
            return (p, bb)
        case .x86AVX2:
            let bb = qs8PackedC1x8BlockBytes(k: k)
            let p = UnsafeMutableRawPointer.allocate(byteCount: max(1, (n + 7) / 8 * bb), alignment: 64)
            qs8PackC1x8(n: n, k: k, weights: weights, bias: bias, scales: scales, into: p)
            return (p, bb)
        case .x86AVXVNNI, .sdotIGEMMA76:
            // One c4x8 layout for both dot-product ISAs; vpdpbusd reads activations as q + 128.
            let bb = qs8PackedC4x8BlockBytes(taps: taps, cin: cin)
            let p = UnsafeMutableRawPointer.allocate(byteCount: max(1, (n + 7) / 8 * bb), alignment: 64)
            qs8PackC4x8(n: n, taps: taps, cin: cin, activationOffset: family == .x86AVXVNNI ? 128 : 0,
                        weights: weights, bias: bias, scales: scales, into: p)
            return (p, bb)
        case .scalar:
            return (nil, 0)
        }
    }

    /// The model-sized UInt8 HWC pixel buffer to fill before `run`.
    public var input: UnsafeMutableBufferPointer<UInt8> { inputBuffer }
    /// H*W anomaly probabilities in [0, 1] after `run`, 0 outside the ROI.
    public var heatmap: UnsafeBufferPointer<Float> { UnsafeBufferPointer(heatmapBuffer) }

    public init(model: GRDNetModel, threads: Int = 1, precision: Precision = .int8,
                kernels: QS8KernelFamily = QS8KernelFamily.detected) throws {
        if threads < 1 || threads > 64 { throw InferenceError("thread count \(threads) must be between 1 and 64") }
        if !kernels.isSupported {
            throw InferenceError("kernel family \(kernels.rawValue) is not supported on this CPU (needs dot-product instructions or AVX2)")
        }
        self.model = model
        self.precision = precision
        self.threads = threads
        self.kernelFamily = kernels
        pixelCount = model.inputHeight * model.inputWidth
        inputBuffer = .allocate(capacity: pixelCount * model.inputChannels)
        inputBuffer.initialize(repeating: 0)
        heatmapBuffer = .allocate(capacity: pixelCount)
        heatmapBuffer.initialize(repeating: 0)
        fixedMap = .allocate(capacity: pixelCount)
        rowSums = .allocate(capacity: pixelCount)
        if let st = model.scoreStatistics {
            let m = UnsafeMutablePointer<Double>.allocate(capacity: pixelCount)
            let d = UnsafeMutablePointer<Double>.allocate(capacity: pixelCount)
            for i in 0..<pixelCount { m[i] = Double(st.mean[i]); d[i] = Double(st.std[i]) + Double(st.floor) }
            statsMean = m; statsDenominator = d
        } else {
            statsMean = nil; statsDenominator = nil
        }

        // Arena: first-fit placement of tensors by lifetime [producer, last consumer].
        let elementBytes = precision == .int8 ? 1 : 4
        let n = model.tensors.count
        var first = [Int](repeating: -1, count: n), last = [Int](repeating: -1, count: n)
        first[0] = -1; last[0] = -1
        for (i, op) in model.ops.enumerated() {
            if op.output >= 0 { first[op.output] = i; last[op.output] = max(last[op.output], i) }
            for t in op.inputs { last[t] = max(last[t], i) }
        }
        last[model.outputTensor] = Int.max  // kept for the self-test and dumps
        var offsets = [Int](repeating: 0, count: n)
        var placed: [(start: Int, end: Int, first: Int, last: Int)] = []
        var total = 0
        for t in 0..<n where t == 0 || first[t] >= 0 {
            let size = (model.tensors[t].elementCount * elementBytes + 63) & ~63
            var candidates = [0]
            let live = placed.filter { !($0.last < first[t] || last[t] < $0.first) }
            for p in live { candidates.append(p.end) }
            candidates.sort()
            var chosen = 0
            for c in candidates where !live.contains(where: { c < $0.end && $0.start < c + size }) { chosen = c; break }
            offsets[t] = chosen
            placed.append((chosen, chosen + size, first[t], last[t]))
            total = max(total, chosen + size)
        }
        arenaBytes = total + 64
        arena = .allocate(byteCount: arenaBytes, alignment: 64)
        arena.initializeMemory(as: UInt8.self, repeating: 0, count: arenaBytes)
        tensorOffsets = offsets

        var table: [Float] = []
        for c in 0..<model.inputChannels {
            for p in 0..<256 { table.append((Float(p) / 255 - model.mean[c]) / model.std[c]) }
        }
        inputFloatTable = table

        // Plans: packed weights and per-thread im2col tiles sized for the largest convolution.
        var maxTile = 64
        var maxTaps = 1
        var maxChunks = 1
        var plans: [OpPlan] = []
        for op in model.ops {
            var plan = OpPlan()
            switch op.kind {
            case .conv, .convTranspose:
                let inT = model.tensors[op.inputs[0]], outT = model.tensors[op.output]
                plan.geometry = ConvGeometry(
                    inputHeight: inT.height, inputWidth: inT.width, inputChannels: inT.channels,
                    kernelHeight: op.kernelHeight, kernelWidth: op.kernelWidth, strideY: op.strideY, strideX: op.strideX,
                    padTop: op.padTop, padLeft: op.padLeft,
                    outputHeight: outT.height, outputWidth: outT.width, outputChannels: outT.channels)
                if precision == .fp32 {
                    let taps = op.kernelHeight * op.kernelWidth, cin = inT.channels, cout = outT.channels
                    let w = UnsafeMutablePointer<Float>.allocate(capacity: taps * cin * cout)
                    for co in 0..<cout { for t in 0..<taps { for ci in 0..<cin {
                        w[(t * cin + ci) * cout + co] = op.fWeights[(co * taps + t) * cin + ci]
                    } } }
                    plan.floatWeightsHWIO = w
                    plan.units = outT.height
                    maxTile = max(maxTile, cout * 4)
                } else if op.kind == .conv {
                    let g = plan.geometry
                    let kp = g.paddedReductionSize
                    plan.direct = op.kernelHeight == 1 && op.kernelWidth == 1 && op.strideY == 1 && op.strideX == 1
                        && op.padTop == 0 && op.padLeft == 0 && inT.channels % 16 == 0
                    plan.units = (outT.height * outT.width + 1) / 2
                    maxTile = max(maxTile, 2 * kp)
                    maxChunks = max(maxChunks, kp / 16)
                    if kernels == .c16HalvesA72 && qs8ConvWindowChunks(g) > 0 {
                        plan.windowHalfOffsets = .allocate(capacity: 2 * qs8ConvWindowChunks(g))
                        qs8ConvWindowHalfOffsets(g, out: plan.windowHalfOffsets!)
                        plan.windowHalvesPaired = qs8C16HalvesArePaired(plan.windowHalfOffsets!, chunks: qs8ConvWindowChunks(g))
                    }
                    let cout = outT.channels
                    if kernels.isIndirect {
                        plan.units = (outT.height * outT.width + 3) / 4
                        maxTaps = max(maxTaps, op.kernelHeight * op.kernelWidth)
                        plan.tapOffsets = .allocate(capacity: op.kernelHeight * op.kernelWidth)
                        qs8ConvTapOffsets(g, out: plan.tapOffsets!)
                    }
                    plan.zeroBuffer = InferenceEngine.zeroBuffer(channels: inT.channels, zeroPoint: inT.quantization.zeroPoint)
                    op.qWeights.withUnsafeBufferPointer { w in op.qBias.withUnsafeBufferPointer { b in op.qScales.withUnsafeBufferPointer { sc in
                        (plan.packed, plan.blockBytes) = InferenceEngine.pack(kernels, n: cout, taps: op.kernelHeight * op.kernelWidth,
                                                                              cin: inT.channels, weights: w.baseAddress!,
                                                                              bias: b.baseAddress!, scales: sc.baseAddress!)
                    } } }
                } else {
                    plan.units = outT.height
                    if kernels != .scalar {
                        // One ordinary convolution per parity class, with the sub-kernel of its taps
                        // and the input zero point folded into its bias (exact: padding taps read
                        // the zero point, see qs8ConvTransposeIndirection).
                        let g = plan.geometry
                        let cin = inT.channels, cout = outT.channels, kh = op.kernelHeight, kw = op.kernelWidth
                        let zi = inT.quantization.zeroPoint
                        plan.zeroBuffer = InferenceEngine.zeroBuffer(channels: cin, zeroPoint: zi)
                        for cy in 0..<g.strideY {
                            for cx in 0..<g.strideX {
                                var kys = Array(stride(from: cy, to: kh, by: g.strideY))
                                var kxs = Array(stride(from: cx, to: kw, by: g.strideX))
                                let reversed = kernels == .c16HalvesA72
                                if reversed { kys.reverse(); kxs.reverse() }
                                let taps = kys.count * kxs.count
                                let k = taps * cin
                                var sub = [Int8](repeating: 0, count: max(1, cout * k))
                                var bias = [Int32](repeating: 0, count: cout)
                                for co in 0..<cout {
                                    var sum: Int32 = 0, j = 0
                                    for ky in kys { for kx in kxs { for ci in 0..<cin {
                                        let v = op.qWeights[((co * kh + ky) * kw + kx) * cin + ci]
                                        sub[co * k + j] = v; sum &+= Int32(v); j += 1
                                    } } }
                                    bias[co] = op.qBias[co] &- zi &* sum
                                }
                                let (p, bb) = op.qScales.withUnsafeBufferPointer { sc in
                                    InferenceEngine.pack(kernels, n: cout, taps: taps, cin: cin, weights: sub, bias: bias, scales: sc.baseAddress!)
                                }
                                plan.classPacked.append(p!)
                                plan.classBlockBytes.append(bb)
                                plan.classTaps.append(taps)
                                plan.classKernel.append((kys.count, kxs.count))
                                if reversed && cin % 8 == 0 && taps > 0 {
                                    let cg = ConvGeometry(inputHeight: g.inputHeight, inputWidth: g.inputWidth, inputChannels: cin,
                                                          kernelHeight: kys.count, kernelWidth: kxs.count, strideY: 1, strideX: 1,
                                                          padTop: 0, padLeft: 0, outputHeight: 0, outputWidth: 0, outputChannels: cout)
                                    let t = UnsafeMutablePointer<Int>.allocate(capacity: 2 * qs8ConvWindowChunks(cg))
                                    qs8ConvWindowHalfOffsets(cg, out: t)
                                    plan.classWindowHalfOffsets.append(t)
                                    plan.classWindowHalvesPaired.append(qs8C16HalvesArePaired(t, chunks: qs8ConvWindowChunks(cg)))
                                } else {
                                    plan.classWindowHalfOffsets.append(nil)
                                    plan.classWindowHalvesPaired.append(false)
                                }
                                maxTile = max(maxTile, 2 * ((k + 15) & ~15))
                                maxTaps = max(maxTaps, taps)
                                if kernels == .sdotIGEMMA76 {
                                    // tap (cy + a * strideY, cx + b * strideX) reads input (iy0 - a, ix0 - b)
                                    let offsets = UnsafeMutablePointer<Int>.allocate(capacity: max(1, taps))
                                    var j = 0
                                    for a in 0..<kys.count { for b in 0..<kxs.count {
                                        offsets[j] = -(a * inT.width + b) * cin; j += 1
                                    } }
                                    plan.classTapOffsets.append(offsets)
                                }
                                maxChunks = max(maxChunks, (k + 15) / 16)
                            }
                        }
                    }
                }
            case .add:
                let a = model.tensors[op.inputs[0]].quantization, b = model.tensors[op.inputs[1]].quantization
                let o = model.tensors[op.output].quantization
                plan.multipliers = [a.scale / o.scale, b.scale / o.scale]
                plan.units = model.tensors[op.output].height
            case .concat:
                let o = model.tensors[op.output].quantization
                for t in op.inputs {
                    let q = model.tensors[t].quantization
                    plan.multipliers.append(q.scale / o.scale)
                    plan.identical.append(q == o)
                }
                plan.units = model.tensors[op.output].height
            case .maxPool, .avgPool:
                let i = model.tensors[op.inputs[0]].quantization, o = model.tensors[op.output].quantization
                plan.multipliers = [(i.scale / o.scale) / Float(op.poolKernel * op.poolKernel)]
                plan.units = model.tensors[op.output].height
            case .resizeNearest2x:
                plan.units = model.tensors[op.output].height
            case .mapSigmoid, .mapSoftmax2:
                plan.units = model.inputHeight
            }
            plans.append(plan)
        }
        self.plans = plans
        var scratch: [UnsafeMutableRawPointer] = []
        for _ in 0..<threads {
            let s = UnsafeMutableRawPointer.allocate(byteCount: maxTile, alignment: 64)
            s.initializeMemory(as: UInt8.self, repeating: 0, count: maxTile)
            scratch.append(s)
        }
        self.scratch = scratch
        var indirection: [UnsafeMutablePointer<UnsafePointer<Int8>>] = []
        for _ in 0..<threads {
            let p = UnsafeMutablePointer<UnsafePointer<Int8>>.allocate(capacity: maxTaps * 4)
            p.initialize(repeating: UnsafePointer<Int8>(OpaquePointer(inputBuffer.baseAddress!)), count: maxTaps * 4)
            indirection.append(p)
        }
        self.indirection = indirection
        denseHalfOffsets = .allocate(capacity: 2 * maxChunks)
        qs8DenseHalfOffsets(chunks: maxChunks, out: denseHalfOffsets)
        pool = try WorkerPool(threads: threads)
        pool.work = self
    }

    deinit {
        pool.work = nil
        inputBuffer.deallocate(); heatmapBuffer.deallocate(); fixedMap.deallocate(); rowSums.deallocate()
        statsMean?.deallocate(); statsDenominator?.deallocate()
        arena.deallocate()
        for p in plans {
            p.packed?.deallocate(); p.floatWeightsHWIO?.deallocate(); p.zeroBuffer?.deallocate(); p.tapOffsets?.deallocate()
            p.windowHalfOffsets?.deallocate()
            for c in p.classPacked { c.deallocate() }
            for c in p.classTapOffsets { c.deallocate() }
            for t in p.classWindowHalfOffsets { t?.deallocate() }
        }
        for s in scratch { s.deallocate() }
        for p in indirection { p.deallocate() }
        denseHalfOffsets.deallocate()
    }

    /// Address of a tensor in the arena (stable for the engine's lifetime).
    public func tensorAddress(_ t: Int) -> UnsafeMutableRawPointer { arena + tensorOffsets[t] }

    /// The int8 output tensor of the last run (NHWC), as compared by the self-test.
    public var outputInt8: UnsafeBufferPointer<Int8> {
        UnsafeBufferPointer(start: tensorAddress(model.outputTensor).assumingMemoryBound(to: Int8.self),
                            count: precision == .int8 ? model.tensors[model.outputTensor].elementCount : 0)
    }
    /// The fp32 output tensor of the last run (NHWC), fp32 precision only.
    public var outputFloat: UnsafeBufferPointer<Float> {
        UnsafeBufferPointer(start: tensorAddress(model.outputTensor).assumingMemoryBound(to: Float.self),
                            count: precision == .fp32 ? model.tensors[model.outputTensor].elementCount : 0)
    }

    /// Runs the network on `input`; `roi` is an optional H*W mask (0 = ignore) at model size,
    /// nil means the model's default ROI (or the whole image if it has none). Returns the image
    /// score: the maximum over the ROI of the 21x21 box-filtered (mean) anomaly map, or, when the
    /// model has score statistics, of the box mean standardised by the good parts' per-pixel
    /// mean and std (FORMAT.md, section 6).
    @discardableResult
    public func run(roi: UnsafePointer<UInt8>?) throws -> Float {
        let inT = tensorAddress(0)
        let n = pixelCount * model.inputChannels
        if precision == .int8 {
            model.inputTable.withUnsafeBufferPointer { t in
                qs8QuantizePixels(pixels: pixelCount, channels: model.inputChannels, input: inputBuffer.baseAddress!,
                                  table: t.baseAddress!, output: inT.assumingMemoryBound(to: Int8.self))
            }
        } else {
            let dst = inT.assumingMemoryBound(to: Float.self)
            let c = model.inputChannels
            inputFloatTable.withUnsafeBufferPointer { t in
                for i in 0..<n { dst[i] = t[(i % c) * 256 + Int(inputBuffer[i])] }
            }
        }
        for step in 0..<model.ops.count { pool.run(step: step) }
        guard model.mapOp != nil else { return 0 }
        if let roi = roi { return score(roi: roi) }
        if let d = model.defaultROI { return d.withUnsafeBufferPointer { score(roi: $0.baseAddress!) } }
        return score(roi: nil)
    }

    /// Masks the map, box-filters it (21x21 mean, or the statistics' box; zero padding, integer
    /// sums of 16-bit fixed point probabilities so that every platform and the numpy reference
    /// agree exactly) and returns the maximum inside the ROI: of the box mean, or with score
    /// statistics of (box mean - mean) / (std + floor), each step in Double as the reference does.
    private func score(roi: UnsafePointer<UInt8>?) -> Float {
        let box = model.scoreStatistics?.box ?? 21
        for i in 0..<pixelCount {
            let keep = roi == nil || roi![i] != 0
            if !keep { heatmapBuffer[i] = 0 }
        }
        qs8ScoreBoxSums(map: UnsafePointer(heatmapBuffer.baseAddress!), width: model.inputWidth, height: model.inputHeight,
                        box: box, scratch: rowSums, sums: fixedMap)
        let boxDivisor = Double(box * box) * 65535.0
        var any = false
        if let m = statsMean, let d = statsDenominator {
            var best = -Double.infinity
            for i in 0..<pixelCount where roi == nil || roi![i] != 0 {
                let z = (Double(fixedMap[i]) / boxDivisor - m[i]) / d[i]
                if z > best { best = z }
                any = true
            }
            return any ? Float(best) : 0
        }
        var best: UInt32 = 0
        for i in 0..<pixelCount where roi == nil || roi![i] != 0 {
            if fixedMap[i] > best { best = fixedMap[i] }
            any = true
        }
        return any ? Float(Double(best) / boxDivisor) : 0
    }

    /// Runs every golden vector in the model file and checks the int8 output bit for bit and the
    /// score exactly (fp32 engines: score within 1e-3 of the converter's fp32 score).
    public func selfTest() throws {
        if model.goldenVectors.isEmpty { throw InferenceError("model file \(model.path) has no golden vectors to test against") }
        for (i, g) in model.goldenVectors.enumerated() {
            g.input.withUnsafeBufferPointer { inputBuffer.baseAddress!.update(from: $0.baseAddress!, count: $0.count) }
            let s = try run(roi: nil)
            if precision == .int8 {
                let out = outputInt8
                var mismatches = 0, firstBad = -1
                for j in 0..<out.count where out[j] != g.expectedOutput[j] {
                    mismatches += 1
                    if firstBad < 0 { firstBad = j }
                }
                if mismatches > 0 {
                    throw InferenceError("self-test vector \(i): \(mismatches) of \(out.count) int8 outputs differ from the reference (first at element \(firstBad): got \(out[firstBad]), expected \(g.expectedOutput[firstBad])) with \(kernelFamily.rawValue) kernels")
                }
                if model.mapOp != nil && s.bitPattern != g.expectedScore.bitPattern {
                    throw InferenceError("self-test vector \(i): score \(s) differs from the reference \(g.expectedScore)")
                }
            } else if model.mapOp != nil && !(abs(s - g.expectedFP32Score) <= 1e-3) {
                throw InferenceError("self-test vector \(i): fp32 score \(s) differs from the reference \(g.expectedFP32Score) by more than 1e-3")
            }
        }
    }

    // MARK: - Execution of one op, split among workers

    func runPart(step: Int, part: Int, parts: Int) {
        let plan = plans[step]
        let begin = plan.units * part / parts, end = plan.units * (part + 1) / parts
        if begin >= end { return }
        if precision == .int8 { runInt8(step, begin, end, part) } else { runFloat(step, begin, end, part) }
    }

    private func runInt8(_ step: Int, _ begin: Int, _ end: Int, _ part: Int) {
        let op = model.ops[step]
        let plan = plans[step]
        switch op.kind {
        case .conv:
            let g = plan.geometry
            let inQ = model.tensors[op.inputs[0]].quantization, outQ = model.tensors[op.output].quantization
            let input = tensorAddress(op.inputs[0]).assumingMemoryBound(to: Int8.self)
            let output = tensorAddress(op.output).assumingMemoryBound(to: Int8.self)
            let tile = scratch[part].assumingMemoryBound(to: Int8.self)
            let kp = g.paddedReductionSize, cout = g.outputChannels
            let totalPixels = g.outputHeight * g.outputWidth
            let slope = op.negativeSlope, zp = outQ.zeroPoint
            if kernelFamily == .sdotIGEMMA76 {
                runConvSDOT(plan, begin, end, part, input: input, output: output, zeroPoint: zp, slope: slope)
                return
            }
            if kernelFamily.isIndirect {
                let ind = indirection[part], taps = g.kernelHeight * g.kernelWidth
                var p = begin * 4
                let pEnd = min(end * 4, totalPixels)
                while p < pEnd {
                    let rows = min(4, pEnd - p)
                    if kernelFamily == .x86AVXVNNI,
                       let origin = qs8ConvWindowOrigin(g, input: input, firstPixel: p, count: rows, mr: 4) {
                        qs8ConvWindow4xNC4AVXVNNI(taps: taps, cin: g.inputChannels, origin: origin, tapOffsets: plan.tapOffsets!,
                                                  pixelStride: g.strideX * g.inputChannels, packedWeights: plan.packed!,
                                                  blockBytes: plan.blockBytes, outputZeroPoint: zp, negativeSlope: slope,
                                                  c: output + p * cout, cStride: cout, channels: cout)
                        p += rows
                        continue
                    }
                    qs8ConvIndirection(g, input: input, zeroBuffer: plan.zeroBuffer!, firstPixel: p, count: rows, mr: 4, out: ind)
                    indirectGEMM(rows: rows, taps: taps, cin: g.inputChannels, indirection: ind, packed: plan.packed!,
                                 blockBytes: plan.blockBytes, zeroPoint: zp, slope: slope,
                                 c: output + p * cout, cStride: cout, channels: cout)
                    p += rows
                }
                return
            }
            if kernelFamily == .c16HalvesA72 {
                runConvC16(plan, begin, end, part, input: input, output: output,
                           inputZeroPoint: Int8(truncatingIfNeeded: inQ.zeroPoint), zeroPoint: zp, slope: slope)
                return
            }
            var p = begin * 2
            let pEnd = min(end * 2, totalPixels)
            while p < pEnd {
                let rows = min(2, pEnd - p)
                let a: UnsafePointer<Int8>
                let aStride: Int
                if plan.direct {
                    a = UnsafePointer(input + p * g.inputChannels); aStride = g.inputChannels
                } else {
                    qs8Im2Col(g, input: input, zeroPoint: Int8(truncatingIfNeeded: inQ.zeroPoint), firstPixel: p, count: rows, tile: tile)
                    a = UnsafePointer(tile); aStride = kp
                }
                let c = output + p * cout
                switch kernelFamily {
                case .dotLoopA76:
                    var nb = 0
                    while nb < cout {
                        qs8GEMM2x4DotLoopA76(rows: rows, kc: kp, a: a, aStride: aStride,
                                             packedWeights: plan.packed! + (nb / 4) * plan.blockBytes,
                                             outputZeroPoint: zp, negativeSlope: slope,
                                             c: c + nb, cStride: cout, channels: min(4, cout - nb))
                        nb += 4
                    }
                case .scalar, .x86AVX2, .x86AVXVNNI, .c16HalvesA72, .sdotIGEMMA76:
                    let k = g.reductionSize
                    let rq = RequantizationFP32(zeroPoint: zp)
                    op.qWeights.withUnsafeBufferPointer { w in
                        for r in 0..<rows {
                            for co in 0..<cout {
                                var acc = op.qBias[co]
                                for i in 0..<k { acc = acc &+ Int32(a[r * aStride + i]) &* Int32(w[co * k + i]) }
                                c[r * cout + co] = rq.requantize(acc, scale: op.qScales[co], negativeSlope: slope)
                            }
                        }
                    }
                }
                p += rows
            }
        case .convTranspose:
            let inQ = model.tensors[op.inputs[0]].quantization, outQ = model.tensors[op.output].quantization
            let input = tensorAddress(op.inputs[0]).assumingMemoryBound(to: Int8.self)
            let output = tensorAddress(op.output).assumingMemoryBound(to: Int8.self)
            if kernelFamily == .scalar {
                op.qWeights.withUnsafeBufferPointer { w in op.qBias.withUnsafeBufferPointer { b in op.qScales.withUnsafeBufferPointer { s in
                    qs8ConvTranspose(plan.geometry, rowStart: begin, rowEnd: end,
                                     input: input, inputZeroPoint: inQ.zeroPoint,
                                     weights: w.baseAddress!, bias: b.baseAddress!, scales: s.baseAddress!,
                                     outputZeroPoint: outQ.zeroPoint, negativeSlope: op.negativeSlope, output: output)
                } } }
                return
            }
            if kernelFamily == .sdotIGEMMA76 {
                runConvTransposeSDOT(plan, begin, end, part, input: input, output: output,
                                     zeroPoint: outQ.zeroPoint, slope: op.negativeSlope)
                return
            }
            runConvTransposeClasses(plan, begin, end, part, input: input, output: output,
                                    zeroPoint: outQ.zeroPoint, slope: op.negativeSlope)
        case .add:
            let t = model.tensors[op.output]
            let rowElems = t.width * t.channels
            let qa = model.tensors[op.inputs[0]].quantization, qb = model.tensors[op.inputs[1]].quantization
            qs8Add(count: (end - begin) * rowElems,
                   a: tensorAddress(op.inputs[0]).assumingMemoryBound(to: Int8.self) + begin * rowElems,
                   aZeroPoint: qa.zeroPoint, aMultiplier: plan.multipliers[0],
                   b: tensorAddress(op.inputs[1]).assumingMemoryBound(to: Int8.self) + begin * rowElems,
                   bZeroPoint: qb.zeroPoint, bMultiplier: plan.multipliers[1],
                   outputZeroPoint: t.quantization.zeroPoint, negativeSlope: op.negativeSlope,
                   output: tensorAddress(op.output).assumingMemoryBound(to: Int8.self) + begin * rowElems)
        case .concat:
            let o = model.tensors[op.output]
            var offset = 0
            for (j, ti) in op.inputs.enumerated() {
                let x = model.tensors[ti]
                let firstPixel = begin * o.width, pixels = (end - begin) * o.width
                qs8ConcatSlice(pixels: pixels, channels: x.channels,
                               input: tensorAddress(ti).assumingMemoryBound(to: Int8.self) + firstPixel * x.channels,
                               inputZeroPoint: x.quantization.zeroPoint, multiplier: plan.multipliers[j], identical: plan.identical[j],
                               output: tensorAddress(op.output).assumingMemoryBound(to: Int8.self) + firstPixel * o.channels,
                               outputChannels: o.channels, offset: offset, outputZeroPoint: o.quantization.zeroPoint)
                offset += x.channels
            }
        case .maxPool:
            let x = model.tensors[op.inputs[0]], o = model.tensors[op.output]
            qs8MaxPool(inputHeight: x.height, inputWidth: x.width, channels: x.channels, kernel: op.poolKernel, stride: op.poolStride,
                       outputHeight: o.height, outputWidth: o.width, rowStart: begin, rowEnd: end,
                       input: tensorAddress(op.inputs[0]).assumingMemoryBound(to: Int8.self),
                       output: tensorAddress(op.output).assumingMemoryBound(to: Int8.self))
        case .avgPool:
            let x = model.tensors[op.inputs[0]], o = model.tensors[op.output]
            qs8AvgPool(inputHeight: x.height, inputWidth: x.width, channels: x.channels, kernel: op.poolKernel, stride: op.poolStride,
                       outputHeight: o.height, outputWidth: o.width, rowStart: begin, rowEnd: end,
                       input: tensorAddress(op.inputs[0]).assumingMemoryBound(to: Int8.self),
                       inputZeroPoint: x.quantization.zeroPoint, multiplier: plan.multipliers[0],
                       output: tensorAddress(op.output).assumingMemoryBound(to: Int8.self), outputZeroPoint: o.quantization.zeroPoint)
        case .resizeNearest2x:
            let x = model.tensors[op.inputs[0]], o = model.tensors[op.output]
            qs8ResizeNearest2x(inputWidth: x.width, channels: x.channels, outputWidth: o.width, rowStart: begin, rowEnd: end,
                               input: tensorAddress(op.inputs[0]).assumingMemoryBound(to: Int8.self),
                               output: tensorAddress(op.output).assumingMemoryBound(to: Int8.self))
        case .mapSigmoid, .mapSoftmax2:
            let src = tensorAddress(op.inputs[0]).assumingMemoryBound(to: Int8.self)
            let w = model.inputWidth
            op.table.withUnsafeBufferPointer { t in
                if op.kind == .mapSigmoid {
                    for i in (begin * w)..<(end * w) { heatmapBuffer[i] = t[Int(src[i]) + 128] }
                } else {
                    for i in (begin * w)..<(end * w) { heatmapBuffer[i] = t[Int(src[2 * i + 1]) - Int(src[2 * i]) + 255] }
                }
            }
        }
    }

    /// Convolution with the SDOT kernels (GRDKernelsDotprod), output pixels 4 * begin ..< 4 * end:
    /// four pixels per call, every output channel in that call. Groups of four pixels of one
    /// output row whose windows lie inside the input are read in place (window form: origin + tap
    /// offset + r * stride), a whole run of them per call; the others (image borders, a group
    /// across two rows) through an indirection buffer. The window test is done here with the
    /// operation's geometry in registers (no call per group).
    private func runConvSDOT(_ plan: OpPlan, _ begin: Int, _ end: Int, _ part: Int,
                             input: UnsafePointer<Int8>, output: UnsafeMutablePointer<Int8>,
                             zeroPoint zp: Int32, slope: Float) {
        let g = plan.geometry
        let cin = g.inputChannels, cout = g.outputChannels, taps = g.kernelHeight * g.kernelWidth
        let packed = UnsafeRawPointer(plan.packed!), bb = plan.blockBytes
        let tapOffsets = UnsafePointer(plan.tapOffsets!), zeroBuffer = UnsafePointer(plan.zeroBuffer!)
        let ind = indirection[part]
        let ow = g.outputWidth, sy = g.strideY, sx = g.strideX, pixelStride = sx * cin
        // Window origins inside the input: iy0 in 0 ... H - kh, ix0 in 0 ... W - kw - 3 * sx.
        let iyMax = g.inputHeight - g.kernelHeight, ixMax = g.inputWidth - g.kernelWidth - 3 * sx
        var p = begin * 4
        let pEnd = min(end * 4, g.outputHeight * ow)
        var oy = p / ow, ox = p - oy * ow
        while p < pEnd {
            let rows = min(4, pEnd - p)
            let c = output + p * cout
            let iy0 = oy * sy - g.padTop, ix0 = ox * sx - g.padLeft
            var done = rows
            if rows == 4 && ox + 4 <= ow && iy0 >= 0 && iy0 <= iyMax && ix0 >= 0 && ix0 <= ixMax {
                // The run of window groups from here: inside this row, inside the input, before pEnd.
                let groups = min((ow - ox) / 4, (ixMax - ix0) / (4 * sx) + 1, (pEnd - p) / 4)
                qs8ConvWindowRow4xNC4NeonDot(groups: groups, taps: taps, cin: cin, origin: input + (iy0 * g.inputWidth + ix0) * cin,
                                             tapOffsets: tapOffsets, pixelStride: pixelStride, packedWeights: packed,
                                             blockBytes: bb, outputZeroPoint: zp, negativeSlope: slope,
                                             c: c, cStride: cout, channels: cout)
                done = 4 * groups
            } else {
                qs8ConvIndirection(g, input: input, zeroBuffer: zeroBuffer, firstPixel: p, count: rows, mr: 4, out: ind)
                qs8IGEMM4xNC4NeonDot(rows: rows, taps: taps, cin: cin, indirection: ind, packedWeights: packed,
                                     blockBytes: bb, outputZeroPoint: zp, negativeSlope: slope,
                                     c: c, cStride: cout, channels: cout)
            }
            p += done
            ox += done
            while ox >= ow { ox -= ow; oy += 1 }
        }
    }

    /// Convolution with the c16 kernels, output pixels 2 * begin ..< 2 * end: two pixels per
    /// kernel call, every output channel in that call. When C is a multiple of 8, pairs of one
    /// output row whose windows lie inside the input (1x1 convolutions: all) are read in place
    /// through the window's half table, a whole run of them per call (qs8ConvWindowRun2xNC16A72;
    /// the window test is done here with the geometry in registers, no division per pair); the
    /// others (image borders, a pair across two rows, C = 1, 2, 3 ...) go through the im2col tile.
    private func runConvC16(_ plan: OpPlan, _ begin: Int, _ end: Int, _ part: Int,
                            input: UnsafePointer<Int8>, output: UnsafeMutablePointer<Int8>,
                            inputZeroPoint: Int8, zeroPoint zp: Int32, slope: Float) {
        let g = plan.geometry
        let cout = g.outputChannels, kp = g.paddedReductionSize, chunks = kp / 16
        let tile = scratch[part].assumingMemoryBound(to: Int8.self)
        let packed = UnsafeRawPointer(plan.packed!), bb = plan.blockBytes
        let window = plan.windowHalfOffsets, paired = plan.windowHalvesPaired
        let ow = g.outputWidth, sy = g.strideY, sx = g.strideX, pixelStride = sx * g.inputChannels
        // Window origins inside the input: iy0 in 0 ... H - kh; a pair's ix0 in 0 ... W - kw - sx,
        // a single pixel's in 0 ... W - kw.
        let iyMax = g.inputHeight - g.kernelHeight, ixMax1 = g.inputWidth - g.kernelWidth, ixMax2 = ixMax1 - sx
        var p = begin * 2
        let pEnd = min(end * 2, g.outputHeight * ow)
        var oy = p / ow, ox = p - oy * ow
        while p < pEnd {
            let rows = min(2, pEnd - p)
            let c = output + p * cout
            let iy0 = oy * sy - g.padTop, ix0 = ox * sx - g.padLeft
            var done = rows
            if let offsets = window, ox + rows <= ow, iy0 >= 0, iy0 <= iyMax, ix0 >= 0, ix0 <= (rows == 2 ? ixMax2 : ixMax1) {
                let origin = input + (iy0 * g.inputWidth + ix0) * g.inputChannels
                if rows == 2 {
                    // The run of window pairs from here: inside this row, inside the input, before pEnd.
                    let pairs = min((ow - ox) / 2, (ixMax2 - ix0) / (2 * sx) + 1, (pEnd - p) / 2)
                    qs8ConvWindowRun2xNC16A72(pairs: pairs, chunks: chunks, origin: origin, pixelStride: pixelStride,
                                              halfOffsets: offsets, paired: paired, packedWeights: packed, blockBytes: bb,
                                              outputZeroPoint: zp, negativeSlope: slope, c: c, cStride: cout, channels: cout)
                    done = 2 * pairs
                } else if paired {
                    qs8GEMM2x8C16PairedA72(rows: 1, chunks: chunks, a: origin, aStride: pixelStride, halfOffsets: offsets,
                                           packedWeights: packed, blockBytes: bb, outputZeroPoint: zp, negativeSlope: slope,
                                           c: c, cStride: cout, channels: cout)
                } else {
                    qs8GEMM2x8C16A72(rows: 1, chunks: chunks, a: origin, aStride: pixelStride, halfOffsets: offsets,
                                     packedWeights: packed, blockBytes: bb, outputZeroPoint: zp, negativeSlope: slope,
                                     c: c, cStride: cout, channels: cout)
                }
            } else {
                qs8Im2Col(g, input: input, zeroPoint: inputZeroPoint, firstPixel: p, count: rows, tile: tile)
                qs8GEMM2x8C16PairedA72(rows: rows, chunks: chunks, a: tile, aStride: kp, halfOffsets: denseHalfOffsets,
                                       packedWeights: packed, blockBytes: bb, outputZeroPoint: zp, negativeSlope: slope,
                                       c: c, cStride: cout, channels: cout)
            }
            p += done
            ox += done
            while ox >= ow { ox -= ow; oy += 1 }
        }
    }

    /// Transposed convolution rows begin ..< end with the SDOT kernels: per output row and parity
    /// class, the class's pixels (every strideX-th) in groups of 4. Consecutive class pixels read
    /// consecutive input pixels, so groups whose taps all lie inside the input run in the window
    /// form (origin = the input pixel under the class's first tap, pixelStride = C, the class's
    /// tap offsets, output stride strideX pixels), a whole run per call; the others through
    /// qs8ConvTransposeIndirection (taps outside the input read the zero-point buffer).
    private func runConvTransposeSDOT(_ plan: OpPlan, _ begin: Int, _ end: Int, _ part: Int,
                                      input: UnsafePointer<Int8>, output: UnsafeMutablePointer<Int8>,
                                      zeroPoint zp: Int32, slope: Float) {
        let g = plan.geometry
        let cin = g.inputChannels, cout = g.outputChannels, sx = g.strideX, sy = g.strideY
        let inW = g.inputWidth, ow = g.outputWidth
        let ind = indirection[part]
        let zeroBuffer = UnsafePointer(plan.zeroBuffer!)
        for oy in begin..<end {
            let ty = oy + g.padTop, cy = ty % sy, iy0 = ty / sy
            let na = qs8ConvTransposeClassTaps(kernel: g.kernelHeight, stride: sy, first: cy)
            let rowInside = iy0 - (na - 1) >= 0 && iy0 < g.inputHeight
            for cx in 0..<sx {
                let cls = cy * sx + cx
                let taps = plan.classTaps[cls], packed = UnsafeRawPointer(plan.classPacked[cls]), bb = plan.classBlockBytes[cls]
                let offsets = UnsafePointer(plan.classTapOffsets[cls])
                let nb = qs8ConvTransposeClassTaps(kernel: g.kernelWidth, stride: sx, first: cx)
                let first = ((cx - g.padLeft) % sx + sx) % sx
                if first >= ow { continue }
                let pixels = (ow - first + sx - 1) / sx
                let ixFirst = (first + g.padLeft) / sx   // input column under tap (cy, cx) of the class's first pixel
                let rowOut = output + (oy * ow + first) * cout
                var i = 0
                while i < pixels {
                    let count = min(4, pixels - i)
                    let ix0 = ixFirst + i
                    let c = rowOut + i * sx * cout
                    if rowInside && count == 4 && ix0 - (nb - 1) >= 0 && ix0 + 3 < inW {
                        let groups = min((pixels - i) / 4, (inW - 4 - ix0) / 4 + 1)
                        qs8ConvWindowRow4xNC4NeonDot(groups: groups, taps: taps, cin: cin, origin: input + (iy0 * inW + ix0) * cin,
                                                     tapOffsets: offsets, pixelStride: cin, packedWeights: packed, blockBytes: bb,
                                                     outputZeroPoint: zp, negativeSlope: slope, c: c, cStride: sx * cout, channels: cout)
                        i += 4 * groups
                    } else {
                        qs8ConvTransposeIndirection(g, input: input, zeroBuffer: zeroBuffer, oy: oy, ox: first + i * sx,
                                                    count: count, mr: 4, out: ind)
                        qs8IGEMM4xNC4NeonDot(rows: count, taps: taps, cin: cin, indirection: ind, packedWeights: packed,
                                             blockBytes: bb, outputZeroPoint: zp, negativeSlope: slope,
                                             c: c, cStride: sx * cout, channels: cout)
                        i += count
                    }
                }
            }
        }
    }

    /// Transposed convolution rows begin ..< end: per output row, the pixels of each parity class
    /// (every strideX-th pixel) go through the family's GEMM kernel with that class's sub-kernel,
    /// written with an output stride of strideX pixels.
    private func runConvTransposeClasses(_ plan: OpPlan, _ begin: Int, _ end: Int, _ part: Int,
                                         input: UnsafePointer<Int8>, output: UnsafeMutablePointer<Int8>,
                                         zeroPoint zp: Int32, slope: Float) {
        let g = plan.geometry
        let cin = g.inputChannels, cout = g.outputChannels, sx = g.strideX
        let mr = pixelsPerCall
        let ind = indirection[part]
        let tile = scratch[part].assumingMemoryBound(to: Int8.self)
        for oy in begin..<end {
            let cy = (oy + g.padTop) % g.strideY
            for cx in 0..<sx {
                let cls = cy * sx + cx
                let taps = plan.classTaps[cls], packed = plan.classPacked[cls], bb = plan.classBlockBytes[cls]
                let kp = (taps * cin + 15) & ~15
                var ox = ((cx - g.padLeft) % sx + sx) % sx
                while ox < g.outputWidth {
                    let count = min(mr, (g.outputWidth - ox + sx - 1) / sx)
                    let c = output + (oy * g.outputWidth + ox) * cout
                    if kernelFamily != .c16HalvesA72 {
                        qs8ConvTransposeIndirection(g, input: input, zeroBuffer: plan.zeroBuffer!, oy: oy, ox: ox, count: count, mr: mr, out: ind)
                    }
                    switch kernelFamily {
                    case .x86AVX2, .x86AVXVNNI, .sdotIGEMMA76:
                        indirectGEMM(rows: count, taps: taps, cin: cin, indirection: ind, packed: packed, blockBytes: bb,
                                     zeroPoint: zp, slope: slope, c: c, cStride: sx * cout, channels: cout)
                    case .c16HalvesA72:
                        // Interior outputs: the class's taps in place (input rows iy0 ..< iy0 + nky,
                        // columns ix0 ..< ix0 + nkx + count - 1, ascending = the reversed tap order).
                        let (nky, nkx) = plan.classKernel[cls]
                        let ty = oy + g.padTop, tx = ox + g.padLeft
                        let kyMax = cy + (nky - 1) * g.strideY, kxMax = cx + (nkx - 1) * sx
                        let iy0 = (ty - kyMax) / g.strideY, ix0 = (tx - kxMax) / sx
                        if count == 2, let table = plan.classWindowHalfOffsets[cls], ty >= kyMax, tx >= kxMax,
                           iy0 + nky <= g.inputHeight, ix0 + 1 + nkx <= g.inputWidth {
                            // A run of interior class pixel pairs: consecutive class pixels read
                            // consecutive input pixels (stride C) and write every sx-th output pixel.
                            let left = (g.outputWidth - ox + sx - 1) / sx
                            let pairs = min(left / 2, (g.inputWidth - nkx - 1 - ix0) / 2 + 1)
                            qs8ConvWindowRun2xNC16A72(pairs: pairs, chunks: kp / 16, origin: input + (iy0 * g.inputWidth + ix0) * cin,
                                                      pixelStride: cin, halfOffsets: table, paired: plan.classWindowHalvesPaired[cls],
                                                      packedWeights: packed, blockBytes: bb, outputZeroPoint: zp, negativeSlope: slope,
                                                      c: c, cStride: sx * cout, channels: cout)
                            ox += 2 * pairs * sx
                            continue
                        }
                        if let table = plan.classWindowHalfOffsets[cls], ty >= kyMax, tx >= kxMax,
                           iy0 + nky <= g.inputHeight, ix0 + count - 1 + nkx <= g.inputWidth {
                            if plan.classWindowHalvesPaired[cls] {
                                qs8GEMM2x8C16PairedA72(rows: count, chunks: kp / 16, a: input + (iy0 * g.inputWidth + ix0) * cin, aStride: cin,
                                                       halfOffsets: table, packedWeights: packed, blockBytes: bb, outputZeroPoint: zp,
                                                       negativeSlope: slope, c: c, cStride: sx * cout, channels: cout)
                            } else {
                                qs8GEMM2x8C16A72(rows: count, chunks: kp / 16, a: input + (iy0 * g.inputWidth + ix0) * cin, aStride: cin,
                                                 halfOffsets: table, packedWeights: packed, blockBytes: bb, outputZeroPoint: zp,
                                                 negativeSlope: slope, c: c, cStride: sx * cout, channels: cout)
                            }
                            break
                        }
                        qs8ConvTransposeIndirection(g, input: input, zeroBuffer: plan.zeroBuffer!, oy: oy, ox: ox, count: count, mr: mr, out: ind)
                        qs8GatherIndirection(taps: taps, channels: cin, rows: count, mr: mr, indirection: ind, paddedK: kp, tile: tile,
                                             reversedTaps: true)
                        qs8GEMM2x8C16PairedA72(rows: count, chunks: kp / 16, a: tile, aStride: kp, halfOffsets: denseHalfOffsets,
                                               packedWeights: packed, blockBytes: bb, outputZeroPoint: zp, negativeSlope: slope,
                                               c: c, cStride: sx * cout, channels: cout)
                    case .dotLoopA76:
                        qs8GatherIndirection(taps: taps, channels: cin, rows: count, mr: mr, indirection: ind, paddedK: kp, tile: tile)
                        var nb = 0
                        while nb < cout {
                            qs8GEMM2x4DotLoopA76(rows: count, kc: kp, a: tile, aStride: kp, packedWeights: packed + (nb / 4) * bb,
                                                 outputZeroPoint: zp, negativeSlope: slope,
                                                 c: c + nb, cStride: sx * cout, channels: min(4, cout - nb))
                            nb += 4
                        }
                    case .scalar:
                        break
                    }
                    ox += count * sx
                }
            }
        }
    }

    private func runFloat(_ step: Int, _ begin: Int, _ end: Int, _ part: Int) {
        let op = model.ops[step]
        let plan = plans[step]
        func f(_ t: Int) -> UnsafeMutablePointer<Float> { tensorAddress(t).assumingMemoryBound(to: Float.self) }
        switch op.kind {
        case .conv, .convTranspose:
            let g = plan.geometry
            let input = f(op.inputs[0]), output = f(op.output)
            let acc = scratch[part].assumingMemoryBound(to: Float.self)
            let w = plan.floatWeightsHWIO!
            let cin = g.inputChannels, cout = g.outputChannels, slope = op.negativeSlope
            for oy in begin..<end {
                for ox in 0..<g.outputWidth {
                    for co in 0..<cout { acc[co] = op.fBias[co] }
                    for ky in 0..<g.kernelHeight {
                        let iy: Int
                        if op.kind == .conv { iy = oy * g.strideY - g.padTop + ky } else {
                            let ty = oy + g.padTop - ky
                            if ty < 0 || ty % g.strideY != 0 { continue }
                            iy = ty / g.strideY
                        }
                        if iy < 0 || iy >= g.inputHeight { continue }
                        for kx in 0..<g.kernelWidth {
                            let ix: Int
                            if op.kind == .conv { ix = ox * g.strideX - g.padLeft + kx } else {
                                let tx = ox + g.padLeft - kx
                                if tx < 0 || tx % g.strideX != 0 { continue }
                                ix = tx / g.strideX
                            }
                            if ix < 0 || ix >= g.inputWidth { continue }
                            let src = input + (iy * g.inputWidth + ix) * cin
                            let wt = w + ((ky * g.kernelWidth + kx) * cin) * cout
                            for ci in 0..<cin {
                                let a = src[ci]
                                let wr = wt + ci * cout
                                for co in 0..<cout { acc[co] += a * wr[co] }
                            }
                        }
                    }
                    let dst = output + (oy * g.outputWidth + ox) * cout
                    for co in 0..<cout { let v = acc[co]; dst[co] = v < 0 ? v * slope : v }
                }
            }
        case .add:
            let t = model.tensors[op.output]
            let rowElems = t.width * t.channels
            let a = f(op.inputs[0]), b = f(op.inputs[1]), o = f(op.output)
            for i in (begin * rowElems)..<(end * rowElems) { let v = a[i] + b[i]; o[i] = v < 0 ? v * op.negativeSlope : v }
        case .concat:
            let o = model.tensors[op.output]
            var offset = 0
            for ti in op.inputs {
                let x = model.tensors[ti]
                let src = f(ti), dst = f(op.output)
                for p in (begin * o.width)..<(end * o.width) {
                    for c in 0..<x.channels { dst[p * o.channels + offset + c] = src[p * x.channels + c] }
                }
                offset += x.channels
            }
        case .maxPool, .avgPool:
            let x = model.tensors[op.inputs[0]], o = model.tensors[op.output]
            let src = f(op.inputs[0]), dst = f(op.output)
            let k = op.poolKernel, s = op.poolStride, c = x.channels
            for oy in begin..<end { for ox in 0..<o.width { for ch in 0..<c {
                var m: Float = op.kind == .maxPool ? -Float.infinity : 0
                for ky in 0..<k { for kx in 0..<k {
                    let v = src[((oy * s + ky) * x.width + ox * s + kx) * c + ch]
                    if op.kind == .maxPool { m = max(m, v) } else { m += v }
                } }
                dst[(oy * o.width + ox) * c + ch] = op.kind == .maxPool ? m : m / Float(k * k)
            } } }
        case .resizeNearest2x:
            let x = model.tensors[op.inputs[0]], o = model.tensors[op.output]
            let src = f(op.inputs[0]), dst = f(op.output), c = x.channels
            for oy in begin..<end { for ox in 0..<o.width { for ch in 0..<c {
                dst[(oy * o.width + ox) * c + ch] = src[((oy / 2) * x.width + ox / 2) * c + ch]
            } } }
        case .mapSigmoid, .mapSoftmax2:
            let src = f(op.inputs[0])
            let w = model.inputWidth
            for i in (begin * w)..<(end * w) {
                heatmapBuffer[i] = op.kind == .mapSigmoid ? 1 / (1 + expf(-src[i])) : 1 / (1 + expf(src[2 * i] - src[2 * i + 1]))
            }
        }
    }
}
