// Portable reference int8 GEMM: C[m][n] = requant(bias[n] + sum_k A[m][k] * W[n][k]).
//
// The ground truth that every optimised micro-kernel is checked against, bit for bit.
// A is int8 activations (row stride `aStride`), W is int8 weights in [-127, 127] stored
// output-channel-major (row stride `k`), bias already has the input zero point folded in.

/// Reference int8 GEMM with per-output-channel fp32 requantisation.
@inlinable
public func qs8GEMMScalarReference(
    m: Int, n: Int, k: Int,
    a: UnsafePointer<Int8>, aStride: Int,
    weights: UnsafePointer<Int8>,
    bias: UnsafePointer<Int32>,
    scales: UnsafePointer<Float>,
    requantization: RequantizationFP32,
    c: UnsafeMutablePointer<Int8>, cStride: Int
) {
    var row = 0
    while row < m {
        let aRow = a + row &* aStride
        var col = 0
        while col < n {
            let wRow = weights + col &* k
            var acc = bias[col]
            var i = 0
            while i < k {
                acc = acc &+ Int32(aRow[i]) &* Int32(wRow[i])
                i &+= 1
            }
            c[row &* cStride &+ col] = requantization.requantize(acc, scale: scales[col])
            col &+= 1
        }
        row &+= 1
    }
}
