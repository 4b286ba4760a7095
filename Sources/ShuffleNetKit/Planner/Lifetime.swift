/// One block the planner places: `size` bytes needed from op `first` through op `last`
/// (inclusive; an op needs its inputs and its output at the same time).
public struct Lifetime: Equatable, Sendable {
    public var name: String
    public var size: Int
    public var first: Int
    public var last: Int

    public init(name: String, size: Int, first: Int, last: Int) {
        self.name = name
        self.size = size
        self.first = first
        self.last = last
    }

    func overlapsInTime(_ o: Lifetime) -> Bool { first <= o.last && o.first <= last }
}

public let arenaAlignment = 64

/// What a planned block holds: a node's output buffer, or a node's working memory.
public enum ArenaBlock: Equatable, Hashable, Sendable {
    case buffer(Int)
    case scratch(Int)
}

func aligned(_ n: Int) -> Int { (n + arenaAlignment - 1) / arenaAlignment * arenaAlignment }

extension Graph {
    /// Every buffer of the graph with its byte size (rounded up to the arena alignment) and
    /// the span of ops from its first write to its last read. With `includeIO` false the
    /// network input and the logits live in caller buffers and are left out.
    public func bufferLifetimes(includeIO: Bool = false) -> [(block: ArenaBlock, lifetime: Lifetime)] {
        var first = [Int](repeating: Int.max, count: nodes.count)
        var last = [Int](repeating: -1, count: nodes.count)
        for (i, n) in nodes.enumerated() {
            let out = n.outputBuffer(self: i)
            first[out] = min(first[out], i)
            last[out] = max(last[out], i)
            for b in n.inputs { last[b] = max(last[b], i) }
        }
        var blocks: [(block: ArenaBlock, lifetime: Lifetime)] = []
        for b in nodes.indices {
            let planes = bufferPlanes(b)
            if planes > 0 && (includeIO || (b != 0 && b != output)) {
                let s = nodes[b].shape
                blocks.append((.buffer(b), Lifetime(name: nodes[b].name, size: aligned(planes * s.h * s.w * elementBytes(b)),
                                                    first: first[b], last: last[b])))
            }
            let scratch = scratchBytes(b)
            if scratch > 0 {
                blocks.append((.scratch(b), Lifetime(name: nodes[b].name + ".scratch", size: aligned(scratch), first: b, last: b)))
            }
        }
        return blocks
    }
}

extension Graph {
    /// Bytes per element of the buffer owned by node `b`: 4 (float) in an fp32 graph and for
    /// the float image and logits; 1 for every stored int8/uint8 activation.
    public func elementBytes(_ b: Int) -> Int {
        isQuantized && b != 0 && b != output ? 1 : MemoryLayout<Float>.size
    }
}

/// The most bytes live at any one op: no plan of these lifetimes can use less.
public func lowerBound(_ lifetimes: [Lifetime]) -> Int {
    guard let end = lifetimes.map(\.last).max() else { return 0 }
    var best = 0
    for t in 0...end {
        best = max(best, lifetimes.reduce(0) { $1.first <= t && t <= $1.last ? $0 + $1.size : $0 })
    }
    return best
}
