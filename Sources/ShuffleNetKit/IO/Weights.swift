/// Where a graph's parameters come from: a checkpoint file, or the seeded generator when
/// no file is given (so every spec runs out of the box).
public func bindWeights(_ graph: Graph, path: String?, seed: UInt64 = SeededWeights.defaultSeed) throws -> Graph {
    guard let path else {
        var g = graph
        g.parameters = SeededWeights.parameters(for: graph, seed: seed)
        return g
    }
    if path.hasSuffix(".safetensors") {
        return try graph.binding(try Safetensors.read(path: path), source: path)
    }
    throw ShuffleNetError("\(path): unknown weights format; expected a .safetensors file")
}
