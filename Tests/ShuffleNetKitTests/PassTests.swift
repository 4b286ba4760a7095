import ShuffleNetKit
import XCTest

/// Each pass runs the interpreter before and after it and compares (1e-5 x max|logit|).
final class PassTests: XCTestCase {
    static let sample = ["v2-0.5x", "v1-g3-0.5x", "v1-g8-0.5x", "v1-g1-1.0x"]

    func assertPreserves(_ name: String, _ pass: (Graph) throws -> Graph, on specs: [String] = sample,
                         file: StaticString = #filePath, line: UInt = #line) throws -> [Graph] {
        var outputs: [Graph] = []
        for spec in specs {
            let before = try seededGraph(spec)
            let after = try pass(before)
            let input = SeededWeights.input(for: before.spec)
            let expected = try Interpreter(graph: before).run(input).data
            let got = try Interpreter(graph: after).run(input).data
            let err = relativeError(got, expected)
            XCTAssertLessThanOrEqual(err, 1e-5, "\(name) on \(spec): \(err)", file: file, line: line)
            XCTAssertEqual(top(5, got), top(5, expected), "\(name) on \(spec)", file: file, line: line)
            outputs.append(after)
        }
        return outputs
    }

    func testFoldBatchNorm() throws {
        for g in try assertPreserves("foldBatchNorm", foldBatchNorm) {
            XCTAssertFalse(g.nodes.contains { $0.op.kind == "batchnorm" }, g.spec.name)
            XCTAssertFalse(g.parameters.keys.contains { $0.hasSuffix("running_var") }, g.spec.name)
        }
    }

    func testFoldBatchNormRefusesImpossibleVariance() throws {
        var g = try seededGraph("v2-0.5x")
        g.parameters["conv1.1.running_var"]!.data[3] = -1
        XCTAssertThrowsError(try foldBatchNorm(g)) {
            XCTAssertTrue((($0 as? ShuffleNetError)?.message ?? "").contains("conv1.1.running_var[3]"))
        }
    }

    func testFuseActivations() throws {
        let graphs = try assertPreserves("fuseActivations", { fuseActivations(try foldBatchNorm($0)) })
        for g in graphs {
            XCTAssertFalse(g.nodes.contains { $0.op == .relu || $0.op == .add }, g.spec.name)
        }
        // v1 stride-1 units accumulate into the shortcut in place: 3 + 7 + 3 of the 16 units.
        let v1 = graphs[1]
        let residual = v1.nodes.filter { if case .conv(let c) = $0.op { c.residual } else { false } }
        XCTAssertEqual(residual.count, 13)
        XCTAssertTrue(residual.allSatisfy { $0.placement?.buffer == $0.inputs[1] })
    }

    func testEliminateDataMovementWithoutOtherPasses() throws {
        let graphs = try assertPreserves("eliminateDataMovement", eliminateDataMovement)
        for g in graphs { XCTAssertEqual(g.dataMovementBytes, 0, g.spec.name) }
    }

    func testFuseConvMaxPool() throws {
        for g in try assertPreserves("fuseConvMaxPool", { fuseConvMaxPool(fuseActivations(try foldBatchNorm($0))) }) {
            XCTAssertFalse(g.nodes.contains { $0.op.kind == "maxpool" }, g.spec.name)
            // The ring holds 3 rows of the first conv's output (and a strip per tap), not the whole map.
            XCTAssertEqual(g.scratchBytes(1), (3 * g.nodes[1].shape.c + 3 * 3 * 3) * 112 * 4, g.spec.name)
        }
    }

    func testBakeChannelMapsAfterElimination() throws {
        _ = try assertPreserves("bakeChannelMaps", { bakeChannelMaps(eliminateDataMovement(try foldBatchNorm($0))) })
    }

    /// Both shuffle orders on both families, and a v1 without shuffles (g=1).
    func testShuffleOrdersAndGroupsOnCustomSpecs() throws {
        let specs = [
            #"{"name": "v2-megvii", "family": "v2", "inputSize": 64, "stageRepeats": [2, 3], "channels": [8, 16, 32, 64], "shuffleOrder": "megvii"}"#,
            #"{"name": "v1-torchvision", "family": "v1", "inputSize": 64, "stageRepeats": [2, 3], "channels": [12, 48, 96], "groups": 4, "shuffleOrder": "torchvision"}"#,
            #"{"name": "v1-g1", "family": "v1", "inputSize": 64, "stageRepeats": [2, 2], "channels": [8, 32, 64], "groups": 1}"#,
        ]
        for json in specs {
            let spec = try loadSpec(try writeTemp("s.json", json))
            let before = try bindWeights(try buildGraph(spec), path: nil)
            let after = try optimize(before)
            let input = SeededWeights.input(for: spec)
            let err = relativeError(try Interpreter(graph: after).run(input).data, try Interpreter(graph: before).run(input).data)
            XCTAssertLessThanOrEqual(err, 1e-5, spec.name)
            XCTAssertFalse(after.nodes.contains { $0.op.isDataMovement }, spec.name)
        }
    }
}

/// The whole optimizer on every built-in spec.
final class OptimizerTests: XCTestCase {
    func testOptimizedGraphsMatchAndMoveNoData() throws {
        for spec in BuiltinSpecs.all {
            let before = try seededGraph(spec.name)
            let after = try optimize(before)
            let input = SeededWeights.input(for: spec)
            let err = relativeError(try Interpreter(graph: after).run(input).data, try Interpreter(graph: before).run(input).data)
            XCTAssertLessThanOrEqual(err, 1e-5, spec.name)
            let movers = after.nodes.filter { $0.op.isDataMovement || $0.op == .relu || $0.op == .add || $0.op.kind == "batchnorm" }
            XCTAssertEqual(movers.map(\.name), [], spec.name)
            XCTAssertEqual(after.dataMovementBytes, 0)
            print("optimize \(spec.name): \(before.nodes.count - 1) -> \(after.nodes.count - 1) ops, moved \(before.dataMovementBytes) -> \(after.dataMovementBytes) bytes, error \(err), scattered reads \(after.scatteredReads)")
        }
    }

    func testAblationSwitchesAreExact() throws {
        let before = try seededGraph("v2-0.5x")
        let input = SeededWeights.input(for: before.spec)
        let expected = try Interpreter(graph: before).run(input).data
        for options in [OptimizerOptions(foldBatchNorm: false), OptimizerOptions(eliminateDataMovement: false)] {
            let g = try optimize(before, options)
            XCTAssertLessThanOrEqual(relativeError(try Interpreter(graph: g).run(input).data, expected), 1e-5)
            XCTAssertEqual(g.nodes.contains { $0.op.kind == "batchnorm" }, !options.foldBatchNorm)
            XCTAssertEqual(g.dataMovementBytes == 0, options.eliminateDataMovement)
        }
    }
}
