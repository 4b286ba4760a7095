import Foundation

/// Everything that differs between the machines the emitted C is built for, in one value
/// per target: the toolchain and its flags, what the instruction set offers the kernels,
/// and how a program runs there (natively, under qemu-aarch64, or bare metal on an
/// emulated board). The emitted C is the same file for every target (it picks its vector
/// width from the compiler's predefined macros); `--target T --check`, the CMake file and
/// the tests read these values and loop over `Target.all`.
public struct Target: Sendable, Equatable {
    public var name: String
    public var summary: String
    /// C compiler and the Debian package that has it (with the C library headers it needs).
    public var compiler: String
    public var packages: [String]
    /// Instruction set and ABI (`-mcpu`, FPU, float ABI); the same for every file of a program.
    public var architectureFlags: [String]
    /// On the Cortex-M targets the kernels stay out of line (-DSHUFFLENET_FAST_COMPILE):
    /// measured on v2-0.5x, the M55 runs 86.6M instructions that way against 89.3M with
    /// every kernel inlined at -O2 (code 30 KB against 42 KB, a 5 s build against 33 s), the
    /// M7 235.5M against 236.0M at -O3 (13 KB against 27 KB, 1 s against minutes).
    public var optimizationFlags: [String]
    /// Floats per vector the kernels use there (0: the plain C kernels; nil: it depends on
    /// the machine, as with -march=native): what the template's vector-width selection must
    /// pick from the compiler's predefined macros (a test checks it).
    public var floatLanes: Int?
    /// The int8 dot-product instruction these flags enable, for int8 kernels to pick.
    public var dotProduct: DotProduct
    public var runner: Runner
    /// How swiftc builds the Swift backend's embedded mode for this core (`--backend swift`);
    /// nil where that is not set up.
    public var embeddedSwift: EmbeddedSwiftBuild? = nil

    public enum DotProduct: String, Sendable {
        case none
        /// SDOT (Armv8.2-A dot product, `__ARM_FEATURE_DOTPROD`): four int8 products summed
        /// into each int32 lane; the int8 1x1 and classifier kernels use it (`SN_I8_DOTPROD`).
        case sdot
        /// SMLAD (Armv7E-M DSP extension): two 16x16-bit multiply-accumulates per instruction.
        case smlad
        /// VMLADAV (Helium): a 16-byte int8 dot product into a scalar.
        case mveVmladav
    }

    public enum Runner: Sendable, Equatable {
        /// This machine runs the program itself.
        case native
        /// A Linux user-mode emulator (the program is linked statically).
        case userEmulator(program: String, package: String)
        /// Bare metal on an emulated board, with the harness in `templates/harness/`.
        case board(Board)
    }

    /// An emulated microcontroller board and how the harness is linked for it.
    public struct Board: Sendable, Equatable {
        /// `qemu-system-arm -M` machine.
        public var machine: String
        /// Linker script in `templates/harness/`: its memory map and where the weights go.
        public var linkerScript: String
        /// Where the linker script puts the weights, for the report.
        public var weightsMemory: String
        /// The processor clock SysTick counts in QEMU. Under `-icount shift=0` the guest runs
        /// one instruction per virtual nanosecond, so instructions = ticks x 1e9 / clock.
        public var clockHz: Int
    }

    /// The harness's toolchain for every Cortex-M target (with newlib's headers and mem*).
    static let armNoneEabi = ["gcc-arm-none-eabi", "libnewlib-arm-none-eabi"]
    static let qemuSystemArm = "qemu-system-arm"
    static let outOfLine = ["-O3", "-DSHUFFLENET_FAST_COMPILE"]

