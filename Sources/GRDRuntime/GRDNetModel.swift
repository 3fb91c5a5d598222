#if canImport(Glibc)
import Glibc
#endif

/// One activation tensor of the graph: NHWC with batch 1, int8 with an affine quantisation.
public struct ModelTensor: Equatable {
    public let height: Int, width: Int, channels: Int
    public let quantization: TensorQuantization
    public var elementCount: Int { height * width * channels }
}

/// The operators a .grdnet graph may contain (values are the file's op codes).
public enum ModelOpKind: UInt32 {
    case conv = 1, convTranspose = 2, add = 3, concat = 4, maxPool = 5, avgPool = 6
    case resizeNearest2x = 7, mapSigmoid = 8, mapSoftmax2 = 9

    var name: String {
        switch self {
        case .conv: return "Conv"
        case .convTranspose: return "ConvTranspose"
        case .add: return "Add"
        case .concat: return "Concat"
        case .maxPool: return "MaxPool"
        case .avgPool: return "AveragePool"
        case .resizeNearest2x: return "ResizeNearest2x"
        case .mapSigmoid: return "MapSigmoid"
        case .mapSoftmax2: return "MapSoftmax2"
        }
    }
}

/// One operator with its attributes and (for convolutions) its weights, copied out of the file.
public struct ModelOp {
    public let kind: ModelOpKind
    public let inputs: [Int]
    /// Tensor index written by the op; -1 for the final map operators (they write the heatmap).
    public let output: Int
    public var kernelHeight = 0, kernelWidth = 0, strideY = 1, strideX = 1
    public var padTop = 0, padLeft = 0, padBottom = 0, padRight = 0
    public var negativeSlope: Float = 1
    public var poolKernel = 0, poolStride = 0
    /// int8 weights OHWI, int32 bias (conv: input zero point folded in), per-channel requant scale.
    public var qWeights: [Int8] = [], qBias: [Int32] = [], qScales: [Float] = []
    /// fp32 weights OHWI and bias for the reference path.
    public var fWeights: [Float] = [], fBias: [Float] = []
    /// Map operators: probability table indexed by the int8 value (+128) or channel difference (+255).
    public var table: [Float] = []
}

/// Section kinds in the file's section table.
enum SectionKind: UInt32 {
    case metadata = 1, graph = 2, weights = 3, roi = 4, golden = 5, scoreStatistics = 6, frameFit = 7
}

/// How the file's network expects a frame of another shape on its input grid (section 7).
/// A file without the section was trained on squashed frames.
public enum ModelFrameFit: Equatable, Sendable {
    /// Resized to the input size, aspect ratio not kept.
    case squash
    /// Aspect ratio kept, centred, the rest filled with `pad` (one value per channel) and left
    /// out of the ROI: the network never learned what a stretched part looks like.
    case letterbox(pad: [UInt8])

    static let letterboxCode: UInt32 = 1
}

/// Per-pixel statistics of the box-filtered anomaly map over good parts (optional section 6).
/// With them the image score is the largest standardised excess over the good parts,
/// max over the ROI of (box(map) - mean) / (std + floor), instead of max of the 21x21 box mean:
/// a place where good parts always light up (an edge, a glare band) no longer dominates the
/// score, and a defect where good parts are quiet stands out.
public struct ScoreStatistics: Sendable {
    /// Side of the box filter (odd).
    public let box: Int
    /// Added to every std: keeps a never-varying pixel from dividing by ~0.
    public let floor: Float
    /// inputHeight * inputWidth each, row-major.
    public let mean: [Float], std: [Float]

    public init(box: Int, floor: Float, mean: [Float], std: [Float]) {
        self.box = box; self.floor = floor; self.mean = mean; self.std = std
    }

    public static let maxBox = 63
}

/// A golden vector: an input frame with the expected int8 output tensor and scores.
public struct GoldenVector {
    public let input: [UInt8]
    public let expectedOutput: [Int8]
    public let expectedScore: Float
    public let expectedFP32Score: Float
}

/// A GRD-Net-Edge model loaded from a .grdnet file (format: Models/converter/FORMAT.md).
///
/// The file is mapped read-only, every byte of it is validated (header and section CRC-32s,
/// version, bounds, shapes, value ranges) and the parts the engine needs are copied out; a
/// corrupt or truncated file is rejected with a `ModelFileError` naming the problem.
public final class GRDNetModel {
    public static let formatVersion: UInt32 = 1
    public static let magic: [UInt8] = [0x47, 0x52, 0x44, 0x4E, 0x45, 0x54, 0x00, 0x1A]  // "GRDNET\0\x1a"
    static let headerSize = 64
    static let sectionEntrySize = 24

