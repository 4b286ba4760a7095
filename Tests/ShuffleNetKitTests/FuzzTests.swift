import Foundation
import ShuffleNetKit
import XCTest

/// Seeded mutation fuzzing of every reader over the committed corpus
/// (`Fixtures/corpus/{safetensors,npy,onnx,spec}/`, written by `tools/fuzz/make_corpus.py`
/// plus the `regress-*` files of inputs that once misbehaved). Each loop mutates corpus
/// files (bit flips, byte and integer overwrites, inserts, deletes, truncation, splices,
/// format tokens, and for safetensors/.npy mutations of the header with its length field
/// kept consistent), feeds them to the reader and what comes after it (binding to the tiny
/// spec's graph, the finiteness check, the interpreter, code generation), and asserts that
/// the only error ever thrown is ShuffleNetError. A trap would kill the test process.
///
/// Bounded to a few seconds per reader in release; `SHUFFLENET_FUZZ_ITERATIONS=N` runs N
/// mutations per reader instead (a longer campaign by hand). Coverage-guided fuzzing of the
/// same readers with libFuzzer: `tools/fuzz/run.sh`.
final class FuzzTests: XCTestCase {
    enum Reader: String, CaseIterable { case safetensors, npy, onnx, spec }

    struct Report: CustomStringConvertible {
        var executions = 0, accepted = 0, refused = 0
        var messages: Set<String> = []
        /// Messages with numbers and quoted names blanked: the kinds of error reached.
        var kinds: Set<String> = []
        var seconds = 0.0
        var description: String {
            "\(executions) executions in \(String(format: "%.1f", seconds)) s: \(accepted) accepted, \(refused) refused "
                + "with \(messages.count) distinct messages (\(kinds.count) kinds)"
        }
    }

    static let defaultIterations: [Reader: Int] = [.safetensors: 25000, .npy: 50000, .onnx: 30000, .spec: 8000]

    static func iterations(_ r: Reader) -> Int {
        ProcessInfo.processInfo.environment["SHUFFLENET_FUZZ_ITERATIONS"].flatMap { Int($0) } ?? defaultIterations[r]!
    }

    static func corpus(_ r: Reader) throws -> [(name: String, bytes: [UInt8])] {
        let dir = try Fixtures.path("corpus/\(r.rawValue)")
        let names = try FileManager.default.contentsOfDirectory(atPath: dir).filter { !$0.hasPrefix(".") }.sorted()
        return try names.map { ($0, try readFileBytes(dir + "/" + $0)) }
    }

    static var tinySpecPath: String { get throws { try Fixtures.path("corpus/spec/tiny-v2.json") } }

    // MARK: - Mutations

    struct RNG {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func below(_ n: Int) -> Int { n <= 0 ? 0 : Int(next() % UInt64(n)) }
        mutating func pick<T>(_ a: [T]) -> T { a[below(a.count)] }
    }

