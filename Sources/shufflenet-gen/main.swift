import Foundation
import ShuffleNetKit

let usage = """
usage: shufflenet-gen --spec S [--weights W] [--backend c|swift] [--out DIR] [--name PREFIX] [--seed N]
                      [--no-fold-bn] [--no-fuse-shuffle] [--allow-nonfinite] [--precision fp32|int8]
         generate code (the default command): PREFIX.h, PREFIX.c and PREFIX_weights.c in DIR
         (--backend swift: PREFIX.swift and PREFIX_weights.swift)
         (default generated/, PREFIX default shufflenet_<spec>)
       shufflenet-gen --spec S --check [--runs N] [--json]
         emit to a temporary folder, build with the system C compiler (cc -O3 -march=native),
         compare with the interpreted engine and time both
       shufflenet-gen --spec S --target T [--check [--input x.npy --output y.npy] [--json]]
         T: \(Target.all.map(\.name).joined(separator: ", "))
         without --check: the code plus a CMakeLists.txt (a static library for firmware builds)
         --backend swift: Embedded Swift without heap (PREFIX.swift, PREFIX.h, PREFIX_weights.c;
         T: \(Target.all.filter { $0.embeddedSwift != nil }.map(\.name).joined(separator: ", "))), built with swiftc -no-allocations
         --check: build with T's cross compiler, run under qemu-aarch64 or bare metal on the
         emulated board (QEMU), compare with the interpreted engine; on a board also print
         flash and RAM bytes and the instructions of one inference
       shufflenet-gen <command> [options]

commands:
  specs [--json]                              list the built-in network specs
  targets [--json]                            the --target names: toolchain, flags, emulator, memory
  info --spec S [--optimized] [--json]        per-layer table: output shape, params, MACs;
                                              --optimized: the optimized graph, its channel
                                              maps, and ops/bytes moved before and after;
       [--precision fp32|int8 [--weights W]]  adds the bytes of weights and arena in that precision
  run --spec S --input x.npy --output y.npy [--weights W] [--seed N] [--unoptimized] [--arena]
      [--poison] [--runs N] [--allow-nonfinite] [--precision fp32|int8]
                                              run the interpreted engine on one image
                                              (the optimized graph unless --unoptimized; in
                                              one planned arena with --arena; --poison: that
                                              arena, NaN in every dead byte after each op, so a
                                              planning bug shows in the logits; --runs N times it)
\(classifyUsage)
\(calibrateUsage)
  plan --spec S [--svg FILE] [--json]         the arena plan of the optimized graph: offset, size
       [--precision fp32|int8 [--weights W]]  and live range per buffer, against the lower bound
  export-weights --spec S --output W.safetensors [--seed N]
                                              write the seeded weights as a checkpoint

Ablation switches (info, run): --no-fold-bn, --no-fuse-shuffle.
--precision int8 (generate, --check, run, classify, info, plan) takes its activation scales and
zero points from --quantization Q.json (written by calibrate), from --calibrate IMAGE.npy...
(calibrated on the spot; --method as for calibrate), or from an int8 QDQ ONNX model given as
--weights (docs/int8.md).
A NaN or infinity in the weights is an error naming the tensor and index; --allow-nonfinite
(run, classify, generate) loads and emits such weights anyway.
S is a built-in name (see `specs`) or a JSON spec file. Without --weights, weights are
generated deterministically from --seed (default \(SeededWeights.defaultSeed)).
exit codes: 0 success, 1 bad input (message on stderr), 2 usage error.
"""

func printErr(_ s: String) { FileHandle.standardError.write((s + "\n").data(using: .utf8)!) }

