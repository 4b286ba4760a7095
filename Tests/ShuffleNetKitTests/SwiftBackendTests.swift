import Foundation
import ShuffleNetKit
import XCTest

/// Emits Swift, compiles it with swiftc (from PATH), runs it and compares with the
/// interpreted engine (1e-4 x max|logit|, same top-5).
final class SwiftBackendTests: XCTestCase {
    struct Emitted {
        var dir: String
        var files: [String]
        var expected: [Float]
        var input: String
    }

    func emit(_ spec: NetworkSpec, options: OptimizerOptions = OptimizerOptions(), tag: String = "") throws -> Emitted {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sn-swift-\(getpid())-\(spec.name)\(tag)").path
        var request = GenerateRequest(spec: spec)
        request.backend = .swift
        request.options = options
        let files = try generate(request)
        XCTAssertEqual(files.map(\.name), ["\(request.prefix).swift", "\(request.prefix)_weights.swift"])
        try writeFilesAtomically(files, to: dir)
        let inputPath = dir + "/input.npy"
        let input = SeededWeights.input(for: spec)
        try Npy.write(input, to: inputPath)
        let graph = try optimize(try loadNetwork(spec, weights: nil), options)
        let expected = try Interpreter(graph: graph).run(input).data
        return Emitted(dir: dir, files: files.map { "\(dir)/\($0.name)" }, expected: expected, input: inputPath)
    }

    /// `swiftc -O -D SHUFFLENET_MAIN` (plus `flags`), warnings are errors; returns the
    /// program's stdout.
    @discardableResult
    func buildAndCompare(_ e: Emitted, flags: [String] = [], label: String, file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let program = "\(e.dir)/prog-\(abs(label.hashValue))"
        let build = try runProcess("swiftc", ["-O", "-warnings-as-errors", "-D", "SHUFFLENET_MAIN"] + flags + e.files + ["-o", program])
        XCTAssertEqual(build.status, 0, "\(label): swiftc failed:\n\(build.stderr)", file: file, line: line)
        guard build.status == 0 else { return "" }
        let out = "\(e.dir)/logits-\(abs(label.hashValue)).npy"
        let stdout = try runEmittedProgram(program, input: e.input, output: out, extra: ["2"], expected: e.expected,
                                           label: "Swift \(label)", file: file, line: line).stdout
        // The program prints the latency line and the times of every run (Benchmarks/bench.py
        // reads them) before the top 5.
        let lines = stdout.split(separator: "\n")
        XCTAssertTrue(lines.first?.hasPrefix("latency: median ") == true, "\(label): \(stdout)", file: file, line: line)
        let times = lines.dropFirst().first.map { $0.split(separator: " ") } ?? []
        XCTAssertEqual(times.first, "times:", "\(label): \(stdout)", file: file, line: line)
        XCTAssertEqual(times.dropFirst().compactMap { Double($0) }.filter { $0 > 0 }.count, 2, "\(label): \(stdout)", file: file, line: line)
        return stdout
    }

    /// The vector paths this machine can run (the default build is checked everywhere).
    static var vectorFlags: [(label: String, flags: [String])] {
        #if os(Linux) && arch(x86_64)
        let cpu = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let flags = Set(cpu.split(separator: "\n").first { $0.hasPrefix("flags") }?.split(separator: " ").map(String.init) ?? [])
        var out: [(String, [String])] = []
        if flags.isSuperset(of: ["avx2", "fma"]) { out.append(("AVX2", ["-target-cpu", "haswell", "-D", "SHUFFLENET_AVX2"])) }
        if flags.contains("avx512f") { out.append(("AVX-512", ["-target-cpu", "skylake-avx512", "-D", "SHUFFLENET_AVX512"])) }
        return out
        #else
        return []
        #endif
    }

    func testBuiltinSpecsMatchTheInterpreter() throws {
        let vector = Self.vectorFlags
        for (i, name) in ["v2-0.5x", "v1-g3-0.5x"].enumerated() {
            let e = try emit(BuiltinSpecs.named(name)!)
            try buildAndCompare(e, label: name)
            // One spec per vector width, so both strip widths and the narrow tails run.
            if i < vector.count { try buildAndCompare(e, flags: vector[i].flags, label: "\(name) \(vector[i].label)") }
        }
    }

