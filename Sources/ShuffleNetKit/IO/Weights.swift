/// Builds the graph of `spec` and binds its parameters from a checkpoint, or from the
/// seeded generator when no file is given (so every spec runs out of the box). The
/// checkpoint decides the graph's form: PyTorch state_dicts carry BatchNorm, exports that
/// folded it in (ONNX) give convs with biases.
///
/// - `.safetensors`: PyTorch state_dict names, BatchNorm separate.
/// - `.onnx`: an ONNX model (QDQ int8, dequantized on load, or float32), see `OnnxNetwork`;
///   BatchNorm folded or not as the file has it. Errors name the initializer and, when the
///   file fits another built-in spec, say which.
///
/// Every value is checked to be finite: a NaN or infinity is an error naming the tensor,
/// the index and the file, unless `allowNonFinite` (`--allow-nonfinite`) lets it through.
public func loadNetwork(_ spec: NetworkSpec, weights path: String?, seed: UInt64 = SeededWeights.defaultSeed,
                        allowNonFinite: Bool = false) throws -> Graph {
    let graph: Graph
    if let path {
        if path.hasSuffix(".safetensors") {
            graph = try buildGraph(spec).binding(try Safetensors.read(path: path), source: path)
        } else if path.hasSuffix(".onnx") {
            graph = try loadOnnxNetwork(spec, path: path)
        } else {
            throw ShuffleNetError("\(path): unknown weights format; expected a .safetensors or .onnx file")
        }
    } else {
        graph = try bindWeights(try buildGraph(spec), path: nil, seed: seed)
    }
    if !allowNonFinite { try checkFinite(graph.parameters, source: path ?? "seeded weights (seed \(seed))") }
    return graph
}

/// Refuses the first NaN or infinity (tensors in name order, so the report is stable):
/// `W.safetensors: tensor conv1.0.weight [24,3,3,3] has NaN at index 17 (element [0,1,2,2]);
/// ... (pass --allow-nonfinite to load it anyway)`, with how many values are affected.
public func checkFinite(_ tensors: [String: Tensor], source: String) throws {
    for (name, t) in tensors.sorted(by: { $0.key < $1.key }) {
        guard let first = t.data.firstIndex(where: { !$0.isFinite }) else { continue }
        let bad = t.data.reduce(0) { $0 + ($1.isFinite ? 0 : 1) }
        var element: [Int] = [], rest = first
        for d in t.shape.reversed() {
            element.insert(d > 0 ? rest % d : 0, at: 0)
            rest = d > 0 ? rest / d : 0
        }
        let shape = "[" + t.shape.map(String.init).joined(separator: ",") + "]"
        let at = t.shape.count > 1 ? " (element [" + element.map(String.init).joined(separator: ",") + "])" : ""
        throw ShuffleNetError("\(source): tensor \(name) \(shape) has \(t.data[first]) at index \(first)\(at)"
            + (bad > 1 ? " and \(bad - 1) more non-finite value(s)" : "")
            + "; weights must be finite (pass --allow-nonfinite to load them anyway)")
    }
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
