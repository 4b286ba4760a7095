import Foundation
import ShuffleNetKit
import XCTest

/// int8 end to end on the interpreted engine: ONNX Runtime's int8 logits and its per-layer
/// int8 tensors (fixtures made by tools) are the oracles.
final class Int8Tests: XCTestCase {
    func onnx(_ name: String) throws -> String { try Fixtures.path("onnx/" + name) }

    static let zoo = "shufflenet-v2-12-qdq.onnx"

    /// The Zoo's int8 ShuffleNetV2 with the file's own scales and zero points against ONNX
    /// Runtime's int8 logits on the three photos.
    func testZooModelMatchesOnnxRuntime() throws {
        let spec = try XCTUnwrap(BuiltinSpecs.named("v2-1.0x"))
        let graph = try loadQuantizedOnnxNetwork(spec, path: try onnx(Self.zoo))
        XCTAssertTrue(graph.isQuantized)
        let engine = try Interpreter(graph: graph)
        for photo in ["cat", "chelsea", "coffee"] {
            let logits = try engine.run(try Npy.read(path: try onnx("\(photo).npy"))).data
            let ort = try Npy.read(path: try onnx("\(photo).ort-logits.npy")).data
            XCTAssertEqual(top(1, logits), top(1, ort), photo)
            XCTAssertEqual(Set(top(5, logits)), Set(top(5, ort)), photo)
            let err = relativeError(logits, ort)
            XCTAssertLessThanOrEqual(err, 0.02, photo)
            let equal = zip(logits, ort).filter { $0 == $1 }.count
            print("int8 zoo \(photo): top-1 \(top(1, logits)[0]) (ORT \(top(1, ort)[0])), max|diff| \(err) x max|logit|, "
                  + "\(equal)/\(logits.count) logits exactly equal to ONNX Runtime's")
        }
    }

    /// The int8 tensors of every layer for the cat photo against ONNX's reference
    /// evaluator (tools/int8_reference_layers.py; ONNX Runtime on this AVX2 machine
    /// saturates int16 pairs in its u8s8 kernel, see the tool).
    func testZooModelLayersMatchReferenceEvaluator() throws {
        let spec = try XCTUnwrap(BuiltinSpecs.named("v2-1.0x"))
        try compareLayers(spec, model: try onnx(Self.zoo), image: try onnx("cat.npy"), fixture: try onnx("shufflenet-v2-12-qdq.cat.reference-layers.json"))
    }

    /// The tiny custom v2 quantized by onnxruntime with per-channel int8 weights, against
    /// ONNX's reference evaluator (logits and every layer).
    func testPerChannelQDQModelMatchesReferenceEvaluator() throws {
        let spec = try loadSpec(try Fixtures.path("parity/tiny-v2.json"))
        try compareLayers(spec, model: try onnx("tiny-v2.qdq-per-channel.onnx"), image: try Fixtures.path("parity/tiny-v2.input.npy"),
                          fixture: try onnx("tiny-v2.qdq-per-channel.reference-layers.json"))
    }

    struct LayerFixture: Decodable {
        struct Layer: Decodable { var op: String; var weight: String?; var channels: Int; var pixels: Int; var sum: Int; var sumOfSquares: Int }
        var logits: [Float]
        var layers: [Layer]
    }

