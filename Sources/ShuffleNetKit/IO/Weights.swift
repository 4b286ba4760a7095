/// Builds the graph of `spec` and binds its parameters from a checkpoint, or from the
/// seeded generator when no file is given (so every spec runs out of the box). The
/// checkpoint decides the graph's form: PyTorch state_dicts carry BatchNorm, exports that
/// folded it in (ONNX) give convs with biases.
///
/// - `.safetensors`: PyTorch state_dict names, BatchNorm separate.
/// - `.onnx`: an ONNX model (QDQ int8, dequantized on load, or float32), see `OnnxNetwork`;
///   BatchNorm folded or not as the file has it. Errors name the initializer and, when the
///   file fits another built-in spec, say which.
public func loadNetwork(_ spec: NetworkSpec, weights path: String?, seed: UInt64 = SeededWeights.defaultSeed) throws -> Graph {
    guard let path else {
        return try bindWeights(try buildGraph(spec), path: nil, seed: seed)
    }
    if path.hasSuffix(".safetensors") {
        return try buildGraph(spec).binding(try Safetensors.read(path: path), source: path)
    }
    if path.hasSuffix(".onnx") {
        return try loadOnnxNetwork(spec, path: path)
    }
    throw ShuffleNetError("\(path): unknown weights format; expected a .safetensors or .onnx file")
}

/// Binds seeded weights (`path == nil`), a safetensors checkpoint or an ONNX model to an
/// existing graph. An ONNX file must have the graph's BatchNorm form (`loadNetwork` picks it).
public func bindWeights(_ graph: Graph, path: String?, seed: UInt64 = SeededWeights.defaultSeed) throws -> Graph {
    guard let path else {
        var g = graph
        g.parameters = SeededWeights.parameters(for: graph, seed: seed)
        return g
    }
    if path.hasSuffix(".onnx") {
        return try OnnxNetwork(path: path).bind(to: graph)
    }
    return try graph.binding(try Safetensors.read(path: path), source: path)
}
