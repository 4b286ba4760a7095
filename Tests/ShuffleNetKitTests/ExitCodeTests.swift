import Foundation
import ShuffleNetKit
import XCTest

/// Runs the built `shufflenet-gen` binary (it sits in the same build folder as the test
/// bundle) and checks every command's exit codes: 0 success, 1 bad input with one
/// `error: ...` message on stderr, 2 usage error with the usage text; and that a failed
/// command leaves a pre-existing output file byte-identical and no temporary file behind.
final class ExitCodeTests: XCTestCase {
    var dir = ""
    var binary = ""

    override func setUpWithError() throws {
        let url = Bundle.module.bundleURL.deletingLastPathComponent().appendingPathComponent("shufflenet-gen")
        guard FileManager.default.isExecutableFile(atPath: url.path) else {
            throw XCTSkip("shufflenet-gen is not built next to the test bundle (\(url.path))")
        }
        binary = url.path
        dir = NSTemporaryDirectory() + "/exitcodes-\(getpid())-\(UInt32.random(in: 0 ... .max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        if !dir.isEmpty { try? FileManager.default.removeItem(atPath: dir) }
    }

    func corpus(_ path: String) throws -> String { try Fixtures.path("corpus/" + path) }

    @discardableResult
    func cli(_ args: [String], _ expected: Int32, stderr fragment: String? = nil, file: StaticString = #filePath,
             line: UInt = #line) throws -> ProcessResult {
        let r = try runProcess(binary, args)
        XCTAssertEqual(r.status, expected, "shufflenet-gen \(args.joined(separator: " ")):\n\(r.stderr)", file: file, line: line)
        switch expected {
        case 0:
            XCTAssertFalse(r.stderr.contains("error"), r.stderr, file: file, line: line)
        case 1:
            // One line, naming the problem; no usage text.
            XCTAssertTrue(r.stderr.hasPrefix("error: "), r.stderr, file: file, line: line)
            XCTAssertFalse(r.stderr.contains("usage:"), r.stderr, file: file, line: line)
        default:
            XCTAssertTrue(r.stderr.hasPrefix("error: ") && r.stderr.contains("usage:"), r.stderr, file: file, line: line)
        }
        if let fragment { XCTAssertTrue(r.stderr.contains(fragment), "\(r.stderr) lacks \(fragment)", file: file, line: line) }
        if expected != 0 { print("exit \(expected): shufflenet-gen \(args.joined(separator: " ")) -> \(r.stderr.split(separator: "\n").first ?? "")") }
        return r
    }

    /// Files in `dir` whose names look like a temporary of an atomic write.
    func temporaries(_ dir: String) -> [String] {
        ((try? FileManager.default.subpathsOfDirectory(atPath: dir)) ?? []).filter { $0.contains(".tmp") }
    }

    /// A file with known contents that a failing command must leave alone.
    func sentinel(_ name: String) throws -> (path: String, bytes: [UInt8]) {
        let path = dir + "/" + name
        let bytes = Array("previous contents of \(name)\n".utf8)
        try writeFileAtomically(bytes, to: path)
        return (path, bytes)
    }

    func assertUntouched(_ s: (path: String, bytes: [UInt8]), file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertTrue((try? readFileBytes(s.path)) == s.bytes, "\(s.path) changed", file: file, line: line)
        XCTAssertEqual(temporaries(dir), [], "temporary files left", file: file, line: line)
    }

    /// The tiny checkpoint with a NaN at conv1.0.weight[5].
    var nanCheckpoint: String { get throws { try corpus("safetensors/regress-nan-in-checkpoint.safetensors") } }

    // MARK: - Per command

    func testHelpAndUsage() throws {
        XCTAssertTrue(try cli(["--help"], 0).stdout.contains("exit codes: 0 success, 1 bad input"))
        try cli(["help"], 0)
        XCTAssertTrue(try cli(["info", "--help"], 0).stdout.contains("exit codes: 0 success, 1 bad input"))
        XCTAssertTrue(try cli(["--spec", "v2-0.5x", "-h"], 0).stdout.contains("usage: shufflenet-gen"))
        try cli([], 2, stderr: "no command given")
        try cli(["frobnicate"], 2, stderr: "unknown command 'frobnicate'")
    }

    func testSpecs() throws {
        XCTAssertTrue(try cli(["specs"], 0).stdout.contains("v2-1.0x"))
        try cli(["specs", "--json"], 0)
        try cli(["specs", "--spec", "v2-1.0x"], 2, stderr: "unknown argument '--spec'")
    }