    /// Per layer, the mean difference of the stored values and of their squares (channel
    /// order free: the optimizer may permute channels) must stay under 0.02 steps; logits
    /// within 2% of max|logit| with the same top-5.
    func compareLayers(_ spec: NetworkSpec, model: String, image: String, fixture: String) throws {
        let expected = try JSONDecoder().decode(LayerFixture.self, from: Data(contentsOf: URL(fileURLWithPath: fixture)))
        let bound = try loadOnnxNetwork(spec, path: model)
        let sources = try OnnxNetwork(path: model).tensors(for: bound).sources
        let graph = try loadQuantizedOnnxNetwork(spec, path: model)
        let trace = try Interpreter(graph: graph).runQuantizedTrace(try Npy.read(path: image))
        /// Our node whose conv weight came from `initializer`.
        func conv(_ initializer: String?) -> Int? {
            graph.nodes.indices.first { i in
                if case .conv(let c) = graph.nodes[i].op { return sources[c.weight] == initializer } else { return false }
            }
        }
        var compared = 0
        var worst = 0.0
        for (n, layer) in expected.layers.enumerated() {
            var ours: [Int32]?
            switch layer.op {
            case "Conv":
                // Convs into a concat with other parameters round twice: their first rounding
                // is checked through the concat. The first conv is checked after its pool.
                guard let i = conv(layer.weight), let q = graph.nodes[i].quantization, q.intermediate == nil,
                      case .conv(let c) = graph.nodes[i].op, c.maxPool == nil else { continue }
                ours = trace.outputs[i]
            case "MaxPool":
                let i = try XCTUnwrap(graph.nodes.indices.first { if case .conv(let c) = graph.nodes[$0].op { c.maxPool != nil } else { false } })
                ours = trace.outputs[i]
            case "Concat":
                // The concat is complete in its buffer after its last writer (the requantize
                // node of its identity half, if any).
                let joiner = try XCTUnwrap(conv(layer.weight), "no conv for \(layer.weight ?? "?")")
                let concat = try XCTUnwrap(graph.nodes[joiner].joins)
                let last = try XCTUnwrap(graph.nodes.indices.last { graph.nodes[$0].joins == concat || graph.nodes[$0].name == concat + ".requantize" })
                ours = trace.buffers[last]
            default:
                continue
            }
            let values = try XCTUnwrap(ours)
            compared += 1
            XCTAssertEqual(values.count, layer.channels * layer.pixels, "layer \(n)")
            let sum = values.reduce(0) { $0 + Int($1) }, squares = values.reduce(0) { $0 + Int($1) * Int($1) }
            let meanDiff = Double(abs(sum - layer.sum)) / Double(values.count)
            let meanSquareDiff = Double(abs(squares - layer.sumOfSquares)) / Double(values.count) / 255
            worst = max(worst, meanDiff, meanSquareDiff)
            XCTAssertLessThanOrEqual(max(meanDiff, meanSquareDiff), 0.02, "layer \(n) (\(layer.op) \(layer.weight ?? ""))")
        }
        XCTAssertGreaterThan(compared, expected.layers.count / 2)
        let logits = trace.logits.data
        XCTAssertEqual(Set(top(5, logits)), Set(top(5, expected.logits)))
        XCTAssertEqual(top(1, logits), top(1, expected.logits))
        XCTAssertLessThanOrEqual(relativeError(logits, expected.logits), 0.02)
        print("int8 layers \(spec.name): \(compared) of \(expected.layers.count) reference-evaluator int8 tensors compared, "
              + "worst mean difference \(worst) steps; logits \(relativeError(logits, expected.logits)) x max|logit| from the reference evaluator")
    }

    // MARK: Bad quantization parameters

