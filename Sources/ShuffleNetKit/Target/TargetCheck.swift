import Foundation

/// `shufflenet-gen --spec S --target T --check`: the emitted C built for the target and
/// run there (natively, under qemu-aarch64 or on the emulated board), compared with the
/// interpreted engine, with the board's flash, RAM and instruction count.
public struct TargetCheckReport: Codable, Equatable, Sendable {
    public var spec: String
    public var target: String
    /// `c` or `swift` (Embedded Swift): the backend whose code ran.
    public var backend: String
    public var compiler: String
    public var flags: [String]
    public var compileSeconds: Double
    public var runSeconds: Double
    public var maxAbsDifference: Float
    public var relativeDifference: Float
    public var sameTop5: Bool
    public var board: BoardMeasurement?
    /// int8 must match the interpreter bit for bit, as on the host (`CheckReport.int8`).
    public var int8 = false

    public var passed: Bool {
        (int8 ? maxAbsDifference == 0 : relativeDifference <= 1e-4) && sameTop5 && (board?.guardsIntact ?? true)
    }

    public var text: String {
        var lines = [
            "spec \(spec) on \(target): emitted \(backend == Backend.swift.rawValue ? "Embedded Swift" : "C") built with \(compiler) \(flags.joined(separator: " ")) in \(String(format: "%.1f", compileSeconds)) s, ran in \(String(format: "%.1f", runSeconds)) s",
            "parity against the interpreted engine\(int8 ? " (int8: must be bit-identical)" : ""): max abs difference \(maxAbsDifference) (\(relativeDifference) x max|logit|), top-5 \(sameTop5 ? "identical" : "DIFFERENT") -> \(passed ? "PASS" : "FAIL")",
        ]
        if let b = board {
            lines += [
                "instructions per inference: \(grouped(b.instructions)) (QEMU -icount shift=0: \(grouped(b.ticks)) SysTick ticks; deterministic)",
                "flash: \(grouped(b.flashBytes)) bytes = network code \(grouped(b.networkCodeBytes)) + tables \(grouped(b.networkTableBytes)) + weights \(grouped(b.weightsBytes)) (at 0x\(String(b.weightsAddress, radix: 16))) + harness \(grouped(b.flashBytes - b.networkCodeBytes - b.networkTableBytes - b.weightsBytes))",
                "RAM: \(grouped(b.ramBytes)) bytes = arena \(grouped(b.arenaBytes)) + stack reserved \(grouped(b.sections[".stack"] ?? 0)) (\(grouped(b.stackBytesUsed)) used) + harness buffers (input, logits, guard zones) \(grouped(b.ramBytes - b.arenaBytes - (b.sections[".stack"] ?? 0)))",
                "guard zones around the arena and the logits: \(b.guardsIntact ? "untouched" : "OVERWRITTEN")",
            ]
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

/// Runs the request on `target` (on `input`, or the seeded input of the spec) in a
/// temporary folder and compares the logits with the interpreted engine's.
public func checkOnTarget(_ request: GenerateRequest, target: Target, input: Tensor? = nil) throws -> (report: TargetCheckReport, logits: [Float]) {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("shufflenet-\(target.name)-\(getpid())-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let image = input ?? SeededWeights.input(for: request.spec, seed: request.seed)
    let graph = try requestedGraph(request)
    let engine = try Interpreter(graph: graph)
    try engine.validateInput(image, source: "the input")
    let run = try runOnTarget(request, target: target, input: image, in: dir)
    let expected = try engine.run(image).data
    let scale = expected.map(abs).max() ?? 1
    let diff = zip(run.logits, expected).map { abs($0 - $1) }.max() ?? 0
    func top5(_ x: [Float]) -> [Int] { Array(x.indices.sorted { x[$0] > x[$1] || (x[$0] == x[$1] && $0 < $1) }.prefix(5)) }
    let report = TargetCheckReport(spec: request.spec.name, target: target.name, backend: request.backend.rawValue, compiler: run.compiler, flags: run.flags,
                                   compileSeconds: run.compileSeconds, runSeconds: run.runSeconds,
                                   maxAbsDifference: diff, relativeDifference: diff / max(scale, .leastNormalMagnitude),
                                   sameTop5: top5(run.logits) == top5(expected), board: run.board, int8: request.int8)
    return (report, run.logits)
}
