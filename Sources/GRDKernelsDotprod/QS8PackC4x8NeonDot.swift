// Packing of int8 convolution weights for the SDOT indirect-GEMM kernels (QS8IGEMM4x8C4NeonDotFP32,
// QS8IGEMM4x16C4NeonDotFP32), done once at load.
//
// Layout, one block per 8 output channels; each tap's `cin` input channels are padded to cin4
// (a multiple of 4) with zero weights, so a kernel may read up to 3 bytes past a pixel's
// channels (any value times 0 is 0; the engine keeps readable slack after every buffer):
//   [8 x Int32 bias] [taps x cin4/4 groups x (8 channels x 4 Int8)] [8 x Float scale]
// In a group, channels 0-3 fill the first 16 bytes and 4-7 the next 16: two SDOT operands.
// Bias: the input zero point already folded in by the caller (activations are used as they are,
// signed; no +128 correction as for x86's unsigned vpdpbusd).

/// Input channels rounded up to SDOT's 4-byte groups.
@inline(__always)
public func qs8NeonDotChannelGroups(_ cin: Int) -> Int { (cin &+ 3) & ~3 }

/// Bytes of one packed block of 8 channels.
@inline(__always)
public func qs8PackedC4x8NeonDotBlockBytes(taps: Int, cin: Int) -> Int { 32 &+ 8 &* taps &* qs8NeonDotChannelGroups(cin) &+ 32 }

/// Packs W[n][taps][cin] (OHWI), `bias` and `scales` into (n + 7) / 8 blocks.
public func qs8PackC4x8NeonDot(
    n: Int, taps: Int, cin: Int,
    weights: UnsafePointer<Int8>, bias: UnsafePointer<Int32>, scales: UnsafePointer<Float>,
    into out: UnsafeMutableRawPointer
) {
    let cin4 = qs8NeonDotChannelGroups(cin)
    let k = taps &* cin
    let blockBytes = qs8PackedC4x8NeonDotBlockBytes(taps: taps, cin: cin)
    var nb = 0
    while nb < n {
        let block = out + (nb / 8) &* blockBytes
        let q = (block + 32).assumingMemoryBound(to: Int8.self)
        let s = block + (32 &+ 8 &* taps &* cin4)
        var j = 0
        while j < 8 {
            let ch = nb &+ j
            let valid = ch < n
            var t = 0
            while t < taps {
                var i = 0
                while i < cin4 {
                    let v: Int8 = valid && i < cin ? weights[ch &* k &+ t &* cin &+ i] : 0
                    // group (t, i / 4): 8 channels x 4 bytes, channel j at byte 4j
                    q[((t &* cin4 &+ (i & ~3)) &* 8) &+ j &* 4 &+ (i & 3)] = v
                    i &+= 1
                }
                t &+= 1
            }
            block.storeBytes(of: valid ? bias[ch] : 0, toByteOffset: 4 &* j, as: Int32.self)
            s.storeBytes(of: valid ? scales[ch] : Float(0), toByteOffset: 4 &* j, as: Float.self)
            j &+= 1
        }
        nb &+= 8
    }
}
