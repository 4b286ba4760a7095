import Foundation
import ShuffleNetKit
import XCTest

final class SpecTests: XCTestCase {
    /// The exact totals of ../shared/reference/architectures.md, copied from that document.
    static let referenceTotals: [String: (params: Int, macs: Int)] = [
        "v2-0.5x": (1_366_792, 40_476_448),
        "v2-1.0x": (2_278_604, 144_907_992),
        "v2-1.5x": (3_503_624, 295_759_392),
        "v2-2.0x": (7_393_996, 583_253_464),
        "v1-g3-0.5x": (717_324, 37_589_856),
        "v1-g3-1.0x": (1_864_728, 137_460_672),
        "v1-g3-1.5x": (3_441_168, 292_443_552),
        "v1-g3-2.0x": (5_449_776, 524_045_184),
        "v1-g8-0.5x": (1_010_448, 40_469_760),
        "v1-g8-1.0x": (2_433_768, 138_365_952),
        "v1-g8-1.5x": (4_268_952, 290_188_800),
        "v1-g8-2.0x": (6_521_232, 521_942_016),
    ]

    func testTotalsMatchReference() throws {
        for (name, expected) in Self.referenceTotals {
            let graph = try buildGraph(try XCTUnwrap(BuiltinSpecs.named(name)))
            XCTAssertEqual(graph.totalParameters, expected.params, "params of \(name)")
            XCTAssertEqual(graph.totalMACs, expected.macs, "MACs of \(name)")
        }
    }

    func testEveryBuiltinSpecBuildsWithExpectedStructure() throws {
        XCTAssertEqual(BuiltinSpecs.all.count, 15)
        for spec in BuiltinSpecs.all {
            let graph = try buildGraph(spec)
            XCTAssertEqual(graph.nodes.last?.shape, Shape(c: 1000, h: 1, w: 1), spec.name)
            // 16 units: v2 shuffles after every unit, v1 (g > 1) inside every unit.
            let shuffles = graph.nodes.filter { $0.op.kind == "shuffle" }.count
            XCTAssertEqual(shuffles, spec.groups == 1 && spec.family == .v1 ? 0 : 16, spec.name)
            // The spatial pipeline of architectures.md: 224 -> 112 -> 56 -> 28 -> 14 -> 7.
            let sizes = Set(graph.nodes.map(\.shape.h))
            XCTAssertEqual(sizes, [224, 112, 56, 28, 14, 7, 1], spec.name)
        }
    }

    func testStateDictNamesFollowTheReferences() throws {
        let v2 = Set(try buildGraph(BuiltinSpecs.named("v2-1.0x")!).parameterSpecs.map(\.name))
        for name in ["conv1.0.weight", "conv1.1.running_var", "stage2.0.branch1.0.weight", "stage2.0.branch1.3.bias",
                     "stage2.0.branch2.5.weight", "stage3.7.branch2.6.running_mean", "conv5.0.weight", "fc.weight", "fc.bias"] {
            XCTAssertTrue(v2.contains(name), name)
        }
        XCTAssertFalse(v2.contains("stage2.1.branch1.0.weight"), "stride-1 units have no branch1")
        let v1 = try buildGraph(BuiltinSpecs.named("v1-g3-1.0x")!).parameterSpecs
        let byName = Dictionary(uniqueKeysWithValues: v1.map { ($0.name, $0.shape) })
        // The very first unit's first pointwise conv is ungrouped; every later one has g=3.
        XCTAssertEqual(byName["features.0.branch_main_1.0.weight"], [60, 24, 1, 1])
        XCTAssertEqual(byName["features.1.branch_main_1.0.weight"], [60, 80, 1, 1])
        XCTAssertEqual(byName["features.0.branch_main_2.0.weight"], [216, 20, 1, 1])
        XCTAssertEqual(byName["features.15.branch_main_2.1.running_var"], [960])
        XCTAssertEqual(byName["classifier.0.weight"], [1000, 960])
        XCTAssertNil(byName["classifier.0.bias"], "Megvii's classifier has no bias")
    }

    func testShuffleOrdersAreInverseAndMatchTheDefinitions() {
        // torchvision: out[c*g + i] = in[i*(C/g) + c]; Megvii: out[i*(C/g) + c] = in[c*g + i].
        let tv = ShuffleOrder.torchvision.sourceChannels(channels: 6, groups: 2)
        XCTAssertEqual(tv, [0, 3, 1, 4, 2, 5])
        let mg = ShuffleOrder.megvii.sourceChannels(channels: 6, groups: 2)
        XCTAssertEqual(mg, [0, 2, 4, 1, 3, 5])
        for k in 0..<6 { XCTAssertEqual(tv[mg[k]], k) }
    }

    func testUnknownSpecListsValidNames() {
        XCTAssertThrowsError(try loadSpec("v3-1.0x")) { error in
            let message = (error as? ShuffleNetError)?.message ?? ""
            XCTAssertTrue(message.contains("unknown spec 'v3-1.0x'"), message)
            XCTAssertTrue(message.contains("v2-0.5x") && message.contains("v1-g8-2.0x"), message)
        }
    }

    func testCustomJSONSpec() throws {
        let url = try writeTemp("custom.json", #"{"name": "tiny", "family": "v1", "inputSize": 96, "numClasses": 10, "stageRepeats": [2, 2], "channels": [12, 48, 96], "groups": 2}"#)
        let spec = try loadSpec(url)
        XCTAssertEqual(spec.shuffleOrder, .megvii)
        let graph = try buildGraph(spec)
        XCTAssertEqual(graph.nodes.last?.shape, Shape(c: 10, h: 1, w: 1))
        XCTAssertEqual(graph.nodes.first { $0.name == "globalpool" }.map { graph.nodes[$0.inputs[0]].shape }, Shape(c: 96, h: 6, w: 6))
    }

    func testBadSpecsAreClearErrors() throws {
        let cases: [(String, String)] = [
            (#"{"family": "v1", "channels": [24, 240, 480, 960], "groups": 7}"#, "does not divide by groups 7"),
            (#"{"family": "v2", "channels": [24, 117, 232, 464, 1024]}"#, "must be even"),
            (#"{"family": "v2", "channels": [24, 116]}"#, "needs 5 channel counts"),
            (#"{"family": "v3", "channels": [24]}"#, "family"),
            (#"{"family": "v2"}"#, "missing field 'channels'"),
            (#"{"family": "v2", "channels": "many"}"#, "channels"),
            (#"{"family": "v2", "inputSize": 0, "channels": [24, 116, 232, 464, 1024]}"#, "inputSize must be between 1 and 4096"),
            ("not json", "a spec is a JSON object"),
        ]
        for (json, expected) in cases {
            let path = try writeTemp("bad.json", json)
            XCTAssertThrowsError(try loadSpec(path), json) { error in
                let message = (error as? ShuffleNetError)?.message ?? "\(error)"
                XCTAssertTrue(message.contains(expected), "\(json): \(message)")
            }
        }
    }
}

func writeTemp(_ name: String, _ text: String) throws -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("shufflenet-tests-\(getpid())")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    let url = dir.appendingPathComponent(name)
    try text.write(to: url, atomically: true, encoding: .utf8)
    return url.path
}
