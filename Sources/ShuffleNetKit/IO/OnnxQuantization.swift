/// What an int8 QDQ ONNX file says about quantization, under the names `quantize` takes:
/// the integer weights exactly as stored (recovered from the dequantized copies the
/// binding holds, and checked to dequantize back bit for bit) and the parameters of every
/// activation, read from the QuantizeLinear after each Conv, Concat, the global pool and
/// the classifier, and after the graph input.
public struct OnnxQuantization: Sendable {
    public var weights: [String: QuantizedTensor]
    public var activations: [String: ActivationQuantization]

    /// `graph` is the spec's graph with this file's weights bound (`loadOnnxNetwork`).
    public init(path: String, graph: Graph) throws {
        let model = try OnnxModel.read(path: path)
        var reader = QuantizationReader(graph: model.graph, file: path)
        let binding = try OnnxNetwork(model: model, file: path).tensors(for: graph)
        weights = try reader.weights(graph, sources: binding.sources)
        activations = try reader.activations(graph, sources: binding.sources)
    }
}

/// Loads an int8 QDQ ONNX file as a quantized graph: weights bound, the fp32 optimizer
/// run, then `quantize` with the file's own parameters.
public func loadQuantizedOnnxNetwork(_ spec: NetworkSpec, path: String) throws -> Graph {
    var graph = try loadOnnxNetwork(spec, path: path)
    let q = try OnnxQuantization(path: path, graph: graph)
    guard !q.weights.isEmpty else {
        throw ShuffleNetError("\(path): no quantized weights (no DequantizeLinear of an integer initializer); "
                              + "--precision int8 needs an int8 QDQ model or calibration")
    }
    graph.quantizedParameters = q.weights
    return try quantize(try optimize(graph), activations: q.activations)
}

private struct QuantizationReader {
    let graph: OnnxGraph
    let file: String
    var initializers: [String: OnnxTensor] = [:]
    var producer: [String: OnnxNode] = [:]
    var consumers: [String: [OnnxNode]] = [:]

    init(graph: OnnxGraph, file: String) {
        self.graph = graph
        self.file = file
        for t in graph.initializers { initializers[t.name] = t }
        for n in graph.nodes {
            for o in n.outputs where !o.isEmpty { producer[o] = n }
            for v in Set(n.inputs) where !v.isEmpty { consumers[v, default: []].append(n) }
        }
    }

    func fail(_ message: String) -> ShuffleNetError { ShuffleNetError("\(file): \(message)") }

    /// A constant input of a Q/DQ node: an initializer or a Constant node's tensor.
    func constant(_ value: String, of node: OnnxNode) throws -> OnnxTensor {
        if let t = initializers[value] { return t }
        if let p = producer[value], p.opType == "Constant", var t = p.attribute("value")?.t {
            if t.name.isEmpty { t.name = value }
            return t
        }
        throw fail("\(node.label) reads '\(value)' as a quantization parameter, but it is not stored in the file")
    }

    /// The scales of a Q/DQ node, each checked finite and > 0.
    func scales(_ node: OnnxNode) throws -> [Float] {
        guard node.inputs.count >= 2 else { throw fail("\(node.label) has no scale input") }
        let t = try constant(node.inputs[1], of: node)
        guard t.dataType == OnnxDataType.float else {
            throw fail("\(t.summary), the scale of \(node.label), is \(OnnxDataType.name(t.dataType)); expected FLOAT")
        }
        let values = try t.floatValues(file: file).data
        if let bad = values.firstIndex(where: { !$0.isFinite || $0 <= 0 }) {
            throw fail("scale \(t.name) of \(node.label) is \(values[bad])\(values.count > 1 ? " at index \(bad)" : ""); "
                       + "a scale must be finite and > 0")
        }
        return values
    }