func specsCommand(_ a: Arguments) throws {
    let specs = BuiltinSpecs.all
    if a.flag("--json") {
        print(try jsonString(specs), terminator: "")
        return
    }
    var rows: [[String]] = []
    for spec in specs {
        let g = try buildGraph(spec)
        rows.append([spec.name, spec.family.rawValue, spec.family == .v1 ? "\(spec.groups)" : "-",
                     spec.channels.map(String.init).joined(separator: ","), grouped(g.totalParameters), grouped(g.totalMACs)])
    }
    print(renderTable(header: ["spec", "family", "groups", "channels", "params", "MACs"], rows: rows, rightAligned: [4, 5]), terminator: "")
}

func optimizerOptions(_ a: Arguments) -> OptimizerOptions {
    OptimizerOptions(foldBatchNorm: !a.flag("--no-fold-bn"), eliminateDataMovement: !a.flag("--no-fuse-shuffle"))
}

/// `--precision fp32|int8`: true for int8.
func isInt8(_ a: Arguments) throws -> Bool {
    switch a.value("--precision") ?? "fp32" {
    case "fp32": return false
    case "int8": return true
    case let other: throw UsageError(message: "--precision takes 'fp32' or 'int8', got '\(other)'")
    }
}

/// What a command loads, from `--spec`, `--weights`, `--seed`, the optimizer switches,
/// `--allow-nonfinite` and `--precision`; for int8, activation parameters from
/// `--quantization FILE` (a `calibrate` result), from `--calibrate IMAGE...` (calibrated
/// here) or from an int8 QDQ ONNX file given as `--weights`.
func networkRequest(_ a: Arguments) throws -> GenerateRequest {
    var r = GenerateRequest(spec: try loadSpec(try a.required("--spec")), weights: a.value("--weights"), prefix: a.value("--name"))
    r.seed = try a.seed()
    r.options = optimizerOptions(a)
    r.allowNonFinite = a.flag("--allow-nonfinite")
    r.int8 = try isInt8(a)
    let path = a.value("--quantization"), images = a.list("--calibrate")
    guard r.int8 else {
        if path != nil || images != nil { throw UsageError(message: "--quantization and --calibrate choose int8 parameters; add --precision int8") }
        return r
    }
    if a.flag("--no-fold-bn") || a.flag("--no-fuse-shuffle") {
        throw UsageError(message: "--precision int8 needs the fully optimized graph (no --no-fold-bn or --no-fuse-shuffle)")
    }
    switch (path, images) {
    case (let path?, nil):
        r.quantization = (try QuantizationFile.read(path: path), path)
    case (nil, let images?):
        let network = try loadNetwork(r.spec, weights: r.weights, seed: r.seed, allowNonFinite: r.allowNonFinite)
        let file = try calibrate(network, options: r.options, images: try images.map { (name: $0, tensor: try Npy.read(path: $0)) },
                                 method: try calibrationMethod(a), weights: r.weights ?? "seeded, seed \(r.seed)")
        r.quantization = (file, "the calibration")
    case (_?, _?):
        throw UsageError(message: "give --quantization FILE or --calibrate IMAGE..., not both")
    case (nil, nil):
        guard let w = r.weights, w.hasSuffix(".onnx"), try onnxFileIsQuantized(path: w) else {
            throw UsageError(message: "--precision int8 needs activation quantization parameters from a calibration: --quantization FILE (from calibrate), "
                             + "--calibrate IMAGE.npy..., or an int8 QDQ ONNX model as --weights (\(r.weights ?? "seeded weights") has none)")
        }
    }
    return r
}

/// The optimized (for int8, quantized) graph a command runs.
func loadOptimizedNetwork(_ a: Arguments) throws -> Graph { try requestedGraph(try networkRequest(a)) }

/// The options every command that loads a network takes for int8.
let int8Options: Set<String> = ["--precision", "--quantization", "--method"]

