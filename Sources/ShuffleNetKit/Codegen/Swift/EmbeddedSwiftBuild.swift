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

    /// A Cortex-M7 with its double-precision FPU (QEMU's mps2-an500), with the ABI of
    /// `arm-none-eabi-gcc -mcpu=cortex-m7 -mfpu=fpv5-d16 -mfloat-abi=hard`: floats in FPU
    /// registers and short enums, set through clang's options because those also write the
    /// object's ABI attributes, without which the linker refuses it beside the C objects.
    public static let cortexM7 = EmbeddedSwiftBuild(
        triple: "armv7em-none-none-eabi", coreFlags: ["-target-cpu", "cortex-m7", "-Xcc", "-mfloat-abi=hard", "-Xcc", "-fshort-enums"])

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

extension GenerateRequest {
    /// The request as emitted for `target`: the Swift backend in its embedded mode, which
    /// only targets with an Embedded Swift build have; the C backend as it is.
    public func forTarget(_ target: Target) throws -> GenerateRequest {
        guard backend == .swift else { return self }
        guard target.embeddedSwift != nil else {
            let supported = Target.all.filter { $0.embeddedSwift != nil }.map(\.name).joined(separator: ", ")
            throw ShuffleNetError("--backend swift has no Embedded Swift build for target \(target.name) (it has one for: \(supported))")
        }
        var r = self
        r.swiftMode = .embedded
        return r
    }
}