    public static let all: [Target] = [
        Target(name: "x86-64", summary: "this machine, x86-64 Linux (cc -O3 -march=native)",
               compiler: "cc", packages: ["gcc"], architectureFlags: ["-march=native"], optimizationFlags: ["-O3"],
               floatLanes: nil, dotProduct: .none, runner: .native),
        Target(name: "aarch64-linux", summary: "64-bit Arm Linux (Armv8-A, NEON), run under qemu-aarch64",
               compiler: "aarch64-linux-gnu-gcc", packages: ["gcc-aarch64-linux-gnu", "libc6-dev-arm64-cross"],
               architectureFlags: [], optimizationFlags: ["-O3"],
               floatLanes: 4, dotProduct: .none, runner: .userEmulator(program: "qemu-aarch64", package: "qemu-user")),
        Target(name: "aarch64-linux-dotprod", summary: "64-bit Arm Linux with the Armv8.2-A dot product (SDOT), run under qemu-aarch64",
               compiler: "aarch64-linux-gnu-gcc", packages: ["gcc-aarch64-linux-gnu", "libc6-dev-arm64-cross"],
               architectureFlags: ["-march=armv8.2-a+dotprod"], optimizationFlags: ["-O3"],
               floatLanes: 4, dotProduct: .sdot, runner: .userEmulator(program: "qemu-aarch64", package: "qemu-user")),
        Target(name: "cortex-m4", summary: "Cortex-M4 with single-precision FPU, bare metal on QEMU mps2-an386",
               compiler: "arm-none-eabi-gcc", packages: armNoneEabi,
               architectureFlags: ["-mcpu=cortex-m4", "-mthumb", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard"], optimizationFlags: outOfLine,
               floatLanes: 0, dotProduct: .smlad,
               runner: .board(Board(machine: "mps2-an386", linkerScript: "mps2-an386.ld",
                                    weightsMemory: "SSRAM1 at 0x00000000 with the code (4 MB)", clockHz: 25_000_000))),
        Target(name: "cortex-m7", summary: "Cortex-M7 with double-precision FPU, bare metal on QEMU mps2-an500",
               compiler: "arm-none-eabi-gcc", packages: armNoneEabi,
               architectureFlags: ["-mcpu=cortex-m7", "-mthumb", "-mfpu=fpv5-d16", "-mfloat-abi=hard"], optimizationFlags: outOfLine,
               floatLanes: 0, dotProduct: .smlad,
               runner: .board(Board(machine: "mps2-an500", linkerScript: "mps2-an500.ld",
                                    weightsMemory: "PSRAM at 0x60000000 (16 MB)", clockHz: 25_000_000)),
               embeddedSwift: .cortexM7),
        Target(name: "cortex-m55", summary: "Cortex-M55 with FPU and Helium (MVE), bare metal on QEMU mps3-an547",
               compiler: "arm-none-eabi-gcc", packages: armNoneEabi,
               architectureFlags: ["-mcpu=cortex-m55", "-mthumb", "-mfloat-abi=hard"], optimizationFlags: outOfLine,
               floatLanes: 4, dotProduct: .mveVmladav,
               runner: .board(Board(machine: "mps3-an547", linkerScript: "mps3-an547.ld",
                                    weightsMemory: "QSPI flash at 0x38000000 (8 MB, read-only)", clockHz: 32_000_000))),
    ]

    public static func named(_ name: String) throws -> Target {
        guard let target = all.first(where: { $0.name == name }) else {
            throw ShuffleNetError("unknown target '\(name)'; known targets: \(all.map(\.name).joined(separator: ", "))")
        }
        return target
    }

    public var board: Board? {
        if case .board(let b) = runner { return b }
        return nil
    }

    /// GNU binutils of the toolchain (`size`, `objdump`, `nm`), next to the compiler.
    public func binutil(_ tool: String) -> String {
        compiler.hasSuffix("-gcc") ? String(compiler.dropLast(3)) + tool : tool
    }

    /// Every program the target needs and its Debian package, emulator included.
    public var tools: [(program: String, package: String)] {
        var list = [(compiler, packages[0])]
        switch runner {
        case .native: break
        case .userEmulator(let program, let package): list.append((program, package))
        case .board: list += [(binutil("size"), "binutils-arm-none-eabi"), (Self.qemuSystemArm, Self.qemuSystemArm)]
        }
        return list
    }

    /// The first tool missing from PATH, as one sentence naming its package; nil if all are there.
    public func missingTool() -> String? {
        for (program, package) in tools where findExecutable(program) == nil {
            return "\(program) is not installed (Debian package \(package): apt-get install \(package))"
        }
        return nil
    }
}

/// The full path of `program` on PATH, or nil.
public func findExecutable(_ program: String) -> String? {
    if program.contains("/") { return access(program, X_OK) == 0 ? program : nil }
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
    for dir in path.split(separator: ":") {
        let candidate = "\(dir)/\(program)"
        if access(candidate, X_OK) == 0 { return candidate }
    }
    return nil
}
