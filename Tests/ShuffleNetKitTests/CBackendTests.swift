import Foundation
import ShuffleNetKit
import XCTest

/// Emits C, compiles it with the system compiler, runs it and compares with the
/// interpreted engine (1e-4 x max|logit|, same top-5).
final class CBackendTests: XCTestCase {
    static let strict = ["-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", "-DSHUFFLENET_MAIN"]

    struct Emitted {
        var dir: String
        var prefix: String
        var weightsObject: String
        var expected: [Float]
        var input: String
    }

    /// Generates and compiles the weights file once; variants of the code reuse it.
    func emit(_ spec: NetworkSpec, options: OptimizerOptions = OptimizerOptions(), tag: String = "") throws -> Emitted {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sn-c-\(getpid())-\(spec.name)\(tag)").path
        var request = GenerateRequest(spec: spec)
        request.options = options
        try writeFilesAtomically(try generate(request), to: dir)
        let prefix = request.prefix
        let object = dir + "/weights.o"
        let r = try runProcess(CToolchain().compiler, ["-std=c11", "-O0", "-Wall", "-Wextra", "-Werror", "-c", "\(dir)/\(prefix)_weights.c", "-o", object])
        XCTAssertEqual(r.status, 0, r.stderr)
        let inputPath = dir + "/input.npy"
        let input = SeededWeights.input(for: spec)
        try Npy.write(input, to: inputPath)
        let graph = try optimize(try loadNetwork(spec, weights: nil), options)
        let expected = try Interpreter(graph: graph).run(input).data
        return Emitted(dir: dir, prefix: prefix, weightsObject: object, expected: expected, input: inputPath)
    }

    @discardableResult
    func buildAndCompare(_ e: Emitted, flags: [String], label: String, file: StaticString = #filePath, line: UInt = #line) throws -> Float {
        let program = "\(e.dir)/prog-\(abs(label.hashValue))"
        try CToolchain().build(["\(e.dir)/\(e.prefix).c", e.weightsObject], output: program, flags: flags)
        let out = "\(e.dir)/logits-\(abs(label.hashValue)).npy"
        return try runEmittedProgram(program, input: e.input, output: out, expected: e.expected, label: "C \(label)", file: file, line: line).error
    }

    func testBuiltinSpecsMatchTheInterpreter() throws {
        for name in ["v2-0.5x", "v2-1.0x", "v1-g3-0.5x", "v1-g8-0.5x", "v1-g1-1.0x"] {
            let e = try emit(BuiltinSpecs.named(name)!)
            try buildAndCompare(e, flags: Self.strict, label: name)
            if name == "v2-0.5x" || name == "v1-g8-0.5x" {
                try buildAndCompare(e, flags: Self.strict + ["-DSHUFFLENET_NO_VECTOR"], label: "\(name) plain C")
                // Kernels out of line: one function per kernel (and gcc's clones), same answers.
                try buildAndCompare(e, flags: Self.strict + ["-O3", "-march=native", "-DSHUFFLENET_FAST_COMPILE"], label: "\(name) fast compile")
            }
            // A 1x1 conv lists the runs of consecutive planes it reads (v2-0.5x's shuffled
            // inputs: up to 7); with room for one, the rest go plane by plane, same answers.
            if name == "v2-0.5x" {
                try buildAndCompare(e, flags: Self.strict + ["-O3", "-march=native", "-DSN_PW_MAX_RUNS=1"], label: "\(name) one run listed")
            }
            // The widest vectors this machine has: other register blocks, strips and tails.
            if name == "v2-1.0x" || name == "v1-g3-0.5x" {
                try buildAndCompare(e, flags: Self.strict + ["-O3", "-march=native"], label: "\(name) -O3 -march=native")
            }
            if name == "v2-0.5x" || name == "v1-g3-0.5x" {
                try buildAndCompare(e, flags: ["-std=c11", "-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
                                               "-Wall", "-Wextra", "-Werror", "-DSHUFFLENET_MAIN"], label: "\(name) ASan+UBSan")
            }
        }
    }

    /// The real ImageNet-trained int8 model, through the emitted C: the three photos are
    /// named right and the top-5 sets equal ONNX Runtime's.
    func testRealModelThroughEmittedC() throws {
        let spec = BuiltinSpecs.named("v2-1.0x")!
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sn-c-real-\(getpid())").path
        var request = GenerateRequest(spec: spec, weights: try Fixtures.path("onnx/shufflenet-v2-12-qdq.onnx"), prefix: "realnet")
        request.options = OptimizerOptions()
        try writeFilesAtomically(try generate(request), to: dir)
        try CToolchain().build(["\(dir)/realnet.c", "\(dir)/realnet_weights.c"], output: dir + "/prog", flags: Self.strict)
        for (photo, expected) in [("cat", 281), ("chelsea", 285), ("coffee", 967)] {
            let run = try runProcess(dir + "/prog", [try Fixtures.path("onnx/\(photo).npy"), dir + "/\(photo).npy"])
            XCTAssertEqual(run.status, 0, run.stderr)
            let logits = try Npy.read(path: dir + "/\(photo).npy").data
            let ort = try Npy.read(path: try Fixtures.path("onnx/\(photo).ort-logits.npy")).data
            XCTAssertEqual(top(1, logits), [expected], photo)
            XCTAssertEqual(Set(top(5, logits)), Set(top(5, ort)), photo)
        }
    }

