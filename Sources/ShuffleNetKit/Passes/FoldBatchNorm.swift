/// Folds every BatchNorm that directly follows a conv into that conv's weights and bias:
/// `W' = W * s`, `b' = (b - mean) * s + beta` with `s = gamma / sqrt(var + eps)`, computed
/// in float64 and rounded once. The folded conv keeps the conv's weight name and gains
/// `<conv>.bias`, the names ONNX exporters give a fused conv.
public func foldBatchNorm(_ graph: Graph) throws -> Graph {
    var g = graph
    var removed: Set<Int> = []
    var replacing: [Int: Int] = [:]
    for (i, node) in graph.nodes.enumerated() {
        guard case .batchNorm(let bn) = node.op, let convIndex = node.inputs.first,
              case .conv(var conv) = g.nodes[convIndex].op, !conv.relu, !conv.residual,
              graph.soleReader(of: convIndex) == i, graph.nodes[convIndex].placement == nil
        else { continue }
        func p(_ suffix: String) -> [Float] { graph.parameters["\(bn.prefix).\(suffix)"]!.data }
        let (gamma, beta, mean, variance) = (p("weight"), p("bias"), p("running_mean"), p("running_var"))
        let weight = graph.parameters[conv.weight]!
        let oldBias = conv.bias.map { graph.parameters[$0]!.data }
        let perOut = weight.count / conv.outChannels
        var w = weight.data
        var bias = [Float](repeating: 0, count: conv.outChannels)
        for o in 0..<conv.outChannels {
            let v = Double(variance[o]) + bn.eps
            guard v > 0 else {
                throw ShuffleNetError("\(bn.prefix).running_var[\(o)] = \(variance[o]): a variance below -eps cannot be folded (it would divide by \(v <= 0 ? "zero or a negative" : "") sqrt)")
            }
            let scale = Double(gamma[o]) / v.squareRoot()
            for j in (o * perOut)..<((o + 1) * perOut) { w[j] = Float(Double(weight.data[j]) * scale) }
            bias[o] = Float((Double(oldBias?[o] ?? 0) - Double(mean[o])) * scale + Double(beta[o]))
        }
        let biasName = conv.bias ?? Graph.stem(conv.weight) + ".bias"
        g.parameters[conv.weight] = Tensor(shape: weight.shape, data: w)
        g.parameters[biasName] = Tensor(shape: [conv.outChannels], data: bias)
        for suffix in ["weight", "bias", "running_mean", "running_var"] { g.parameters["\(bn.prefix).\(suffix)"] = nil }
        conv.bias = biasName
        g.nodes[convIndex].op = .conv(conv)
        removed.insert(i)
        replacing[i] = convIndex
    }
    return g.compacted(removing: removed, replacing: replacing)
}
