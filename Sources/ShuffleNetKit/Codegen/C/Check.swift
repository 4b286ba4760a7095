import Foundation

/// `shufflenet-gen --spec S --check`: emit, compile with the system C compiler, run the
/// program and the interpreted engine on the same seeded input, and compare both answers
/// and speeds, so one command shows that the code works and how much faster it is.
public struct CheckReport: Codable, Equatable, Sendable {
    public var spec: String
    public var compiler: String
    public var flags: [String]
    public var compileSeconds: Double
    public var maxAbsDifference: Float
    public var relativeDifference: Float
    public var sameTop5: Bool
    public var cMedianMs: Double
    public var interpreterMedianMs: Double
    public var runs: Int
    /// int8 code must match the interpreter bit for bit (integer arithmetic and one shared
    /// rounding step leave no excuse); fp32 within 1e-4 x max|logit| (fused multiply-adds).
    public var int8 = false

    public var passed: Bool { int8 ? maxAbsDifference == 0 && sameTop5 : relativeDifference <= 1e-4 && sameTop5 }

    public var text: String {
        """
        spec \(spec): emitted C built with \(compiler) \(flags.joined(separator: " ")) in \(String(format: "%.1f", compileSeconds)) s
        parity against the interpreted engine\(int8 ? " (int8: must be bit-identical)" : ""): max abs difference \(maxAbsDifference) (\(relativeDifference) x max|logit|), top-5 \(sameTop5 ? "identical" : "DIFFERENT") -> \(passed ? "PASS" : "FAIL")
        single-thread latency, median: emitted C \(String(format: "%.3f", cMedianMs)) ms (\(runs) runs), interpreted engine \(String(format: "%.1f", interpreterMedianMs)) ms (\(max(3, runs / 20)) runs): \(String(format: "%.0f", interpreterMedianMs / cMedianMs))x faster

        """
    }
}

/// Emits the request's C into `dir` and builds it as a program (`-DSHUFFLENET_MAIN`) with
/// the system C compiler: the program's path and the compile time.
func buildGeneratedC(_ request: GenerateRequest, in dir: String, flags: [String], toolchain: CToolchain) throws -> (program: String, seconds: Double) {
    var c = request
    c.backend = .c
    try writeFilesAtomically(try generate(c), to: dir)
    let program = dir + "/prog"
    let started = Date()
    try toolchain.build(["\(dir)/\(c.prefix).c", "\(dir)/\(c.prefix)_weights.c"], output: program,
                        flags: ["-std=c11"] + flags + ["-DSHUFFLENET_MAIN"])
    return (program, Date().timeIntervalSince(started))
}

/// The logits of the request's emitted C for one image: generated, compiled (`cc -O3
/// -march=native` by default) and run in a temporary folder that is removed afterwards
/// (`classify --engine c`).
public func runGeneratedC(_ request: GenerateRequest, input: Tensor, flags: [String] = ["-O3", "-march=native"]) throws -> [Float] {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("shufflenet-run-\(getpid())-\(UUID().uuidString)").path
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let program = try buildGeneratedC(request, in: dir, flags: flags, toolchain: CToolchain()).program
    try Npy.write(input, to: dir + "/input.npy")
    let result = try runProcess(program, [dir + "/input.npy", dir + "/logits.npy"])
    guard result.status == 0 else { throw ShuffleNetError("the emitted program failed (exit \(result.status)): \(result.stderr)") }
    return try Npy.read(path: dir + "/logits.npy").data
}

public func checkGeneratedC(_ request: GenerateRequest, runs: Int = 50, flags: [String] = ["-O3", "-march=native"]) throws -> CheckReport {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("shufflenet-check-\(getpid())-\(UUID().uuidString)").path
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let toolchain = CToolchain()
    let (program, compileSeconds) = try buildGeneratedC(request, in: dir, flags: flags, toolchain: toolchain)

    let input = SeededWeights.input(for: request.spec, seed: request.seed)
    try Npy.write(input, to: dir + "/input.npy")
    let result = try runProcess(program, [dir + "/input.npy", dir + "/logits.npy", "\(runs)"])
    guard result.status == 0 else { throw ShuffleNetError("the emitted program failed (exit \(result.status)): \(result.stderr)") }
    guard let line = result.stdout.split(separator: "\n").first(where: { $0.hasPrefix("latency: median ") }),
          let ms = Double(line.dropFirst("latency: median ".count).prefix { $0 != " " }) else {
        throw ShuffleNetError("the emitted program printed no latency: \(result.stdout)")
    }
    let logits = try Npy.read(path: dir + "/logits.npy").data

    let graph = try requestedGraph(request)
    let engine = try Interpreter(graph: graph)
    var times: [Double] = []
    var expected: [Float] = []
    for _ in 0..<max(3, runs / 20) {
        let t0 = Date()
        expected = try engine.run(input).data
        times.append(Date().timeIntervalSince(t0) * 1000)
    }
    times.sort()
    let scale = expected.map(abs).max() ?? 1
    let diff = zip(logits, expected).map { abs($0 - $1) }.max() ?? 0
    func top5(_ x: [Float]) -> [Int] { Array(x.indices.sorted { x[$0] > x[$1] }.prefix(5)) }
    return CheckReport(spec: request.spec.name, compiler: toolchain.compiler, flags: flags, compileSeconds: compileSeconds,
                       maxAbsDifference: diff, relativeDifference: diff / max(scale, .leastNormalMagnitude),
                       sameTop5: top5(logits) == top5(expected), cMedianMs: ms,
                       interpreterMedianMs: times[times.count / 2], runs: runs, int8: request.int8)
}
