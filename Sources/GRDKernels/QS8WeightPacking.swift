// Packing of int8 convolution weights for the micro-kernels, done once when a model is loaded.
//
// Source layout: W[n][k] (output-channel-major, k = kernel rows x cols x input channels, NHWC
// order), bias[n] int32 with the input zero point already folded in, scale[n] fp32.
// Channels beyond n and k beyond the real K are packed as zero weights, so padded activation
// lanes contribute nothing whatever they hold.

/// Packs for the 2x8 c16 kernels: per block of 8 channels
/// [8 x Int32 bias][kcPadded/16 x 8 x 16 Int8][8 x Float scale]. `kcPadded % 16 == 0`.
public func qs8PackC16(
    n: Int, k: Int, kcPadded: Int,
    weights: UnsafePointer<Int8>, bias: UnsafePointer<Int32>, scales: UnsafePointer<Float>,
    into out: UnsafeMutableRawPointer
) {
    let blockBytes = qs8PackedC16BlockBytes(kc: kcPadded)
    var nb = 0
    while nb < n {
        let block = out + (nb / 8) &* blockBytes
        let q = (block + 32).assumingMemoryBound(to: Int8.self)
        let s = (block + (32 &+ 8 &* kcPadded))
        var j = 0
        while j < 8 {
            let ch = nb &+ j
            let valid = ch < n
            block.storeBytes(of: valid ? bias[ch] : 0, toByteOffset: 4 &* j, as: Int32.self)
            s.storeBytes(of: valid ? scales[ch] : Float(0), toByteOffset: 4 &* j, as: Float.self)
            var kk = 0
            while kk < kcPadded {
                let v: Int8 = (valid && kk < k) ? weights[ch &* k &+ kk] : 0
                q[(kk / 16) &* 128 &+ j &* 16 &+ (kk % 16)] = v
                kk &+= 1
            }
            j &+= 1
        }
        nb &+= 8
    }
}

/// Bytes of one packed block of 4 channels for the dot-loop kernels.
@inline(__always)
public func qs8PackedKCBlockBytes(kc: Int) -> Int { 16 &+ 4 &* kc &+ 16 }

/// Packs for the 2x4 dot-loop kernels: per block of 4 channels
/// [4 x Int32 bias][4 x kcPadded Int8 (each channel contiguous)][4 x Float scale].
public func qs8PackKC4(
    n: Int, k: Int, kcPadded: Int,
    weights: UnsafePointer<Int8>, bias: UnsafePointer<Int32>, scales: UnsafePointer<Float>,
    into out: UnsafeMutableRawPointer
) {
    let blockBytes = qs8PackedKCBlockBytes(kc: kcPadded)
    var nb = 0
    while nb < n {
        let block = out + (nb / 4) &* blockBytes
        let q = (block + 16).assumingMemoryBound(to: Int8.self)
        let s = block + (16 &+ 4 &* kcPadded)
        var j = 0
        while j < 4 {
            let ch = nb &+ j
            let valid = ch < n
            block.storeBytes(of: valid ? bias[ch] : 0, toByteOffset: 4 &* j, as: Int32.self)
            s.storeBytes(of: valid ? scales[ch] : Float(0), toByteOffset: 4 &* j, as: Float.self)
            var kk = 0
            while kk < kcPadded {
                q[j &* kcPadded &+ kk] = (valid && kk < k) ? weights[ch &* k &+ kk] : 0
                kk &+= 1
            }
            j &+= 1
        }
        nb &+= 4
    }
}

/// Input channels rounded up to the 4-byte groups of the c4 dot-product kernels (arm64 SDOT,
/// x86 vpdpbusd). The kernel modules round the same way; this is the packer's side of it.
@inline(__always)
public func qs8C4ChannelGroups(_ cin: Int) -> Int { (cin &+ 3) & ~3 }

/// Bytes of one packed block of 8 channels for the c4 dot-product kernels.
@inline(__always)
public func qs8PackedC4x8BlockBytes(taps: Int, cin: Int) -> Int { 32 &+ 8 &* taps &* qs8C4ChannelGroups(cin) &+ 32 }

/// Packs for the c4 dot-product kernels of both ISAs (one packer, so the two families cannot
/// drift apart): per block of 8 channels
/// [8 x Int32 bias'][taps x cin4/4 groups x (8 channels x 4 Int8)][8 x Float scale].
/// Source W[n][taps][cin] (OHWI). Each tap's channels are padded to cin4 with zero weights, so a
/// kernel may read up to 3 bytes past a pixel's channels. In a group, channels 0-3 fill the
/// first 16 bytes and 4-7 the next 16 (two SDOT operands; one 32-byte vpdpbusd operand).
///
/// `activationOffset`: what the kernel adds to every activation byte before multiplying, folded
/// into the bias as bias' = bias - offset * sum(w), exact in Int32. 0 for SDOT (signed bytes as
/// they are); 128 for vpdpbusd, whose kernel feeds unsigned u = q ^ 0x80 = q + 128.
public func qs8PackC4x8(
    n: Int, taps: Int, cin: Int, activationOffset: Int32,
    weights: UnsafePointer<Int8>, bias: UnsafePointer<Int32>, scales: UnsafePointer<Float>,
    into out: UnsafeMutableRawPointer
) {
    let cin4 = qs8C4ChannelGroups(cin)
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
                    // group (t, i / 4): 8 channels x 4 bytes, channel j at byte 4j
                    q[((t &* cin4 &+ (i & ~3)) &* 8) &+ j &* 4 &+ (i & 3)] = v
                    sum &+= Int32(v)
                    i &+= 1
                }
                t &+= 1
            }
            block.storeBytes(of: valid ? bias[ch] &- activationOffset &* sum : 0, toByteOffset: 4 &* j, as: Int32.self)
            s.storeBytes(of: valid ? scales[ch] : Float(0), toByteOffset: 4 &* j, as: Float.self)
            j &+= 1
        }
        nb &+= 8
    }
}