    static let interestingIntegers: [UInt64] = [0, 1, 2, 3, 4, 7, 8, 16, 127, 128, 255, 256, 0x7FFF, 0x8000, 0xFFFF, 0x10000,
                                                 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF, 1 << 32, 1 << 62, UInt64(Int64.max),
                                                 1 << 63, .max, .max - 1]
    static let interestingNumbers = ["-1", "0", "1", "2", "3", "-0", "007", "1.5", "2.0", "1e3", "1e400", "-1e400", "NaN", "Infinity",
                                     "65535", "65536", "2147483647", "2147483648", "4294967296", "9223372036854775807",
                                     "9223372036854775808", "18446744073709551616", "-9223372036854775808", "4611686018427387904",
                                     "99999999999999999999999999", "true", "null", "\"1\"", "[]", "{}", "[1]"]
    static let dictionaries: [Reader: [String]] = [
        .safetensors: ["\"F32\"", "\"F16\"", "\"BF16\"", "\"I64\"", "\"F64\"", "\"dtype\"", "\"shape\"", "\"data_offsets\"",
                       "\"__metadata__\"", "num_batches_tracked", "[]", "[0,0]", "{}", ":", ",", "\"", "\\u0000", "\\ud800", "null"],
        .npy: ["'descr'", "'<f4'", "'>f4'", "'<f8'", "'|u1'", "'fortran_order'", "True", "False", "None", "'shape'", "()", "(0,)",
               "(1,)", ",", "(", ")", "{", "}", "[", "]", "L", "'", "\"", "\n", " ", "\\"],
        .onnx: ["Conv", "Gemm", "MatMul", "Add", "BatchNormalization", "DequantizeLinear", "Identity", "Constant", "group",
                "kernel_shape", "strides", "pads", "dilations", "auto_pad", "SAME_UPPER", "epsilon", "training_mode", "axis",
                "transA", "transB", "alpha", "beta", "block_size", "value", ".weight", "_quantized", "fc.weight"],
        .spec: ["{", "}", "[", "]", ",", ":", "\"", "\"name\"", "\"family\"", "\"v1\"", "\"v2\"", "\"v3\"", "\"channels\"",
                "\"groups\"", "\"inputSize\"", "\"numClasses\"", "\"stageRepeats\"", "\"shuffleOrder\"", "\"megvii\"",
                "\"torchvision\"", "\\u0000", "\\ud800", "\\\"", "*/", "\u{FEFF}", "\u{FFFD}", "\n", "\t", "\\n"],
    ]