    public let path: String
    public let inputHeight: Int, inputWidth: Int, inputChannels: Int
    public let mean: [Float], std: [Float]
    /// Per-channel 256-entry table pixel -> int8 input (normalisation + quantisation).
    public let inputTable: [Int8]
    /// The model card and other facts, as the JSON text stored in the file.
    public let metadataJSON: String
    public let defaultThreshold: Float?
    /// Good-part statistics that standardise the image score; nil = the plain 21x21 box rule.
    public let scoreStatistics: ScoreStatistics?
    /// Default ROI mask, inputHeight x inputWidth, 0 = ignore; nil when the file has none.
    public let defaultROI: [UInt8]?
    /// How frames are placed on the input grid (squash unless the file says letterbox).
    public let frameFit: ModelFrameFit
    /// The letterbox padding per channel, or nil for a squash model (FramePreprocessor's argument).
    public var letterboxPad: [UInt8]? {
        if case .letterbox(let pad) = frameFit { return pad }
        return nil
    }
    public let tensors: [ModelTensor]
    public let ops: [ModelOp]
    public let goldenVectors: [GoldenVector]
    /// Index of the tensor compared by the self-test (the map's input, or the last op's output).
    public let outputTensor: Int
    /// Index of the map op, if the graph ends in one.
    public let mapOp: Int?

    /// Alias kept for readers of the COMMON interface: the metadata JSON.
    public var metadata: String { metadataJSON }

    /// Multiply-accumulates of one inference (convolutions only).
    public var multiplyAccumulates: Int {
        var total = 0
        for op in ops where op.kind == .conv || op.kind == .convTranspose {
            let inT = tensors[op.inputs[0]], outT = tensors[op.output]
            if op.kind == .conv {
                total += outT.elementCount * op.kernelHeight * op.kernelWidth * inT.channels
            } else {
                total += inT.elementCount * op.kernelHeight * op.kernelWidth * outT.channels
            }
        }
        return total
    }

    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY)
        if fd < 0 { throw ModelFileError(path: path, problem: "cannot open (\(String(cString: strerror(errno))))") }
        defer { close(fd) }
        var st = stat()
        if fstat(fd, &st) != 0 { throw ModelFileError(path: path, problem: "cannot stat (\(String(cString: strerror(errno))))") }
        // A folder opens read-only too; mmap's "No such device" would not say what is wrong.
        if (st.st_mode & S_IFMT) == S_IFDIR { throw ModelFileError(path: path, problem: "is a folder, not a model file") }
        let size = Int(st.st_size)
        if size < GRDNetModel.headerSize {
            throw ModelFileError(path: path, problem: "file is \(size) bytes, shorter than the \(GRDNetModel.headerSize)-byte header (truncated or not a model)")
        }
        guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED else {
            throw ModelFileError(path: path, problem: "cannot map into memory (\(String(cString: strerror(errno))))")
        }
        defer { munmap(base, size) }
        let parsed = try ModelParser(path: path, bytes: UnsafeRawBufferPointer(start: base, count: size)).parse()
        inputHeight = parsed.inputHeight; inputWidth = parsed.inputWidth; inputChannels = parsed.inputChannels
        mean = parsed.mean; std = parsed.std; inputTable = parsed.inputTable
        metadataJSON = parsed.metadataJSON; defaultThreshold = parsed.defaultThreshold
        defaultROI = parsed.defaultROI; tensors = parsed.tensors; ops = parsed.ops
        goldenVectors = parsed.golden; outputTensor = parsed.outputTensor; mapOp = parsed.mapOp
        scoreStatistics = parsed.scoreStatistics; frameFit = parsed.frameFit
    }
}

/// Everything parsed out of a file, before it becomes a GRDNetModel.
struct ParsedModel {
    var inputHeight = 0, inputWidth = 0, inputChannels = 0
    var mean: [Float] = [], std: [Float] = [], inputTable: [Int8] = []
    var metadataJSON = ""
    var defaultThreshold: Float?
    var scoreStatistics: ScoreStatistics?
    var defaultROI: [UInt8]?
    var frameFit = ModelFrameFit.squash
    var tensors: [ModelTensor] = []
    var ops: [ModelOp] = []
    var golden: [GoldenVector] = []
    var outputTensor = 0
    var mapOp: Int?
}

