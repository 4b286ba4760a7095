/// Quantizes an optimized fp32 graph to int8 (`docs/int8.md`): every computing node gets
/// the parameters of its inputs as it reads them and of its output as stored, and every
/// weight an integer copy in `Graph.quantizedParameters`.
///
/// `activations` holds the parameters of each stored value by node name (the optimized
/// graph's names, plus the concats the optimizer removed). The optimizer's promises hold:
/// a producer writing a concat slice requantizes straight into the concat's parameters
/// (rounding to its own first when it has an entry of its own that differs, as ONNX
/// Runtime's QLinearConv then QLinearConcat do), and the only pass over memory added is a
/// `requantize` node where a v2 identity half enters a concat with other parameters.
///
/// Weights already in `quantizedParameters` (an int8 QDQ file) are kept exactly; the rest
/// are quantized symmetric int8 per output channel, conv biases to int32 at
/// `input scale x weight scale`. The classifier's bias stays float.
public func quantize(_ graph: Graph, activations: [String: ActivationQuantization]) throws -> Graph {
    guard !graph.isQuantized else { throw ShuffleNetError("quantize: the graph of \(graph.spec.name) is already quantized") }
    for (name, p) in activations.sorted(by: { $0.key < $1.key }) {
        if let problem = p.problem { throw ShuffleNetError("activation parameters of \(name): \(problem)") }
    }
    var used: Set<String> = []
    func required(_ name: String) throws -> ActivationQuantization {
        guard let p = activations[name] else {
            throw ShuffleNetError("quantize \(graph.spec.name): no activation parameters for \(name)")
        }
        used.insert(name)
        return p
    }
    func optional(_ name: String) -> ActivationQuantization? {
        if activations[name] != nil { used.insert(name) }
        return activations[name]
    }

    var g = graph
    var nodes: [Node] = []
    // Old node index -> new (requantize nodes are inserted).
    var newIndex = [Int](repeating: -1, count: graph.nodes.count)
    // Per buffer (new index): the parameters each plane is stored with, and the concat whose
    // producer wrote it.
    var stored: [Int: [ActivationQuantization?]] = [:]
    var joinedBy: [Int: [String?]] = [:]

    func readParameters(_ node: Node, _ k: Int, buffer: Int, planes: [Int]) throws -> ActivationQuantization {
        let ps = planes.map { stored[buffer]![$0] }
        guard let first = ps.first ?? nil, ps.allSatisfy({ $0 == first }) else {
            let kinds = Set(ps.map { $0.map(\.description) ?? "unwritten" }).sorted()
            throw ShuffleNetError("quantize \(graph.spec.name): \(node.name) reads planes stored with different parameters (\(kinds.joined(separator: "; ")))")
        }
        return first
    }

    for (old, source) in graph.nodes.enumerated() {
        let i = nodes.count
        newIndex[old] = i
        var node = source
        node.inputs = node.inputs.map { newIndex[$0] }
        if var p = node.placement { p.buffer = newIndex[p.buffer]; node.placement = p }
        let buffer = node.placement?.buffer ?? i
        if buffer == i {
            let planes = node.bufferChannels ?? node.shape.c
            stored[i] = [ActivationQuantization?](repeating: nil, count: planes)
            joinedBy[i] = [String?](repeating: nil, count: planes)
        }
        var inputs: [ActivationQuantization] = []
        for k in node.inputs.indices {
            let planes = node.inputChannels[k] ?? Array(0..<(stored[node.inputs[k]]?.count ?? 0))
            inputs.append(try readParameters(node, k, buffer: node.inputs[k], planes: planes))
        }
        // The node's own name, without what fuseConvMaxPool appended (`conv1+maxpool`).
        let own = storedValueName(node.name)
        var output: ActivationQuantization?
        var intermediate: ActivationQuantization?
        switch node.op {
        case .input:
            output = try required("input")
        case .conv(let c):
            if let concat = node.joins {
                output = try required(concat)
                intermediate = optional(own).flatMap { $0 == output ? nil : $0 }
            } else {
                output = try required(own)
            }
            try quantizeConvWeights(&g, c, input: inputs[0])
        case .maxPool:
            output = inputs[0]
        case .avgPool:
            output = try node.joins.map(required) ?? required(own)
        case .globalAvgPool:
            output = try required(own)
        case .linear(let l):
            intermediate = optional(own)
            try quantizeWeight(&g, l.weight, rows: l.outFeatures)
        case .requantize:
            throw ShuffleNetError("quantize: \(node.name) is already a requantize node")
        case .batchNorm, .relu, .slice, .concat, .shuffle, .add:
            throw ShuffleNetError("quantize \(graph.spec.name): \(node.name) is a \(node.op.kind); int8 needs the fully optimized graph "
                                  + "(without --no-fold-bn or --no-fuse-shuffle)")
        }
        node.quantization = NodeQuantization(inputs: inputs, output: output, intermediate: intermediate)
        nodes.append(node)
        guard let output else { continue }
        for p in node.outputPlanes {
            stored[buffer]![p] = output
            joinedBy[buffer]![p] = node.joins
        }
        // A concat's other half stored with other parameters (v2's identity half) is
        // rescaled in place once the concat is complete.
        guard let concat = node.joins else { continue }
        let stale = stored[buffer]!.indices.filter { p in
            joinedBy[buffer]![p] != concat && stored[buffer]![p] != nil && stored[buffer]![p] != output
        }
        guard !stale.isEmpty else { continue }
        let from = try readParameters(node, 0, buffer: buffer, planes: stale)
        let owner = nodes[buffer].shape
        var r = Node(name: concat + ".requantize", op: .requantize, inputs: [buffer], shape: Shape(c: stale.count, h: owner.h, w: owner.w))
        r.inputChannels = [stale]
        r.placement = Placement(buffer: buffer, channels: stale)
        r.quantization = NodeQuantization(inputs: [from], output: output, intermediate: nil)
        nodes.append(r)
        for p in stale { stored[buffer]![p] = output; joinedBy[buffer]![p] = concat }
    }
    let unknown = Set(activations.keys).subtracting(used).sorted()
    if !unknown.isEmpty {
        throw ShuffleNetError("quantize \(graph.spec.name): activation parameters for \(unknown.count) name(s) the graph does not have: "
                              + unknown.prefix(5).joined(separator: ", ") + (unknown.count > 5 ? ", ..." : ""))
    }
    g.nodes = nodes
    return g
}