    /// 1 to 4 stacked mutations of `input`.
    static func mutate(_ input: [UInt8], reader: Reader, others: [[UInt8]], rng: inout RNG) -> [UInt8] {
        var b = input
        for _ in 0 ..< 1 + rng.below(4) {
            let at = rng.below(b.count)
            switch rng.below(12) {
            case 0 where !b.isEmpty: b[at] ^= 1 << UInt8(rng.below(8))
            case 1 where !b.isEmpty: b[at] = UInt8(truncatingIfNeeded: rng.next())
            case 2 where !b.isEmpty: b[at] = rng.pick([0, 0xFF, 0x7F, 0x80, 0x20, 0x22, 0x27, 0x7B, 0x5B, 0x30, 0x39, 0x2D, 0x2C, 0x0A])
            case 3: // a little-endian integer of 1, 2, 4 or 8 bytes
                let width = rng.pick([1, 2, 4, 8])
                let v = rng.below(3) == 0 ? UInt64(b.count) &+ UInt64(rng.below(17)) &- 8 : rng.pick(interestingIntegers)
                for k in 0 ..< width where at + k < b.count { b[at + k] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(k))) }
            case 4: b.insert(contentsOf: (0 ..< 1 + rng.below(8)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }, at: at)
            case 5 where !b.isEmpty: b.removeSubrange(at ..< min(b.count, at + 1 + rng.below(16)))
            case 6: b.removeSubrange(at...)
            case 7 where !b.isEmpty: // duplicate a chunk somewhere else
                let chunk = Array(b[at ..< min(b.count, at + 1 + rng.below(64))])
                b.insert(contentsOf: chunk, at: rng.below(b.count + 1))
            case 8 where !others.isEmpty: // splice with another corpus file
                let other = rng.pick(others)
                let cut = rng.below(other.count + 1)
                b = Array(b[..<at]) + other[cut...]
            case 9: // a format token, inserted or overwriting
                let token = Array(rng.pick(dictionaries[reader]!).utf8)
                if rng.below(2) == 0 || b.isEmpty { b.insert(contentsOf: token, at: at) } else {
                    b.replaceSubrange(at ..< min(b.count, at + token.count), with: token)
                }
            case 10: // rewrite a decimal number
                let digits = b.indices.filter { (48 ... 57).contains(b[$0]) }
                guard !digits.isEmpty else { continue }
                var start = rng.pick(digits), end = start + 1
                while start > 0, (48 ... 57).contains(b[start - 1]) { start -= 1 }
                while end < b.count, (48 ... 57).contains(b[end]) { end += 1 }
                b.replaceSubrange(start ..< end, with: Array(rng.pick(interestingNumbers).utf8))
            default: // nest: wrap a byte range in brackets, or repeat an opening bracket
                let open = rng.pick(Array("[{(".utf8))
                b.insert(contentsOf: [UInt8](repeating: open, count: 1 + rng.below(rng.below(2) == 0 ? 4 : 200)), at: at)
            }
        }
        return b
    }

    /// For the two formats whose header is text behind a length field: mutate the header
    /// only and rewrite the length, so the mutation reaches the header parser instead of
    /// being refused by the length check.
    static func mutateHeader(_ input: [UInt8], reader: Reader, rng: inout RNG) -> [UInt8]? {
        let lengthField: Range<Int>
        switch reader {
        case .safetensors: lengthField = 0 ..< 8
        case .npy:
            guard input.count >= 10 else { return nil }
            lengthField = input[6] == 1 ? 8 ..< 10 : 8 ..< 12
        default: return nil
        }
        guard input.count >= lengthField.upperBound else { return nil }
        let n = lengthField.reversed().reduce(0) { $0 << 8 | Int(input[$1]) }
        let start = lengthField.upperBound
        guard n >= 0, n <= input.count - start else { return nil }
        let header = mutate(Array(input[start ..< start + n]), reader: reader, others: [], rng: &rng)
        var out = Array(input[..<start]) + header + input[(start + n)...]
        guard lengthField.count == 8 || header.count < 1 << (8 * lengthField.count) else { return nil }
        for (k, i) in lengthField.enumerated() { out[i] = UInt8(truncatingIfNeeded: header.count >> (8 * k)) }
        return out
    }

    // MARK: - The loop

    /// Mutates the corpus `iterations` times and feeds each input to `target`.
    func campaign(_ reader: Reader, seed: UInt64, file: StaticString = #filePath, line: UInt = #line,
                  target: ([UInt8]) throws -> Void) throws -> Report {
        let seeds = try Self.corpus(reader).map(\.bytes)
        XCTAssertGreaterThanOrEqual(seeds.count, 4, "corpus/\(reader.rawValue) is too small", file: file, line: line)
        var rng = RNG(state: seed)
        var report = Report()
        let started = Date()
        // Every seed as it is first: valid seeds must be accepted (regress-* may be refused).
        var inputs: [(Int?, [UInt8])] = seeds.map { (nil, $0) }
        var i = 0
        while true {
            if inputs.isEmpty {
                guard i < Self.iterations(reader) else { break }
                let base = seeds[rng.below(seeds.count)]
                let mutated = rng.below(2) == 0 ? Self.mutateHeader(base, reader: reader, rng: &rng) : nil
                inputs.append((i, mutated ?? Self.mutate(base, reader: reader, others: seeds, rng: &rng)))
                i += 1
            }
            let (index, bytes) = inputs.removeFirst()
            report.executions += 1
            do {
                try target(bytes)
                report.accepted += 1
            } catch let e as ShuffleNetError {
                report.refused += 1
                report.messages.insert(e.message)
                report.kinds.insert(Self.kind(of: e.message))
            } catch {
                // Keep the input: it becomes a regression file once understood.
                let path = NSTemporaryDirectory() + "/fuzz-\(reader.rawValue)-\(index ?? -1).bin"
                try? Data(bytes).write(to: URL(fileURLWithPath: path))
                XCTFail("\(reader) input \(index.map(String.init) ?? "seed") (saved to \(path)): \(type(of: error)) \(error) is not a ShuffleNetError",
                        file: file, line: line)
            }
        }
        report.seconds = Date().timeIntervalSince(started)
        print("fuzz \(reader.rawValue): \(report)")
        for k in report.kinds.sorted().prefix(ProcessInfo.processInfo.environment["SHUFFLENET_FUZZ_VERBOSE"] == nil ? 0 : 1000) {
            print("  kind: \(k)")
        }
        return report
    }

    static func kind(of message: String) -> String {
        var out = "", inQuote: Character? = nil, lastDigit = false
        for c in message {
            if let q = inQuote { if c == q { inQuote = nil; out.append(c) }; continue }
            if c == "'" || c == "\"" { inQuote = c; out += "\(c)…"; continue }
            if c.isNumber { if !lastDigit { out.append("#") }; lastDigit = true; continue }
            lastDigit = false
            out.append(c)
        }
        return out
    }

    // MARK: - One campaign per reader

    func testFuzzSafetensors() throws {
        let graph = try buildGraph(try loadSpec(try Self.tinySpecPath))
        let r = try campaign(.safetensors, seed: 0x5AFE) { bytes in
            let tensors = try Safetensors.read(bytes, file: "fuzz.safetensors")
            try checkFinite(tensors, source: "fuzz.safetensors")
            _ = try graph.binding(tensors, source: "fuzz.safetensors")
        }
        XCTAssertGreaterThan(r.accepted, 20, "\(r)")
        XCTAssertGreaterThan(r.kinds.count, 20, "\(r)")
    }

    func testFuzzNpy() throws {
        let engine = try Interpreter(graph: try optimize(try loadNetwork(try loadSpec(try Self.tinySpecPath), weights: nil)))
        let r = try campaign(.npy, seed: 0x4E50) { bytes in
            let t = try Npy.read(bytes, file: "fuzz.npy")
            if t.count == 3 * 16 * 16 {
                try engine.validateInput(t, source: "fuzz.npy")
                _ = try engine.run(t)
            }
        }
        XCTAssertGreaterThan(r.accepted, 20, "\(r)")
        XCTAssertGreaterThan(r.kinds.count, 10, "\(r)")
    }

    func testFuzzOnnx() throws {
        let spec = try loadSpec(try Self.tinySpecPath)
        let graphs = [false: try buildGraph(spec), true: try buildGraph(spec, batchNormFolded: true)]
        let r = try campaign(.onnx, seed: 0x0411) { bytes in
            let network = try OnnxNetwork(model: try OnnxModel.read(bytes, file: "fuzz.onnx"), file: "fuzz.onnx")
            let g = try network.bind(to: graphs[network.batchNormFolded]!)
            try checkFinite(g.parameters, source: "fuzz.onnx")
        }
        XCTAssertGreaterThan(r.accepted, 10, "\(r)")
        XCTAssertGreaterThan(r.kinds.count, 20, "\(r)")
    }

    /// Specs are read from a file (`loadSpec` takes a path). An accepted spec small enough
    /// is also taken through code generation: anything validation lets through must lower.
    func testFuzzSpec() throws {
        let dir = NSTemporaryDirectory() + "/fuzz-spec-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/fuzz.json"
        var generated = 0
        let r = try campaign(.spec, seed: 0x5BEC) { bytes in
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            let spec = try loadSpec(path)
            let g = try buildGraph(spec)
            if g.totalParameters <= 20_000, g.totalMACs <= 2_000_000 {
                _ = try generate(GenerateRequest(spec: spec))
                generated += 1
            }
        }
        print("fuzz spec: \(generated) accepted specs taken through C generation")
        XCTAssertGreaterThan(r.accepted, 20, "\(r)")
        XCTAssertGreaterThan(r.kinds.count, 20, "\(r)")
        XCTAssertGreaterThan(generated, 5)
    }

    // MARK: - Regression corpus: inputs that once misbehaved

    /// Every `regress-*` file of the corpus, with what its error must say. A new file
    /// without an entry here fails the test, so none is forgotten.
    static let regressions: [String: String] = [
        // Specs: these were accepted (or hung, or were reported as "not valid JSON") before.
        "spec/regress-name-comment-injection.json": "spec name '*/ int pwned; /*' must be 1 to 64 ASCII letters",
        "spec/regress-duplicate-key.json": "line 1, column 79: duplicate key 'groups'",
        "spec/regress-unknown-field.json": "unknown field 'group'",
        "spec/regress-deep-nesting.json": "nested deeper than 32 levels",
        "spec/regress-fraction.json": "(in 'channels[3]'): 960.5 is not a whole number",
        "spec/regress-overflow.json": "(in 'inputSize'): 99999999999999999999 does not fit in a 64-bit integer",
        "spec/regress-huge-network.json": "parameters; at most 268435456",
        "spec/regress-huge-activation.json": "per activation",
        "spec/regress-many-stages.json": "20 stages; at most 16",
        "spec/regress-trailing-comma.json": "line 2, column 1: invalid JSON: expected a quoted key, found '}'",
        "spec/regress-not-utf8.json": "not UTF-8 text (invalid byte 0xFF at line 1, column 12)",
        // Weights: a NaN inside a valid checkpoint of the tiny spec (refused at load).
        "safetensors/regress-nan-in-checkpoint.safetensors": "tensor conv1.0.weight [4,3,3,3] has nan at index 5 (element [0,0,1,2])",
    ]

    func testRegressionCorpus() throws {
        let spec = try loadSpec(try Self.tinySpecPath)
        var seen: Set<String> = []
        for reader in Reader.allCases {
            for (name, bytes) in try Self.corpus(reader) where name.hasPrefix("regress-") {
                let key = "\(reader.rawValue)/\(name)"
                seen.insert(key)
                guard let expected = Self.regressions[key] else { XCTFail("\(key) has no expected error in FuzzTests.regressions"); continue }
                let path = try Fixtures.path("corpus/" + key)
                do {
                    switch reader {
                    case .spec: _ = try loadSpec(path)
                    case .safetensors, .onnx: _ = try loadNetwork(spec, weights: path)
                    case .npy: _ = try Npy.read(bytes, file: path)
                    }
                    XCTFail("\(key) was accepted")
                } catch let e as ShuffleNetError {
                    XCTAssertTrue(e.message.contains(expected), "\(key): \(e.message)")
                    XCTAssertTrue(e.message.contains(path) || e.message.contains(name), "\(key) error names no file: \(e.message)")
                }
            }
        }
        XCTAssertEqual(seen, Set(Self.regressions.keys), "regression files and FuzzTests.regressions differ")
    }

    /// Writes the regression files (run once by hand with SHUFFLENET_WRITE_REGRESSIONS=1
    /// to refresh them; the test then checks they are what is committed).
    func testRegressionFilesAreCurrent() throws {
        let files = try Self.regressionFiles()
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/corpus").path
        for (name, bytes) in files.sorted(by: { $0.key < $1.key }) {
            let path = root + "/" + name
            if ProcessInfo.processInfo.environment["SHUFFLENET_WRITE_REGRESSIONS"] != nil {
                try writeFileAtomically(bytes, to: path)
            }
            XCTAssertEqual((try? readFileBytes(path)) ?? [], bytes, "\(path) is stale: run with SHUFFLENET_WRITE_REGRESSIONS=1")
        }
    }

    static func regressionFiles() throws -> [String: [UInt8]] {
        var files: [String: [UInt8]] = [:]
        func spec(_ name: String, _ text: String) { files["spec/regress-\(name).json"] = Array(text.utf8) }
        spec("name-comment-injection", #"{"name": "*/ int pwned; /*", "family": "v1", "channels": [24, 240, 480, 960]}"#)
        spec("duplicate-key", #"{"name": "dup", "family": "v1", "channels": [24, 240, 480, 960], "groups": 3, "groups": 8}"#)
        spec("unknown-field", #"{"name": "typo", "family": "v1", "channels": [24, 384, 768, 1536], "group": 8}"#)
        spec("deep-nesting", #"{"family": "v1", "channels": "# + String(repeating: "[", count: 4096) + String(repeating: "]", count: 4096) + "}")
        spec("fraction", #"{"family": "v1", "channels": [24, 240, 480, 960.5]}"#)
        spec("overflow", #"{"family": "v2", "inputSize": 99999999999999999999, "channels": [24, 116, 232, 464, 1024]}"#)
        spec("huge-network", #"{"name": "huge", "family": "v2", "channels": [16384, 16384, 16384, 16384, 16384]}"#)
        spec("huge-activation", #"{"name": "wide", "family": "v2", "inputSize": 4096, "stageRepeats": [1], "channels": [256, 256, 1024]}"#)
        spec("many-stages", #"{"family": "v2", "stageRepeats": [1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1], "channels": [8,8,8,8,8,8,8,8,8,8,8,8,8,8,8,8,8,8,8,8,8,8]}"#)
        spec("trailing-comma", "{\"family\": \"v1\", \"channels\": [24, 240, 480, 960],\n}")
        files["spec/regress-not-utf8.json"] = Array(#"{"name": "t"#.utf8) + [0xFF] + Array(#"", "family": "v1", "channels": [24, 240, 480, 960]}"#.utf8)
        // The tiny checkpoint with conv1.0.weight[5] = NaN.
        var tensors = try Safetensors.read(path: try Fixtures.path("corpus/safetensors/tiny-v2.safetensors"))
        tensors["conv1.0.weight"]!.data[5] = .nan
        files["safetensors/regress-nan-in-checkpoint.safetensors"] = Safetensors.encode(tensors, metadata: ["spec": "tiny-v2"])
        return files
    }

    // MARK: - Spec reader under attack (explicit cases)

    func testSpecReaderUnderAttack() throws {
        let dir = NSTemporaryDirectory() + "/spec-attack-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let valid = #"{"family": "v1", "channels": [24, 240, 480, 960]}"#
        let deep = String(repeating: "[", count: 100_000)
        let cases: [(String, [UInt8], String)] = [
            ("nested-arrays", Array(deep.utf8), "a spec is a JSON object"),
            ("nested-in-field", Array((#"{"channels": "# + deep).utf8), "nested deeper than 32 levels"),
            ("nested-objects", Array(String(repeating: #"{"name": "#, count: 100_000).utf8), "nested deeper than 32 levels"),
            ("huge", [UInt8](repeating: 0x20, count: (1 << 20) + 1), "larger than 1048576 bytes"),
            ("empty", [], "spec file is empty"),
            ("whitespace", Array("  \n".utf8), "the file starts with the end of the file"),
            ("wrong-type-family", Array(#"{"family": 2, "channels": [24, 240, 480, 960]}"#.utf8), "field 'family' has the wrong type"),
            ("wrong-type-channels", Array(#"{"family": "v1", "channels": {"a": 1}}"#.utf8), "field 'channels' has the wrong type"),
            ("wrong-type-element", Array(#"{"family": "v1", "channels": [24, "240", 480, 960]}"#.utf8), "wrong type"),
            ("bool-as-int", Array(#"{"family": "v1", "groups": true, "channels": [24, 240, 480, 960]}"#.utf8), "field 'groups' has the wrong type"),
            ("negative", Array(#"{"family": "v1", "channels": [24, 240, -480, 960]}"#.utf8), "channel counts must be between 1 and 16384"),
            ("negative-repeats", Array(#"{"family": "v1", "stageRepeats": [4, -8, 4], "channels": [24, 240, 480, 960]}"#.utf8), "between 1 and 64"),
            ("int64-min", Array(#"{"family": "v1", "inputSize": -9223372036854775808, "channels": [24, 240, 480, 960]}"#.utf8), "inputSize must be between"),
            ("int64-max-plus-one", Array(#"{"family": "v1", "numClasses": 9223372036854775808, "channels": [24, 240, 480, 960]}"#.utf8), "does not fit in a 64-bit integer"),
            ("exponent", Array(#"{"family": "v1", "numClasses": 1e3, "channels": [24, 240, 480, 960]}"#.utf8), "1e3 is not a whole number"),
            ("nan-literal", Array(#"{"family": "v1", "numClasses": NaN, "channels": [24, 240, 480, 960]}"#.utf8), "expected a value, found 'N'"),
            ("leading-zero", Array(#"{"family": "v1", "numClasses": 010, "channels": [24, 240, 480, 960]}"#.utf8), "leading zeros"),
            ("duplicate-escaped", Array(#"{"family": "v1", "f\u0061mily": "v2", "channels": [24, 240, 480, 960]}"#.utf8), "duplicate key 'family'"),
            ("duplicate-nested", Array(#"{"family": "v1", "channels": [{"a": 1, "a": 2}]}"#.utf8), "(in 'channels[0]'): duplicate key 'a'"),
            ("trailing-garbage", Array((valid + " x").utf8), "unexpected 'x' after the spec object"),
            ("two-objects", Array((valid + valid).utf8), "unexpected '{' after the spec object"),
            ("unterminated", Array(#"{"family": "v1"#.utf8), "unterminated string"),
            ("control-char", Array("{\"family\": \"v\u{1}1\"}".utf8), "control character 0x1"),
            ("lone-surrogate", Array(#"{"name": "\ud800", "family": "v1", "channels": [24, 240, 480, 960]}"#.utf8), "unpaired surrogate"),
            ("bad-escape", Array(#"{"name": "\x", "family": "v1"}"#.utf8), "invalid escape"),
            ("nul-byte", Array(#"{"family": "v1""#.utf8) + [0] + Array("}".utf8), "expected ',' or '}' in an object, found byte 0x0"),
            ("missing-family", Array(#"{"channels": [24, 240, 480, 960]}"#.utf8), "missing field 'family'"),
            ("bad-family", Array(#"{"family": "v3", "channels": [24]}"#.utf8), "at 'family'"),
            ("name-newline", Array(#"{"name": "a\nb", "family": "v1", "channels": [24, 240, 480, 960]}"#.utf8), "spec name 'a\\u{a}b'"),
            ("name-long", Array((#"{"name": ""# + String(repeating: "n", count: 65) + #"", "family": "v1", "channels": [24, 240, 480, 960]}"#).utf8), "1 to 64"),
            ("name-empty", Array(#"{"name": "", "family": "v1", "channels": [24, 240, 480, 960]}"#.utf8), "spec name ''"),
        ]
        for (name, bytes, expected) in cases {
            let path = dir + "/\(name).json"
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            do {
                let spec = try loadSpec(path)
                XCTFail("\(name): accepted as \(spec)")
            } catch let e as ShuffleNetError {
                XCTAssertTrue(e.message.contains(expected), "\(name): \(e.message)")
                XCTAssertTrue(e.message.contains(path) || e.message.hasPrefix("spec "), "\(name): no file in \(e.message)")
            }
        }
        // Not files: a directory, a missing file, a device that never ends.
        for (path, expected) in [(dir, "is a directory"), (dir + "/missing.json", "no such file or directory"),
                                 ("/dev/zero", "larger than 1048576 bytes")] {
            XCTAssertThrowsError(try loadSpec(path)) { error in
                let m = (error as? ShuffleNetError)?.message ?? "\(error)"
                XCTAssertTrue(m.contains(expected) && m.contains(path), m)
            }
        }
        // What JSONDecoder accepts and still should: whitespace, escapes, a BOM, null for an optional.
        let path = dir + "/ok.json"
        try Data([0xEF, 0xBB, 0xBF] + Array(" {\"n\\u0061me\" : \"ok-1.0\", \"family\":\"v1\",\r\n\t\"channels\":[24,240,480,960],\"groups\":null}\n".utf8))
            .write(to: URL(fileURLWithPath: path))
        let spec = try loadSpec(path)
        XCTAssertEqual(spec.name, "ok-1.0")
        XCTAssertEqual(spec.groups, 3)
    }

    // MARK: - Non-finite weights

    func testNonFiniteWeightsRefusedAtLoadWithTensorAndIndex() throws {
        let spec = try loadSpec(try Self.tinySpecPath)
        let dir = NSTemporaryDirectory() + "/nonfinite-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }

        // safetensors: an infinity in a BN variance and two NaNs in the classifier.
        var tensors = try Safetensors.read(path: try Fixtures.path("corpus/safetensors/tiny-v2.safetensors"))
        tensors["fc.weight"]!.data[17] = .nan
        tensors["fc.weight"]!.data[18] = -.nan
        tensors["stage2.0.branch2.4.running_var"]!.data[2] = .infinity
        let st = dir + "/bad.safetensors"
        try Safetensors.write(tensors, to: st)
        XCTAssertThrowsError(try loadNetwork(spec, weights: st)) { error in
            let m = (error as? ShuffleNetError)?.message ?? "\(error)"
            XCTAssertEqual(m, "\(st): tensor fc.weight [3,16] has nan at index 17 (element [1,1]) and 1 more non-finite value(s); "
                + "weights must be finite (pass --allow-nonfinite to load them anyway)")
        }
        tensors["fc.weight"] = try Safetensors.read(path: try Fixtures.path("corpus/safetensors/tiny-v2.safetensors"))["fc.weight"]
        try Safetensors.write(tensors, to: st)
        XCTAssertThrowsError(try loadNetwork(spec, weights: st)) { error in
            XCTAssertTrue("\(error)".contains("tensor stage2.0.branch2.4.running_var [4] has inf at index 2;"), "\(error)")
        }
        let g = try loadNetwork(spec, weights: st, allowNonFinite: true)
        XCTAssertEqual(g.parameters["stage2.0.branch2.4.running_var"]!.data[2], .infinity)
        // Generation refuses at load too, and names the same tensor.
        var request = GenerateRequest(spec: spec, weights: st)
        XCTAssertThrowsError(try generate(request)) { XCTAssertTrue("\($0)".contains("running_var [4] has inf at index 2"), "\($0)") }
        request.allowNonFinite = true
        XCTAssertNoThrow(try generate(request))

        // ONNX: patch the first float of the first stored conv weight.
        var bytes = try readFileBytes(try Fixtures.path("corpus/onnx/tiny-v2.folded.onnx"))
        let model = try OnnxModel.read(bytes, file: "tiny")
        let raw = try XCTUnwrap(model.graph.initializers.first { $0.dims.count == 4 }?.rawData)
        withUnsafeBytes(of: Float.nan.bitPattern.littleEndian) { bytes.replaceSubrange(raw.startIndex ..< raw.startIndex + 4, with: $0) }
        let onnx = dir + "/bad.onnx"
        try writeFileAtomically(bytes, to: onnx)
        XCTAssertThrowsError(try loadNetwork(spec, weights: onnx)) { error in
            XCTAssertTrue("\(error)".hasPrefix("\(onnx): tensor conv1.0.weight [4,3,3,3] has nan at index 0 (element [0,0,0,0])"), "\(error)")
        }
        XCTAssertNoThrow(try loadNetwork(spec, weights: onnx, allowNonFinite: true))
        // Seeded weights are finite; an empty tensor is fine.
        XCTAssertNoThrow(try loadNetwork(spec, weights: nil))
        XCTAssertNoThrow(try checkFinite(["e": Tensor(shape: [0, 3], data: [])], source: "x"))
    }
}
