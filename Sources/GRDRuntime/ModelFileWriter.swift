// Writing .grdnet files from Swift: the section container only (FORMAT.md header, section table,
// CRC-32s, 16-byte aligned bodies), so that a tool on the box can add or replace a section of a
// model the converter wrote - the good-part score statistics that `grdnet model score-stats`
// learns on the line - without Python. Graph and weights are never re-encoded here: their bytes
// are copied as read.

/// The sections of a .grdnet file, raw, in file order.
public struct ModelFileSections {
    public var sections: [(kind: UInt32, body: [UInt8])]

    /// Reads the sections of a file that `GRDNetModel(path:)` has already accepted (so the header,
    /// table and CRCs are known to be valid).
    public init(validatedFile bytes: [UInt8]) throws {
        func u32(_ at: Int) -> UInt32 { UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2]) << 16 | UInt32(bytes[at + 3]) << 24 }
        func u64(_ at: Int) -> Int { Int(u32(at)) | Int(u32(at + 4)) << 32 }
        guard bytes.count >= GRDNetModel.headerSize else { throw ModelFileError(path: "-", problem: "shorter than the header") }
        let count = Int(u32(12))
        var out: [(kind: UInt32, body: [UInt8])] = []
        for i in 0..<count {
            let e = GRDNetModel.headerSize + i * GRDNetModel.sectionEntrySize
            let offset = u64(e + 8), length = u64(e + 16)
            guard offset >= 0, length >= 0, offset + length <= bytes.count else {
                throw ModelFileError(path: "-", problem: "section \(i) lies outside the file")
            }
            out.append((u32(e), Array(bytes[offset..<(offset + length)])))
        }
        sections = out
    }

    /// Replaces the section of that kind, or appends it.
    public mutating func set(kind: UInt32, body: [UInt8]) {
        if let i = sections.firstIndex(where: { $0.kind == kind }) { sections[i].body = body } else { sections.append((kind, body)) }
    }

    public func body(kind: UInt32) -> [UInt8]? { sections.first(where: { $0.kind == kind })?.body }

    /// The file bytes, laid out exactly as the converter's writer (grdnet_format.write_model) does.
    public func encoded() -> [UInt8] {
        let tableEnd = GRDNetModel.headerSize + GRDNetModel.sectionEntrySize * sections.count
        var body: [UInt8] = []
        var entries: [UInt8] = []
        var pos = (tableEnd + 15) / 16 * 16
        for s in sections {
            let crc = s.body.withUnsafeBytes { CRC32.checksum($0) }
            entries += le(s.kind) + le(crc) + le64(pos) + le64(s.body.count)
            body += [UInt8](repeating: 0, count: pos - tableEnd - body.count) + s.body
            pos = (tableEnd + body.count + 15) / 16 * 16
        }
        let total = tableEnd + body.count
        var header = GRDNetModel.magic + le(GRDNetModel.formatVersion) + le(UInt32(sections.count)) + le64(total) + le(UInt32(0))
        header += [UInt8](repeating: 0, count: GRDNetModel.headerSize - header.count)
        let crc = (header + entries).withUnsafeBytes { CRC32.checksum($0) }
        header.replaceSubrange(24..<28, with: le(crc))
        return header + entries + body
    }

    private func le(_ v: UInt32) -> [UInt8] { littleEndianBytes(v) }
    private func le64(_ v: Int) -> [UInt8] { le(UInt32(truncatingIfNeeded: v)) + le(UInt32(truncatingIfNeeded: v >> 32)) }
}

/// The 4 bytes of `v` as the file stores every u32 and f32 (bit pattern): little-endian.
public func littleEndianBytes(_ v: UInt32) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v >> 16 & 0xFF), UInt8(v >> 24)] }

extension ScoreStatistics {
    /// Section 6's body (FORMAT.md).
    public func encoded(height: Int, width: Int) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(16 + 8 * mean.count)
        func put(_ v: UInt32) { out += littleEndianBytes(v) }
        put(UInt32(height)); put(UInt32(width)); put(UInt32(box)); put(floor.bitPattern)
        for v in mean { put(v.bitPattern) }
        for v in std { put(v.bitPattern) }
        return out
    }

    /// Learns the statistics from box sums of good parts' maps: call `add` per map, then `finish`.
    public struct Accumulator {
        public let box: Int, width: Int, height: Int
        public private(set) var count = 0
        private var sum: [Double], sumSquares: [Double]
        private var fixed: [UInt32], rows: [UInt32]

        public init(box: Int, width: Int, height: Int) {
            self.box = box; self.width = width; self.height = height
            sum = [Double](repeating: 0, count: width * height); sumSquares = sum
            fixed = [UInt32](repeating: 0, count: width * height); rows = fixed
        }

        /// `map`: H*W probabilities, already zero outside the ROI (as the engine leaves them).
        /// Box means are formed exactly as the engine's score does (`qs8ScoreBoxSums`).
        public mutating func add(map: UnsafeBufferPointer<Float>) {
            let divisor = Double(box * box) * 65535.0
            fixed.withUnsafeMutableBufferPointer { sums in
                rows.withUnsafeMutableBufferPointer { scratch in
                    qs8ScoreBoxSums(map: map.baseAddress!, width: width, height: height, box: box,
                                    scratch: scratch.baseAddress!, sums: sums.baseAddress!)
                }
            }
            for i in 0..<(width * height) {
                let m = Double(fixed[i]) / divisor
                sum[i] += m; sumSquares[i] += m * m
            }
            count += 1
        }

        /// Population mean and standard deviation per pixel.
        public func finish(floor: Float) -> ScoreStatistics {
            let n = Double(max(count, 1))
            var mean = [Float](repeating: 0, count: sum.count), std = mean
            for i in 0..<sum.count {
                let m = sum[i] / n
                mean[i] = Float(min(max(m, 0), 1))
                std[i] = Float(min(max(sumSquares[i] / n - m * m, 0), 1).squareRoot())
            }
            return ScoreStatistics(box: box, floor: floor, mean: mean, std: std)
        }
    }
}

/// The score's box sums: `box` x `box` sums (zero padding) of the map in 16-bit fixed point,
/// UInt32(p * 65535 + 0.5), integer so that every platform and the numpy reference
/// (grdnet_ref.box_sums) agree exactly. `scratch` and `sums` hold width * height values each;
/// one routine for the engine's score and for learning the score statistics, so the two cannot
/// drift apart.
func qs8ScoreBoxSums(map: UnsafePointer<Float>, width w: Int, height h: Int, box: Int,
                     scratch rows: UnsafeMutablePointer<UInt32>, sums: UnsafeMutablePointer<UInt32>) {
    let r = box / 2
    for i in 0..<(w * h) { sums[i] = UInt32(map[i] * 65535 + 0.5) }
    for y in 0..<h {
        let row = sums + y * w, out = rows + y * w
        var s: UInt32 = 0
        for x in 0..<min(r, w) { s &+= row[x] }
        for x in 0..<w {
            if x + r < w { s &+= row[x + r] }
            out[x] = s
            if x - r >= 0 { s &-= row[x - r] }
        }
    }
    for x in 0..<w {
        var s: UInt32 = 0
        for y in 0..<min(r, h) { s &+= rows[y * w + x] }
        for y in 0..<h {
            if y + r < h { s &+= rows[(y + r) * w + x] }
            sums[y * w + x] = s
            if y - r >= 0 { s &-= rows[(y - r) * w + x] }
        }
    }
}