    func testCustomSpec() throws {
        let spec = try loadSpec(try writeTemp("c.json", #"{"name": "c-custom", "family": "v1", "inputSize": 96, "numClasses": 10, "stageRepeats": [2, 3], "channels": [16, 64, 128], "groups": 4}"#))
        try buildAndCompare(try emit(spec), flags: Self.strict, label: "custom v1 g4")
    }

    /// With a pass switched off, the kernels for BatchNorm, ReLU, add and plane copies run.
    func testAblationsCompile() throws {
        for name in ["v2-0.5x", "v1-g3-0.5x"] {
            for (tag, options) in [("no-fold-bn", OptimizerOptions(foldBatchNorm: false)),
                                   ("no-fuse-shuffle", OptimizerOptions(eliminateDataMovement: false)),
                                   ("nothing", OptimizerOptions(foldBatchNorm: false, fuseActivations: false, eliminateDataMovement: false, streamConvPool: false))] {
                let e = try emit(BuiltinSpecs.named(name)!, options: options, tag: tag)
                try buildAndCompare(e, flags: Self.strict, label: "\(name) \(tag)")
            }
        }
    }

    /// clang warns about static functions a file never calls (gcc does not): the emitted
    /// file carries only the kernels its network calls, in every build mode and ablation.
    func testWarningFreeUnderClang() throws {
        guard (try? runProcess("clang", ["--version"]))?.status == 0 else { throw XCTSkip("clang is not installed") }
        // A 32x32 input puts every 1x1 conv on 8x8 planes or smaller, where only the
        // channel-blocked kernel runs (and, with nothing fused, sn_pointwise is not emitted).
        let tiny = try loadSpec(try writeTemp("tiny32.json", #"{"name": "tiny32", "family": "v2", "inputSize": 32, "numClasses": 10, "stageRepeats": [2, 2, 2], "channels": [16, 32, 64, 128, 256]}"#))
        var modes: [[String]] = [[], ["-DSHUFFLENET_MAIN"], ["-DSHUFFLENET_NO_VECTOR"]]
        #if arch(x86_64)
        modes.append(["-mavx512f", "-mfma"])
        #endif
        for spec in [BuiltinSpecs.named("v2-0.5x")!, BuiltinSpecs.named("v1-g3-0.5x")!, tiny] {
            let name = spec.name
            for (tag, options) in [("", OptimizerOptions()), ("no-fold-bn", OptimizerOptions(foldBatchNorm: false)),
                                   ("no-fuse-shuffle", OptimizerOptions(eliminateDataMovement: false)),
                                   ("nothing", OptimizerOptions(foldBatchNorm: false, fuseActivations: false, eliminateDataMovement: false, streamConvPool: false))] {
                var request = GenerateRequest(spec: spec)
                request.options = options
                let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sn-clang-\(getpid())-\(name)\(tag)").path
                defer { try? FileManager.default.removeItem(atPath: dir) }
                try writeFilesAtomically(try generate(request), to: dir)
                for mode in modes {
                    let r = try runProcess("clang", ["-std=c11", "-Wall", "-Wextra", "-Werror", "-fsyntax-only"] + mode + ["\(dir)/\(request.prefix).c"])
                    XCTAssertEqual(r.status, 0, "\(name) \(tag) \(mode): \(r.stderr)")
                }
            }
        }
    }

    func testEmissionIsDeterministic() throws {
        let a = try generate(GenerateRequest(spec: BuiltinSpecs.named("v1-g8-0.5x")!))
        let b = try generate(GenerateRequest(spec: BuiltinSpecs.named("v1-g8-0.5x")!))
        XCTAssertEqual(a.map(\.name), b.map(\.name))
        XCTAssertEqual(a.map(\.text), b.map(\.text))
    }

    /// `generated/` holds the emitted code of the headline specs; it must be what the
    /// generator emits now (weights files are not committed: the digest in the code file
    /// pins them).
    func testGeneratedFolderIsFresh() throws {
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        for name in ["v2-1.0x", "v1-g3-1.0x"] {
            for f in try generate(GenerateRequest(spec: BuiltinSpecs.named(name)!)) where !f.name.hasSuffix("_weights.c") {
                let path = repo.appendingPathComponent("generated").appendingPathComponent(f.name).path
                let committed = try XCTUnwrap(FileManager.default.contents(atPath: path), "\(path) is missing")
                XCTAssertTrue(String(decoding: committed, as: UTF8.self) == f.text,
                              "\(path) is stale: run `swift run -c release shufflenet-gen --spec \(name)`")
            }
        }
    }
}