    /// The Zoo model with the bytes of one initializer changed, in a temporary file.
    func patchedZoo(_ name: String, _ patch: (inout [UInt8], OnnxTensor) throws -> Void) throws -> String {
        var bytes = try readFileBytes(try onnx(Self.zoo))
        let model = try OnnxModel.read(bytes, file: "zoo")
        let t = try XCTUnwrap(model.graph.initializers.first { $0.name == name })
        try patch(&bytes, t)
        let path = NSTemporaryDirectory() + "int8-\(getpid())-\(name)-\(UInt32.random(in: 0 ... .max)).onnx"
        try writeFileAtomically(bytes, to: path)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    /// Overwrites the one FLOAT value of a scalar initializer (in raw_data or float_data).
    func setScalarFloat(_ bytes: inout [UInt8], _ t: OnnxTensor, _ bits: UInt32) throws {
        let old = (t.floatData.first ?? 0).bitPattern
        let pattern = (0..<4).map { UInt8(truncatingIfNeeded: old >> (8 * UInt32($0))) }
        let at = try t.rawData?.startIndex ?? XCTUnwrap((t.offset..<(t.offset + 64)).first { Array(bytes[$0..<($0 + 4)]) == pattern })
        for k in 0..<4 { bytes[at + k] = UInt8(truncatingIfNeeded: bits >> (8 * UInt32(k))) }
    }

    /// A scale that is zero, NaN or negative, and a zero point of an unsupported type: one
    /// error naming the tensor.
    func testBadQuantizationParametersInFile() throws {
        let spec = try XCTUnwrap(BuiltinSpecs.named("v2-1.0x"))
        for (bits, shown) in [(Float(0).bitPattern, "is 0.0"), (Float.nan.bitPattern, "is nan"), (Float(-0.5).bitPattern, "is -0.5")] {
            let path = try patchedZoo("340_scale") { bytes, t in try setScalarFloat(&bytes, t, bits) }
            let m = message { try loadQuantizedOnnxNetwork(spec, path: path) }
            XCTAssertTrue(m.contains(path) && m.contains("scale 340_scale") && m.contains(shown) && m.contains("finite and > 0"), m)
            print("int8 error: \(m)")
        }
        // data_type UINT8 (field 2, varint 2) -> INT16 (5).
        let path = try patchedZoo("340_zero_point") { bytes, t in
            let at = try XCTUnwrap((t.offset..<(t.offset + 32)).first { bytes[$0] == 0x10 && bytes[$0 + 1] == 0x02 })
            bytes[at + 1] = 0x05
        }
        let m = message { try loadQuantizedOnnxNetwork(spec, path: path) }
        XCTAssertTrue(m.contains("340_zero_point") && m.contains("INT16") && m.contains("UINT8 or INT8"), m)
        print("int8 error: \(m)")
    }

    /// Fixed, made-up activation parameters for every value a seeded spec's optimized
    /// graph stores (tests only; real ones come from a QDQ file or calibration): the
    /// scale varies with the name so concats and their identity halves differ.
    static func fixedActivations(_ g: Graph) -> [String: ActivationQuantization] {
        var a: [String: ActivationQuantization] = ["input": ActivationQuantization(scale: 4 / 255, zeroPoint: 128, type: .uint8)]
        func put(_ key: String, relu: Bool) {
            let scale = 0.02 * (1 + Float(key.utf8.reduce(0) { $0 &+ Int($1) } % 7) / 10)
            a[key] = ActivationQuantization(scale: scale, zeroPoint: relu ? 0 : 128, type: .uint8)
        }
        for n in g.nodes {
            let own = String(n.name.split(separator: "+")[0])
            switch n.op {
            case .conv(let c): put(n.joins ?? own, relu: c.relu || n.joins != nil)
            case .avgPool: put(n.joins ?? own, relu: true)
            case .globalAvgPool: put(own, relu: true)
            default: break
            }
        }
        return a
    }

    func testBadActivationParameters() throws {
        let g = try optimize(try seededGraph("v2-0.5x"))
        let good = Self.fixedActivations(g)
        var bad = good
        bad["conv5"]?.zeroPoint = 300
        XCTAssertTrue(message { try quantize(g, activations: bad) }.contains("conv5: zero point 300 outside uint8 [0, 255]"))
        bad = good
        bad["globalpool"]?.scale = 0
        XCTAssertTrue(message { try quantize(g, activations: bad) }.contains("globalpool: scale 0.0"))
        bad = good
        bad["conv5"] = nil
        XCTAssertTrue(message { try quantize(g, activations: bad) }.contains("no activation parameters for conv5"))
        bad = good
        bad["stage9.concat"] = good["conv5"]
        XCTAssertTrue(message { try quantize(g, activations: bad) }.contains("does not have: stage9.concat"))
        XCTAssertTrue(message { try quantize(try seededGraph("v2-0.5x"), activations: good) }.contains("fully optimized graph"))
    }

    // MARK: Planner in bytes

    /// Every built-in spec, quantized with fixed parameters: the int8 arena is at most
    /// 0.26x the fp32 arena and still equals its lower bound (and the plan validates).
    func testInt8ArenaIsAQuarterOfFP32() throws {
        for spec in BuiltinSpecs.all {
            let fp32 = try optimize(try bindWeights(try buildGraph(spec), path: nil))
            let int8 = try quantize(fp32, activations: Self.fixedActivations(fp32))
            let (a, b) = (ArenaLayout(fp32), ArenaLayout(int8))
            try validate(b.plan)
            XCTAssertEqual(b.plan.arenaBytes, b.lowerBound, spec.name)
            XCTAssertLessThanOrEqual(Double(b.plan.arenaBytes), 0.26 * Double(a.plan.arenaBytes), spec.name)
            print("int8 arena \(spec.name): \(b.plan.arenaBytes) B vs fp32 \(a.plan.arenaBytes) B (\(String(format: "%.3f", Double(b.plan.arenaBytes) / Double(a.plan.arenaBytes)))x); "
                  + "weights \(int8.weightBytes) B vs \(fp32.weightBytes) B (\(String(format: "%.3f", Double(int8.weightBytes) / Double(fp32.weightBytes)))x); "
                  + "requantize nodes \(int8.nodes.filter { $0.op == .requantize }.count)")
        }
    }

    /// The int8 engine inside its planned arena (one byte per value) gives the same logits
    /// as with every buffer apart: the byte plan is safe (v1 and v2: residual, average-pool
    /// shortcut, concat slices, requantize nodes).
    func testInt8RunsInItsArena() throws {
        for name in ["v2-0.5x", "v1-g3-0.5x"] {
            let g = try optimize(try seededGraph(name))
            let q = try quantize(g, activations: Self.fixedActivations(g))
            let engine = try Interpreter(graph: q)
            var rng = SplitMix(seed: 5)
            let x = Tensor(shape: [1, 3, 224, 224], data: (0..<(3 * 224 * 224)).map { _ in Float(Int(rng.next() % 2001) - 1000) / 500 })
            let apart = try engine.run(x).data
            let inArena = try engine.run(x, arena: ArenaLayout(q)).data
            XCTAssertEqual(apart, inArena, name)
            XCTAssertGreaterThan(Set(apart).count, 10, "\(name): logits should not all saturate")
        }
    }

    // MARK: Command line

    func testCommandLinePrecision() throws {
        let url = Bundle.module.bundleURL.deletingLastPathComponent().appendingPathComponent("shufflenet-gen")
        guard FileManager.default.isExecutableFile(atPath: url.path) else { throw XCTSkip("shufflenet-gen not built") }
        let dir = NSTemporaryDirectory() + "int8-cli-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        let cat = try onnx("cat.npy")
        func cli(_ args: [String], _ status: Int32, _ fragment: String) throws {
            let r = try runProcess(url.path, args)
            XCTAssertEqual(r.status, status, args.joined(separator: " ") + "\n" + r.stderr)
            XCTAssertTrue(fragment.isEmpty || (r.stdout + r.stderr).contains(fragment), "\(args.joined(separator: " ")): \(r.stderr) lacks \(fragment)")
        }
        let out = dir + "/y.npy"
        try cli(["run", "--spec", "v2-1.0x", "--weights", try onnx(Self.zoo), "--precision", "int8", "--input", cat, "--output", out], 0, "")
        XCTAssertEqual(try Npy.read(path: out).data, try Npy.read(path: try onnx("cat.ort-logits.npy")).data)
        let bad = try patchedZoo("340_scale") { bytes, t in try setScalarFloat(&bytes, t, 0) }
        let out2 = dir + "/z.npy"
        try cli(["run", "--spec", "v2-1.0x", "--weights", bad, "--precision", "int8", "--input", cat, "--output", out2], 1, "340_scale")
        XCTAssertFalse(FileManager.default.fileExists(atPath: out2))
        try cli(["run", "--spec", "v2-0.5x", "--precision", "int8", "--input", cat, "--output", out2], 2, "calibration")
        try cli(["run", "--spec", "v2-1.0x", "--precision", "int4", "--input", cat, "--output", out2], 2, "'fp32' or 'int8'")
        try cli(["--spec", "v2-1.0x", "--weights", try onnx(Self.zoo), "--precision", "int8", "--backend", "swift", "--out", dir], 2, "Swift backend is fp32 only")
        try cli(["plan", "--spec", "v2-1.0x", "--weights", try onnx(Self.zoo), "--precision", "int8"], 0, "precision int8: weights 2,298,236 B")
        try cli(["info", "--spec", "v2-1.0x", "--weights", try onnx(Self.zoo), "--precision", "int8"], 0, "int8: weights 2,298,236 bytes, arena 348,096 bytes")
        try cli(["classify", "--spec", "v2-1.0x", "--weights", try onnx(Self.zoo), "--precision", "int8", "--input", cat], 0, "281")
    }

    /// `classify --engine c --precision int8` (the CLI builds the emitted int8 C with cc -O3
    /// -march=native and runs it) on the chelsea photo: the top 5 classes and their logits
    /// are ONNX Runtime's (the committed fixture), top-1 285 (Egyptian cat).
    func testClassifyWithTheEmittedInt8C() throws {
        let url = Bundle.module.bundleURL.deletingLastPathComponent().appendingPathComponent("shufflenet-gen")
        guard FileManager.default.isExecutableFile(atPath: url.path) else { throw XCTSkip("shufflenet-gen not built") }
        let r = try runProcess(url.path, ["classify", "--spec", "v2-1.0x", "--weights", try onnx(Self.zoo), "--precision", "int8",
                                          "--input", try onnx("chelsea.npy"), "--engine", "c", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let report = try JSONDecoder().decode(ClassificationReport.self, from: Data(r.stdout.utf8))
        let ort = try Npy.read(path: try onnx("chelsea.ort-logits.npy")).data
        let expected = top(5, ort)
        XCTAssertEqual(expected.first, 285)
        XCTAssertEqual(report.top.map(\.index), expected)
        XCTAssertEqual(report.top.map(\.logit), expected.map { ort[$0] })
    }
}
