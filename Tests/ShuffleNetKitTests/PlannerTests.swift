import ShuffleNetKit
import XCTest

final class PlannerTests: XCTestCase {
    func testEveryBuiltinPlanIsSafeAndMeetsTheLowerBound() throws {
        for spec in BuiltinSpecs.all {
            let graph = try optimize(try seededGraph(spec.name))
            let layout = ArenaLayout(graph)
            try validate(layout.plan)
            XCTAssertEqual(layout.plan.arenaBytes, layout.lowerBound, spec.name)
            let greedy = planArena(layout.plan.lifetimes, strategy: .greedyBySize)
            let naive = planArena(layout.plan.lifetimes, strategy: .naive)
            try validate(greedy)
            try validate(naive)
            XCTAssertLessThanOrEqual(layout.plan.arenaBytes, greedy.arenaBytes)
            XCTAssertLessThan(greedy.arenaBytes, naive.arenaBytes)
        }
    }

    /// The engine runs inside the planned arena, with every dead byte poisoned after each
    /// op, and gives the same logits as with a buffer per tensor.
    func testArenaExecutionWithPoisonMatchesUnplannedRun() throws {
        for spec in BuiltinSpecs.all {
            let graph = try optimize(try seededGraph(spec.name))
            let engine = try Interpreter(graph: graph)
            let input = SeededWeights.input(for: spec)
            let free = try engine.run(input).data
            let planned = try engine.run(input, arena: ArenaLayout(graph), poisonDeadBytes: true).data
            XCTAssertEqual(planned, free, spec.name)
        }
    }

    /// A plan that overlaps two live buffers must be caught twice: by the validator and
    /// by the poisoned run, which then computes garbage.
    func testBrokenPlanIsCaught() throws {
        let graph = try optimize(try seededGraph("v2-0.5x"))
        var layout = ArenaLayout(graph)
        // Put the first branch's pointwise output where the stage's concat buffer already
        // holds branch1's half, which is read units later.
        let stage = try XCTUnwrap(layout.plan.lifetimes.firstIndex { $0.name == "stage2.0.branch1.pw" })
        let pw1 = try XCTUnwrap(layout.plan.lifetimes.firstIndex { $0.name == "stage2.0.branch2.pw1" })
        layout.plan.offsets[pw1] = layout.plan.offsets[stage]
        XCTAssertThrowsError(try validate(layout.plan)) {
            XCTAssertTrue((($0 as? ShuffleNetError)?.message ?? "").contains("overlap while both are live"))
        }
        let engine = try Interpreter(graph: graph)
        let input = SeededWeights.input(for: graph.spec)
        let broken = try engine.run(input, arena: layout, poisonDeadBytes: true).data
        XCTAssertNotEqual(broken, try engine.run(input).data)
    }

    /// Property test: random lifetimes and sizes, every strategy gives a safe plan, the best
    /// never loses to greedy-by-size, and nothing goes below the bound.
    func testRandomLifetimes() throws {
        var rng = SplitMix(seed: 42)
        for trial in 0..<300 {
            let ops = Int(rng.next() % 30) + 1
            let count = Int(rng.next() % 25) + 1
            let lifetimes = (0..<count).map { k -> Lifetime in
                let first = Int(rng.next() % UInt64(ops))
                let last = first + Int(rng.next() % UInt64(ops - first))
                let size = (Int(rng.next() % 5000) + 1 + 63) / 64 * 64
                return Lifetime(name: "t\(k)", size: size, first: first, last: last)
            }
            let bound = lowerBound(lifetimes)
            var sizes: [PlanStrategy: Int] = [:]
            for strategy in PlanStrategy.allCases {
                let plan = planArena(lifetimes, strategy: strategy)
                try validate(plan)
                XCTAssertGreaterThanOrEqual(plan.arenaBytes, bound, "trial \(trial) \(strategy)")
                sizes[strategy] = plan.arenaBytes
            }
            XCTAssertLessThanOrEqual(sizes[.best]!, sizes[.greedyBySize]!, "trial \(trial)")
            XCTAssertEqual(sizes[.naive]!, lifetimes.reduce(0) { $0 + $1.size })
        }
    }
}
