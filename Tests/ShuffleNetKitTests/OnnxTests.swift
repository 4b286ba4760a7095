import Foundation
import ShuffleNetKit
import XCTest

/// Real trained weights through ONNX (Fixtures/onnx/README.md says where every file comes from).
final class OnnxTests: XCTestCase {
    static let photos: [(name: String, top1: Int, label: String)] = [
        ("cat", 281, "tabby, tabby cat"), ("chelsea", 285, "Egyptian cat"), ("coffee", 967, "espresso"),
    ]

    func onnx(_ name: String) throws -> String { try Fixtures.path("onnx/\(name)") }

    /// The Model Zoo's int8 QDQ ShuffleNetV2 1.0x, dequantized on load, classifies three
    /// photos as ONNX Runtime does and matches torchvision running the same dequantized
    /// weights in float32.
    func testQDQModelClassifiesRealPhotos() throws {
        let spec = try XCTUnwrap(BuiltinSpecs.named("v2-1.0x"))
        let path = try onnx("shufflenet-v2-12-qdq.onnx")
        let network = try OnnxNetwork(path: path)
        XCTAssertTrue(network.batchNormFolded)
        XCTAssertTrue(network.namedByInitializers)
        XCTAssertEqual(network.matchingBuiltinSpecs(), ["v2-1.0x"])
        let graph = try loadNetwork(spec, weights: path)
        XCTAssertEqual(graph.parameters["stage2.0.branch1.2.weight"]?.shape, [58, 24, 1, 1])
        XCTAssertEqual(graph.parameters["fc.weight"]?.shape, [1000, 1024])
        XCTAssertNil(graph.parameters["conv1.1.running_var"])
        let optimized = try optimize(graph)
        let labels = try ClassLabels.read(path: try onnx("synset_words.txt"), numClasses: 1000)

        for photo in Self.photos {
            let input = try Npy.read(path: try onnx("\(photo.name).npy"))
            let ort = try Npy.read(path: try onnx("\(photo.name).ort-logits.npy")).data
            let torch = try Npy.read(path: try onnx("\(photo.name).torch-fp32-logits.npy")).data
            for (form, g) in [("unoptimized", graph), ("optimized", optimized)] {
                let logits = try Interpreter(graph: g).run(input).data
                let top5 = classify(logits: logits, top: 5, labels: labels)
                XCTAssertEqual(top5[0].index, photo.top1, "\(photo.name) \(form)")
                XCTAssertEqual(top5[0].label, photo.label)
                XCTAssertEqual(Set(top5.map(\.index)), Set(topK(ort, 5)), "\(photo.name) \(form): top-5 set vs ONNX Runtime")
                XCTAssertEqual(top5.map(\.index), topK(torch, 5), "\(photo.name) \(form): top-5 vs PyTorch fp32")
                let maxAbs = zip(logits, torch).map { abs($0 - $1) }.max()!
                let err = relativeError(logits, torch)
                XCTAssertLessThanOrEqual(err, 1e-4, "\(photo.name) \(form)")
                print("onnx \(photo.name) \(form): ours " + top5.map { "\($0.index) \($0.label ?? "") \(String(format: "%.4f", $0.probability))" }.joined(separator: "; ")
                      + " | ORT top-5 \(topK(ort, 5)) | vs torch fp32 max abs \(maxAbs), \(err) x max|logit|")
            }
        }
    }

