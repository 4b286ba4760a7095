/// Streams the first conv into its max pool: `conv -> (bias, ReLU) -> maxpool` becomes one
/// node that produces conv rows into a small ring and pools them at once, so the largest
/// activation of both networks (24x112x112 at 1.0x) never exists whole. The ring holds
/// `pool.kernel` conv rows (`Graph.scratchBytes`).
public func fuseConvMaxPool(_ graph: Graph) -> Graph {
    var g = graph
    var removed: Set<Int> = []
    var replacing: [Int: Int] = [:]
    for (i, node) in graph.nodes.enumerated() {
        guard case .maxPool(let pool) = node.op, let source = node.inputs.first,
              case .conv(var conv) = graph.nodes[source].op, conv.maxPool == nil, !conv.residual,
              graph.soleReader(of: source) == i, graph.nodes[source].placement == nil,
              graph.nodes[source].bufferChannels == nil, node.inputChannels[0] == nil,
              pool.kernel >= pool.stride
        else { continue }
        conv.maxPool = pool
        conv.convShape = graph.nodes[source].shape
        g.nodes[source].op = .conv(conv)
        g.nodes[source].shape = node.shape
        g.nodes[source].name += "+" + node.name
        removed.insert(i)
        replacing[i] = source
    }
    return g.compacted(removing: removed, replacing: replacing)
}
