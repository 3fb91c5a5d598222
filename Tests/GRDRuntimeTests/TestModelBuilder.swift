import Foundation
@testable import GRDRuntime

/// Writes small .grdnet files from Swift (the converter is Python), for loader, fuzz and
/// per-op tests. Follows Models/converter/FORMAT.md.
struct TestModelBuilder {
    struct T { var h: Int, w: Int, c: Int, scale: Float, zp: Int32 }
    var height: Int, width: Int, channels: Int
    var tensors: [T] = []
    var graphOps = Data()
    var opCount = 0
    var weights = Data()
    var roi: [UInt8]?
    var golden = Data()
    var goldenCount = 0
    /// Raw body of the frame-fit section (7), if any.
    var frameFit: Data?

    init(height: Int, width: Int, channels: Int, inputScale: Float = 0.02, inputZeroPoint: Int32 = -3) {
        self.height = height; self.width = width; self.channels = channels
        tensors.append(T(h: height, w: width, c: channels, scale: inputScale, zp: inputZeroPoint))
    }

    mutating func tensor(_ h: Int, _ w: Int, _ c: Int, scale: Float = 0.05, zp: Int32 = 2) -> Int {
        tensors.append(T(h: h, w: w, c: c, scale: scale, zp: zp))
        return tensors.count - 1
    }

    private mutating func blob<V>(_ values: [V]) -> Data {
        while weights.count % 16 != 0 { weights.append(0) }
        let offset = UInt64(weights.count)
        values.withUnsafeBytes { weights.append(contentsOf: $0) }
        var d = Data()
        d.le(offset); d.le(UInt64(values.count * MemoryLayout<V>.stride))
        return d
    }

    private mutating func header(_ kind: UInt32, _ inputs: [Int], _ output: Int) {
        graphOps.le(kind); graphOps.le(UInt32(inputs.count))
        for i in inputs { graphOps.le(UInt32(i)) }
        graphOps.le(output < 0 ? UInt32.max : UInt32(output))
        opCount += 1
    }

    mutating func conv(_ input: Int, _ output: Int, k: Int, stride: Int, pad: Int, slope: Float,
                       weights w: [Int8], bias: [Int32], scales: [Float], transposed: Bool = false) {
        header(transposed ? 2 : 1, [input], output)
        for v in [k, k, stride, stride, pad, pad, pad, pad] { graphOps.le(UInt32(v)) }
        graphOps.le(slope.bitPattern)
        graphOps.append(blob(w)); graphOps.append(blob(bias)); graphOps.append(blob(scales))
        graphOps.append(blob(w.map { Float($0) * 0.01 })); graphOps.append(blob(bias.map { Float($0) * 0.0001 }))
    }
    mutating func add(_ a: Int, _ b: Int, _ out: Int, slope: Float) { header(3, [a, b], out); graphOps.le(slope.bitPattern) }
    mutating func concat(_ ins: [Int], _ out: Int) { header(4, ins, out) }
    mutating func pool(max: Bool, _ input: Int, _ out: Int) { header(max ? 5 : 6, [input], out); graphOps.le(UInt32(2)); graphOps.le(UInt32(2)) }
    mutating func resize(_ input: Int, _ out: Int) { header(7, [input], out) }
    mutating func mapSigmoid(_ input: Int) {
        header(8, [input], -1)
        graphOps.append(blob((0..<256).map { Float(1 / (1 + exp(-Double($0 - 128) * 0.05))) }))
    }

    mutating func addGolden(input: [UInt8], output: [Int8], score: Float, fp32Score: Float) {
        golden.append(contentsOf: input)
        output.withUnsafeBytes { golden.append(contentsOf: $0) }
        golden.le(score.bitPattern); golden.le(fp32Score.bitPattern)
        goldenCount += 1
    }