/// Parses and validates a mapped file. Every read goes through ByteCursor, so a corrupt length
/// or count becomes an error, never an out-of-bounds access.
struct ModelParser {
    let path: String
    let bytes: UnsafeRawBufferPointer

    static let maxDimension = 8192, maxChannels = 4096, maxTensors = 4096, maxOps = 4096
    static let maxElements = 1 << 27

    func error(_ problem: String) -> ModelFileError { ModelFileError(path: path, problem: problem) }

    func parse() throws -> ParsedModel {
        let p = path
        var header = ByteCursor(bytes, what: "header") { ModelFileError(path: p, problem: $0) }
        let magic = try header.bytes(8, "magic")
        if !magic.elementsEqual(GRDNetModel.magic) { throw error("not a .grdnet model (wrong magic bytes at the start)") }
        let version = try header.u32("format version")
        if version != GRDNetModel.formatVersion {
            throw error("format version \(version) is not supported (this build reads version \(GRDNetModel.formatVersion)); re-export the model with a matching converter")
        }
        let sectionCount = try header.count("section count", limit: 16)
        let fileSize = try header.u64("file size")
        if fileSize != UInt64(bytes.count) {
            throw error("header says the file is \(fileSize) bytes but it is \(bytes.count) bytes (truncated or padded)")
        }
        let headerCRC = try header.u32("header CRC")
        let tableEnd = GRDNetModel.headerSize + sectionCount * GRDNetModel.sectionEntrySize
        if tableEnd > bytes.count { throw error("section table (\(sectionCount) entries) runs past the end of the file") }
        var headerCopy = [UInt8](UnsafeRawBufferPointer(rebasing: bytes[0..<tableEnd]))
        headerCopy[24] = 0; headerCopy[25] = 0; headerCopy[26] = 0; headerCopy[27] = 0
        let computed = headerCopy.withUnsafeBytes { CRC32.checksum($0) }
        if computed != headerCRC { throw error("header checksum mismatch (file is corrupt)") }

        var sections: [SectionKind: UnsafeRawBufferPointer] = [:]
        var table = ByteCursor(UnsafeRawBufferPointer(rebasing: bytes[GRDNetModel.headerSize..<tableEnd]), what: "section table") { ModelFileError(path: p, problem: $0) }
        for i in 0..<sectionCount {
            let kindRaw = try table.u32("section \(i) kind")
            let crc = try table.u32("section \(i) CRC")
            let offset = try table.u64("section \(i) offset")
            let length = try table.u64("section \(i) length")
            guard let kind = SectionKind(rawValue: kindRaw) else { throw error("section \(i) has unknown kind \(kindRaw)") }
            if sections[kind] != nil { throw error("section \(kind) appears twice") }
            if offset < UInt64(tableEnd) || offset > UInt64(bytes.count) || length > UInt64(bytes.count) - offset {
                throw error("section \(kind) (offset \(offset), \(length) bytes) lies outside the file")
            }
            let body = UnsafeRawBufferPointer(rebasing: bytes[Int(offset)..<Int(offset + length)])
            if CRC32.checksum(body) != crc { throw error("section \(kind) checksum mismatch (file is corrupt)") }
            sections[kind] = body
        }
        guard let meta = sections[.metadata] else { throw error("missing the metadata section") }
        guard let graph = sections[.graph] else { throw error("missing the graph section") }
        guard let weights = sections[.weights] else { throw error("missing the weights section") }

        var model = ParsedModel()
        // Decoding replaces invalid sequences; re-encoding then differs from the bytes read.
        let json = String(decoding: meta, as: UTF8.self)
        if !json.utf8.elementsEqual(meta) { throw error("metadata is not valid UTF-8") }
        model.metadataJSON = json
        try parseGraph(graph, weights: weights, into: &model)
        if let roi = sections[.roi] { try parseROI(roi, into: &model) }
        if let golden = sections[.golden] { try parseGolden(golden, into: &model) }
        if let stats = sections[.scoreStatistics] { try parseScoreStatistics(stats, into: &model) }
        if let fit = sections[.frameFit] { try parseFrameFit(fit, into: &model) }
        // A standardised score is in standard deviations, not a probability: any finite value.
        if let t = model.defaultThreshold, model.scoreStatistics == nil && !(t >= 0 && t <= 1) {
            throw error("default threshold \(t) is outside [0, 1] (a model without score statistics scores probabilities)")
        }
        return model
    }

