/// Builds the graph of `spec` and binds its parameters from a checkpoint, or from the
/// seeded generator when no file is given (so every spec runs out of the box). The
/// checkpoint decides the graph's form: PyTorch state_dicts carry BatchNorm, exports that
/// folded it in (ONNX) give convs with biases.
public func loadNetwork(_ spec: NetworkSpec, weights path: String?, seed: UInt64 = SeededWeights.defaultSeed) throws -> Graph {
    guard let path else {
        return try bindWeights(try buildGraph(spec), path: nil, seed: seed)
    }
    if path.hasSuffix(".safetensors") {
        return try buildGraph(spec).binding(try Safetensors.read(path: path), source: path)
    }
    throw ShuffleNetError("\(path): unknown weights format; expected a .safetensors file")
}

/// Binds seeded weights (`path == nil`) or a safetensors checkpoint to an existing graph.
public func bindWeights(_ graph: Graph, path: String?, seed: UInt64 = SeededWeights.defaultSeed) throws -> Graph {
    guard let path else {
        var g = graph
        g.parameters = SeededWeights.parameters(for: graph, seed: seed)
        return g
    }
    return try graph.binding(try Safetensors.read(path: path), source: path)
}
