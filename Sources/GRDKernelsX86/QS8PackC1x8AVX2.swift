// Packing of int8 convolution weights for the x86 AVX2 broadcast kernels, done once at load.
//
// The kernels multiply *unsigned* activations (u = q + 128, i.e. q ^ 0x80) by signed weights:
// a zero-extended byte times a sign-extended byte is what lets LLVM use vpmaddwd (vpdpwssd with
// VNNI) on 32-bit lanes instead of vpmulld (10 cycles latency, 2 uops). The offset is exact in
// int32: sum(q * w) = sum(u * w) - 128 * sum(w), so -128 * sum(w) is folded into the bias here.
//
// Layout, one block per 8 output channels, K = taps x input channels (OHWI order, unpadded):
//   [8 x Int32 bias'] [K x 8 Int8: for each k the weights of the 8 channels] [8 x Float scale]
// Channels beyond n are packed as zero weights with zero bias and scale.

/// Bytes of one packed block of 8 channels.
@inline(__always)
public func qs8PackedC1x8BlockBytes(k: Int) -> Int { 32 &+ 8 &* k &+ 32 }

/// Packs W[n][k] (output-channel-major), `bias` (input zero point already folded in) and
/// `scales` for the C1x8 kernels. `out` holds (n + 7) / 8 blocks.
public func qs8PackC1x8(
    n: Int, k: Int,
    weights: UnsafePointer<Int8>, bias: UnsafePointer<Int32>, scales: UnsafePointer<Float>,
    into out: UnsafeMutableRawPointer
) {
    let blockBytes = qs8PackedC1x8BlockBytes(k: k)
    var nb = 0
    while nb < n {
        let block = out + (nb / 8) &* blockBytes
        let q = (block + 32).assumingMemoryBound(to: Int8.self)
        let s = block + (32 &+ 8 &* k)
        var j = 0
        while j < 8 {
            let ch = nb &+ j
            let valid = ch < n
            var sum: Int32 = 0
            var kk = 0
            while kk < k {
                let v: Int8 = valid ? weights[ch &* k &+ kk] : 0
                q[kk &* 8 &+ j] = v
                sum &+= Int32(v)
                kk &+= 1
            }
            block.storeBytes(of: valid ? bias[ch] &- 128 &* sum : 0, toByteOffset: 4 &* j, as: Int32.self)
            s.storeBytes(of: valid ? scales[ch] : Float(0), toByteOffset: 4 &* j, as: Float.self)
            j &+= 1
        }
        nb &+= 8
    }
}
