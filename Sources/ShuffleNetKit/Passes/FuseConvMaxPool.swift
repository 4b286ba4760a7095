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

extension Graph {
    /// Working memory a node needs besides its inputs and output, in bytes, for a conv
    /// streamed into a max pool: enough for both ways the kernels stream it. The plain
    /// kernels (int8, Swift, C without vectors) keep a ring of `pool.kernel` conv rows and
    /// one strip of input columns per tap (in int8, stored integers: the strips the image
    /// quantized); the C vector kernel keeps the weights as [taps][O'], the bias, one conv
    /// row [w][O'] and a ring of rows pooled across [pool.kernel][pooled w][O'], O' being O
    /// rounded up to 16 channels, the widest vector.
    public func scratchBytes(_ i: Int) -> Int {
        guard case .conv(let c) = nodes[i].op, let pool = c.maxPool, let s = c.convShape else { return 0 }
        let taps = c.inChannels * c.kernel * c.kernel
        let strips = (pool.kernel * s.c + taps) * s.w
        if isQuantized { return strips }
        let padded = (s.c + 15) / 16 * 16
        let channelVectors = padded * (taps + 1 + s.w + pool.kernel * nodes[i].shape.w)
        return max(strips, channelVectors) * MemoryLayout<Float>.size
    }
}
