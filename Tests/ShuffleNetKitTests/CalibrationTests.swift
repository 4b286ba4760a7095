import Foundation
import ShuffleNetKit
import XCTest

/// Post-training calibration: activation ranges read off the interpreter, the scale and
/// zero point chosen from a range, and the quantization file the generator takes back.
/// Expected values are worked out by hand or computed here directly from the tensors,
/// never by the calibrator.
final class CalibrationTests: XCTestCase {
    func tinyNetwork() throws -> Graph {
        try loadNetwork(try loadSpec(try Fixtures.path("corpus/spec/tiny-v2.json")), weights: nil)
    }

    func tinyGraph() throws -> Graph { try calibrationGraph(try tinyNetwork()) }

    func image(_ graph: Graph, seed: UInt64, scale: Float = 2) -> Tensor {
        var rng = SplitMix(seed: seed)
        let s = graph.nodes[0].shape
        return Tensor(shape: [1, s.c, s.h, s.w], data: (0..<s.count).map { _ in Float.random(in: -scale...scale, using: &rng) })
    }

    func testMinMaxIsTheExtentOfEveryImageAndOfTheLogits() throws {
        let graph = try tinyGraph()
        let images = [image(graph, seed: 1), image(graph, seed: 2, scale: 3)]
        let ranges = try recordActivationRanges(graph, images: images, method: .minMax)
        XCTAssertEqual(ranges.count, graph.nodes.count)
        let pixels = images.flatMap(\.data)
        XCTAssertEqual(ranges[0], ActivationRange(min: pixels.min()!, max: pixels.max()!))
        let engine = try Interpreter(graph: graph)
        let logits = try images.flatMap { try engine.run($0).data }
        XCTAssertEqual(ranges[graph.output], ActivationRange(min: logits.min()!, max: logits.max()!))
        // Every ReLU-fused conv's output starts at 0 (at least one value is clamped).
        for (node, range) in zip(graph.nodes, ranges) {
            if case .conv(let c) = node.op, c.relu { XCTAssertEqual(range.min, 0, node.name) }
        }
    }

    func testEveryStoredValueHasARangeConcatsIncluded() throws {
        let graph = try tinyGraph()
        let ranges = try recordActivationRanges(graph, images: [image(graph, seed: 6)], method: .minMax)
        let concats = graph.nodes.indices.filter { graph.nodes[$0].op == .concat }
        XCTAssertFalse(concats.isEmpty)
        for i in concats {
            // A concat holds its inputs' values and nothing else: its extent is their union.
            let inputs = graph.nodes[i].inputs.map { ranges[$0] }
            XCTAssertEqual(ranges[i], ActivationRange(min: inputs.map(\.min).min()!, max: inputs.map(\.max).max()!), graph.nodes[i].name)
        }
        XCTAssertTrue(graph.nodes.contains { $0.name == "stage2.0.concat" })
    }

    func testPercentileClipsOutliersButKeepsTheBulk() throws {
        let graph = try tinyGraph()
        // 768 values in [-1, 1] with one value at 1000 and one at -500.
        var x = image(graph, seed: 3, scale: 1)
        x.data[17] = 1000
        x.data[300] = -500
        let minMax = try recordActivationRanges(graph, images: [x], method: .minMax)[0]
        XCTAssertEqual(minMax, ActivationRange(min: -500, max: 1000))
        // 99.9% of 768 values: 0.768 may be clipped per side, i.e. none; 99.8%: one per side.
        let keep = try recordActivationRanges(graph, images: [x], method: .percentile(99.9))[0]
        XCTAssertEqual(keep, minMax)
        let clipped = try recordActivationRanges(graph, images: [x], method: .percentile(99.8))[0]
        // The histogram's bins are 1500/16384 = 0.092 wide: the clipped range ends within
        // one bin of the largest and smallest values that are not outliers.
        let inliers = x.data.filter { abs($0) <= 1 }
        XCTAssertEqual(clipped.max, inliers.max()!, accuracy: 0.1)
        XCTAssertEqual(clipped.min, inliers.min()!, accuracy: 0.1)
        XCTAssertGreaterThanOrEqual(clipped.max, inliers.max()!)
        XCTAssertLessThanOrEqual(clipped.min, inliers.min()!)
    }

