import Foundation
import ShuffleNetKit
import XCTest

/// The interpreted engine against PyTorch's logits (tools/make_fixtures.py).
final class ParityTests: XCTestCase {
    func testEveryBuiltinSpecMatchesPyTorch() throws {
        for spec in BuiltinSpecs.all {
            let expected = try Npy.read(path: try Fixtures.path("parity/\(spec.name).logits.npy"))
            let graph = try seededGraph(spec.name)
            let logits = try Interpreter(graph: graph).run(SeededWeights.input(for: spec))
            XCTAssertEqual(logits.shape, [1, 1000])
            let err = relativeError(logits.data, expected.data)
            XCTAssertLessThanOrEqual(err, 1e-4, "\(spec.name): max abs diff / max|logit| = \(err)")
            XCTAssertEqual(top(5, logits.data), top(5, expected.data), spec.name)
            print("parity \(spec.name): max abs diff / max|logit| = \(err)")
        }
    }

    /// Checkpoints written by PyTorch (F32 and F16 with int64 num_batches_tracked) load by
    /// state_dict name into custom JSON specs and reproduce PyTorch's logits.
    func testPyTorchSafetensorsCheckpoints() throws {
        for name in ["tiny-v2", "tiny-v1"] {
            let spec = try loadSpec(try Fixtures.path("parity/\(name).json"))
            let graph = try bindWeights(try buildGraph(spec), path: try Fixtures.path("parity/\(name).safetensors"))
            let input = try Npy.read(path: try Fixtures.path("parity/\(name).input.npy"))
            XCTAssertEqual(input.data, SeededWeights.input(for: spec, seed: 7).data, "numpy and Swift draw the same input")
            let logits = try Interpreter(graph: graph).run(input)
            let expected = try Npy.read(path: try Fixtures.path("parity/\(name).logits.npy"))
            let err = relativeError(logits.data, expected.data)
            XCTAssertLessThanOrEqual(err, 1e-4, "\(name): \(err)")
            XCTAssertEqual(top(5, logits.data), top(5, expected.data), name)
        }
    }

    func testSeededWeightsAreDeterministicAndNonTrivial() throws {
        let graph = try buildGraph(BuiltinSpecs.named("v2-0.5x")!)
        let a = SeededWeights.parameters(for: graph)
        XCTAssertEqual(a, SeededWeights.parameters(for: graph))
        XCTAssertNotEqual(a, SeededWeights.parameters(for: graph, seed: 1))
        // BN statistics far from (0, 1) so folding them changes the weights.
        let variance = try XCTUnwrap(a["conv1.1.running_var"]).data
        let mean = try XCTUnwrap(a["conv1.1.running_mean"]).data
        XCTAssertTrue(variance.allSatisfy { $0 >= 0.5 && $0 < 1.5 } && Set(variance).count == variance.count)
        XCTAssertTrue(mean.contains { abs($0) > 0.1 })
    }
}

final class WeightsBindingTests: XCTestCase {
    func testSafetensorsRoundTripGivesSameLogits() throws {
        let spec = BuiltinSpecs.named("v1-g3-0.5x")!
        let seeded = try seededGraph(spec.name)
        let path = try writeTemp("w.safetensors", "")
        try Safetensors.write(seeded.parameters, to: path)
        let loaded = try bindWeights(try buildGraph(spec), path: path)
        XCTAssertEqual(loaded.parameters, seeded.parameters)
    }

    func testBindingErrorsNameTheTensorAndShapes() throws {
        let graph = try buildGraph(BuiltinSpecs.named("v2-0.5x")!)
        var tensors = SeededWeights.parameters(for: graph)
        tensors["stage3.0.branch2.0.weight"] = Tensor(zeros: [116, 58, 1, 1])
        XCTAssertThrowsError(try graph.binding(tensors, source: "w.safetensors")) {
            XCTAssertEqual(($0 as? ShuffleNetError)?.message,
                           "w.safetensors: tensor stage3.0.branch2.0.weight has shape [116,58,1,1], spec v2-0.5x expects [48,48,1,1]")
        }
        tensors = SeededWeights.parameters(for: graph)
        tensors["fc.bias"] = nil
        XCTAssertThrowsError(try graph.binding(tensors, source: "w.safetensors")) {
            XCTAssertTrue((($0 as? ShuffleNetError)?.message ?? "").contains("missing 1 tensor(s) that spec v2-0.5x needs: fc.bias"))
        }
        tensors = SeededWeights.parameters(for: graph)
        tensors["stage5.0.branch2.0.weight"] = Tensor(zeros: [1])
        XCTAssertThrowsError(try graph.binding(tensors, source: "w.safetensors")) {
            XCTAssertTrue((($0 as? ShuffleNetError)?.message ?? "").contains("does not have: stage5.0.branch2.0.weight"))
        }
    }

    func testInterpreterRejectsWrongInputShape() throws {
        let engine = try Interpreter(graph: try seededGraph("v2-0.5x"))
        XCTAssertThrowsError(try engine.run(Tensor(zeros: [1, 3, 200, 200]))) {
            XCTAssertTrue((($0 as? ShuffleNetError)?.message ?? "").contains("expected [1,3,224,224] or [3,224,224]"))
        }
    }
}