func infoCommand(_ a: Arguments) throws {
    let spec = try loadSpec(try a.required("--spec"))
    let graph = try buildGraph(spec)
    let report: InfoReport
    if a.value("--precision") != nil {
        // Bytes per precision need the optimized (and, for int8, quantized) graph.
        let bound = try bindWeights(graph, path: nil)
        report = InfoReport(graph: try loadOptimizedNetwork(a), unoptimized: bound, withMemory: true)
    } else if a.flag("--optimized") || a.flag("--no-fold-bn") || a.flag("--no-fuse-shuffle") {
        // Folding needs real numbers; the seeded weights stand in (only the structure is shown).
        let bound = try bindWeights(graph, path: nil)
        report = InfoReport(graph: try optimize(bound, optimizerOptions(a)), unoptimized: bound)
    } else {
        report = InfoReport(graph: graph)
    }
    print(a.flag("--json") ? try jsonString(report) : report.text, terminator: "")
}

func runCommand(_ a: Arguments) throws {
    let spec = try loadSpec(try a.required("--spec"))
    let inputPath = try a.required("--input")
    let outputPath = try a.required("--output")
    let graph: Graph
    if a.flag("--unoptimized") {
        if try isInt8(a) { throw UsageError(message: "--precision int8 runs the optimized graph; drop --unoptimized") }
        graph = try loadNetwork(spec, weights: a.value("--weights"), seed: try a.seed(), allowNonFinite: a.flag("--allow-nonfinite"))
    } else {
        graph = try loadOptimizedNetwork(a)
    }
    let engine = try Interpreter(graph: graph)
    let input = try Npy.read(path: inputPath)
    try engine.validateInput(input, source: inputPath)
    let poison = a.flag("--poison")
    let arena = a.flag("--arena") || poison ? ArenaLayout(engine.graph) : nil
    let logits = try engine.run(input, arena: arena, poisonDeadBytes: poison)
    try Npy.write(logits, to: outputPath)
    if let r = a.value("--runs") {
        guard let runs = Int(r), runs >= 1 else { throw UsageError(message: "--runs takes a positive integer, got '\(r)'") }
        var ms: [Double] = []
        for _ in 0..<runs {
            let t0 = DispatchTime.now().uptimeNanoseconds
            _ = try engine.run(input, arena: arena, poisonDeadBytes: poison)
            ms.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
        }
        let sorted = ms.sorted()
        print(String(format: "latency: median %.3f ms, p10 %.3f ms, p90 %.3f ms over %d runs", sorted[runs / 2], sorted[runs / 10], sorted[runs * 9 / 10], runs))
        print("times:" + sorted.map { String(format: " %.4f", $0) }.joined())
    }
}

func planCommand(_ a: Arguments) throws {
    let report = PlanReport(graph: try loadOptimizedNetwork(a))
    if let svg = a.value("--svg") { try writeFileAtomically(Array(report.svg.utf8), to: svg) }
    print(a.flag("--json") ? try jsonString(report) : report.text, terminator: "")
}