    /// torch.onnx.export of a tiny custom ShuffleNetV2 in both forms it produces: BatchNorm
    /// folded with anonymous initializers (matched by structure), and BatchNorm kept with
    /// state_dict names (which must equal PyTorch's own checkpoint exactly).
    func testFP32TorchExportsMatchPyTorch() throws {
        let spec = try loadSpec(try Fixtures.path("parity/tiny-v2.json"))
        let input = try Npy.read(path: try Fixtures.path("parity/tiny-v2.input.npy"))
        let expected = try Npy.read(path: try onnx("tiny-v2.torch-logits.npy")).data
        for (file, folded) in [("tiny-v2.fp32.onnx", true), ("tiny-v2.fp32-bn.onnx", false)] {
            let path = try onnx(file)
            let network = try OnnxNetwork(path: path)
            XCTAssertEqual(network.batchNormFolded, folded, file)
            XCTAssertEqual(network.namedByInitializers, !folded, file)
            let graph = try loadNetwork(spec, weights: path)
            XCTAssertEqual(graph.nodes.contains { if case .batchNorm = $0.op { true } else { false } }, !folded)
            if !folded {
                let checkpoint = try Safetensors.read(path: try Fixtures.path("parity/tiny-v2.safetensors"))
                XCTAssertEqual(graph.parameters, checkpoint, "BN-kept export holds the state_dict")
            }
            for g in [graph, try optimize(graph)] {
                let logits = try Interpreter(graph: g).run(input).data
                let err = relativeError(logits, expected)
                XCTAssertLessThanOrEqual(err, 1e-4, file)
                XCTAssertEqual(topK(logits, 5), topK(expected, 5), file)
                print("onnx \(file): \(err) x max|logit| vs PyTorch")
            }
            // bindWeights on a graph of the file's form works too; the other form is refused.
            XCTAssertNoThrow(try bindWeights(try buildGraph(spec, batchNormFolded: folded), path: path))
            XCTAssertThrowsError(try bindWeights(try buildGraph(spec, batchNormFolded: !folded), path: path)) {
                XCTAssertTrue("\($0)".contains("BatchNorm"), "\($0)")
            }
        }
    }

    /// onnxruntime's quantizer on the tiny export: int8 weights with one scale per output
    /// channel (DequantizeLinear axis 0, also on the Gemm), float biases, anonymous names,
    /// nodes reordered, and no Relu nodes (folded into the activations' uint8 ranges; the
    /// spec's graph has them). Reference: the float32 network it stands for, run by ONNX Runtime.
    func testPerChannelQDQExport() throws {
        let spec = try loadSpec(try Fixtures.path("parity/tiny-v2.json"))
        let path = try onnx("tiny-v2.qdq-per-channel.onnx")
        let network = try OnnxNetwork(path: path)
        XCTAssertTrue(network.batchNormFolded)
        XCTAssertFalse(network.namedByInitializers)
        XCTAssertEqual(network.classifier.prefix, "fc")
        let input = try Npy.read(path: try Fixtures.path("parity/tiny-v2.input.npy"))
        let expected = try Npy.read(path: try onnx("tiny-v2.qdq-per-channel.dequantized-logits.npy")).data
        let graph = try loadNetwork(spec, weights: path)
        for g in [graph, try optimize(graph)] {
            let logits = try Interpreter(graph: g).run(input).data
            let err = relativeError(logits, expected)
            XCTAssertLessThanOrEqual(err, 1e-4)
            XCTAssertEqual(topK(logits, 5), topK(expected, 5))
            print("onnx tiny-v2.qdq-per-channel.onnx: \(err) x max|logit| vs ONNX Runtime on the dequantized network")
        }
        // Dequantization itself, exactly: (q - zero_point) * scale along axis 0.
        let model = try OnnxModel.read(path: path)
        func initializer(_ name: String) throws -> OnnxTensor { try XCTUnwrap(model.graph.initializers.first { $0.name == name }) }
        let q = try initializer("onnx::Conv_519_quantized").integerValues(file: path)
        let scale = try initializer("onnx::Conv_519_scale").floatValues(file: path)
        let zeroPoint = try initializer("onnx::Conv_519_zero_point").integerValues(file: path).values
        XCTAssertEqual(q.shape, [8, 3, 3, 3])
        XCTAssertEqual(scale.shape, [8])
        XCTAssertEqual(Set(scale.data).count, 8, "one scale per output channel")
        let first = try XCTUnwrap(network.convs.first { $0.weightSource == "onnx::Conv_519_quantized" })
        for i in 0 ..< 216 {
            let c = i / 27
            XCTAssertEqual(first.weight.data[i], Float(q.values[i] - zeroPoint[c]) * scale.data[c], "element \(i)")
        }
    }

    // MARK: - Errors

