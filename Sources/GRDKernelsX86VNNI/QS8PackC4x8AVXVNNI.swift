// Packing of int8 convolution weights for the AVX-VNNI kernels, done once at load.
//
// vpdpbusd multiplies 4 unsigned activation bytes by 4 signed weight bytes and adds the 4
// products into one 32-bit lane, exactly (no saturation in the non-"s" form). Activations are
// int8, so the kernels feed u = q ^ 0x80 = q + 128 and the -128 * sum(w) term is folded into the
// bias here (exact in int32).
//
// Layout, one block per 8 output channels; each tap's `cin` input channels are padded to cin4
// (a multiple of 4) with zero weights, so the kernel may read up to 3 bytes past a pixel's
// channels (any value times 0 is 0; callers keep 3 readable bytes after every buffer):
//   [8 x Int32 bias'] [taps x cin4/4 x 8 channels x 4 Int8] [8 x Float scale]
import Swift

/// Input channels rounded up to the 4-byte groups of vpdpbusd.
@inline(__always)
public func qs8AVXVNNIChannelGroups(_ cin: Int) -> Int { (cin &+ 3) & ~3 }

/// Bytes of one packed block of 8 channels.
@inline(__always)
public func qs8PackedC4x8BlockBytes(taps: Int, cin: Int) -> Int { 32 &+ 8 &* taps &* qs8AVXVNNIChannelGroups(cin) &+ 32 }

/// Packs W[n][taps][cin] (OHWI), `bias` (input zero point already folded in) and `scales`.
public func qs8PackC4x8AVXVNNI(
    n: Int, taps: Int, cin: Int,
    weights: UnsafePointer<Int8>, bias: UnsafePointer<Int32>, scales: UnsafePointer<Float>,
    into out: UnsafeMutableRawPointer
) {
    let cin4 = qs8AVXVNNIChannelGroups(cin)
    let k = taps &* cin
    let blockBytes = qs8PackedC4x8BlockBytes(taps: taps, cin: cin)
    var nb = 0
    while nb < n {
        let block = out + (nb / 8) &* blockBytes
        let q = (block + 32).assumingMemoryBound(to: Int8.self)
        let s = block + (32 &+ 8 &* taps &* cin4)
        var j = 0
        while j < 8 {
            let ch = nb &+ j
            let valid = ch < n
            var sum: Int32 = 0
            var t = 0
            while t < taps {
                var i = 0
                while i < cin4 {
                    let v: Int8 = valid && i < cin ? weights[ch &* k &+ t &* cin &+ i] : 0
                    // group g = (t, i / 4): 8 channels x 4 bytes
                    q[((t &* cin4 &+ (i & ~3)) &* 8) &+ j &* 4 &+ (i & 3)] = v
                    sum &+= Int32(v)
                    i &+= 1
                }
                t &+= 1
            }
            block.storeBytes(of: valid ? bias[ch] &- 128 &* sum : 0, toByteOffset: 4 &* j, as: Int32.self)
            s.storeBytes(of: valid ? scales[ch] : Float(0), toByteOffset: 4 &* j, as: Float.self)
            j &+= 1
        }
        nb &+= 8
    }
}
