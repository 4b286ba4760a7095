/// Removes every channel shuffle, split and concat as runtime work. The pass tracks, for
/// each value, which buffer holds it and which plane holds each logical channel:
///
/// - a split is a view: its channels are a sub-list of its input's planes;
/// - a shuffle only permutes that list;
/// - a concat of two freshly computed values allocates one buffer and its producers write
///   straight into their slices (v2 stride-2, v1's avg-pool shortcut and main branch);
/// - a concat of a view and a fresh value (v2 stride-1: `cat(x1, branch(x2))`) stays in the
///   view's buffer: the identity half never moves and the branch writes its output into the
///   planes its input `x2` freed, in ascending plane order.
///
/// Consumers then read through the resulting channel lists (`Node.inputChannels`), which
/// `bakeChannelMaps` folds into weight order.
public func eliminateDataMovement(_ graph: Graph) -> Graph {
    var g = graph
    // Where each value lives, by original node index.
    var location = [(buffer: Int, planes: [Int])](repeating: (0, []), count: g.nodes.count)
    var removed: Set<Int> = []

    for i in g.nodes.indices {
        let node = g.nodes[i]
        switch node.op {
        case .slice(let start, let count):
            let x = location[node.inputs[0]]
            location[i] = (x.buffer, Array(x.planes[start..<(start + count)]))
            removed.insert(i)
        case .shuffle(let groups, let order):
            let x = location[node.inputs[0]]
            location[i] = (x.buffer, order.sourceChannels(channels: node.shape.c, groups: groups).map { x.planes[$0] })
            removed.insert(i)
        case .concat where node.inputs.count == 2:
            if let placed = placeConcat(i, in: &g, location: &location, removed: removed) {
                location[i] = placed
                removed.insert(i)
            } else {
                fallthrough
            }
        default:
            // A computing node: read inputs through their locations, own its output unless
            // an earlier pass placed it (in-place residual) or a concat places it later.
            for k in node.inputs.indices {
                let x = location[node.inputs[k]]
                g.nodes[i].inputs[k] = x.buffer
                g.nodes[i].inputChannels[k] = x.planes
            }
            if let p = node.placement {
                let target = location[p.buffer]
                g.nodes[i].placement = Placement(buffer: target.buffer, channels: p.channels.map { target.planes[$0] })
                location[i] = (target.buffer, g.nodes[i].placement!.channels)
            } else {
                location[i] = (i, Array(0..<node.shape.c))
            }
        }
    }
    // Identity reads of a whole buffer need no map.
    for i in g.nodes.indices where !removed.contains(i) {
        for k in g.nodes[i].inputs.indices where g.nodes[i].inputChannels[k] == Array(0..<g.bufferPlanes(g.nodes[i].inputs[k])) {
            g.nodes[i].inputChannels[k] = nil
        }
    }
    return g.compacted(removing: removed)
}

/// Chooses the buffer and planes of `concat(a, b)` and points its producers there.
/// Returns nil when the inputs are not of a form the pass can place without a copy.
private func placeConcat(_ i: Int, in g: inout Graph, location: inout [(buffer: Int, planes: [Int])],
                         removed: Set<Int>) -> (buffer: Int, planes: [Int])? {
    let (a, b) = (g.nodes[i].inputs[0], g.nodes[i].inputs[1])
    func isFresh(_ v: Int) -> Bool {
        !removed.contains(v) && g.nodes[v].placement == nil && g.nodes[v].bufferChannels == nil
            && g.soleReader(of: v) == i && g.nodes[v].op != .input
    }
    let total = g.nodes[i].shape.c
    if isFresh(a) && isFresh(b) {
        let owner = min(a, b)
        let ca = g.nodes[a].shape.c
        g.nodes[owner].bufferChannels = total
        g.nodes[a].placement = Placement(buffer: owner, channels: Array(0..<ca))
        g.nodes[b].placement = Placement(buffer: owner, channels: Array(ca..<total))
        g.nodes[a].joins = g.nodes[i].name
        g.nodes[b].joins = g.nodes[i].name
        location[a] = (owner, Array(0..<ca))
        location[b] = (owner, Array(ca..<total))
        return (owner, Array(0..<total))
    }
    // cat(view of X, fresh): the fresh half takes the planes of X that a's split left
    // behind, once nothing after b's producer still reads them.
    guard removed.contains(a), isFresh(b), case .slice = g.nodes[a].op else { return nil }
    let splitInput = g.nodes[a].inputs[0]
    let whole = location[splitInput]
    let kept = Set(location[a].planes)
    let freed = whole.planes.filter { !kept.contains($0) }.sorted()
    guard freed.count == g.nodes[b].shape.c else { return nil }
    let readersAfter = g.nodes.indices.filter { r in
        r > b && !removed.contains(r) && r != i && g.nodes[r].inputs.contains(splitInput)
    }
    guard readersAfter.isEmpty, !g.nodes.indices.contains(where: { r in
        r > b && r < i && g.nodes[r].inputs.contains(whole.buffer) && !removed.contains(r)
    }) else { return nil }
    g.nodes[b].placement = Placement(buffer: whole.buffer, channels: freed)
    g.nodes[b].joins = g.nodes[i].name
    location[b] = (whole.buffer, freed)
    return (whole.buffer, location[a].planes + freed)
}