    func parseGraph(_ graph: UnsafeRawBufferPointer, weights: UnsafeRawBufferPointer, into m: inout ParsedModel) throws {
        let p = path
        var c = ByteCursor(graph, what: "graph section") { ModelFileError(path: p, problem: $0) }
        m.inputHeight = try c.count("input height", limit: Self.maxDimension)
        m.inputWidth = try c.count("input width", limit: Self.maxDimension)
        m.inputChannels = try c.count("input channels", limit: 4)
        if m.inputHeight == 0 || m.inputWidth == 0 || !(m.inputChannels == 1 || m.inputChannels == 3) {
            throw error("input geometry \(m.inputWidth)x\(m.inputHeight)x\(m.inputChannels) is invalid (need positive size and 1 or 3 channels)")
        }
        for i in 0..<m.inputChannels { m.mean.append(try c.f32("mean[\(i)]")) }
        for i in 0..<m.inputChannels {
            let s = try c.f32("std[\(i)]")
            if !(s > 0 && s.isFinite) || !m.mean[i].isFinite { throw error("normalisation of channel \(i) (mean \(m.mean[i]), std \(s)) is invalid") }
            m.std.append(s)
        }
        let tableBytes = try c.bytes(256 * m.inputChannels, "input table")
        m.inputTable = tableBytes.map { Int8(bitPattern: $0) }
        let threshold = try c.f32("default threshold")
        if threshold.isNaN { m.defaultThreshold = nil } else if threshold.isFinite {
            m.defaultThreshold = threshold      // its range depends on the score rule: checked in parse()
        } else { throw error("default threshold \(threshold) is not a finite number") }

        let tensorCount = try c.count("tensor count", limit: Self.maxTensors)
        if tensorCount == 0 { throw error("graph has no tensors") }
        for t in 0..<tensorCount {
            let h = try c.count("tensor \(t) height", limit: Self.maxDimension)
            let w = try c.count("tensor \(t) width", limit: Self.maxDimension)
            let ch = try c.count("tensor \(t) channels", limit: Self.maxChannels)
            let scale = try c.f32("tensor \(t) scale")
            let zp = try c.i32("tensor \(t) zero point")
            if h == 0 || w == 0 || ch == 0 || h * w * ch > Self.maxElements {
                throw error("tensor \(t) has invalid shape \(h)x\(w)x\(ch)")
            }
            if !(scale > 0 && scale.isFinite) || zp < -128 || zp > 127 {
                throw error("tensor \(t) has invalid quantisation (scale \(scale), zero point \(zp))")
            }
            m.tensors.append(ModelTensor(height: h, width: w, channels: ch, quantization: TensorQuantization(scale: scale, zeroPoint: zp)))
        }
        let inT = m.tensors[0]
        if inT.height != m.inputHeight || inT.width != m.inputWidth || inT.channels != m.inputChannels {
            throw error("tensor 0 (\(inT.height)x\(inT.width)x\(inT.channels)) does not match the input geometry")
        }
        var produced = [Bool](repeating: false, count: tensorCount)
        produced[0] = true
        let opCount = try c.count("op count", limit: Self.maxOps)
        if opCount == 0 { throw error("graph has no operators") }
        for i in 0..<opCount {
            let op = try parseOp(&c, index: i, weights: weights, model: m, produced: &produced)
            if let mapIndex = m.mapOp { throw error("op \(i) follows the map op \(mapIndex); the map must be last") }
            if op.kind == .mapSigmoid || op.kind == .mapSoftmax2 { m.mapOp = i; m.outputTensor = op.inputs[0] } else { m.outputTensor = op.output }
            m.ops.append(op)
        }
        if c.remaining != 0 { throw error("graph section has \(c.remaining) unexpected trailing bytes") }
        if let mi = m.mapOp {
            let t = m.tensors[m.ops[mi].inputs[0]]
            if t.height != m.inputHeight || t.width != m.inputWidth {
                throw error("the anomaly map is \(t.width)x\(t.height), not the input size \(m.inputWidth)x\(m.inputHeight)")
            }
        }
    }