    func testInfo() throws {
        try cli(["info", "--spec", "v2-0.5x"], 0)
        try cli(["info", "--spec", try corpus("spec/tiny-v2.json"), "--optimized", "--json"], 0)
        try cli(["info"], 2, stderr: "missing --spec")
        try cli(["info", "--spec"], 2, stderr: "--spec needs a value")
        try cli(["info", "--spec", "v9-1.0x"], 1, stderr: "unknown spec 'v9-1.0x'")
        try cli(["info", "--spec", dir + "/missing.json"], 1, stderr: "no such file or directory")
        try cli(["info", "--spec", try corpus("spec/regress-duplicate-key.json")], 1, stderr: "duplicate key 'groups'")
        try cli(["info", "--spec", try corpus("spec/regress-deep-nesting.json")], 1, stderr: "nested deeper than 32 levels")
    }

    func testRun() throws {
        let spec = try corpus("spec/tiny-v2.json"), input = try corpus("npy/tiny-input.npy")
        let out = dir + "/logits.npy"
        try cli(["run", "--spec", spec, "--input", input, "--output", out], 0)
        XCTAssertEqual(try Npy.read(path: out).shape, [1, 3])
        // In the planned arena with dead bytes poisoned: the same logits (a planning bug
        // would turn them into NaN).
        let poisoned = dir + "/poisoned.npy"
        try cli(["run", "--spec", spec, "--input", input, "--output", poisoned, "--poison"], 0)
        XCTAssertEqual(try Npy.read(path: poisoned).data, try Npy.read(path: out).data)
        try cli(["run", "--spec", spec, "--weights", try corpus("onnx/tiny-v2.folded.onnx"), "--input", input, "--output", out], 0)

        // Failures leave an existing output alone.
        let s = try sentinel("keep.npy")
        try cli(["run", "--spec", spec, "--input", try corpus("npy/v1-2x3.npy"), "--output", s.path], 1, stderr: "v1-2x3.npy")
        assertUntouched(s)
        try cli(["run", "--spec", spec, "--weights", try nanCheckpoint, "--input", input, "--output", s.path], 1,
                stderr: "tensor conv1.0.weight [4,3,3,3] has nan at index 5 (element [0,0,1,2])")
        assertUntouched(s)
        try cli(["run", "--spec", spec, "--weights", try corpus("safetensors/f32-small.safetensors"), "--input", input, "--output", s.path], 1,
                stderr: "f32-small.safetensors")
        assertUntouched(s)
        try cli(["run", "--spec", spec, "--weights", dir + "/w.pt", "--input", input, "--output", s.path], 1, stderr: "unknown weights format")
        assertUntouched(s)
        try cli(["run", "--spec", spec, "--input", input, "--output", dir + "/no/such/dir/y.npy"], 1, stderr: "cannot write")
        XCTAssertEqual(temporaries(dir), [])
        // --allow-nonfinite loads them (the logits are then NaN).
        try cli(["run", "--spec", spec, "--weights", try nanCheckpoint, "--input", input, "--output", out, "--allow-nonfinite"], 0)

        try cli(["run", "--spec", spec, "--input", input], 2, stderr: "missing --output")
        try cli(["run", "--spec", spec, "--input", input, "--output", out, "--seed", "-1"], 2, stderr: "--seed takes a non-negative integer")
        try cli(["run", "--spec", spec, "--input", input, "--output", out, "--fast"], 2, stderr: "unknown argument '--fast'")
    }

    func testClassify() throws {
        let spec = try corpus("spec/tiny-v2.json"), input = try corpus("npy/tiny-input.npy")
        let weights = try corpus("safetensors/tiny-v2.safetensors")
        let labels = dir + "/labels.txt"
        try writeFileAtomically(Array("cat\ndog\nbird\n".utf8), to: labels)
        let interpreted = try cli(["classify", "--spec", spec, "--weights", weights, "--input", input, "--labels", labels], 0).stdout
        XCTAssertTrue(interpreted.contains("bird"), interpreted)
        // The compiled C names the same classes in the same order (probabilities may differ
        // in the last digits: the C kernels fuse multiply-adds).
        let compiled = try cli(["classify", "--spec", spec, "--weights", weights, "--input", input, "--labels", labels, "--engine", "c"], 0).stdout
        func ranking(_ table: String) -> [String] {
            table.split(separator: "\n").map { $0.split(separator: " ") }.filter { Int($0.first ?? "") != nil }
                .map { "\($0[0]) \($0[1]) \($0.last ?? "")" }
        }
        XCTAssertEqual(ranking(compiled), ranking(interpreted), compiled)
        XCTAssertEqual(ranking(interpreted).count, 3, interpreted)
        try cli(["classify", "--spec", spec, "--weights", weights, "--input", input, "--engine", "gpu"], 2, stderr: "--engine takes 'interpreter' or 'c'")
        // --engine c really builds the C: without a working compiler it fails, naming it.
        let noCompiler = try runProcess(binary, ["classify", "--spec", spec, "--weights", weights, "--input", input, "--engine", "c"],
                                        environment: ["CC": "/nonexistent/cc"])
        XCTAssertEqual(noCompiler.status, 1, noCompiler.stderr)
        XCTAssertTrue(noCompiler.stderr.contains("/nonexistent/cc"), noCompiler.stderr)
        try cli(["classify", "--spec", spec, "--weights", try nanCheckpoint, "--input", input], 1, stderr: "has nan at index 5")
        try cli(["classify", "--spec", spec, "--weights", try nanCheckpoint, "--input", input, "--allow-nonfinite"], 0)
        try writeFileAtomically(Array("cat\ndog\n".utf8), to: labels)
        try cli(["classify", "--spec", spec, "--weights", weights, "--input", input, "--labels", labels], 1, stderr: labels)
        try cli(["classify", "--spec", spec, "--weights", weights, "--input", try corpus("npy/scalar.npy")], 1, stderr: "scalar.npy")
        try cli(["classify", "--spec", spec, "--input", input], 2, stderr: "missing --weights")
        try cli(["classify", "--spec", spec, "--weights", weights, "--input", input, "--top", "0"], 2, stderr: "--top takes an integer")
    }