/// A conv's weight (int8, per output channel unless stored otherwise) and its bias (int32
/// at input scale x weight scale).
private func quantizeConvWeights(_ g: inout Graph, _ c: Conv, input: ActivationQuantization) throws {
    try quantizeWeight(&g, c.weight, rows: c.outChannels)
    guard let bias = c.bias, g.quantizedParameters[bias] == nil, let b = g.parameters[bias] else { return }
    let w = g.quantizedParameters[c.weight]!
    var values = [Int32](repeating: 0, count: b.count)
    var scales = [Float](repeating: 0, count: b.count)
    for o in 0..<b.count {
        scales[o] = input.scale * w.scale(o)
        let q = (b.data[o] / scales[o]).rounded(.toNearestOrEven)
        guard q.isFinite, abs(q) <= Float(Int32.max / 2) else {
            throw ShuffleNetError("quantize: bias \(bias)[\(o)] = \(b.data[o]) does not fit int32 at scale \(scales[o])")
        }
        values[o] = Int32(q)
    }
    g.quantizedParameters[bias] = QuantizedTensor(shape: b.shape, values: values, scales: scales)
}

/// Symmetric int8 per output channel: `scale = max|w| / 127` (1 for an all-zero row).
private func quantizeWeight(_ g: inout Graph, _ name: String, rows: Int) throws {
    guard g.quantizedParameters[name] == nil, let w = g.parameters[name] else { return }
    let per = w.count / rows
    var values = [Int32](repeating: 0, count: w.count)
    var scales = [Float](repeating: 1, count: rows)
    for o in 0..<rows {
        let row = w.data[(o * per)..<((o + 1) * per)]
        let m = row.reduce(Float(0)) { max($0, abs($1)) }
        if m > 0 { scales[o] = m / 127 }
        for k in row.indices { values[k] = Int32(max(-127, min(127, (w.data[k] / scales[o]).rounded(.toNearestOrEven)))) }
    }
    g.quantizedParameters[name] = QuantizedTensor(shape: w.shape, values: values, scales: scales)
}

/// The names `quantize` reads parameters for in `graph` (required or optional): the input,
/// every conv, global pool, classifier and unjoined average pool by its own name, and every concat
/// a producer writes into. A calibration covers more values (splits, shuffles); this is
/// what to hand over of it.
public func quantizationKeys(_ graph: Graph) -> Set<String> {
    var keys: Set<String> = ["input"]
    for node in graph.nodes {
        switch node.op {
        case .conv, .globalAvgPool, .linear: keys.insert(storedValueName(node.name))
        // A shortcut pool writing into a concat is stored with the concat's parameters only.
        case .avgPool where node.joins == nil: keys.insert(storedValueName(node.name))
        default: break
        }
        if let concat = node.joins { keys.insert(concat) }
    }
    return keys
}

/// A node's own name without what fusion appended (`conv1+maxpool` -> `conv1`).
public func storedValueName(_ name: String) -> String {
    String(name.split(separator: "+").first ?? Substring(name))
}