func generateCommand(_ a: Arguments) throws {
    if try isInt8(a) && a.value("--backend") == "swift" {
        throw UsageError(message: "--backend swift --precision int8: the Swift backend is fp32 only for now; use --backend c")
    }
    var r = try networkRequest(a)
    if let b = a.value("--backend") {
        guard let backend = Backend(rawValue: b) else {
            throw UsageError(message: "unknown backend '\(b)' (valid: \(Backend.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        r.backend = backend
    }
    let target = try a.value("--target").map(Target.named)
    if let target { r = try r.forTarget(target) }
    if a.value("--input") != nil || a.value("--output") != nil, target == nil || !a.flag("--check") {
        throw UsageError(message: "--input and --output go with --target T --check (the logits computed on the target)")
    }
    if let target, a.flag("--check") {
        let input = try a.value("--input").map { try Npy.read(path: $0) }
        let (report, logits) = try checkOnTarget(r, target: target, input: input)
        if let output = a.value("--output") { try Npy.write(Tensor(shape: [1, logits.count], data: logits), to: output) }
        print(a.flag("--json") ? try jsonString(report) : report.text, terminator: "")
        if !report.passed { exit(1) }
        return
    }
    if a.flag("--check") {
        let runs = Int(a.value("--runs") ?? "50") ?? 50
        let report = try checkGeneratedC(r, runs: max(1, runs))
        print(a.flag("--json") ? try jsonString(report) : report.text, terminator: "")
        if !report.passed { exit(1) }
        return
    }
    let out = a.value("--out") ?? "generated"
    var files = try generate(r)
    if let target, r.backend == .c { files.append(try cmakeLists(prefix: r.prefix, spec: r.spec.name, target: target)) }
    try writeFilesAtomically(files, to: out)
    for f in files { print("wrote \((out as NSString).appendingPathComponent(f.name)) (\(grouped(f.text.utf8.count)) bytes)") }
}

func exportWeightsCommand(_ a: Arguments) throws {
    let spec = try loadSpec(try a.required("--spec"))
    let output = try a.required("--output")
    let graph = try bindWeights(try buildGraph(spec), path: nil, seed: try a.seed())
    try Safetensors.write(graph.parameters, to: output,
                          metadata: ["spec": spec.name, "generator": "shufflenet-gen seeded weights", "seed": "\(try a.seed())"])
}

let args = CommandLine.arguments.dropFirst()
do {
    guard let command = args.first else { throw UsageError(message: "no command given") }
    let rest = args.dropFirst()
    // `shufflenet-gen info --help` asks for the usage, as `--help` alone does.
    if rest.contains("--help") || rest.contains("-h") {
        print(usage)
        exit(0)
    }
    switch command {
    case let flag where flag.hasPrefix("--") && flag != "--help":
        try generateCommand(Arguments(args, options: Set(["--spec", "--weights", "--backend", "--out", "--name", "--seed", "--runs",
                                                          "--target", "--input", "--output"]).union(int8Options),
                                      switches: ["--no-fold-bn", "--no-fuse-shuffle", "--allow-nonfinite", "--check", "--json"], lists: ["--calibrate"]))
    case "specs":
        try specsCommand(Arguments(rest, options: [], switches: ["--json"]))
    case "info":
        try infoCommand(Arguments(rest, options: Set(["--spec", "--weights", "--seed"]).union(int8Options), switches: ["--json", "--optimized", "--no-fold-bn", "--no-fuse-shuffle"],
                                  lists: ["--calibrate"]))
    case "run":
        try runCommand(Arguments(rest, options: Set(["--spec", "--input", "--output", "--weights", "--seed", "--runs"]).union(int8Options),
                                 switches: ["--unoptimized", "--no-fold-bn", "--no-fuse-shuffle", "--allow-nonfinite", "--arena", "--poison"],
                                 lists: ["--calibrate"]))
    case "classify":
        try classifyCommand(Arguments(rest, options: classifyOptions.union(int8Options), switches: classifySwitches, lists: ["--calibrate"]))
    case "calibrate":
        try calibrateCommand(Arguments(rest, options: calibrateOptions, switches: calibrateSwitches, positionals: true))
    case "targets":
        let a = try Arguments(rest, options: [], switches: ["--json"])
        let report = try TargetsReport()
        print(a.flag("--json") ? try jsonString(report.targets) : report.text, terminator: "")
    case "plan":
        try planCommand(Arguments(rest, options: Set(["--spec", "--svg", "--weights", "--seed"]).union(int8Options), switches: ["--json", "--no-fold-bn", "--no-fuse-shuffle"],
                                  lists: ["--calibrate"]))
    case "export-weights":
        try exportWeightsCommand(Arguments(rest, options: ["--spec", "--output", "--seed"], switches: []))
    case "-h", "--help", "help":
        print(usage)
    default:
        throw UsageError(message: "unknown command '\(command)'")
    }
} catch let e as UsageError {
    printErr("error: \(e.message)\n\n\(usage)")
    exit(2)
} catch let e as ShuffleNetError {
    printErr("error: \(e.message)")
    exit(1)
} catch {
    printErr("error: \(error)")
    exit(1)
}