    func testCalibrate() throws {
        let spec = try corpus("spec/tiny-v2.json"), input = try corpus("npy/tiny-input.npy")
        let out = dir + "/q.json"
        try cli(["calibrate", "--spec", spec, "--output", out, input, input], 0)
        let file = try QuantizationFile.read(path: out)
        XCTAssertEqual(file.images, [input, input])
        XCTAssertEqual(file.method, "percentile:99.99")
        try cli(["calibrate", "--spec", spec, "--output", out, "--method", "minmax", "--type", "int8", input], 0)
        XCTAssertEqual(try QuantizationFile.read(path: out).activations.first?.type, .int8)

        // The file makes the int8 build reproducible without the images: the same logits
        // as calibrating on the spot.
        try cli(["calibrate", "--spec", spec, "--output", out, input], 0)
        let fromFile = dir + "/from-file.npy", onTheSpot = dir + "/on-the-spot.npy"
        try cli(["run", "--spec", spec, "--input", input, "--output", fromFile, "--precision", "int8", "--quantization", out], 0)
        try cli(["run", "--spec", spec, "--input", input, "--output", onTheSpot, "--precision", "int8", "--calibrate", input], 0)
        XCTAssertEqual(try readFileBytes(fromFile), try readFileBytes(onTheSpot))
        // The calibrated network through the C backend: bit-identical to the interpreter.
        let check = try cli(["--spec", spec, "--precision", "int8", "--quantization", out, "--check", "--runs", "1"], 0)
        XCTAssertTrue(check.stdout.contains("(int8: must be bit-identical): max abs difference 0.0"), check.stdout)

        let s = try sentinel("keep.json")
        try cli(["calibrate", "--spec", spec, "--output", s.path], 2, stderr: "at least one image")
        try cli(["run", "--spec", spec, "--input", input, "--output", s.path, "--quantization", out], 2, stderr: "add --precision int8")
        try cli(["run", "--spec", spec, "--input", input, "--output", s.path, "--precision", "int8", "--calibrate"], 2, stderr: "--calibrate needs at least one value")
        try cli(["run", "--spec", spec, "--input", input, "--output", s.path, "--precision", "int8", "--quantization", out, "--calibrate", input], 2, stderr: "not both")
        try cli(["run", "--spec", "v2-0.5x", "--input", input, "--output", s.path, "--precision", "int8", "--quantization", out], 1, stderr: "calibrated for spec tiny-v2, but the network is v2-0.5x")
        try cli(["calibrate", "--spec", spec, "--output", s.path, "--method", "median", input], 2, stderr: "unknown calibration method 'median'")
        try cli(["calibrate", "--spec", spec, "--output", s.path, "--type", "int4", input], 2, stderr: "--type takes uint8 or int8")
        try cli(["calibrate", "--spec", spec, "--output", s.path, input, "-x"], 2, stderr: "unknown argument '-x'")
        // A wrong image fails before any run, naming the file, and writes nothing.
        try cli(["calibrate", "--spec", "v2-0.5x", "--output", s.path, input], 1, stderr: "\(input): shape [1,3,16,16] does not fit spec v2-0.5x")
        try cli(["calibrate", "--spec", spec, "--output", s.path, dir + "/missing.npy"], 1, stderr: "missing.npy")
        assertUntouched(s)
    }