    /// A small custom spec with every pass switched off: the unfused kernels (BatchNorm,
    /// ReLU, add, plane copies, direct conv, max and average pool) run too.
    func testCustomSpecAndAblations() throws {
        let spec = try loadSpec(try writeTemp("swift.json", #"{"name": "swift-custom", "family": "v1", "inputSize": 96, "numClasses": 10, "stageRepeats": [2, 3], "channels": [16, 64, 128], "groups": 4}"#))
        try buildAndCompare(try emit(spec), label: "custom v1 g4")
        let nothing = OptimizerOptions(foldBatchNorm: false, fuseActivations: false, eliminateDataMovement: false, streamConvPool: false)
        try buildAndCompare(try emit(spec, options: nothing, tag: "nothing"), label: "custom v1 g4, no optimizations")
        let v2 = try loadSpec(try writeTemp("swift-v2.json", #"{"name": "swift-v2", "family": "v2", "inputSize": 64, "numClasses": 7, "stageRepeats": [2, 2, 2], "channels": [8, 24, 48, 96, 128]}"#))
        try buildAndCompare(try emit(v2, options: nothing, tag: "nothing"), label: "custom v2, no optimizations")
    }

    /// The emitted files as part of a program of one's own (no SHUFFLENET_MAIN), through the
    /// safe `[Float]` API: twice, same answer, and the interpreter's.
    func testArrayAPIInAProgram() throws {
        let spec = try loadSpec(try writeTemp("swift-api.json", #"{"name": "swift-api", "family": "v2", "inputSize": 64, "numClasses": 7, "stageRepeats": [2, 2, 2], "channels": [8, 24, 48, 96, 128]}"#))
        let e = try emit(spec)
        let driver = e.dir + "/driver.swift"
        try """
        import Foundation

        @main
        enum Driver {
            static func main() {
                let args = CommandLine.arguments
                let data = FileManager.default.contents(atPath: args[1])!
                let x = data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
                precondition(x.count == ShufflenetSwiftApi.inputCount)
                let y = ShufflenetSwiftApi.infer(x)
                precondition(y.count == ShufflenetSwiftApi.outputCount && y == ShufflenetSwiftApi.infer(x))
                _ = FileManager.default.createFile(atPath: args[2], contents: y.withUnsafeBytes { Data($0) })
            }
        }
        """.write(toFile: driver, atomically: true, encoding: .utf8)
        let program = e.dir + "/api-prog"
        let build = try runProcess("swiftc", ["-O", "-warnings-as-errors"] + e.files + [driver, "-o", program])
        XCTAssertEqual(build.status, 0, build.stderr)
        let input = SeededWeights.input(for: spec)
        try input.data.withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: e.dir + "/input.bin")) }
        let run = try runProcess(program, [e.dir + "/input.bin", e.dir + "/logits.bin"])
        XCTAssertEqual(run.status, 0, run.stderr)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: e.dir + "/logits.bin"))
        let logits = bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        XCTAssertLessThanOrEqual(relativeError(logits, e.expected), 1e-4)
        XCTAssertEqual(top(5, logits), top(5, e.expected))
    }

    func testAPIAndNames() throws {
        var request = GenerateRequest(spec: BuiltinSpecs.named("v2-1.0x")!)
        request.backend = .swift
        let files = try generate(request)
        XCTAssertEqual(files.map(\.name), ["shufflenet_v2_1_0x.swift", "shufflenet_v2_1_0x_weights.swift"])
        let source = files[0].text
        for line in ["public enum ShufflenetV2_1_0x {",
                     "public static func infer(_ input: UnsafePointer<Float>, _ logits: UnsafeMutablePointer<Float>, arena: UnsafeMutableRawPointer) {",
                     "public static func infer(_ input: [Float]) -> [Float] {",
                     "public static let inputCount = 150528", "public static let outputCount = 1000",
                     "public static let inputShape = [1, 3, 224, 224]"] {
            XCTAssertTrue(source.contains(line), line)
        }
        // The inference code imports nothing; only the optional main uses Foundation.
        let imports = source.split(separator: "\n").filter { $0.hasPrefix("import ") }
        XCTAssertEqual(imports, ["import Foundation"])
        XCTAssertTrue(source.contains("#if SHUFFLENET_MAIN\nimport Foundation\n#endif"))
        // The same layer comments as the C code.
        request.backend = .c
        let c = try generate(request).first { $0.name.hasSuffix(".c") && !$0.name.hasSuffix("_weights.c") }!.text
        func body(_ text: String, after start: String) -> [Substring] {
            text.split(separator: "\n").drop { !$0.contains(start) }.map { $0 }
        }
        let cComments = body(c, after: "_infer(const float *input").filter { $0.hasPrefix("    /* ") }.map { $0.dropFirst(7).dropLast(3) }
        let swiftComments = body(source, after: "public static func infer(_ input: UnsafePointer")
            .prefix { !$0.hasPrefix("    }") }.filter { $0.hasPrefix("        // ") }.map { $0.dropFirst(11) }
        XCTAssertEqual(swiftComments.map(String.init), cComments.map(String.init))
        XCTAssertEqual(swiftComments.count, 58)

        request.prefix = "my_net_2"
        request.backend = .swift
        XCTAssertTrue(try generate(request)[0].text.contains("public enum MyNet_2 {"))
        for bad in ["2net", "my-net", "float"] {
            request.prefix = bad
            XCTAssertThrowsError(try generate(request), bad)
        }
    }

    func testEmissionIsDeterministic() throws {
        var request = GenerateRequest(spec: BuiltinSpecs.named("v1-g8-0.5x")!)
        request.backend = .swift
        let a = try generate(request), b = try generate(request)
        XCTAssertEqual(a.map(\.name), b.map(\.name))
        XCTAssertTrue(a.map(\.text) == b.map(\.text))
    }

    /// `generated/` holds the emitted Swift of v2-1.0x; it must be what the generator emits
    /// now (the weights file is not committed: the digest in the code file pins it).
    func testGeneratedFolderIsFresh() throws {
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        var request = GenerateRequest(spec: BuiltinSpecs.named("v2-1.0x")!)
        request.backend = .swift
        for f in try generate(request) where !f.name.hasSuffix("_weights.swift") {
            let path = repo.appendingPathComponent("generated").appendingPathComponent(f.name).path
            let committed = try XCTUnwrap(FileManager.default.contents(atPath: path), "\(path) is missing")
            XCTAssertTrue(String(decoding: committed, as: UTF8.self) == f.text,
                          "\(path) is stale: run `swift run -c release shufflenet-gen --spec v2-1.0x --backend swift`")
        }
    }
}
