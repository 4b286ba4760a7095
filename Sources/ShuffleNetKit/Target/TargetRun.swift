import Foundation
import ShuffleNetTemplates

/// One inference of the emitted C on a target: built with the target's toolchain, run
/// natively, under the user-mode emulator, or bare metal on the emulated board.
public struct TargetRun: Sendable {
    public var logits: [Float]
    public var compiler: String
    public var flags: [String]
    public var compileSeconds: Double
    public var runSeconds: Double
    /// Only on a board.
    public var board: BoardMeasurement?
}

/// What the harness and the linker map say about one inference on a board.
public struct BoardMeasurement: Codable, Equatable, Sendable {
    /// SysTick ticks over `infer` and the instructions they stand for (see `Target.Board.clockHz`).
    public var ticks: Int
    public var instructions: Int
    /// Program sections by name (`arm-none-eabi-size -A`): flash holds .text, .rodata,
    /// .ARM.exidx, .data's initial values and .weights; RAM .data, .bss and .stack.
    public var sections: [String: Int]
    /// The network alone: its code object's code and tables, and the weights.
    public var networkCodeBytes: Int
    public var networkTableBytes: Int
    public var weightsBytes: Int
    public var weightsAddress: Int
    public var arenaBytes: Int
    /// Deepest stack use of the whole program (painted stack), and the harness's guard check.
    public var stackBytesUsed: Int
    public var guardsIntact: Bool

    public var flashBytes: Int { [".text", ".rodata", ".ARM.exidx", ".data", ".weights"].reduce(0) { $0 + (sections[$1] ?? 0) } }
    public var ramBytes: Int { [".data", ".bss", ".stack"].reduce(0) { $0 + (sections[$1] ?? 0) } }
}

