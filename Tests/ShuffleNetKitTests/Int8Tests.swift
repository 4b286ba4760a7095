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
}