    func blob<T>(_ c: inout ByteCursor, _ weights: UnsafeRawBufferPointer, _ field: String, count: Int, as: T.Type) throws -> [T] {
        let offset = try c.u64("\(field) offset")
        let length = try c.u64("\(field) length")
        let want = count * MemoryLayout<T>.stride
        if length != UInt64(want) { throw error("\(field) is \(length) bytes, expected \(want)") }
        if offset > UInt64(weights.count) || length > UInt64(weights.count) - offset {
            throw error("\(field) (offset \(offset), \(length) bytes) lies outside the weights section")
        }
        var out = [T]()
        out.reserveCapacity(count)
        let base = weights.baseAddress! + Int(offset)
        for i in 0..<count { out.append(base.loadUnaligned(fromByteOffset: i * MemoryLayout<T>.stride, as: T.self)) }
        return out
    }

    func parseOp(_ c: inout ByteCursor, index i: Int, weights: UnsafeRawBufferPointer, model m: ParsedModel, produced: inout [Bool]) throws -> ModelOp {
        let kindRaw = try c.u32("op \(i) kind")
        guard let kind = ModelOpKind(rawValue: kindRaw) else { throw error("op \(i) has unknown kind \(kindRaw)") }
        let label = "op \(i) (\(kind.name))"
        let nIn = try c.count("\(label) input count", limit: 8)
        var inputs: [Int] = []
        for j in 0..<nIn {
            let t = try c.u32("\(label) input \(j)")
            if t >= UInt32(m.tensors.count) || !produced[Int(t)] {
                throw error("\(label) reads tensor \(t), which does not exist or is not computed before it")
            }
            inputs.append(Int(t))
        }
        let outRaw = try c.u32("\(label) output")
        let isMap = kind == .mapSigmoid || kind == .mapSoftmax2
        var output = -1
        if isMap {
            if outRaw != 0xFFFF_FFFF { throw error("\(label) must have no output tensor") }
        } else {
            if outRaw >= UInt32(m.tensors.count) || produced[Int(outRaw)] {
                throw error("\(label) writes tensor \(outRaw), which does not exist or is written twice")
            }
            output = Int(outRaw)
            produced[output] = true
        }
        func expectInputs(_ n: Int) throws {
            if inputs.count != n { throw error("\(label) has \(inputs.count) inputs, expected \(n)") }
        }
        var op = ModelOp(kind: kind, inputs: inputs, output: output)
        let outT: ModelTensor? = output >= 0 ? m.tensors[output] : nil
        switch kind {
        case .conv, .convTranspose:
            try expectInputs(1)
            let inT = m.tensors[inputs[0]], o = outT!
            op.kernelHeight = try c.count("\(label) kernel height", limit: 16)
            op.kernelWidth = try c.count("\(label) kernel width", limit: 16)
            op.strideY = try c.count("\(label) stride y", limit: 8)
            op.strideX = try c.count("\(label) stride x", limit: 8)
            op.padTop = try c.count("\(label) pad top", limit: 16)
            op.padLeft = try c.count("\(label) pad left", limit: 16)
            op.padBottom = try c.count("\(label) pad bottom", limit: 16)
            op.padRight = try c.count("\(label) pad right", limit: 16)
            op.negativeSlope = try c.f32("\(label) negative slope")
            if op.kernelHeight == 0 || op.kernelWidth == 0 || op.strideY == 0 || op.strideX == 0 {
                throw error("\(label) has a zero kernel size or stride")
            }
            if !op.negativeSlope.isFinite || op.negativeSlope < 0 || op.negativeSlope > 1 {
                throw error("\(label) negative slope \(op.negativeSlope) is outside [0, 1]")
            }
            let (eh, ew): (Int, Int)
            if kind == .conv {
                if op.padTop >= op.kernelHeight || op.padBottom >= op.kernelHeight || op.padLeft >= op.kernelWidth || op.padRight >= op.kernelWidth {
                    throw error("\(label) padding is not smaller than the kernel")
                }
                let ph = inT.height + op.padTop + op.padBottom - op.kernelHeight
                let pw = inT.width + op.padLeft + op.padRight - op.kernelWidth
                if ph < 0 || pw < 0 { throw error("\(label) kernel is larger than its padded input") }
                (eh, ew) = (ph / op.strideY + 1, pw / op.strideX + 1)
            } else {
                (eh, ew) = ((inT.height - 1) * op.strideY - op.padTop - op.padBottom + op.kernelHeight,
                            (inT.width - 1) * op.strideX - op.padLeft - op.padRight + op.kernelWidth)
            }
            if o.height != eh || o.width != ew {
                throw error("\(label) output is \(o.height)x\(o.width), but its input and attributes give \(eh)x\(ew)")
            }
            let wCount = o.channels * op.kernelHeight * op.kernelWidth * inT.channels
            op.qWeights = try blob(&c, weights, "\(label) int8 weights", count: wCount, as: Int8.self)
            op.qBias = try blob(&c, weights, "\(label) int32 bias", count: o.channels, as: Int32.self)
            op.qScales = try blob(&c, weights, "\(label) requantisation scales", count: o.channels, as: Float.self)
            op.fWeights = try blob(&c, weights, "\(label) fp32 weights", count: wCount, as: Float.self)
            op.fBias = try blob(&c, weights, "\(label) fp32 bias", count: o.channels, as: Float.self)
            if op.qWeights.contains(-128) { throw error("\(label) has an int8 weight of -128 (weights must be in [-127, 127])") }
            if op.qScales.contains(where: { !($0 > 0 && $0.isFinite) }) { throw error("\(label) has a requantisation scale that is not positive and finite") }
            if op.fWeights.contains(where: { !$0.isFinite }) || op.fBias.contains(where: { !$0.isFinite }) {
                throw error("\(label) has fp32 weights that are not finite")
            }
        case .add:
            try expectInputs(2)
            op.negativeSlope = try c.f32("\(label) negative slope")
            if !op.negativeSlope.isFinite || op.negativeSlope < 0 || op.negativeSlope > 1 {
                throw error("\(label) negative slope \(op.negativeSlope) is outside [0, 1]")
            }
            let a = m.tensors[inputs[0]], b = m.tensors[inputs[1]], o = outT!
            if a.height != b.height || a.width != b.width || a.channels != b.channels || o.height != a.height || o.width != a.width || o.channels != a.channels {
                throw error("\(label) shapes differ (inputs and output must be equal)")
            }
        case .concat:
            if inputs.count < 2 { throw error("\(label) needs at least 2 inputs") }
            let o = outT!
            var channels = 0
            for t in inputs {
                let x = m.tensors[t]
                if x.height != o.height || x.width != o.width { throw error("\(label) input \(t) is \(x.height)x\(x.width), output is \(o.height)x\(o.width)") }
                channels += x.channels
            }
            if channels != o.channels { throw error("\(label) input channels add up to \(channels), output has \(o.channels)") }
        case .maxPool, .avgPool:
            try expectInputs(1)
            op.poolKernel = try c.count("\(label) kernel", limit: 8)
            op.poolStride = try c.count("\(label) stride", limit: 8)
            let x = m.tensors[inputs[0]], o = outT!
            if op.poolKernel == 0 || op.poolStride == 0 || x.height < op.poolKernel || x.width < op.poolKernel {
                throw error("\(label) kernel \(op.poolKernel) / stride \(op.poolStride) do not fit the input")
            }
            if o.height != (x.height - op.poolKernel) / op.poolStride + 1 || o.width != (x.width - op.poolKernel) / op.poolStride + 1 || o.channels != x.channels {
                throw error("\(label) output shape does not follow from its input")
            }
            if kind == .maxPool && o.quantization != x.quantization { throw error("\(label) output quantisation must equal its input's") }
        case .resizeNearest2x:
            try expectInputs(1)
            let x = m.tensors[inputs[0]], o = outT!
            if o.height != 2 * x.height || o.width != 2 * x.width || o.channels != x.channels || o.quantization != x.quantization {
                throw error("\(label) output must be twice the input size with the same channels and quantisation")
            }
        case .mapSigmoid, .mapSoftmax2:
            try expectInputs(1)
            let x = m.tensors[inputs[0]]
            let want = kind == .mapSigmoid ? 1 : 2
            if x.channels != want { throw error("\(label) input has \(x.channels) channels, expected \(want)") }
            op.table = try blob(&c, weights, "\(label) probability table", count: kind == .mapSigmoid ? 256 : 511, as: Float.self)
            if op.table.contains(where: { !($0 >= 0 && $0 <= 1) }) { throw error("\(label) probability table has values outside [0, 1]") }
        }
        return op
    }