    /// The zero points of a Q/DQ node and their type (UINT8 when absent, as ONNX says).
    func zeroPoints(_ node: OnnxNode, count: Int) throws -> (values: [Int64], type: Int32, name: String) {
        guard node.inputs.count > 2, !node.inputs[2].isEmpty else {
            return ([Int64](repeating: 0, count: count), OnnxDataType.uint8, "(default)")
        }
        let t = try constant(node.inputs[2], of: node)
        guard [OnnxDataType.uint8, OnnxDataType.int8, OnnxDataType.int32].contains(t.dataType) else {
            throw fail("zero point \(t.name) of \(node.label) has data type \(OnnxDataType.name(t.dataType)); "
                       + "expected UINT8 or INT8 (activations, INT8 weights) or INT32 (biases)")
        }
        let values = try t.integerValues(file: file).values
        guard values.count == count else {
            throw fail("zero point \(t.name) of \(node.label) has \(values.count) values, its scale \(count)")
        }
        return (values, t.dataType, t.name)
    }

    /// Per-tensor activation parameters of a QuantizeLinear (or DequantizeLinear) node.
    func activation(_ node: OnnxNode) throws -> ActivationQuantization {
        let s = try scales(node)
        guard s.count == 1 else { throw fail("\(node.label) has \(s.count) scales; activations must be quantized per tensor") }
        let (z, type, zName) = try zeroPoints(node, count: 1)
        let qt: QuantizedType
        switch type {
        case OnnxDataType.uint8: qt = .uint8
        case OnnxDataType.int8: qt = .int8
        default:
            throw fail("zero point \(zName) of \(node.label) is \(OnnxDataType.name(type)); activations must be UINT8 or INT8")
        }
        let p = ActivationQuantization(scale: s[0], zeroPoint: Int32(truncatingIfNeeded: z[0]), type: qt)
        if z[0] < Int64(qt.min) || z[0] > Int64(qt.max) {
            throw fail("zero point \(zName) of \(node.label) is \(z[0]), outside \(qt.rawValue) [\(qt.min), \(qt.max)]")
        }
        return p
    }

    /// The QuantizeLinear that stores `value` (directly, or after a Relu or Identity).
    func quantizeNode(after value: String) -> OnnxNode? {
        var v = value
        for _ in 0 ..< 4 {
            let readers = consumers[v] ?? []
            if let q = readers.first(where: { $0.opType == "QuantizeLinear" && $0.inputs.first == v }) { return q }
            guard readers.count == 1, ["Relu", "Identity"].contains(readers[0].opType), let o = readers[0].outputs.first else { return nil }
            v = o
        }
        return nil
    }

    /// The Conv whose output reaches `value` through Q/DQ pairs, Relu and Identity.
    func producingConv(_ value: String) -> OnnxNode? {
        var v = value
        for _ in 0 ..< 8 {
            guard let p = producer[v] else { return nil }
            if p.opType == "Conv" { return p }
            guard ["QuantizeLinear", "DequantizeLinear", "Relu", "Identity"].contains(p.opType), let x = p.inputs.first else { return nil }
            v = x
        }
        return nil
    }

    // MARK: Weights

    func weights(_ g: Graph, sources: [String: String]) throws -> [String: QuantizedTensor] {
        var result: [String: QuantizedTensor] = [:]
        for p in g.parameterSpecs {
            guard let source = sources[p.name], let t = initializers[source], t.dataType != OnnxDataType.float,
                  let dq = consumers[source]?.first(where: { $0.opType == "DequantizeLinear" && $0.inputs.first == source }),
                  let real = g.parameters[p.name]
            else { continue }
            let isBias = p.role == .bias
            let expected = isBias ? OnnxDataType.int32 : OnnxDataType.int8
            guard t.dataType == expected else {
                throw fail("\(t.summary): int8 inference needs \(isBias ? "INT32 biases" : "INT8 weights"), "
                           + "this is \(OnnxDataType.name(t.dataType))")
            }
            let s = try scales(dq)
            let (z, _, zName) = try zeroPoints(dq, count: s.count)
            if let bad = z.firstIndex(where: { $0 != 0 }) {
                throw fail("zero point \(zName) of \(t.name) is \(z[bad]); int8 weights must be symmetric (zero point 0)")
            }
            guard s.count == 1 || s.count == p.shape[0] else {
                throw fail("\(t.summary) has \(s.count) scales; expected 1 or one per output channel (\(p.shape[0]))")
            }
            // The bound float copy is (q * scale) rounded: dividing by the scale and rounding
            // gives q back; checked both ways.
            let per = real.count / p.shape[0]
            var values = [Int32](repeating: 0, count: real.count)
            for i in 0..<real.count {
                let scale = s.count == 1 ? s[0] : s[i / per]
                let q = (real.data[i] / scale).rounded(.toNearestOrEven)
                guard abs(q) < 16_777_216, Float(q) * scale == real.data[i] else {
                    throw fail("\(t.summary): value \(real.data[i]) at index \(i) of \(p.name) is not an integer times its scale \(scale)")
                }
                values[i] = Int32(q)
            }
            result[p.name] = QuantizedTensor(shape: p.shape, values: values, scales: s)
        }
        return result
    }

