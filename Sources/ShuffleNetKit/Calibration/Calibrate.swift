/// Calibrates `graph` (the optimized fp32 network) on `images` and chooses every
/// activation's quantization: the library side of `shufflenet-gen calibrate`.
public func calibrate(_ graph: Graph, images: [(name: String, tensor: Tensor)], method: RangeMethod,
                      type: ActivationType = .uint8, weights: String) throws -> QuantizationFile {
    // Every image is checked before the first (slow) run, so a wrong one fails at once.
    let engine = try Interpreter(graph: graph)
    for image in images { try engine.validateInput(image.tensor, source: image.name) }
    let ranges = try recordActivationRanges(graph, images: images.map(\.tensor), method: method)
    let entries = zip(graph.nodes, ranges).map { node, range in
        let q = ActivationQuantization(range: range, type: type)
        return QuantizationFile.Entry(name: node.name, type: q.type, scale: q.scale, zeroPoint: q.zeroPoint, min: range.min, max: range.max)
    }
    return QuantizationFile(spec: graph.spec.name, weights: weights, method: method.description,
                            images: images.map(\.name), activations: entries)
}