    func parseROI(_ s: UnsafeRawBufferPointer, into m: inout ParsedModel) throws {
        let p = path
        var c = ByteCursor(s, what: "ROI section") { ModelFileError(path: p, problem: $0) }
        let h = try c.count("ROI height", limit: Self.maxDimension)
        let w = try c.count("ROI width", limit: Self.maxDimension)
        if h != m.inputHeight || w != m.inputWidth { throw error("default ROI is \(w)x\(h), not the input size \(m.inputWidth)x\(m.inputHeight)") }
        m.defaultROI = Array(try c.bytes(h * w, "ROI mask"))
        if c.remaining != 0 { throw error("ROI section has \(c.remaining) unexpected trailing bytes") }
    }

    func parseFrameFit(_ s: UnsafeRawBufferPointer, into m: inout ParsedModel) throws {
        let p = path
        var c = ByteCursor(s, what: "frame fit section") { ModelFileError(path: p, problem: $0) }
        let mode = try c.u32("frame fit mode")
        if mode != ModelFrameFit.letterboxCode {
            throw error("frame fit mode \(mode) is unknown (this build knows \(ModelFrameFit.letterboxCode) = letterbox); update grdnet-edge")
        }
        let channels = try c.count("letterbox padding channels", limit: 4)
        if channels != m.inputChannels {
            throw error("letterbox padding has \(channels) values, the input has \(m.inputChannels) channels")
        }
        let pad = Array(try c.bytes(channels, "letterbox padding"))
        if c.remaining != 0 { throw error("frame fit section has \(c.remaining) unexpected trailing bytes") }
        m.frameFit = .letterbox(pad: pad)
    }

