/// Moves every ReLU into the epilogue of the conv that produces its input, and turns v1's
/// `relu(x + main)` into the main branch's last conv accumulating into the shortcut's
/// buffer in place (`residual`), so neither the add nor the ReLU is a pass over memory.
public func fuseActivations(_ graph: Graph) -> Graph {
    var g = graph
    var removed: Set<Int> = []
    var replacing: [Int: Int] = [:]
    for (i, node) in graph.nodes.enumerated() where node.op == .relu {
        let source = node.inputs[0]
        guard graph.soleReader(of: source) == i else { continue }
        if case .conv(var conv) = g.nodes[source].op, !conv.relu, g.nodes[source].placement == nil {
            conv.relu = true
            g.nodes[source].op = .conv(conv)
            removed.insert(i)
            replacing[i] = source
        } else if graph.nodes[source].op == .add, !removed.contains(source),
                  let fused = fuseResidual(add: source, relu: i, in: &g) {
            removed.formUnion([source, i])
            replacing[source] = fused
            replacing[i] = fused
        }
    }
    return g.compacted(removing: removed, replacing: replacing)
}

/// `relu(shortcut + conv(...))`: the conv reads the shortcut as a second input, adds it in
/// its epilogue and writes the sum over the shortcut's own planes. Legal only when nothing
/// after the conv still needs the shortcut as it was. Returns the node that now holds the
/// result (the shortcut's buffer owner).
private func fuseResidual(add: Int, relu: Int, in g: inout Graph) -> Int? {
    let inputs = g.nodes[add].inputs
    for (convSide, shortcut) in [(inputs[1], inputs[0]), (inputs[0], inputs[1])] {
        guard case .conv(var conv) = g.nodes[convSide].op, !conv.relu, !conv.residual,
              g.soleReader(of: convSide) == add, g.nodes[convSide].placement == nil,
              g.nodes[shortcut].placement == nil, g.nodes[shortcut].op != .input,
              g.readers(of: shortcut).allSatisfy({ $0 <= convSide || $0 == add })
        else { continue }
        conv.relu = true
        conv.residual = true
        g.nodes[convSide].op = .conv(conv)
        g.nodes[convSide].inputs.append(shortcut)
        g.nodes[convSide].inputChannels.append(nil)
        g.nodes[convSide].placement = Placement(buffer: shortcut, channels: Array(0..<g.nodes[convSide].shape.c))
        return shortcut
    }
    return nil
}