    func testScaleAndZeroPointFromARange() {
        // [-1, 3]: 4 / 255 per step; 0 sits 1 / (4/255) = 63.75 steps above -1 -> 64.
        let a = ActivationQuantization(range: ActivationRange(min: -1, max: 3))
        XCTAssertEqual(a, ActivationQuantization(scale: Float(4) / 255, zeroPoint: 64, type: .uint8))
        // A ReLU output [0, 6]: zero point 0.
        XCTAssertEqual(ActivationQuantization(range: ActivationRange(min: 0, max: 6)), ActivationQuantization(scale: Float(6) / 255, zeroPoint: 0, type: .uint8))
        // A range that excludes 0 is widened to hold it: [2, 5] -> [0, 5].
        XCTAssertEqual(ActivationQuantization(range: ActivationRange(min: 2, max: 5)), ActivationQuantization(scale: Float(5) / 255, zeroPoint: 0, type: .uint8))
        // int8: [-1, 3] -> zero point -128 + 63.75 = -64.25 -> -64.
        XCTAssertEqual(ActivationQuantization(range: ActivationRange(min: -1, max: 3), type: .int8), ActivationQuantization(scale: Float(4) / 255, zeroPoint: -64, type: .int8))
        // All zeros (a dead tensor): scale 1, never 0.
        XCTAssertEqual(ActivationQuantization(range: ActivationRange(min: 0, max: 0)), ActivationQuantization(scale: 1, zeroPoint: 0, type: .uint8))
        // Half to even: [-127.5, 127.5] has steps of exactly 1 and puts 0 at 127.5 -> 128;
        // [-126.5, 128.5] puts it at 126.5 -> 126.
        XCTAssertEqual(ActivationQuantization(range: ActivationRange(min: -127.5, max: 127.5)), ActivationQuantization(scale: 1, zeroPoint: 128, type: .uint8))
        XCTAssertEqual(ActivationQuantization(range: ActivationRange(min: -126.5, max: 128.5)), ActivationQuantization(scale: 1, zeroPoint: 126, type: .uint8))
    }

    func testFileRoundTripsEveryBitAndChecksTheGraph() throws {
        let graph = try tinyGraph()
        let file = try calibrate(try tinyNetwork(), images: [(name: "a.npy", tensor: image(graph, seed: 4))], method: .percentile(99.99), weights: "seeded")
        XCTAssertEqual(file.activations.map(\.name), graph.nodes.map { storedValueName($0.name) })
        let path = NSTemporaryDirectory() + "/calibration-\(getpid()).json"
        defer { try? FileManager.default.removeItem(atPath: path) }
        // Values whose shortest decimal forms are long: they must come back bit for bit.
        var tricky = file
        tricky.activations[0].scale = Float(bitPattern: 0x3C00_0001)
        tricky.activations[1].min = -Float.leastNonzeroMagnitude
        try tricky.write(to: path)
        let back = try QuantizationFile.read(path: path)
        XCTAssertEqual(back, tricky)
        XCTAssertEqual(back.activations[0].scale.bitPattern, 0x3C00_0001)
        let byName = try back.quantization(for: graph, source: path)
        XCTAssertEqual(byName.count, graph.nodes.count)
        XCTAssertEqual(byName["input"], tricky.activations[0].quantization)
    }