    func parseScoreStatistics(_ s: UnsafeRawBufferPointer, into m: inout ParsedModel) throws {
        let p = path
        var c = ByteCursor(s, what: "score statistics section") { ModelFileError(path: p, problem: $0) }
        let h = try c.count("score statistics height", limit: Self.maxDimension)
        let w = try c.count("score statistics width", limit: Self.maxDimension)
        if h != m.inputHeight || w != m.inputWidth {
            throw error("score statistics are \(w)x\(h), not the input size \(m.inputWidth)x\(m.inputHeight)")
        }
        let box = try c.count("score statistics box", limit: ScoreStatistics.maxBox)
        if box % 2 == 0 { throw error("score statistics box \(box) must be odd (1...\(ScoreStatistics.maxBox))") }
        let floor = try c.f32("score statistics floor")
        if !(floor > 0 && floor.isFinite) { throw error("score statistics floor \(floor) must be a positive number") }
        var mean = [Float](), std = [Float]()
        mean.reserveCapacity(h * w); std.reserveCapacity(h * w)
        for i in 0..<(h * w) {
            let v = try c.f32("score statistics mean[\(i)]")
            if !(v >= 0 && v <= 1) { throw error("score statistics mean[\(i)] = \(v) is outside [0, 1] (a box mean of probabilities)") }
            mean.append(v)
        }
        for i in 0..<(h * w) {
            let v = try c.f32("score statistics std[\(i)]")
            if !(v >= 0 && v <= 1) { throw error("score statistics std[\(i)] = \(v) is outside [0, 1]") }
            std.append(v)
        }
        if c.remaining != 0 { throw error("score statistics section has \(c.remaining) unexpected trailing bytes") }
        m.scoreStatistics = ScoreStatistics(box: box, floor: floor, mean: mean, std: std)
    }

    func parseGolden(_ s: UnsafeRawBufferPointer, into m: inout ParsedModel) throws {
        let p = path
        var c = ByteCursor(s, what: "golden section") { ModelFileError(path: p, problem: $0) }
        let n = try c.count("golden vector count", limit: 16)
        let inCount = m.inputHeight * m.inputWidth * m.inputChannels
        let outCount = m.tensors[m.outputTensor].elementCount
        for i in 0..<n {
            let input = Array(try c.bytes(inCount, "golden \(i) input"))
            let out = try c.bytes(outCount, "golden \(i) output").map { Int8(bitPattern: $0) }
            let score = try c.f32("golden \(i) score")
            let fscore = try c.f32("golden \(i) fp32 score")
            m.golden.append(GoldenVector(input: input, expectedOutput: out, expectedScore: score, expectedFP32Score: fscore))
        }
        if c.remaining != 0 { throw error("golden section has \(c.remaining) unexpected trailing bytes") }
    }
}
