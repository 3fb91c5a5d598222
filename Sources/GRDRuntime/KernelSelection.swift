#if canImport(Glibc)
import Glibc
#endif
import GRDKernelsX86VNNI

#if arch(arm64)
/// glibc's getauxval: Swift 6.0.3's Glibc module (Raspberry Pi OS trixie) does not export <sys/auxv.h>.
@_silgen_name("getauxval") private func grdGetauxval(_ type: UInt) -> UInt
#endif

/// The int8 GEMM micro-kernel family the engine runs convolutions with.
public enum QS8KernelFamily: String, CaseIterable, Sendable {
    /// 2x8 c16 (SMULL + SMLAL/SMLAL2 + SADALP through arm_neon.h on Cortex-A72; plain-SIMD stand-ins elsewhere).
    case c16HalvesA72 = "a72-c16-halves"
    /// 2x4 dot loop: SDOT on Cortex-A76 when built by Swift >= 6.3 (SMLAL by Swift 6.0.3);
    /// plain SIMD elsewhere.
    case dotLoopA76 = "a76-dotloop"
    /// 4x16 / 4x8 c4 indirect GEMM with SDOT (vdotq_s32 through Clang's arm_neon.h, which
    /// Swift 6.0.3 and 6.3 both compile to SDOT) for cores with ASIMDDP (Cortex-A76 / Pi 5);
    /// a plain-Swift equivalent elsewhere (module GRDKernelsDotprod).
    case sdotIGEMMA76 = "a76-sdot-igemm"
    /// Plain scalar loops over unpacked weights: the reference the others are tested against.
    case scalar = "scalar"
    /// 4x16 indirect GEMM with broadcast activations (vpmaddwd) for x86 development machines
    /// with AVX2 (module GRDKernelsX86, built for Haswell-class CPUs).
    case x86AVX2 = "x86-avx2-igemm"
    /// 4x16 indirect GEMM with vpdpbusd (4 int8 MACs per lane) for x86 CPUs with AVX-VNNI
    /// (module GRDKernelsX86VNNI, Haswell + AVX-VNNI).
    case x86AVXVNNI = "x86-avxvnni-igemm"

    /// The best family for this CPU: on aarch64 the SDOT indirect-GEMM kernels when the kernel
    /// reports ASIMDDP in AT_HWCAP (Cortex-A76 / Pi 5), whichever Swift built the binary, the c16
    /// kernels otherwise (Cortex-A72 / Pi 4);
    /// on x86 (development) the AVX-VNNI kernels when the CPU has AVX-VNNI and the Haswell set,
    /// else the AVX2 kernels when it has AVX2/FMA/BMI2 (the Haswell feature set the modules are
    /// compiled for), otherwise the c16 kernels in the baseline x86-64 build.
    /// GRDNET_KERNELS=a72-c16-halves|a76-sdot-igemm|a76-dotloop|x86-avx2-igemm|x86-avxvnni-igemm|scalar
    /// overrides it.
    public static var detected: QS8KernelFamily {
        if let env = getenv("GRDNET_KERNELS"), let f = QS8KernelFamily(rawValue: String(cString: env)), f.isSupported { return f }
        #if arch(arm64)
        return dotLoopAvailable ? .sdotIGEMMA76 : .c16HalvesA72
        #else
        return x86AVXVNNIAvailable ? .x86AVXVNNI : (x86AVX2Available ? .x86AVX2 : .c16HalvesA72)
        #endif
    }

    /// Whether this CPU can run the family (the dot-loop and AVX2 modules are compiled for newer cores).
    public var isSupported: Bool {
        switch self {
        case .dotLoopA76, .sdotIGEMMA76: return QS8KernelFamily.dotLoopAvailable
        case .x86AVX2: return QS8KernelFamily.x86AVX2Available
        case .x86AVXVNNI: return QS8KernelFamily.x86AVXVNNIAvailable
        case .c16HalvesA72, .scalar: return true
        }
    }

    /// The CPUID feature bits the GRDKernelsX86 module needs (its code is built with
    /// -march=haswell), as Linux reports them in the "flags" line of /proc/cpuinfo. Swift has
    /// no cpuid instruction without C or assembly; the kernel's flags are CPUID leaves 1 and 7,
    /// already cleared when the OS does not save the AVX registers (XSAVE), which a bare CPUID
    /// would not tell.
    static let x86AVX2Flags = ["avx", "avx2", "fma", "bmi1", "bmi2", "f16c", "movbe", "popcnt", "abm"]

    static let x86AVX2Available: Bool = {
        #if arch(x86_64)
        guard let flags = cpuinfoFlags() else { return false }
        return x86AVX2Flags.allSatisfy { flags.contains($0) }
        #else
        return false
        #endif
    }()

    static let x86AVXVNNIAvailable: Bool = {
        #if arch(x86_64)
        guard let flags = cpuinfoFlags() else { return false }
        return qs8AVXVNNIKernelsCompiled && (x86AVX2Flags + ["avx_vnni"]).allSatisfy { flags.contains($0) }
        #else
        return false
        #endif
    }()

    /// The words of the first "flags" line of /proc/cpuinfo, nil when it cannot be read.
    static func cpuinfoFlags() -> Set<String>? {
        let fd = open("/proc/cpuinfo", O_RDONLY)
        if fd < 0 { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while bytes.count < 1 << 20 {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, 4096) }
            if n <= 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
        }
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") where line.hasPrefix("flags") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            return Set(line[line.index(after: colon)...].split(separator: " ").map(String.init))
        }
        return nil
    }

    static let dotLoopAvailable: Bool = {
        #if arch(arm64)
        let hwcapASIMDDP: UInt = 1 << 20
        return grdGetauxval(16 /* AT_HWCAP */) & hwcapASIMDDP != 0
        #else
        return true  // built for the baseline CPU on other architectures
        #endif
    }()

    /// The indirect-GEMM families (x86 and A76 SDOT): 4 pixels per call, no im2col tile.
    var isIndirect: Bool { self == .x86AVX2 || self == .x86AVXVNNI || self == .sdotIGEMMA76 }

    /// Output channels per packed block.
    var channelBlock: Int {
        switch self {
        case .c16HalvesA72: return 8
        case .dotLoopA76: return 4
        case .scalar: return 1
        case .x86AVX2, .x86AVXVNNI, .sdotIGEMMA76: return 8
        }
    }
}
