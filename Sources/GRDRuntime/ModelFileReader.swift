// Low-level reading of .grdnet files: CRC-32, a bounds-checked little-endian cursor, and the
// error type every loader failure is reported with. See Models/converter/FORMAT.md.

/// Why a model file was rejected. `description` names the file and the problem in plain words.
public struct ModelFileError: Error, CustomStringConvertible, Equatable {
    public var path: String
    public var problem: String
    public init(path: String, problem: String) { self.path = path; self.problem = problem }
    public var description: String { "model file \(path): \(problem)" }
}

/// CRC-32 (IEEE 802.3, reflected, as zlib.crc32): hand-written because it is 20 lines and the
/// runtime must not depend on Foundation or zlib for it.
enum CRC32 {
    static let table: [UInt32] = (0..<256).map { n -> UInt32 in
        var c = UInt32(n)
        for _ in 0..<8 { c = (c & 1) != 0 ? (0xEDB8_8320 ^ (c >> 1)) : (c >> 1) }
        return c
    }

    static func checksum(_ bytes: UnsafeRawBufferPointer, initial: UInt32 = 0) -> UInt32 {
        var c = ~initial
        table.withUnsafeBufferPointer { t in
            for b in bytes { c = t[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        }
        return ~c
    }
}

/// A cursor over a byte range that throws (never traps) when a read would leave the range.
struct ByteCursor {
    let bytes: UnsafeRawBufferPointer
    var offset: Int = 0
    let what: String
    let fail: (String) -> ModelFileError

    init(_ bytes: UnsafeRawBufferPointer, what: String, fail: @escaping (String) -> ModelFileError) {
        self.bytes = bytes; self.what = what; self.fail = fail
    }

    var remaining: Int { bytes.count - offset }

    mutating func need(_ n: Int, _ field: String) throws {
        if n < 0 || n > remaining {
            throw fail("\(what) ends early: \(field) needs \(n) bytes at offset \(offset), only \(remaining) left")
        }
    }

    mutating func u32(_ field: String) throws -> UInt32 {
        try need(4, field)
        let v = bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self)
        offset += 4
        return UInt32(littleEndian: v)
    }

    mutating func i32(_ field: String) throws -> Int32 { Int32(bitPattern: try u32(field)) }

    mutating func u64(_ field: String) throws -> UInt64 {
        try need(8, field)
        let v = bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
        offset += 8
        return UInt64(littleEndian: v)
    }

    mutating func f32(_ field: String) throws -> Float { Float(bitPattern: try u32(field)) }

    /// A count or size, checked against `limit` so later multiplications cannot overflow.
    mutating func count(_ field: String, limit: Int) throws -> Int {
        let v = try u32(field)
        if v > UInt32(limit) { throw fail("\(what): \(field) is \(v), more than the limit \(limit)") }
        return Int(v)
    }

    mutating func bytes(_ n: Int, _ field: String) throws -> UnsafeRawBufferPointer {
        try need(n, field)
        let r = UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + n)])
        offset += n
        return r
    }
}
