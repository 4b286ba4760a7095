/// Which passes run; the ablation switches `--no-fold-bn` and `--no-fuse-shuffle` turn
/// single passes off so tests and benchmarks can show what each is worth.
public struct OptimizerOptions: Equatable, Sendable {
    public var foldBatchNorm = true
    public var fuseActivations = true
    public var eliminateDataMovement = true
    public var streamConvPool = true

    public init(foldBatchNorm: Bool = true, fuseActivations: Bool = true, eliminateDataMovement: Bool = true,
                streamConvPool: Bool = true) {
        self.foldBatchNorm = foldBatchNorm
        self.fuseActivations = fuseActivations
        self.eliminateDataMovement = eliminateDataMovement
        self.streamConvPool = streamConvPool
    }
}

/// The optimizer pipeline: each pass is a pure `Graph -> Graph` function.
public func optimize(_ graph: Graph, _ options: OptimizerOptions = OptimizerOptions()) throws -> Graph {
    var g = graph
    if options.foldBatchNorm { g = try foldBatchNorm(g) }
    if options.fuseActivations { g = fuseActivations(g) }
    if options.streamConvPool { g = fuseConvMaxPool(g) }
    if options.eliminateDataMovement { g = bakeChannelMaps(eliminateDataMovement(g)) }
    return g
}

extension Graph {
    /// Bytes written by ops whose only effect is moving data (split, concat, shuffle): the
    /// traffic the optimizer exists to remove.
    public var dataMovementBytes: Int {
        nodes.filter(\.op.isDataMovement).reduce(0) { $0 + $1.shape.count * MemoryLayout<Float>.size }
    }

    /// Node reads whose planes are not one ascending run: static gathers left in the graph.
    public var scatteredReads: Int {
        var n = 0
        for i in nodes.indices {
            for k in nodes[i].inputs.indices {
                let p = inputPlanes(i, k)
                if p != Array((p.first ?? 0)..<((p.first ?? 0) + p.count)) { n += 1 }
            }
        }
        return n
    }
}