    func graphSection() -> Data {
        var g = Data()
        g.le(UInt32(height)); g.le(UInt32(width)); g.le(UInt32(channels))
        for _ in 0..<channels { g.le(Float(0.5).bitPattern) }
        for _ in 0..<channels { g.le(Float(0.25).bitPattern) }
        for _ in 0..<channels { for p in 0..<256 { g.append(UInt8(bitPattern: Int8(clamping: p / 2 - 64))) } }
        g.le(Float(0.5).bitPattern)
        g.le(UInt32(tensors.count))
        for t in tensors { g.le(UInt32(t.h)); g.le(UInt32(t.w)); g.le(UInt32(t.c)); g.le(t.scale.bitPattern); g.le(UInt32(bitPattern: t.zp)) }
        g.le(UInt32(opCount))
        g.append(graphOps)
        return g
    }

    func build() -> Data {
        var sections: [(UInt32, Data)] = [(1, Data("{\"model_card\":{\"name\":\"test\"}}".utf8)), (2, graphSection()), (3, weights)]
        if let r = roi { var d = Data(); d.le(UInt32(height)); d.le(UInt32(width)); d.append(contentsOf: r); sections.append((4, d)) }
        if goldenCount > 0 { var d = Data(); d.le(UInt32(goldenCount)); d.append(golden); sections.append((5, d)) }
        if let f = frameFit { sections.append((7, f)) }
        return TestModelBuilder.assemble(sections)
    }

    static func assemble(_ sections: [(UInt32, Data)]) -> Data {
        let tableEnd = 64 + 24 * sections.count
        var body = Data()
        var table = Data()
        var pos = (tableEnd + 15) / 16 * 16
        for (kind, data) in sections {
            body.append(Data(count: pos - tableEnd - body.count))
            table.le(kind); table.le(data.withUnsafeBytes { CRC32.checksum($0) }); table.le(UInt64(pos)); table.le(UInt64(data.count))
            body.append(data)
            pos = (tableEnd + body.count + 15) / 16 * 16
        }
        var header = Data(GRDNetModel.magic)
        header.le(UInt32(1)); header.le(UInt32(sections.count)); header.le(UInt64(tableEnd + body.count)); header.le(UInt32(0))
        header.append(Data(count: 64 - header.count))
        var file = header + table
        let crc = file.withUnsafeBytes { CRC32.checksum($0) }
        file.replaceSubrange(24..<28, with: withUnsafeBytes(of: crc.littleEndian) { Data($0) })
        return file + body
    }

    /// Recomputes the header and section CRCs of a (mutated) file so that mutations reach the
    /// deeper validation instead of stopping at the checksums. Leaves unparseable tables alone.
    static func refreshChecksums(_ data: inout Data) {
        guard data.count >= 64 else { return }
        let count = Int(data.u32(12))
        guard count <= 16, 64 + 24 * count <= data.count else { return }
        for i in 0..<count {
            let e = 64 + 24 * i
            let off = data.u64(e + 8), len = data.u64(e + 16)
            if off <= UInt64(data.count), len <= UInt64(data.count) - off {
                let crc = data[Int(off)..<Int(off + len)].withUnsafeBytes { CRC32.checksum($0) }
                data.replaceSubrange((e + 4)..<(e + 8), with: withUnsafeBytes(of: crc.littleEndian) { Data($0) })
            }
        }
        var h = data[0..<(64 + 24 * count)]
        h.replaceSubrange(24..<28, with: Data(count: 4))
        let crc = h.withUnsafeBytes { CRC32.checksum($0) }
        data.replaceSubrange(24..<28, with: withUnsafeBytes(of: crc.littleEndian) { Data($0) })
    }
}

extension Data {
    mutating func le<I: FixedWidthInteger>(_ v: I) { Swift.withUnsafeBytes(of: v.littleEndian) { append(contentsOf: $0) } }
    func u32(_ at: Int) -> UInt32 { self[at..<(at + 4)].withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) } }
    func u64(_ at: Int) -> UInt64 { self[at..<(at + 8)].withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) } }
}
