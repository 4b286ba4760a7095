/// A graph's buffers placed in one arena: the plan and, for each of its lifetimes, what
/// the block holds.
public struct ArenaLayout: Equatable, Sendable {
    public var plan: ArenaPlan
    public var blocks: [ArenaBlock]

    public init(_ graph: Graph, strategy: PlanStrategy = .best, includeIO: Bool = false) {
        let blocks = graph.bufferLifetimes(includeIO: includeIO)
        plan = planArena(blocks.map(\.lifetime), strategy: strategy)
        self.blocks = blocks.map(\.block)
    }

    public var lowerBound: Int { ShuffleNetKit.lowerBound(plan.lifetimes) }

    /// Byte offset of a block in the arena, if the arena holds it.
    public func offset(of block: ArenaBlock) -> Int? {
        blocks.firstIndex(of: block).map { plan.offsets[$0] }
    }
}
