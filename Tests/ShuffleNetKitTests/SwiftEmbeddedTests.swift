import Foundation
import ShuffleNetKit
import XCTest

/// The Swift backend's embedded mode: Embedded Swift with -no-allocations, weights in C
/// read-only data, the C backend's `PREFIX_infer` as entry point. Built for the Cortex-M7
/// (no emulator needed) and, the same source, for this machine, where it runs against the
/// interpreted engine.
final class SwiftEmbeddedTests: XCTestCase {
    /// A missing tool skips the test with the Debian package to install, except under
    /// CI=true, where it fails: CI must never pass by skipping.
    static func requireTool(_ tool: String, _ arguments: [String] = ["--version"], package: String,
                            file: StaticString = #filePath, line: UInt = #line) throws {
        if (try? runProcess(tool, arguments))?.status == 0 { return }
        let message = "\(tool) is not installed (Debian package \(package))"
        if ProcessInfo.processInfo.environment["CI"] == "true" {
            XCTFail(message + "; CI=true does not skip", file: file, line: line)
            throw ShuffleNetError(message)
        }
        throw XCTSkip(message)
    }

    /// Embedded Swift needs its standard library for the triple, next to the compiler's.
    static func requireEmbeddedStdlib(_ triple: String) throws {
        let swiftc = try runProcess("sh", ["-c", "command -v swiftc"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let module = URL(fileURLWithPath: swiftc).resolvingSymlinksInPath().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("lib/swift/embedded/Swift.swiftmodule/\(triple).swiftmodule").path
        if FileManager.default.fileExists(atPath: module) { return }
        let message = "the Swift toolchain has no Embedded Swift standard library for \(triple) (\(module)); install a swift.org toolchain"
        if ProcessInfo.processInfo.environment["CI"] == "true" {
            XCTFail(message)
            throw ShuffleNetError(message)
        }
        throw XCTSkip(message)
    }

    func emitEmbedded(_ spec: NetworkSpec, options: OptimizerOptions = OptimizerOptions(), tag: String = "") throws -> (dir: String, prefix: String) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sn-eswift-\(getpid())-\(spec.name)\(tag)").path
        var request = GenerateRequest(spec: spec)
        request.backend = .swift
        request.swiftMode = .embedded
        request.options = options
        let files = try generate(request)
        XCTAssertEqual(files.map(\.name), ["\(request.prefix).h", "\(request.prefix).swift", "\(request.prefix)_weights.c"])
        try writeFilesAtomically(files, to: dir)
        return (dir, request.prefix)
    }

    /// Small specs of both families: every kernel the built-in specs call, built fast.
    static let tinyV1 = #"{"name": "eswift-v1", "family": "v1", "inputSize": 64, "numClasses": 10, "stageRepeats": [2, 1], "channels": [12, 48, 96], "groups": 3}"#
    static let tinyV2 = #"{"name": "eswift-v2", "family": "v2", "inputSize": 64, "numClasses": 7, "stageRepeats": [2, 2, 2], "channels": [8, 24, 48, 96, 128]}"#

    /// The embedded mode builds for a Cortex-M7 under -no-allocations, warning-free, and its
    /// object needs nothing but its read-only data and memset/memcpy; an allocation added to
    /// the same file fails that build (the guard works); the C half builds warning-free with
    /// the board's compiler.
    func testBuildsForCortexM7WithoutAllocations() throws {
        try Self.requireTool("swiftc", package: "none: a swift.org toolchain")
        try Self.requireEmbeddedStdlib(EmbeddedSwiftBuild.cortexM7.triple)
        try Self.requireTool("arm-none-eabi-gcc", package: "gcc-arm-none-eabi")
        for json in [Self.tinyV1, Self.tinyV2] {
            let (dir, prefix) = try emitEmbedded(try loadSpec(try writeTemp("eswift-tiny.json", json)))
            let source = try String(contentsOfFile: "\(dir)/\(prefix).swift", encoding: .utf8)
            XCTAssertFalse(source.split(separator: "\n").contains { $0.hasPrefix("import ") }, "the embedded mode imports nothing")
            XCTAssertFalse(source.contains("[Float]"), "no arrays in the embedded mode")
            XCTAssertTrue(source.contains("@_cdecl(\"\(prefix)_infer\")"))

            let object = "\(dir)/\(prefix)_swift.o"
            let build = try runProcess("swiftc", EmbeddedSwiftBuild.cortexM7.arguments(source: "\(dir)/\(prefix).swift", object: object))
            XCTAssertEqual(build.status, 0, build.stderr)
            XCTAssertEqual(build.stderr, "")
            let symbols = try runProcess("arm-none-eabi-nm", ["-u", object])
            XCTAssertEqual(symbols.status, 0, symbols.stderr)
            let needed = Set(symbols.stdout.split(separator: "\n").compactMap { $0.split(separator: " ").last.map(String.init) })
            let allowed: Set<String> = ["\(prefix)_weights_address", "\(prefix)_maps_address", "\(prefix)_zero_row_address",
                                        "memset", "memcpy", "memmove", "__aeabi_memclr", "__aeabi_memclr4", "__aeabi_memclr8",
                                        "__aeabi_memcpy", "__aeabi_memcpy4", "__aeabi_memcpy8", "__aeabi_memmove", "__aeabi_memset"]
            XCTAssertTrue(needed.isSubset(of: allowed), "unexpected imports: \(needed.subtracting(allowed).sorted())")
            let defined = try runProcess("arm-none-eabi-nm", ["-g", "--defined-only", object]).stdout
            XCTAssertTrue(defined.contains(" T \(prefix)_infer\n"), defined)

            let c = try runProcess("arm-none-eabi-gcc", ["-mcpu=cortex-m7", "-mfpu=fpv5-d16", "-mfloat-abi=hard", "-std=c11", "-O2",
                                                         "-Wall", "-Wextra", "-Wmissing-prototypes", "-Werror",
                                                         "-c", "\(dir)/\(prefix)_weights.c", "-o", "\(dir)/\(prefix)_weights.o"])
            XCTAssertEqual(c.status, 0, c.stderr)

            let leaking = "\(dir)/leaking.swift"
            try (source + "\npublic func leak(_ n: Int) -> [Float] { [Float](repeating: 1, count: n) }\n")
                .write(toFile: leaking, atomically: true, encoding: .utf8)
            let refused = try runProcess("swiftc", EmbeddedSwiftBuild.cortexM7.arguments(source: leaking, object: "\(dir)/leaking.o"))
            XCTAssertNotEqual(refused.status, 0)
            XCTAssertTrue(refused.stderr.contains("-no-allocations"), refused.stderr)
        }
    }

    /// The same embedded-mode source built with Embedded Swift for this machine and called
    /// from C through the header: the interpreter's logits (1e-4 x max|logit|, same top-5),
    /// and -1 for a NULL pointer or a misaligned arena. With every pass switched off too, so
    /// the unfused kernels (BatchNorm, ReLU, add, plane copies, direct conv, pools) run.
    func testMatchesTheInterpreterOnTheHost() throws {
        #if arch(x86_64) && os(Linux)
        let host = EmbeddedSwiftBuild(triple: "x86_64-unknown-linux-gnu", coreFlags: ["-Xcc", "-fPIC", "-Xllvm", "-relocation-model=pic"])
        #else
        throw XCTSkip("the host build of the embedded mode is set up for x86-64 Linux")
        #endif
        try Self.requireTool("swiftc", package: "none: a swift.org toolchain")
        try Self.requireEmbeddedStdlib(host.triple)
        let toolchain = CToolchain()
        try Self.requireTool(toolchain.compiler, package: "gcc")
        let v2 = try loadSpec(try writeTemp("eswift-v2.json", Self.tinyV2))
        let nothing = OptimizerOptions(foldBatchNorm: false, fuseActivations: false, eliminateDataMovement: false, streamConvPool: false)
        for (spec, options, tag) in [(BuiltinSpecs.named("v1-g3-0.5x")!, OptimizerOptions(), "-host"), (v2, OptimizerOptions(), "-host"),
                                     (v2, nothing, "-host-unoptimized")] {
            let (dir, prefix) = try emitEmbedded(spec, options: options, tag: tag)
            let build = try runProcess("swiftc", host.arguments(source: "\(dir)/\(prefix).swift", object: "\(dir)/\(prefix)_swift.o"))
            XCTAssertEqual(build.status, 0, "\(spec.name): \(build.stderr)")
            let upper = prefix.uppercased()
            try """
            #include <stdio.h>
            #include <stdlib.h>
            #include "\(prefix).h"

            /* driver input.bin logits.bin: raw float32 in, raw float32 out */
            int main(int argc, char **argv) {
                static float input[\(upper)_INPUT_SIZE], logits[\(upper)_OUTPUT_SIZE];
                void *arena = aligned_alloc(64, (\(upper)_ARENA_BYTES + 127) / 64 * 64);
                FILE *f = argc == 3 ? fopen(argv[1], "rb") : NULL;
                if (!f || !arena || fread(input, sizeof(float), \(upper)_INPUT_SIZE, f) != \(upper)_INPUT_SIZE) return 3;
                fclose(f);
                if (\(prefix)_infer(input, logits, (char *)arena + 4) != -1 || \(prefix)_infer(NULL, logits, arena) != -1) return 4;
                if (\(prefix)_infer(input, logits, arena) != 0) return 5;
                f = fopen(argv[2], "wb");
                if (!f || fwrite(logits, sizeof(float), \(upper)_OUTPUT_SIZE, f) != \(upper)_OUTPUT_SIZE) return 6;
                fclose(f);
                free(arena);
                return 0;
            }
            """.write(toFile: "\(dir)/driver.c", atomically: true, encoding: .utf8)
            try toolchain.build(["\(dir)/driver.c", "\(dir)/\(prefix)_weights.c", "\(dir)/\(prefix)_swift.o"], output: "\(dir)/prog",
                                flags: ["-std=c11", "-O1", "-Wall", "-Wextra", "-Wmissing-prototypes", "-Werror"])
            let input = SeededWeights.input(for: spec)
            try input.data.withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: "\(dir)/input.bin")) }
            let run = try runProcess("\(dir)/prog", ["\(dir)/input.bin", "\(dir)/logits.bin"])
            XCTAssertEqual(run.status, 0, "\(spec.name): \(run.stderr)")
            let logits = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/logits.bin")).withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            let expected = try Interpreter(graph: try optimize(try loadNetwork(spec, weights: nil), options)).run(input).data
            let err = relativeError(logits, expected)
            XCTAssertLessThanOrEqual(err, 1e-4, spec.name + tag)
            XCTAssertEqual(top(5, logits), top(5, expected), spec.name + tag)
            print("embedded Swift on the host, \(spec.name)\(tag): max abs diff / max|logit| = \(err)")
        }
    }

    /// The built `shufflenet-gen` binary, next to the test bundle.
    func tool() throws -> String {
        let url = Bundle.module.bundleURL.deletingLastPathComponent().appendingPathComponent("shufflenet-gen")
        guard FileManager.default.isExecutableFile(atPath: url.path) else {
            throw XCTSkip("shufflenet-gen is not built next to the test bundle (\(url.path))")
        }
        return url.path
    }

    /// `--backend swift --target cortex-m7 --check` on the emulated Cortex-M7 (QEMU mps2-an500,
    /// the arm branch's harness): v1-g3-0.5x's logits are the interpreter's, the weights sit
    /// in the board's PSRAM, the guard zones are untouched and the stack stays within the
    /// header's bound; the report carries the flash, RAM and instruction figures.
    func testCortexM7BoardMatchesTheInterpreter() throws {
        let target = try Target.named("cortex-m7")
        for (program, package) in target.tools { try Self.requireTool(program, package: package) }
        try Self.requireTool("swiftc", package: "none: a swift.org toolchain")
        try Self.requireEmbeddedStdlib(try XCTUnwrap(target.embeddedSwift).triple)
        let spec = BuiltinSpecs.named("v1-g3-0.5x")!
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sn-eswift-\(getpid())-board").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let input = SeededWeights.input(for: spec, seed: 3)
        try Npy.write(input, to: dir + "/x.npy")
        let r = try runProcess(try tool(), ["--spec", spec.name, "--backend", "swift", "--target", "cortex-m7", "--check",
                                            "--input", dir + "/x.npy", "--output", dir + "/y.npy", "--json"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        let report = try JSONDecoder().decode(TargetCheckReport.self, from: Data(r.stdout.utf8))
        XCTAssertEqual(report.backend, "swift")
        XCTAssertEqual(report.compiler, "swiftc")
        XCTAssertTrue(report.flags.contains("-no-allocations"))
        let logits = try Npy.read(path: dir + "/y.npy").data
        let expected = try Interpreter(graph: try optimize(try loadNetwork(spec, weights: nil))).run(input).data
        XCTAssertLessThanOrEqual(relativeError(logits, expected), 1e-4)
        XCTAssertEqual(top(5, logits), top(5, expected))
        let b = try XCTUnwrap(report.board)
        XCTAssertTrue(b.guardsIntact)
        XCTAssertLessThanOrEqual(b.stackBytesUsed, CEmitter.stackBytesMax)
        XCTAssertTrue((0x6000_0000..<0x6100_0000).contains(b.weightsAddress), "weights at 0x\(String(b.weightsAddress, radix: 16)), not in PSRAM")
        print("Embedded Swift, \(spec.name) on cortex-m7: \(relativeError(logits, expected)) x max|logit|; \(b.instructions) instructions, "
              + "flash \(b.flashBytes) (code \(b.networkCodeBytes), tables \(b.networkTableBytes), weights \(b.weightsBytes)), RAM \(b.ramBytes), "
              + "stack used \(b.stackBytesUsed); swiftc and links " + String(format: "%.1f s, run %.1f s", report.compileSeconds, report.runSeconds))
    }

    /// Generating for a board writes the embedded mode's three files (no CMakeLists.txt: it
    /// describes a C library); a target without an Embedded Swift build is one line, exit 1.
    func testCommandLineForTargets() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sn-eswift-\(getpid())-cli").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let spec = try writeTemp("eswift-cli.json", Self.tinyV1)
        let ok = try runProcess(try tool(), ["--spec", spec, "--backend", "swift", "--target", "cortex-m7", "--out", dir])
        XCTAssertEqual(ok.status, 0, ok.stderr)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir).sorted(),
                       ["shufflenet_eswift_v1.h", "shufflenet_eswift_v1.swift", "shufflenet_eswift_v1_weights.c"])
        let bad = try runProcess(try tool(), ["--spec", spec, "--backend", "swift", "--target", "cortex-m4", "--check"])
        XCTAssertEqual(bad.status, 1)
        let supported = Target.all.filter { $0.embeddedSwift != nil }.map(\.name).joined(separator: ", ")
        XCTAssertEqual(bad.stderr, "error: --backend swift has no Embedded Swift build for target cortex-m4 (it has one for: \(supported))\n")
    }
}