/// Builds the request's emitted code for `target` in `dir` (which must exist and is kept)
/// and runs one inference on `input`. `extraFlags` go to the network's code file only. The
/// Swift backend (embedded mode) builds its code file with swiftc and everything else as
/// the C backend does: same weights file compiler, harness, board and measurements.
public func runOnTarget(_ request: GenerateRequest, target: Target, input: Tensor, in dir: String,
                        extraFlags: [String] = []) throws -> TargetRun {
    let c = try request.forTarget(target)
    if let missing = target.missingTool() { throw ShuffleNetError(missing) }
    if c.backend == .swift, findExecutable("swiftc") == nil { throw ShuffleNetError("swiftc is not installed (a Swift 6 toolchain from swift.org)") }
    let program = try LayerProgram(graph: try requestedGraph(c), allowNonFinite: c.allowNonFinite)
    try writeFilesAtomically(try generate(c), to: dir)
    let code = "\(dir)/\(c.prefix).c", weights = "\(dir)/\(c.prefix)_weights.c"
    let flags = ["-std=c11"] + target.optimizationFlags + target.architectureFlags
    let started = Date()
    // The weights are data: optimizing them only costs compile time. They and the board
    // harness are shufflenet-gen's own files, so a warning in them is an error.
    let warnings = ["-Wall", "-Wextra", "-Werror"]
    switch target.runner {
    case .native, .userEmulator:
        let exe = dir + "/prog"
        let link = target.runner == .native ? [] : ["-static"]
        try compile(target, flags + extraFlags + ["-DSHUFFLENET_MAIN", "-c", code, "-o", dir + "/network.o"])
        try compile(target, ["-std=c11", "-O0"] + warnings + target.architectureFlags + ["-c", weights, "-o", dir + "/weights.o"])
        try compile(target, flags + link + [dir + "/network.o", dir + "/weights.o", "-o", exe, "-lm"])
        let compileSeconds = Date().timeIntervalSince(started)
        try Npy.write(input, to: dir + "/input.npy")
        let runStarted = Date()
        var command = [exe, dir + "/input.npy", dir + "/logits.npy"]
        if case .userEmulator(let emulator, _) = target.runner { command.insert(emulator, at: 0) }
        let r = try runProcess(command[0], Array(command.dropFirst()))
        guard r.status == 0 else { throw ShuffleNetError("the emitted program failed on \(target.name) (exit \(r.status)): \(r.stderr)") }
        return TargetRun(logits: try Npy.read(path: dir + "/logits.npy").data, compiler: target.compiler, flags: flags + extraFlags + link,
                         compileSeconds: compileSeconds, runSeconds: Date().timeIntervalSince(runStarted), board: nil)
    case .board(let board):
        let harness = try TemplateFiles.path("harness/board_main.c")
        let harnessDir = (harness as NSString).deletingLastPathComponent
        let sections = ["-ffunction-sections", "-fdata-sections"]
        var codeCompiler = target.compiler, codeFlags = flags + extraFlags
        if c.backend == .swift, let swift = target.embeddedSwift {
            codeCompiler = "swiftc"
            codeFlags = swift.arguments(source: "\(dir)/\(c.prefix).swift", object: dir + "/network.o") + extraFlags
            let r = try runProcess(codeCompiler, codeFlags)
            guard r.status == 0 else { throw ShuffleNetError("swiftc failed (exit \(r.status)) for \(target.name): \(r.stderr)") }
        } else {
            try compile(target, flags + extraFlags + sections + ["-c", code, "-o", dir + "/network.o"])
        }
        try compile(target, ["-std=c11", "-O0"] + warnings + target.architectureFlags + ["-c", weights, "-o", dir + "/weights.o"])
        let upper = c.prefix.uppercased()
        // int8: the board gets the image quantized here with the reference formula (a
        // quarter of the bytes) and runs PREFIX_infer_quantized.
        let quantizedInput = program.inputQuantization
        try compile(target, ["-std=c11", "-O2"] + warnings + ["-Wdouble-promotion"] + target.architectureFlags + sections + [
            "-nostartfiles", "-T", "\(harnessDir)/\(board.linkerScript)", "-Wl,--gc-sections",
            "-I", dir, "-I", harnessDir, "-DSN_MODEL=\(c.prefix)", "-DSN_MODEL_UPPER=\(upper)", "-DSN_MODEL_HEADER=\"\(c.prefix).h\"",
        ] + (quantizedInput == nil ? [] : ["-DSN_QUANTIZED_INPUT"]) + [
            dir + "/network.o", dir + "/weights.o", harness, "\(harnessDir)/startup_cortex_m.c", "\(harnessDir)/semihosting.c",
            "-o", dir + "/prog.elf",
        ])
        let compileSeconds = Date().timeIntervalSince(started)
        let inputBytes = quantizedInput.map { q in input.data.map { UInt8(quantizeLinear($0, q)) } }
            ?? input.data.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) }
        try writeFileAtomically(inputBytes, to: dir + "/input.bin")
        try? FileManager.default.removeItem(atPath: dir + "/logits.bin")
        let runStarted = Date()
        let r = try runProcess("timeout", ["900", Target.qemuSystemArm, "-M", board.machine, "-nographic", "-monitor", "none", "-serial", "none",
                                           "-semihosting-config", "enable=on,target=native", "-icount", "shift=0",
                                           "-kernel", dir + "/prog.elf"], directory: dir)
        let runSeconds = Date().timeIntervalSince(runStarted)
        let output = r.stdout + r.stderr
        guard let line = output.split(separator: "\n").first(where: { $0.hasPrefix("shufflenet-board: ticks ") }) else {
            throw ShuffleNetError("the board program on \(board.machine) printed no measurement (exit \(r.status)): \(output)")
        }
        guard r.status == 0 else { throw ShuffleNetError("the board program on \(board.machine) failed (exit \(r.status)): \(output)") }
        let numbers = line.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
        guard numbers.count >= 2 else { throw ShuffleNetError("cannot read the board's measurement: \(line)") }
        let logits = try readFloats(dir + "/logits.bin", count: program.outputCount)
        let elf = try sectionSizes(target, dir + "/prog.elf")
        // The network's code and tables: the code object's, and what the weights file holds
        // beside the weights (the Swift backend's channel maps, zero row and their address
        // functions; nothing for the C backend).
        let objects = [try sectionSizes(target, dir + "/network.o"), try sectionSizes(target, dir + "/weights.o")]
        func bytes(_ prefix: String) -> Int {
            objects.flatMap { $0 }.filter { $0.key.hasPrefix(prefix) && $0.key != weightsSection }.reduce(0) { $0 + $1.value.size }
        }
        let measurement = BoardMeasurement(
            ticks: numbers[0], instructions: Int((Double(numbers[0]) * 1e9 / Double(board.clockHz)).rounded()),
            sections: elf.mapValues(\.size),
            networkCodeBytes: bytes(".text"),
            networkTableBytes: bytes(".rodata"),
            weightsBytes: elf[".weights"]?.size ?? 0, weightsAddress: elf[".weights"]?.address ?? 0,
            arenaBytes: program.arenaBytes, stackBytesUsed: numbers[1], guardsIntact: line.hasSuffix("guards intact"))
        return TargetRun(logits: logits, compiler: codeCompiler, flags: codeFlags, compileSeconds: compileSeconds,
                         runSeconds: runSeconds, board: measurement)
    }
}

/// The weights file's section for the weights array (SHUFFLENET_WEIGHTS_SECTION's default).
private let weightsSection = ".rodata.shufflenet_weights"

private func compile(_ target: Target, _ arguments: [String]) throws {
    let r = try runProcess(target.compiler, arguments)
    guard r.status == 0 else {
        throw ShuffleNetError("\(target.compiler) failed (exit \(r.status)) for \(target.name): \(r.stderr)")
    }
}

/// `size -A` of an ELF file or object: section name -> (size, address).
private func sectionSizes(_ target: Target, _ path: String) throws -> [String: (size: Int, address: Int)] {
    let r = try runProcess(target.binutil("size"), ["-A", "-d", path])
    guard r.status == 0 else { throw ShuffleNetError("\(target.binutil("size")) failed on \(path): \(r.stderr)") }
    var result: [String: (size: Int, address: Int)] = [:]
    for line in r.stdout.split(separator: "\n") {
        let fields = line.split(separator: " ", omittingEmptySubsequences: true)
        if fields.count == 3, fields[0].hasPrefix("."), let size = Int(fields[1]), let address = Int(fields[2]) {
            result[String(fields[0]), default: (0, address)].size += size
        }
    }
    return result
}

private func readFloats(_ path: String, count: Int) throws -> [Float] {
    guard let data = FileManager.default.contents(atPath: path), data.count == count * 4 else {
        throw ShuffleNetError("\(path): expected \(count) float32 logits from the board")
    }
    return (0..<count).map { i in Float(bitPattern: data[(i * 4)..<(i * 4 + 4)].reversed().reduce(0) { $0 << 8 | UInt32($1) }) }
}