    func testBadFilesAreRefusedWithTheirProblemNamed() throws {
        let graph = try tinyGraph()
        let good = try calibrate(try tinyNetwork(), images: [(name: "a.npy", tensor: image(graph, seed: 5))], method: .minMax, weights: "seeded")
        func refused(_ edit: (inout QuantizationFile) -> Void, _ fragment: String, line: UInt = #line) {
            var f = good
            edit(&f)
            XCTAssertThrowsError(try f.quantization(for: graph, source: "q.json"), line: line) { error in
                let message = (error as? ShuffleNetError)?.message ?? "\(error)"
                XCTAssertTrue(message.hasPrefix("q.json: ") && message.contains(fragment), message, line: line)
            }
        }
        refused({ $0.activations[2].scale = 0 }, "scale 0.0 (must be finite and > 0)")
        refused({ $0.activations[2].scale = -0.5 }, "scale -0.5 (must be")
        refused({ $0.activations[2].scale = .nan }, "scale nan (must be")
        refused({ $0.activations[3].zeroPoint = 256 }, "zero point 256 outside uint8 [0, 255]")
        refused({ $0.activations[3].type = .int8; $0.activations[3].zeroPoint = 128 }, "zero point 128 outside int8 [-128, 127]")
        refused({ $0.activations[4].name = "stage9.pw" }, "activations[4] names 'stage9.pw'")
        refused({ $0.activations.removeLast() }, "no entry for activation '\(graph.nodes.last!.name)'")
        refused({ $0.activations[5] = $0.activations[6] }, "appears twice")
        refused({ $0.spec = "v2-1.0x" }, "calibrated for spec v2-1.0x, but the network is tiny-v2")

        let path = NSTemporaryDirectory() + "/calibration-bad-\(getpid()).json"
        defer { try? FileManager.default.removeItem(atPath: path) }
        func unreadable(_ text: String, _ fragment: String, line: UInt = #line) throws {
            try writeFileAtomically(Array(text.utf8), to: path)
            XCTAssertThrowsError(try QuantizationFile.read(path: path), line: line) { error in
                let message = (error as? ShuffleNetError)?.message ?? "\(error)"
                XCTAssertTrue(message.hasPrefix(path) && message.contains(fragment), message, line: line)
            }
        }
        try unreadable("{", "not a quantization file")
        try unreadable(#"{"format": "something else", "spec": "x", "weights": "", "method": "", "images": [], "activations": []}"#, "format is 'something else'")
        try unreadable(#"{"format": "shufflenet-gen activation quantization 1", "spec": "x", "weights": "", "method": "", "images": []}"#, "missing field 'activations'")
        try unreadable(#"{"format": "shufflenet-gen activation quantization 1", "spec": "x", "weights": "", "method": "", "images": [], "activations": [{"name": "input", "type": "uint4", "scale": 1, "zeroPoint": 0, "min": 0, "max": 1}]}"#, ".activations[0].type")
        XCTAssertThrowsError(try QuantizationFile.read(path: path + ".missing"))
    }

    /// Post-training quantization against the fp32 network it came from, on photos it was
    /// not calibrated on: each of the three photos held out in turn, calibrated on the other
    /// two. The real model (dequantized to fp32, then re-quantized per channel here) and a
    /// seeded v1 (whose shortcut pool and residual adds v2 lacks).
    func testCalibratedInt8AgreesWithFp32OnHeldOutPhotos() throws {
        let photos = try ["cat", "chelsea", "coffee"].map { (name: $0, tensor: try Npy.read(path: try Fixtures.path("onnx/\($0).npy"))) }
        // The bound: about twice what the Zoo's own int8 model differs from its fp32
        // original on these photos (0.066-0.069 x max|logit|, ONNX Runtime vs PyTorch).
        let bound: Float = 0.15
        let networks = [
            try loadNetwork(try XCTUnwrap(BuiltinSpecs.named("v2-1.0x")), weights: try Fixtures.path("onnx/shufflenet-v2-12-qdq.onnx")),
            try loadNetwork(try XCTUnwrap(BuiltinSpecs.named("v1-g3-0.5x")), weights: nil),
        ]
        for network in networks {
            let fp32 = try Interpreter(graph: try optimize(network))
            for held in photos.indices {
                let file = try calibrate(network, images: photos.indices.filter { $0 != held }.map { photos[$0] }, method: .percentile(99.99), weights: "test")
                let int8 = try Interpreter(graph: try quantizeCalibrated(network, file, source: "test"))
                let expected = try fp32.run(photos[held].tensor).data
                let got = try int8.run(photos[held].tensor).data
                let error = relativeError(got, expected)
                print("ptq \(network.spec.name) held out \(photos[held].name): top-1 \(top(1, got)) vs fp32 \(top(1, expected)), top-5 overlap \(Set(top(5, got)).intersection(top(5, expected)).count), max |diff| \(error) x max|logit|")
                XCTAssertEqual(top(1, got), top(1, expected), "\(network.spec.name) \(photos[held].name)")
                XCTAssertLessThanOrEqual(error, bound, "\(network.spec.name) \(photos[held].name)")
            }
        }
    }

    func testMethodNames() throws {
        XCTAssertEqual(try RangeMethod(parsing: "minmax"), .minMax)
        XCTAssertEqual(try RangeMethod(parsing: "percentile:99.99"), .percentile(99.99))
        for bad in ["", "max", "percentile:", "percentile:40", "percentile:101", "percentile:abc"] {
            XCTAssertThrowsError(try RangeMethod(parsing: bad), bad)
        }
    }
}
