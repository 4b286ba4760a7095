/// Folds the static channel maps left by `eliminateDataMovement` into weight order, so a
/// kernel reads its input planes in ascending order:
///
/// - a 1x1 conv or the classifier permutes its weight columns;
/// - a grouped conv does the same within each group (its groups still read scattered
///   planes, through a sorted static index list);
/// - a depthwise conv or a pool that owns its output permutes its channels, and the
///   permutation moves on to the readers of its output, which absorb it in turn;
/// - a depthwise conv or pool whose only reader takes its output through a permutation
///   (v1: depthwise, shuffle, grouped conv) writes each channel straight to the plane the
///   reader wants, so the reader's groups read contiguous planes.
public func bakeChannelMaps(_ graph: Graph) -> Graph {
    var g = graph
    for r in g.nodes.indices {
        guard let planes = g.nodes[r].inputChannels.first ?? nil else { continue }
        let p = g.nodes[r].inputs[0]
        guard isChannelwise(g.nodes[p].op), g.nodes[p].placement == nil, g.nodes[p].bufferChannels == nil,
              g.readers(of: p) == [r], planes.sorted() == Array(0..<g.nodes[p].shape.c)
        else { continue }
        var inverse = planes
        for (j, plane) in planes.enumerated() { inverse[plane] = j }
        g.nodes[p].placement = Placement(buffer: p, channels: inverse)
        g.nodes[r].inputChannels[0] = nil
    }
    for i in g.nodes.indices {
        guard let planes = g.nodes[i].inputChannels.first ?? nil else { continue }
        switch g.nodes[i].op {
        case .conv(let c) where c.kernel == 1 && !c.isDepthwise:
            let perGroup = c.inChannels / c.groups
            var sorted = planes
            var columnOrder: [Int] = []
            for group in 0..<c.groups {
                let range = (group * perGroup)..<((group + 1) * perGroup)
                let order = range.sorted { planes[$0] < planes[$1] }
                for (t, j) in order.enumerated() { sorted[range.lowerBound + t] = planes[j] }
                columnOrder += order.map { $0 - range.lowerBound }
            }
            permuteColumns(&g, c.weight, rows: c.outChannels, perGroup: perGroup, groups: c.groups, order: columnOrder)
            g.nodes[i].inputChannels[0] = sorted
        case .linear(let l):
            let order = planes.indices.sorted { planes[$0] < planes[$1] }
            permuteColumns(&g, l.weight, rows: l.outFeatures, perGroup: l.inFeatures, groups: 1, order: order)
            g.nodes[i].inputChannels[0] = order.map { planes[$0] }
        case .conv(let c) where c.isDepthwise:
            permuteChannelwise(&g, i, planes: planes, weights: [c.weight] + (c.bias.map { [$0] } ?? []))
        case .maxPool, .avgPool, .globalAvgPool:
            permuteChannelwise(&g, i, planes: planes, weights: [])
        default:
            break
        }
        if g.nodes[i].inputChannels[0] == Array(0..<g.bufferPlanes(g.nodes[i].inputs[0])) {
            g.nodes[i].inputChannels[0] = nil
        }
    }
    return g
}

/// Reorders the input columns of a `[rows, groups * perGroup]`-shaped weight (conv
/// `[out, in/groups, 1, 1]` or linear `[out, in]`): row `o` of group `o / (rows/groups)`
/// takes column `order[group * perGroup + t]` of its group into slot `t`.
private func permuteColumns(_ g: inout Graph, _ name: String, rows: Int, perGroup: Int, groups: Int, order: [Int]) {
    guard order != Array(order.indices) || groups > 1, let w = g.parameters[name] else { return }
    let rowsPerGroup = rows / groups
    func permuted<T>(_ old: [T]) -> [T] {
        var new = old
        for o in 0..<rows {
            let group = o / rowsPerGroup
            for t in 0..<perGroup { new[o * perGroup + t] = old[o * perGroup + order[group * perGroup + t]] }
        }
        return new
    }
    g.parameters[name] = Tensor(shape: w.shape, data: permuted(w.data))
    if var q = g.quantizedParameters[name] {
        q.values = permuted(q.values)
        g.quantizedParameters[name] = q
    }
}

/// A channelwise op reading scattered planes: run its channels in plane order instead, and
/// tell every reader of its output where each channel went.
private func permuteChannelwise(_ g: inout Graph, _ i: Int, planes: [Int], weights: [String]) {
    let node = g.nodes[i]
    let ownsPlainBuffer = node.placement == nil && node.bufferChannels == nil && i != g.output
        && !g.nodes.contains { $0.placement?.buffer == i }
    let order = planes.indices.sorted { planes[$0] < planes[$1] }
    guard ownsPlainBuffer, order != Array(planes.indices) else { return }
    func permuted<T>(_ old: [T]) -> [T] {
        let per = old.count / planes.count
        var new = old
        for (newIndex, oldIndex) in order.enumerated() {
            new.replaceSubrange((newIndex * per)..<((newIndex + 1) * per), with: old[(oldIndex * per)..<((oldIndex + 1) * per)])
        }
        return new
    }
    for name in weights {
        guard let t = g.parameters[name] else { continue }
        g.parameters[name] = Tensor(shape: t.shape, data: permuted(t.data))
        if var q = g.quantizedParameters[name] {
            q.values = permuted(q.values)
            if q.scales.count > 1 { q.scales = permuted(q.scales) }
            g.quantizedParameters[name] = q
        }
    }
    g.nodes[i].inputChannels[0] = order.map { planes[$0] }
    // Old plane k (logical k) now sits at the position where k appears in `order`.
    var moved = [Int](repeating: 0, count: planes.count)
    for (newIndex, oldIndex) in order.enumerated() { moved[oldIndex] = newIndex }
    for r in g.nodes.indices where r > i {
        for k in g.nodes[r].inputs.indices where g.nodes[r].inputs[k] == i {
            g.nodes[r].inputChannels[k] = (g.nodes[r].inputChannels[k] ?? Array(planes.indices)).map { moved[$0] }
        }
    }
}

private func isChannelwise(_ op: Op) -> Bool {
    switch op {
    case .conv(let c): c.isDepthwise && !c.residual
    case .maxPool, .avgPool, .globalAvgPool: true
    default: false
    }
}
