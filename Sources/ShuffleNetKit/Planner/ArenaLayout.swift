/// A graph's buffers placed in one arena: the plan and, for each of its lifetimes, the
/// node that owns the buffer.
public struct ArenaLayout: Equatable, Sendable {
    public var plan: ArenaPlan
    public var buffers: [Int]

    public init(_ graph: Graph, strategy: PlanStrategy = .best, includeIO: Bool = false) {
        let blocks = graph.bufferLifetimes(includeIO: includeIO)
        plan = planArena(blocks.map(\.lifetime), strategy: strategy)
        buffers = blocks.map(\.buffer)
    }

    public var lowerBound: Int { ShuffleNetKit.lowerBound(plan.lifetimes) }

    /// Byte offset of node `b`'s buffer in the arena, if the arena holds it.
    public func offset(of b: Int) -> Int? {
        buffers.firstIndex(of: b).map { plan.offsets[$0] }
    }
}
