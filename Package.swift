// swift-tools-version:6.0
//
// grdnet-edge: an int8 GRD-Net anomaly detector for industrial inspection on a Raspberry Pi.
//
// The module graph follows the data flow, one module per stage:
//   GRDCapture (camera/replay -> Frame) -> GRDImaging (Frame -> input tensor)
//   -> GRDRuntime (tensor -> heatmap + score, on GRDKernels) -> GRDRejectIO (decision -> pulse)
//   and GRDAgent wires them into the daemon (grdnetd) and the operator CLI (grdnet).
//
// Tools version 6.0 and no language feature newer than Swift 6.0: Raspberry Pi OS trixie ships
// Debian's Swift 6.0.3 and the arm64 cross-build uses it.

import PackageDescription

/// Release builds of the kernels must never trap on overflow checks inside the inner loops.
let kernelSettings: [SwiftSetting] = [
    .unsafeFlags(["-Ounchecked"], .when(configuration: .release)),
]

// `#if arch` tells the machine that evaluates this manifest, not the build's target: a cross-build
// for aarch64 from x86 (deploy/arm64/toolchain.sh) says so with GRDNET_TARGET_ARCH=aarch64.
#if arch(arm64)
let targetIsArm64 = true
#else
let targetIsArm64 = Context.environment["GRDNET_TARGET_ARCH"] == "aarch64"
#endif
let dotprodKernelSettings: [SwiftSetting] = targetIsArm64 ? kernelSettings + [
    .unsafeFlags(["-target-cpu", "cortex-a76", "-Xllvm", "-force-vector-width=16"]),
] : kernelSettings

// The x86 kernels (GRDKernelsX86) are built for Haswell-class CPUs (AVX2, FMA, BMI2) when the
// build targets x86_64, and chosen at run time only on a CPU with those features; elsewhere the
// module compiles with the baseline flags and is never called. A cross-build for aarch64 from an
// x86 machine says so with GRDNET_TARGET_ARCH=aarch64 (`#if arch` tells the manifest's host).
// GRDKernelsX86VNNI adds AVX-VNNI and -parse-stdlib (it names vpdpbusd through Builtin).
#if arch(x86_64)
let buildsForX86 = Context.environment["GRDNET_TARGET_ARCH"] != "aarch64"
#else
let buildsForX86 = false
#endif
// The CPU goes through the Clang importer (-Xcc -march): Swift 6.0.3 turns -target-cpu into a
// -mcpu that Clang rejects for x86.
let x86KernelSettings: [SwiftSetting] = buildsForX86
    ? kernelSettings + [.unsafeFlags(["-Xcc", "-march=haswell"])] : kernelSettings
let x86VNNIKernelSettings: [SwiftSetting] = buildsForX86
    ? kernelSettings + [.unsafeFlags(["-Xcc", "-march=haswell", "-Xcc", "-mavxvnni", "-parse-stdlib"])] : kernelSettings

let package = Package(
    name: "grdnet-edge",
    products: [
        .executable(name: "grdnetd", targets: ["grdnetd"]),
        .executable(name: "grdnet", targets: ["grdnet"]),
        .library(name: "GRDKernels", targets: ["GRDKernels"]),
        .library(name: "GRDRuntime", targets: ["GRDRuntime"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
    ],
    targets: [
        // C libraries, through module maps and pkg-config. The headers also carry tiny static
        // inline shims where Swift cannot call the C API directly (variadic ioctl, libgpiod v1/v2).
        .systemLibrary(
            name: "CV4L2", path: "Sources/CV4L2", pkgConfig: "libv4l2",
            providers: [.apt(["libv4l-dev"])]),
        .systemLibrary(
            name: "CJPEG", path: "Sources/CJPEG", pkgConfig: "libjpeg",
            providers: [.apt(["libjpeg-dev"])]),
        .systemLibrary(
            name: "CGPIOD", path: "Sources/CGPIOD", pkgConfig: "libgpiod",
            providers: [.apt(["libgpiod-dev"])]),
        .systemLibrary(
            name: "CPNG", path: "Sources/CPNG", pkgConfig: "libpng",
            providers: [.apt(["libpng-dev"])]),

        // Stage modules.
        .target(name: "GRDKernels", swiftSettings: kernelSettings),
        // The dot-product kernels: a separate module because Swift has no per-function target
        // attributes; on aarch64 hosts it is compiled for the Cortex-A76 (SDOT) and only called
        // when the CPU reports ASIMDDP.
        .target(name: "GRDKernelsDotprod", swiftSettings: dotprodKernelSettings),
        // The x86 development kernels (AVX2), same pattern: own module, own codegen flags.
        .target(name: "GRDKernelsX86", swiftSettings: x86KernelSettings),
        .target(name: "GRDKernelsX86VNNI", swiftSettings: x86VNNIKernelSettings),
        .target(name: "GRDRuntime", dependencies: ["GRDKernels", "GRDKernelsDotprod", "GRDKernelsX86", "GRDKernelsX86VNNI"]),
        .target(name: "GRDImaging", dependencies: ["CJPEG", "CPNG"]),
        .target(name: "GRDCapture", dependencies: ["GRDImaging", "CV4L2"]),
        .target(name: "GRDRejectIO", dependencies: ["CGPIOD"]),
        .target(
            name: "GRDAgent",
            dependencies: [
                "GRDRuntime", "GRDImaging", "GRDCapture", "GRDRejectIO", "GRDAllocationCounter",
                .product(name: "Yams", package: "Yams"),
            ]),

        // Executables.
        .executableTarget(
            name: "grdnetd",
            dependencies: [
                "GRDAgent",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .executableTarget(
            name: "grdnet",
            dependencies: [
                "GRDAgent", "GRDRuntime", "GRDImaging", "GRDCapture", "GRDRejectIO", "GRDAllocationCounter",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        // malloc/calloc/realloc counting for `grdnet bench`, alone in its module (see its file).
        // Exported from every executable that links it, so that the shared libraries (the Swift
        // runtime, libjpeg, libc itself) call the counting malloc, not only this module's callers.
        .target(
            name: "GRDAllocationCounter",
            dependencies: ["CAllocationInterposer"],
            // No dynamic exclusivity checks in malloc (their runtime bookkeeping must not recurse).
            swiftSettings: [.unsafeFlags(["-enforce-exclusivity=unchecked"])],
            linkerSettings: [.unsafeFlags(["-Xlinker", "--export-dynamic-symbol=malloc", "-Xlinker", "--export-dynamic-symbol=calloc",
                                           "-Xlinker", "--export-dynamic-symbol=realloc"])]),
        // The malloc/calloc/realloc definitions themselves, in C: Swift reserves those names.
        .target(name: "CAllocationInterposer"),

        // Tests.
        .testTarget(name: "GRDKernelsTests", dependencies: ["GRDKernels", "GRDKernelsDotprod", "GRDKernelsX86", "GRDKernelsX86VNNI"]),
        .testTarget(name: "GRDRuntimeTests", dependencies: ["GRDRuntime"]),
        .testTarget(name: "GRDImagingTests", dependencies: ["GRDImaging"]),
        .testTarget(name: "GRDCaptureTests", dependencies: ["GRDCapture"]),
        .testTarget(name: "GRDRejectIOTests", dependencies: ["GRDRejectIO"]),
        .testTarget(name: "GRDAgentTests", dependencies: ["GRDAgent", "GRDRejectIO", "GRDCapture"]),
    ],
    swiftLanguageModes: [.v5]
)
