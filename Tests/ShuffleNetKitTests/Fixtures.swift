import Foundation
import ShuffleNetKit
import XCTest

enum Fixtures {
    static func path(_ relative: String) throws -> String {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
        return url.appendingPathComponent(relative).path
    }
}

/// Max |a - b| over the largest |b|: the relative error every parity check bounds.
func relativeError(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count)
    let scale = b.map(abs).max() ?? 1
    return zip(a, b).map { abs($0 - $1) }.max()! / max(scale, .leastNormalMagnitude)
}

func top(_ k: Int, _ x: [Float]) -> [Int] {
    Array(x.indices.sorted { x[$0] > x[$1] || (x[$0] == x[$1] && $0 < $1) }.prefix(k))
}

/// An image as an int8 network's quantized entry point takes it, by ONNX's QuantizeLinear
/// written out here (not the code under test's): x / scale in float32, rounded half to
/// even, plus the zero point, saturated to uint8.
func referenceQuantize(_ x: [Float], _ p: ActivationQuantization) -> [UInt8] {
    precondition(p.type == .uint8)
    return x.map { UInt8(max(0, min(255, ($0 / p.scale).rounded(.toNearestOrEven) + Float(p.zeroPoint)))) }
}

func seededGraph(_ name: String) throws -> Graph {
    try bindWeights(try buildGraph(try XCTUnwrap(BuiltinSpecs.named(name))), path: nil)
}

/// SplitMix64: tiny, seedable, identical on every platform; the tests' random source.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Runs an emitted program (`program input output [extra...]`) and checks what both
/// backends promise: exit 0, nothing on stderr, logits within 1e-4 x max|logit| of
/// `expected` with the same top 5, and the top 5 printed in that order. Prints and returns
/// the error, with the program's stdout.
@discardableResult
func runEmittedProgram(_ program: String, input: String, output: String, extra: [String] = [], expected: [Float],
                       label: String, file: StaticString = #filePath, line: UInt = #line) throws -> (stdout: String, error: Float) {
    let run = try runProcess(program, [input, output] + extra)
    XCTAssertEqual(run.status, 0, "\(label): \(run.stderr)", file: file, line: line)
    XCTAssertEqual(run.stderr, "", label, file: file, line: line)
    let logits = try Npy.read(path: output).data
    let err = relativeError(logits, expected)
    XCTAssertLessThanOrEqual(err, 1e-4, "\(label): \(err)", file: file, line: line)
    XCTAssertEqual(top(5, logits), top(5, expected), label, file: file, line: line)
    let printed = run.stdout.split(separator: "\n").filter { !$0.hasPrefix("latency:") && !$0.hasPrefix("times:") }
        .compactMap { $0.split(separator: " ").dropFirst().first.flatMap { Int($0) } }
    XCTAssertEqual(printed, top(5, expected), "\(label): printed top 5", file: file, line: line)
    print("\(label): max abs diff / max|logit| = \(err)")
    return (run.stdout, err)
}

/// The message of the ShuffleNetError `body` throws (a failure, and "", if it throws none
/// or another error).
func message(_ body: () throws -> Any) -> String {
    do {
        _ = try body()
        XCTFail("expected an error")
        return ""
    } catch let e as ShuffleNetError {
        return e.message
    } catch {
        XCTFail("expected ShuffleNetError, got \(error)")
        return ""
    }
}

/// The deepest stack a call of `root` can use, from gcc's `-fcallgraph-info=su` file (VCG:
/// a node per function with its frame, "N bytes (static)", and an edge per call): the
/// largest sum of frames along a call chain from `root`. Functions without a frame in the
/// file (library calls such as memset) count 0. `problems` names frames that are not
/// static (or bounded) and call cycles, which would make the bound meaningless.
func deepestStack(callGraph text: String, root: String) -> (bytes: Int, chain: [String], problems: [String]) {
    var frames: [String: Int] = [:], callees: [String: [String]] = [:], problems: [String] = []
    func quoted(_ line: Substring, after key: String) -> String? {
        guard let r = line.range(of: key + ": \"") else { return nil }
        let rest = line[r.upperBound...]
        return rest.firstIndex(of: "\"").map { String(rest[..<$0]) }
    }
    for line in text.split(separator: "\n") {
        if line.hasPrefix("node:"), let title = quoted(line, after: "title"), let label = quoted(line, after: "label") {
            let parts = label.components(separatedBy: "\\n")
            guard parts.count >= 3, let bytes = Int(parts[2].split(separator: " ")[0]) else { continue }
            if !(parts[2].hasSuffix("(static)") || parts[2].hasSuffix("(dynamic,bounded)")) {
                problems.append("\(parts[0]): \(parts[2])")
            }
            frames[title] = bytes
        } else if line.hasPrefix("edge:"), let from = quoted(line, after: "sourcename"), let to = quoted(line, after: "targetname") {
            callees[from, default: []].append(to)
        }
    }
    var memo: [String: (Int, [String])] = [:], visiting: Set<String> = []
    func deepest(_ f: String) -> (Int, [String]) {
        if let known = memo[f] { return known }
        if !visiting.insert(f).inserted { problems.append("call cycle through \(f)"); return (0, []) }
        let below = (callees[f] ?? []).map(deepest).max { $0.0 < $1.0 } ?? (0, [])
        visiting.remove(f)
        let result = ((frames[f] ?? 0) + below.0, [f] + below.1)
        memo[f] = result
        return result
    }
    // A static function is titled "file.c:name", an external one by its name alone.
    guard let title = frames.keys.first(where: { $0 == root || $0.hasSuffix(":" + root) }) else {
        return (0, [], problems + ["no function \(root) in the call graph"])
    }
    let (bytes, chain) = deepest(title)
    return (bytes, chain, problems)
}