    func testPlan() throws {
        let spec = try corpus("spec/tiny-v2.json")
        let svg = dir + "/plan.svg"
        try cli(["plan", "--spec", spec, "--svg", svg], 0)
        XCTAssertTrue(FileManager.default.fileExists(atPath: svg))
        let s = try sentinel("keep.svg")
        try cli(["plan", "--spec", try corpus("spec/regress-unknown-field.json"), "--svg", s.path], 1, stderr: "unknown field 'group'")
        assertUntouched(s)
        try cli(["plan", "--spec", spec, "--svg"], 2, stderr: "--svg needs a value")
    }

    func testExportWeights() throws {
        let out = dir + "/w.safetensors"
        try cli(["export-weights", "--spec", try corpus("spec/tiny-v2.json"), "--output", out, "--seed", "3"], 0)
        XCTAssertNoThrow(try Safetensors.read(path: out))
        let s = try sentinel("keep.safetensors")
        try cli(["export-weights", "--spec", try corpus("spec/regress-huge-network.json"), "--output", s.path], 1, stderr: "parameters; at most")
        assertUntouched(s)
        try cli(["export-weights", "--spec", "v2-0.5x"], 2, stderr: "missing --output")
    }

    func testGenerate() throws {
        let spec = try corpus("spec/tiny-v2.json")
        let out = dir + "/gen"
        XCTAssertTrue(try cli(["--spec", spec, "--out", out, "--seed", "1"], 0).stdout.contains("shufflenet_tiny_v2.c"))
        let names = ["shufflenet_tiny_v2.h", "shufflenet_tiny_v2.c", "shufflenet_tiny_v2_weights.c"]
        let before = try names.map { try readFileBytes(out + "/" + $0) }
        func unchanged(file: StaticString = #filePath, line: UInt = #line) throws {
            XCTAssertTrue(try names.map { try readFileBytes(out + "/" + $0) } == before, "generated files changed", file: file, line: line)
            XCTAssertEqual(temporaries(dir), [], "temporary files left", file: file, line: line)
        }
        // Bad weights, a bad spec, a bad name: refused before anything is written.
        try cli(["--spec", spec, "--out", out, "--weights", try nanCheckpoint], 1, stderr: "tensor conv1.0.weight [4,3,3,3] has nan at index 5")
        try unchanged()
        try cli(["--spec", spec, "--out", out, "--weights", try corpus("onnx/empty-graph.onnx")], 1, stderr: "empty-graph.onnx")
        try unchanged()
        try cli(["--spec", try corpus("spec/regress-name-comment-injection.json"), "--out", out], 1, stderr: "spec name")
        try unchanged()
        try cli(["--spec", spec, "--out", out, "--name", "1st"], 1, stderr: "is not a C identifier")
        try cli(["--spec", spec, "--out", try sentinel("a-file").path], 1, stderr: "is a file")
        try unchanged()
        // --allow-nonfinite: loads and emits them.
        try cli(["--spec", spec, "--out", dir + "/gen-nan", "--weights", try nanCheckpoint, "--allow-nonfinite"], 0)

        try cli(["--spec", spec, "--out", out, "--backend", "fortran"], 2, stderr: "unknown backend 'fortran'")
        try cli(["--spec", spec, "--out"], 2, stderr: "--out needs a value")
        try cli(["--out", out], 2, stderr: "missing --spec")
        try unchanged()
    }

    /// A failure while the files are being put in place (one target is a directory, so its
    /// rename fails after the others succeeded) must not leave a mix of old and new files.
    func testGenerateFailingMidWriteKeepsThePreviousFiles() throws {
        let spec = try corpus("spec/tiny-v2.json")
        let out = dir + "/gen"
        try cli(["--spec", spec, "--out", out, "--seed", "1"], 0)
        let kept = ["shufflenet_tiny_v2.h", "shufflenet_tiny_v2.c"].map { out + "/" + $0 }
        let before = try kept.map(readFileBytes)
        // The weights file's name (renamed last) is taken by a non-empty directory.
        let blocker = out + "/shufflenet_tiny_v2_weights.c"
        try FileManager.default.removeItem(atPath: blocker)
        try FileManager.default.createDirectory(atPath: blocker + "/x", withIntermediateDirectories: true)
        try cli(["--spec", spec, "--out", out, "--seed", "2"], 1, stderr: "shufflenet_tiny_v2_weights.c")
        XCTAssertTrue(try kept.map(readFileBytes) == before, "files of seed 2 replaced those of seed 1 although the generation failed")
        XCTAssertEqual(temporaries(out), [])
        // Into a folder with no previous files: none of the new ones is left either.
        let fresh = dir + "/fresh"
        try FileManager.default.createDirectory(atPath: fresh + "/shufflenet_tiny_v2_weights.c/x", withIntermediateDirectories: true)
        try cli(["--spec", spec, "--out", fresh], 1, stderr: "Is a directory")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: fresh), ["shufflenet_tiny_v2_weights.c"])
    }
}