    func writeTempBytes(_ name: String, _ bytes: [UInt8]) throws -> String {
        let path = try writeTemp(name, "")
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    func testNotOnnxFiles() throws {
        let v2 = try XCTUnwrap(BuiltinSpecs.named("v2-1.0x"))
        let safetensors = try readFileBytes(try Fixtures.path("parity/tiny-v2.safetensors"))
        let npy = try readFileBytes(try onnx("cat.ort-logits.npy"))
        var rng = SplitMix(seed: 11)
        let random = (0 ..< 4096).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        let cases: [(String, [UInt8], String)] = [
            ("safetensors.onnx", safetensors, "safetensors"),
            ("npy.onnx", npy, ".npy"),
            ("text.onnx", Array("hello, this is not a model\n".utf8), "not an ONNX model"),
            ("empty.onnx", [], "empty"),
            ("random.onnx", [0x6A] + random, "not an ONNX model"),
        ]
        for (name, bytes, expected) in cases {
            let path = try writeTempBytes(name, bytes)
            let m = message { try loadNetwork(v2, weights: path) }
            XCTAssertTrue(m.contains(path) && m.contains(expected), m)
            print("onnx error: \(m)")
        }
        // A file that starts like ONNX but is garbage after: malformed, with the byte offset.
        let path = try writeTempBytes("garbage.onnx", [0x08, 0x07] + random)
        let m = message { try loadNetwork(v2, weights: path) }
        XCTAssertTrue(m.contains("byte offset"), m)
        XCTAssertTrue(message { try loadNetwork(v2, weights: "/nonexistent/model.onnx") }.contains("/nonexistent/model.onnx"))
    }

    func testTruncatedModel() throws {
        let bytes = try readFileBytes(try onnx("shufflenet-v2-12-qdq.onnx"))
        // Inside the ir_version varint, inside the graph's length, at the start of the nodes,
        // among the nodes, among the initializers, right after the graph, inside an opset.
        for cut in [1, 20, 25, 30, 5000, 91_750, bytes.count / 2, 2_415_585, bytes.count - 1] {
            let m = message { try OnnxModel.read(Array(bytes[..<cut]), file: "cut.onnx") }
            XCTAssertTrue(m.hasPrefix("cut.onnx: "), m)
            XCTAssertTrue(m.contains("byte offset"), "cut at \(cut): \(m)")
            if cut == bytes.count / 2 { print("onnx error: \(m)") }
        }
        // Through the file loader as well.
        let path = try writeTempBytes("truncated.onnx", Array(bytes[..<100_000]))
        let m = message { try loadNetwork(BuiltinSpecs.named("v2-1.0x")!, weights: path) }
        XCTAssertTrue(m.contains(path) && m.contains("field 7 (tag at byte offset 24) has length 2415556") && m.contains("truncated"), m)
    }

    func testWrongSpecNamesInitializerShapesAndTheRightSpec() throws {
        let path = try onnx("shufflenet-v2-12-qdq.onnx")
        let m = message { try loadNetwork(BuiltinSpecs.named("v2-0.5x")!, weights: path) }
        XCTAssertTrue(m.contains("initializer ConvBnFusion_W_stage2.0.branch1.2.weight_quantized (stage2.0.branch1.2.weight)"), m)
        XCTAssertTrue(m.contains("[58,24,1,1]") && m.contains("[24,24,1,1]") && m.contains("spec v2-0.5x"), m)
        XCTAssertTrue(m.contains("matches built-in spec v2-1.0x"), m)
        print("onnx error: \(m)")

        // Another family: every name is missing; the suggestion still says which spec fits.
        let v1 = message { try loadNetwork(BuiltinSpecs.named("v1-g3-1.0x")!, weights: path) }
        XCTAssertTrue(v1.contains("missing") && v1.contains("v2-1.0x"), v1)

        // The anonymous fp32 export is matched by structure: a spec of another depth is not it.
        let tiny = try onnx("tiny-v2.fp32.onnx")
        let s = message { try loadNetwork(BuiltinSpecs.named("v2-0.5x")!, weights: tiny) }
        XCTAssertTrue(s.contains("is not spec v2-0.5x") && s.contains("no built-in spec matches"), s)
        print("onnx error: \(s)")
        // Same structure, other widths: the shape check names the anonymous initializer.
        var narrow = try loadSpec(try Fixtures.path("parity/tiny-v2.json"))
        narrow.channels = [8, 16, 32, 48, 128]
        let w = message { try loadNetwork(narrow, weights: tiny) }
        XCTAssertTrue(w.contains("initializer onnx::Conv_") && w.contains("stage4.0.branch1.2.weight") && w.contains("[32,32,1,1]"), w)
    }

    func testUnsupportedDataTypesAndInconsistentTensors() throws {
        func model(weight: [UInt8], extra: [[UInt8]] = [], dq: Bool = false) -> [UInt8] {
            var nodes: [[UInt8]] = []
            if dq { nodes.append(OnnxPB.node("DequantizeLinear", inputs: ["wq", "s"], outputs: ["w"])) }
            nodes.append(OnnxPB.node("Conv", inputs: ["x", "w"], outputs: ["y"]))
            let graph = nodes.flatMap { OnnxPB.bytes(1, $0) } + OnnxPB.bytes(5, weight) + extra.flatMap { OnnxPB.bytes(5, $0) }
                + OnnxPB.bytes(11, OnnxPB.string(1, "x"))
            return OnnxPB.varint(1, 8) + OnnxPB.bytes(7, graph) + OnnxPB.bytes(8, OnnxPB.string(1, "") + OnnxPB.varint(2, 13))
        }
        let f64 = OnnxPB.tensor("w", dims: [1, 1, 1, 1], type: 11, raw: [UInt8](repeating: 0, count: 8))
        let m = message { try OnnxNetwork(model: try OnnxModel.read(model(weight: f64), file: "double.onnx"), file: "double.onnx") }
        XCTAssertTrue(m.contains("initializer w") && m.contains("DOUBLE") && m.contains("not supported"), m)
        print("onnx error: \(m)")

        let f16 = OnnxPB.tensor("w", dims: [1, 1, 1, 1], type: 10, raw: [0, 0])
        let h = message { try OnnxNetwork(model: try OnnxModel.read(model(weight: f16), file: "half.onnx"), file: "half.onnx") }
        XCTAssertTrue(h.contains("initializer w") && h.contains("FLOAT16"), h)

        // INT64 as a quantized weight.
        let i64 = OnnxPB.tensor("wq", dims: [1, 1, 1, 1], type: 7, raw: [UInt8](repeating: 0, count: 8))
        let scale = OnnxPB.tensor("s", dims: [], type: 1, raw: [0, 0, 0x80, 0x3F])
        let q = message { try OnnxNetwork(model: try OnnxModel.read(model(weight: i64, extra: [scale], dq: true), file: "q.onnx"), file: "q.onnx") }
        XCTAssertTrue(q.contains("initializer wq") && q.contains("INT64"), q)

        // raw_data that does not fit the dims.
        let short = OnnxPB.tensor("w", dims: [2, 1, 3, 3], type: 1, raw: [UInt8](repeating: 0, count: 40))
        let r = message { try OnnxNetwork(model: try OnnxModel.read(model(weight: short), file: "short.onnx"), file: "short.onnx") }
        XCTAssertTrue(r.contains("initializer w") && r.contains("raw_data is 40 bytes") && r.contains("need 72"), r)
        print("onnx error: \(r)")

        // Dims whose product overflows, and a negative dim.
        let huge = OnnxPB.tensor("w", dims: [1 << 40, 1 << 40, 1, 1], type: 1, raw: [])
        XCTAssertTrue(message { try OnnxNetwork(model: try OnnxModel.read(model(weight: huge), file: "h.onnx"), file: "h.onnx") }.contains("overflow"))
        let negative = OnnxPB.tensor("w", dims: [-1, 1, 1, 1], type: 1, raw: [])
        XCTAssertTrue(message { try OnnxNetwork(model: try OnnxModel.read(model(weight: negative), file: "n.onnx"), file: "n.onnx") }.contains("negative"))

        // A well-formed FLOAT weight gets past decoding; the graph then lacks a classifier.
        let ok = OnnxPB.tensor("w", dims: [1, 1, 1, 1], type: 1, raw: [0, 0, 0x80, 0x3F])
        let c = message { try OnnxNetwork(model: try OnnxModel.read(model(weight: ok), file: "c.onnx"), file: "c.onnx") }
        XCTAssertTrue(c.contains("Gemm/MatMul"), c)
    }

    func testProtobufReaderRefusesMalformedInput() {
        // Reads every length-delimited field as a sub-message, recursively.
        func walk(_ r: inout ProtobufReader) throws {
            while let f = try r.nextField() {
                if f.wireType == .lengthDelimited { var sub = try r.readMessage("sub"); try walk(&sub) } else { try r.skip(f) }
            }
        }
        func read(_ bytes: [UInt8]) -> String {
            message {
                var r = ProtobufReader(bytes, context: "t")
                try walk(&r)
                return 0
            }
        }
        XCTAssertTrue(read([0x08, 0x80]).contains("truncated varint"))
        XCTAssertTrue(read([0x08] + [UInt8](repeating: 0xFF, count: 9) + [0x02]).contains("overflows 64 bits"))
        XCTAssertTrue(read([0x08] + [UInt8](repeating: 0x80, count: 10) + [0x00]).contains("varint"))
        XCTAssertTrue(read([0x0A, 0x05, 0x01]).contains("field 1 (tag at byte offset 0) has length 5, past the end"))
        XCTAssertTrue(read([0x0A, 0x02, 0x12, 0x05, 0x08, 0x01]).contains(
            "byte offset 3 (in sub): field 2 (tag at byte offset 2) has length 5, past the end: only 0 bytes remain before byte offset 4 (end of the enclosing message)"))
        XCTAssertTrue(read([0x0B]).contains("groups"))
        XCTAssertTrue(read([0x0E]).contains("invalid wire type 6"))
        XCTAssertTrue(read([0x00]).contains("invalid field number 0"))
        XCTAssertTrue(read([0x0D, 1, 2]).contains("truncated 32-bit"))
        XCTAssertTrue(read([0x09, 1, 2, 3]).contains("truncated 64-bit"))
        XCTAssertTrue(read([0x0A] + [UInt8](repeating: 0xFF, count: 9) + [0x01]).contains("byte offset 1"))
        // Nesting: 40 levels of field 1 sub-messages.
        var nested: [UInt8] = []
        for _ in 0 ..< 40 { nested = OnnxPB.bytes(1, nested) }
        XCTAssertTrue(read(nested).contains("nested deeper than 32"))
        // Valid values round-trip.
        var r = ProtobufReader(OnnxPB.varint(1, UInt64(bitPattern: -5)) + OnnxPB.varint(2, 300), context: "t")
        XCTAssertEqual(try r.nextField().map { try r.readInt64($0) }, -5)
        XCTAssertEqual(try r.nextField().map { try r.readInt64($0) }, 300)
        XCTAssertNil(try r.nextField())
    }

    /// A few hundred random corruptions of a small real ONNX file: reading and binding
    /// either succeed or throw ShuffleNetError; nothing crashes or traps.
    func testMutatedModelsNeverCrash() throws {
        let spec = try loadSpec(try Fixtures.path("parity/tiny-v2.json"))
        let graph = try buildGraph(spec, batchNormFolded: true)
        // SHUFFLENET_ONNX_FUZZ=N runs N mutations (a longer campaign by hand).
        let iterations = ProcessInfo.processInfo.environment["SHUFFLENET_ONNX_FUZZ"].flatMap { Int($0) } ?? 400
        // The float export and the per-channel QDQ one (Dequantize paths).
        var files: [(bytes: [UInt8], structural: [Int])] = []
        for name in ["tiny-v2.fp32.onnx", "tiny-v2.qdq-per-channel.onnx"] {
            let original = try readFileBytes(try onnx(name))
            // Most bytes are weights; aim half the mutations at the structure around them.
            let model = try OnnxModel.read(original, file: name)
            var isWeightByte = [Bool](repeating: false, count: original.count)
            for t in model.graph.initializers { if let raw = t.rawData { for i in raw.indices { isWeightByte[i] = true } } }
            files.append((original, original.indices.filter { !isWeightByte[$0] }))
        }
        var rng = SplitMix(seed: 2024)
        var outcomes = ["ok": 0, "error": 0]
        for i in 0 ..< iterations {
            let (original, structural) = files[(i / 4) % 2]
            var bytes = original
            switch i % 4 {
            case 0: bytes = Array(bytes[..<Int(rng.next() % UInt64(bytes.count))])
            case 1:
                for _ in 0 ..< 1 + Int(rng.next() % 4) { bytes[Int(rng.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: rng.next()) }
            default:
                for _ in 0 ..< 1 + Int(rng.next() % 3) {
                    let p = structural[Int(rng.next() % UInt64(structural.count))]
                    bytes[p] = i % 4 == 2 ? UInt8(truncatingIfNeeded: rng.next()) : bytes[p] ^ (1 << UInt8(rng.next() % 8))
                }
            }
            do {
                let network = try OnnxNetwork(model: try OnnxModel.read(bytes, file: "mutant"), file: "mutant")
                if network.batchNormFolded { _ = try network.bind(to: graph) }
                outcomes["ok"]! += 1
            } catch is ShuffleNetError {
                outcomes["error"]! += 1
            } catch {
                XCTFail("mutation \(i): \(error) is not a ShuffleNetError")
            }
        }
        print("onnx mutations: \(outcomes)")
        XCTAssertGreaterThan(outcomes["error"]!, 100)
        XCTAssertGreaterThan(outcomes["ok"]!, 10)
    }

    // MARK: - Classification helpers

    func testSoftmaxTopKAndLabels() throws {
        let p = softmax([1000, 1000, -1000])
        XCTAssertEqual(p[0], 0.5, accuracy: 1e-12)
        XCTAssertEqual(p[2], 0, accuracy: 1e-12)
        XCTAssertEqual(topK([0.1, 0.5, .nan, 0.5, -1], 3), [1, 3, 0])
        let scores = classify(logits: [0, 2, 1], top: 2, labels: ["a", "b", "c"])
        XCTAssertEqual(scores.map(\.index), [1, 2])
        XCTAssertEqual(scores.map(\.label), ["b", "c"])
        XCTAssertEqual(scores[0].rank, 1)

        let synsets = try onnx("synset_words.txt")
        let labels = try ClassLabels.read(path: synsets, numClasses: 1000)
        XCTAssertEqual(labels[281], "tabby, tabby cat")
        XCTAssertEqual(labels[0], "tench, Tinca tinca")
        let wrong = message { try ClassLabels.read(path: synsets, numClasses: 10) }
        XCTAssertTrue(wrong.contains("1000 label line(s)") && wrong.contains("10 classes"), wrong)
        XCTAssertTrue(message { try ClassLabels.read(path: "/nonexistent/labels.txt", numClasses: 10) }.contains("/nonexistent/labels.txt"))
        XCTAssertEqual(try ClassLabels.parse("a\r\nb\r\n", file: "f", numClasses: 2), ["a", "b"])
        XCTAssertTrue(message { try ClassLabels.parse("a\n\nc\n", file: "f", numClasses: 3) }.contains("line 2"))

        let report = ClassificationReport(spec: "v2-1.0x", weights: "w.onnx", input: "cat.npy", top: classify(logits: [0, 2, 1], top: 2, labels: ["a", "b", "c"]))
        XCTAssertTrue(report.text.contains("probability") && report.text.contains("0.6652"), report.text)
        XCTAssertEqual(try JSONDecoder().decode(ClassificationReport.self, from: Data(try jsonString(report).utf8)), report)
    }
}

/// Hand-written protobuf for crafted ONNX models.
enum OnnxPB {
    static func rawVarint(_ v: UInt64) -> [UInt8] {
        var v = v, out: [UInt8] = []
        while v >= 0x80 { out.append(UInt8(v & 0x7F) | 0x80); v >>= 7 }
        return out + [UInt8(v)]
    }
    static func varint(_ field: Int, _ v: UInt64) -> [UInt8] { rawVarint(UInt64(field << 3)) + rawVarint(v) }
    static func bytes(_ field: Int, _ b: [UInt8]) -> [UInt8] { rawVarint(UInt64(field << 3 | 2)) + rawVarint(UInt64(b.count)) + b }
    static func string(_ field: Int, _ s: String) -> [UInt8] { bytes(field, Array(s.utf8)) }
    static func node(_ op: String, inputs: [String], outputs: [String]) -> [UInt8] {
        inputs.flatMap { string(1, $0) } + outputs.flatMap { string(2, $0) } + string(4, op)
    }
    static func tensor(_ name: String, dims: [Int64], type: Int, raw: [UInt8]) -> [UInt8] {
        dims.flatMap { varint(1, UInt64(bitPattern: $0)) } + varint(2, UInt64(type)) + string(8, name) + bytes(9, raw)
    }
}
