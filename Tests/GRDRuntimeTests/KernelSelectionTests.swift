import Foundation
import XCTest
@testable import GRDRuntime

#if arch(arm64)
@_silgen_name("getauxval") private func testGetauxval(_ type: UInt) -> UInt
#endif

/// The family the runtime picks for this CPU (Tests/arm64/run runs this under qemu-aarch64 -cpu
/// cortex-a72 and cortex-a76, with the Swift 6.0.3 cross-build).
final class KernelSelectionTests: XCTestCase {
    func testDetectedFamilyFitsTheCPU() throws {
        try XCTSkipIf(getenv("GRDNET_KERNELS") != nil, "GRDNET_KERNELS overrides the detection in this environment")
        let family = QS8KernelFamily.detected
        XCTAssertTrue(family.isSupported)
        #if arch(arm64)
        let dotProduct = testGetauxval(16 /* AT_HWCAP */) & (1 << 20) != 0
        // SDOT kernels on a Cortex-A76 (Pi 5) whichever compiler built the binary; c16 on an A72.
        XCTAssertEqual(family, dotProduct ? .sdotIGEMMA76 : .c16HalvesA72)
        XCTAssertEqual(QS8KernelFamily.sdotIGEMMA76.isSupported, dotProduct)
        #else
        XCTAssertNotEqual(family, .sdotIGEMMA76, "the SDOT family is never the default off aarch64")
        #endif
    }

    func testSDOTFamilyIsIndirectWithEightChannelBlocks() {
        XCTAssertEqual(QS8KernelFamily(rawValue: "a76-sdot-igemm"), .sdotIGEMMA76)
        XCTAssertTrue(QS8KernelFamily.sdotIGEMMA76.isIndirect)
        XCTAssertEqual(QS8KernelFamily.sdotIGEMMA76.channelBlock, 8)
    }
}
