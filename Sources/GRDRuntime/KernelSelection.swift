#if canImport(Glibc)
import Glibc
#endif

#if arch(arm64)
/// glibc's getauxval: Swift 6.0.3's Glibc module (Raspberry Pi OS trixie) does not export <sys/auxv.h>.
@_silgen_name("getauxval") private func grdGetauxval(_ type: UInt) -> UInt
#endif

/// The int8 GEMM micro-kernel family the engine runs convolutions with.
public enum QS8KernelFamily: String, CaseIterable, Sendable {
    /// 2x8 c16 "halves" (SMULL/SMLAL/SADDW on Cortex-A72; pmaddwd-style on x86).
    case c16HalvesA72 = "a72-c16-halves"
    /// 2x4 dot loop: SDOT on Cortex-A76 (module built for it); plain SIMD elsewhere.
    case dotLoopA76 = "a76-dotloop"
    /// Plain scalar loops over unpacked weights: the reference the others are tested against.
    case scalar = "scalar"

    /// The best family for this CPU: on aarch64 the dot-product kernels when the kernel reports
    /// ASIMDDP in AT_HWCAP (Cortex-A76 / Pi 5), the c16 kernels otherwise (Cortex-A72 / Pi 4);
    /// on x86 (development) the c16 kernels, which measured faster there than the dot loop
    /// (LLVM turns the dot loop into vpmovsxbd + vpmulld, not vpmaddwd).
    /// GRDNET_KERNELS=a72-c16-halves|a76-dotloop|scalar overrides it (tests, benchmarks).
    public static var detected: QS8KernelFamily {
        if let env = getenv("GRDNET_KERNELS"), let f = QS8KernelFamily(rawValue: String(cString: env)), f.isSupported { return f }
        #if arch(arm64)
        return dotLoopAvailable ? .dotLoopA76 : .c16HalvesA72
        #else
        return .c16HalvesA72
        #endif
    }

    /// Whether this CPU can run the family (the dot-loop module is compiled for a newer core).
    public var isSupported: Bool { self != .dotLoopA76 || QS8KernelFamily.dotLoopAvailable }

    static let dotLoopAvailable: Bool = {
        #if arch(arm64)
        let hwcapASIMDDP: UInt = 1 << 20
        return grdGetauxval(16 /* AT_HWCAP */) & hwcapASIMDDP != 0
        #else
        return true  // built for the baseline CPU on other architectures
        #endif
    }()

    /// Output channels per packed block.
    var channelBlock: Int {
        switch self {
        case .c16HalvesA72: return 8
        case .dotLoopA76: return 4
        case .scalar: return 1
        }
    }
}
