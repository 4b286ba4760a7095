/// How swiftc compiles the Swift backend's embedded mode (`SwiftEmitter.Mode.embedded`)
/// into an object for one kind of core: Embedded Swift, whole module, and -no-allocations,
/// so code that would touch a heap fails the build instead of the board.
public struct EmbeddedSwiftBuild: Equatable, Sendable {
    /// swiftc's `-target`, for which the toolchain must ship an Embedded Swift standard
    /// library (`usr/lib/swift/embedded/`).
    public var triple: String
    /// Flags that pick the core and its floating-point ABI.
    public var coreFlags: [String]

    public init(triple: String, coreFlags: [String] = []) {
        self.triple = triple
        self.coreFlags = coreFlags
    }

    /// A Cortex-M7 with its FPU (QEMU's mps2-an500), floats passed in FPU registers, as
    /// `arm-none-eabi-gcc -mcpu=cortex-m7 -mfpu=fpv5-d16 -mfloat-abi=hard` does.
    public static let cortexM7 = EmbeddedSwiftBuild(
        triple: "armv7em-none-none-eabi", coreFlags: ["-target-cpu", "cortex-m7", "-Xllvm", "-float-abi=hard"])

    /// swiftc's arguments compiling `source` to the object `object`.
    public func arguments(source: String, object: String) -> [String] {
        ["-target", triple] + coreFlags + [
            "-enable-experimental-feature", "Embedded", "-enable-experimental-feature", "Extern",
            "-wmo", "-parse-as-library", "-O", "-no-allocations", "-Xfrontend", "-function-sections",
            // No stack protector: like a C build for a board (no -fstack-protector), so the
            // object needs no __stack_chk_guard from the firmware.
            "-Xfrontend", "-disable-stack-protector", "-warnings-as-errors", "-c", source, "-o", object,
        ]
    }
}