    // MARK: Activations

    mutating func activations(_ g: Graph, sources: [String: String]) throws -> [String: ActivationQuantization] {
        var result: [String: ActivationQuantization] = [:]
        func put(_ name: String, _ q: OnnxNode) throws { result[name] = try activation(q) }
        // Our conv node by the initializer of its weight.
        var convByInitializer: [String: Int] = [:]
        for (i, n) in g.nodes.enumerated() {
            if case .conv(let c) = n.op, let s = sources[c.weight] { convByInitializer[s] = i }
        }
        func ourConv(_ conv: OnnxNode) -> Int? {
            guard conv.inputs.count > 1 else { return nil }
            var v = conv.inputs[1]
            for _ in 0 ..< 4 {
                if let i = convByInitializer[v] { return i }
                guard let p = producer[v], ["DequantizeLinear", "Identity"].contains(p.opType), let x = p.inputs.first else { return nil }
                v = x
            }
            return nil
        }
        let realInputs = graph.inputs.filter { initializers[$0] == nil }
        guard let image = realInputs.first, let q = quantizeNode(after: image) else {
            throw fail("no QuantizeLinear reads the graph input; --precision int8 needs an int8 QDQ model or calibration")
        }
        try put("input", q)
        for n in graph.nodes {
            guard let out = n.outputs.first else { continue }
            switch n.opType {
            case "Conv":
                guard let i = ourConv(n) else { continue }
                guard let q = quantizeNode(after: out) else { throw fail("\(n.label)'s output is not quantized (no QuantizeLinear after it)") }
                try put(g.nodes[i].name, q)
            case "Concat":
                // Our concat: the one that reads (through its ReLU) the conv behind the second input.
                guard n.inputs.count == 2, let conv = producingConv(n.inputs[1]), let i = ourConv(conv),
                      let concat = g.nodes.indices.first(where: { c in
                          g.nodes[c].op == .concat && g.nodes[c].inputs.contains { $0 == i || (g.nodes[$0].op == .relu && g.nodes[$0].inputs == [i]) }
                      })
                else { throw fail("\(n.label): cannot tell which concat of spec \(g.spec.name) it is") }
                guard let q = quantizeNode(after: out) else { throw fail("\(n.label)'s output is not quantized (no QuantizeLinear after it)") }
                try put(g.nodes[concat].name, q)
            case "ReduceMean", "GlobalAveragePool":
                guard let pool = g.nodes.first(where: { $0.op == .globalAvgPool }) else { continue }
                guard let q = quantizeNode(after: out) else { throw fail("\(n.label)'s output is not quantized (no QuantizeLinear after it)") }
                try put(pool.name, q)
            case "MatMul", "Gemm":
                guard let fc = g.nodes.last, let q = quantizeNode(after: out) else { continue }
                try put(fc.name, q)
            default:
                break
            }
        }
        return result
    }
}

/// Whether an ONNX file is a QDQ model (it quantizes activations), without binding it.
public func onnxFileIsQuantized(path: String) throws -> Bool {
    try OnnxModel.read(path: path).graph.nodes.contains { $0.opType == "QuantizeLinear" }
}
