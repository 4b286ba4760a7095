/// Static offsets for every block in one arena.
public struct ArenaPlan: Equatable, Sendable {
    public var lifetimes: [Lifetime]
    public var offsets: [Int]
    public var strategy: String

    /// Bytes the arena needs: the end of the highest block.
    public var arenaBytes: Int {
        zip(lifetimes, offsets).map { $0.size + $1 }.max() ?? 0
    }
}

public enum PlanStrategy: String, CaseIterable, Sendable {
    /// Every block its own space: what an allocator without reuse would need.
    case naive
    /// TensorFlow Lite Micro's and TFLite's arena planner: largest block first, each at the
    /// lowest offset that does not clash with a block already placed and alive at the same time.
    case greedyBySize = "greedy-by-size"
    /// Ours: the same first-fit placement tried in several orders (by size, by start, by
    /// length of life, by size x life), keeping the smallest arena.
    case best
}

public func planArena(_ lifetimes: [Lifetime], strategy: PlanStrategy = .best) -> ArenaPlan {
    switch strategy {
    case .naive:
        var offsets: [Int] = []
        var end = 0
        for l in lifetimes { offsets.append(end); end += l.size }
        return ArenaPlan(lifetimes: lifetimes, offsets: offsets, strategy: strategy.rawValue)
    case .greedyBySize:
        let order = lifetimes.indices.sorted { (lifetimes[$0].size, -$0) > (lifetimes[$1].size, -$1) }
        return ArenaPlan(lifetimes: lifetimes, offsets: firstFit(lifetimes, order: order), strategy: strategy.rawValue)
    case .best:
        let keys: [(Lifetime) -> (Int, Int)] = [
            { ($0.size, 0) },
            { (-$0.first, $0.size) },
            { ($0.last - $0.first, $0.size) },
            { ($0.size * ($0.last - $0.first + 1), $0.size) },
            { (-$0.last, $0.size) },
        ]
        var best: ArenaPlan?
        for key in keys {
            let order = lifetimes.indices.sorted {
                let (a, b) = (key(lifetimes[$0]), key(lifetimes[$1]))
                return (a.0, a.1, -$0) > (b.0, b.1, -$1)
            }
            let plan = ArenaPlan(lifetimes: lifetimes, offsets: firstFit(lifetimes, order: order), strategy: strategy.rawValue)
            if best == nil || plan.arenaBytes < best!.arenaBytes { best = plan }
        }
        return best ?? ArenaPlan(lifetimes: [], offsets: [], strategy: strategy.rawValue)
    }
}

/// Places blocks in `order`, each at the lowest offset where it fits beside the blocks
/// already placed that are alive at the same time.
private func firstFit(_ lifetimes: [Lifetime], order: [Int]) -> [Int] {
    var offsets = [Int](repeating: -1, count: lifetimes.count)
    var placed: [Int] = []
    for i in order {
        let l = lifetimes[i]
        let clashes = placed.filter { lifetimes[$0].overlapsInTime(l) }
            .map { (offsets[$0], offsets[$0] + lifetimes[$0].size) }
            .sorted { $0.0 < $1.0 }
        var offset = 0
        for (start, end) in clashes {
            if offset + l.size <= start { break }
            offset = max(offset, end)
        }
        offsets[i] = offset
        placed.append(i)
    }
    return offsets
}

/// Proves a plan safe: every block aligned and inside the arena, and no two blocks that
/// are alive at the same op share a byte.
public func validate(_ plan: ArenaPlan, arenaBytes: Int? = nil) throws {
    let limit = arenaBytes ?? plan.arenaBytes
    for (l, o) in zip(plan.lifetimes, plan.offsets) {
        guard o >= 0, o % arenaAlignment == 0, o + l.size <= limit else {
            throw ShuffleNetError("plan: \(l.name) at offset \(o) size \(l.size) is outside the \(limit)-byte arena or not \(arenaAlignment)-byte aligned")
        }
    }
    let byStart = plan.lifetimes.indices.sorted { plan.offsets[$0] < plan.offsets[$1] }
    for (n, i) in byStart.enumerated() {
        let a = plan.lifetimes[i]
        for j in byStart[(n + 1)...] {
            if plan.offsets[j] >= plan.offsets[i] + a.size { break }
            let b = plan.lifetimes[j]
            if a.overlapsInTime(b) {
                throw ShuffleNetError("plan: \(a.name) [\(plan.offsets[i]), +\(a.size)) and \(b.name) [\(plan.offsets[j]), +\(b.size)) overlap while both are live (ops \(max(a.first, b.first))...\(min(a.last, b.last)))")
            }
        }
    }
}
