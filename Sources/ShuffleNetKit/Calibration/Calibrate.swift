/// The graph a calibration runs: the network with BatchNorm folded and ReLUs and the
/// first max pool fused (as the quantize pass sees it) but with its splits, shuffles and
/// concats still explicit, so that every value stored in memory in the final graph is one
/// node's output here, a concat's too (its producers requantize into its parameters).
public func calibrationGraph(_ network: Graph, _ options: OptimizerOptions = OptimizerOptions()) throws -> Graph {
    var o = options
    o.eliminateDataMovement = false
    return try optimize(network, o)
}

/// Calibrates a network (weights bound, not yet optimized) on `images` and chooses every
/// activation's quantization: the library side of `shufflenet-gen calibrate`.
public func calibrate(_ network: Graph, options: OptimizerOptions = OptimizerOptions(), images: [(name: String, tensor: Tensor)],
                      method: RangeMethod, type: QuantizedType = .uint8, weights: String) throws -> QuantizationFile {
    let graph = try calibrationGraph(network, options)
    // Every image is checked before the first (slow) run, so a wrong one fails at once.
    let engine = try Interpreter(graph: graph)
    for image in images { try engine.validateInput(image.tensor, source: image.name) }
    let ranges = try recordActivationRanges(graph, images: images.map(\.tensor), method: method)
    let entries = zip(graph.nodes, ranges).map { node, range in
        let q = ActivationQuantization(range: range, type: type)
        return QuantizationFile.Entry(name: storedValueName(node.name), type: q.type, scale: q.scale, zeroPoint: q.zeroPoint, min: range.min, max: range.max)
    }
    return QuantizationFile(spec: graph.spec.name, weights: weights, method: method.description,
                            images: images.map(\.name), activations: entries)
}

/// The int8 network of a calibration: `network` (weights bound) optimized with `options`
/// and quantized with the file's parameters, after checking the file against the graph it
/// was made on. `source` names the file in errors.
public func quantizeCalibrated(_ network: Graph, options: OptimizerOptions = OptimizerOptions(), _ file: QuantizationFile,
                               source: String) throws -> Graph {
    let byName = try file.quantization(for: try calibrationGraph(network, options), source: source)
    let optimized = try optimize(network, options)
    let keys = quantizationKeys(optimized)
    return try quantize(optimized, activations: byName.filter { keys.contains($0.key) })
}
