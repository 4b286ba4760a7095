/// Recognising a ShuffleNet in an ONNX graph: the weights behind each Conv,
/// BatchNormalization and the classifier, found by graph structure.
///
/// Two kinds of file are understood:
/// - quantized QDQ models (the ONNX Model Zoo's `shufflenet-v2-12-qdq`): every weight is an
///   INT8/UINT8/INT32 initializer behind a `DequantizeLinear`; they are dequantized
///   (`(q - zero_point) * scale`, per tensor or per channel) to float32;
/// - float32 exports by `torch.onnx.export`, with BatchNorm folded into the convs (the
///   default in eval mode: anonymous `onnx::Conv_NNN` initializers) or kept as
///   `BatchNormalization` nodes (state_dict names).
///
/// Weights are found by graph structure: each Conv node's weight and bias inputs are
/// followed back (through Identity and DequantizeLinear) to the stored tensors, a
/// BatchNormalization reading a conv's output belongs to that conv, and the classifier is
/// the Gemm, or the MatMul and the Add after it. Names come from the initializers when they
/// carry the PyTorch key (`ConvBnFusion_W_stage2.0.branch1.2.weight_quantized` ->
/// `stage2.0.branch1.2.weight`); otherwise every conv is matched to the spec's graph by its
/// position (how many convs lie before it on the longest path from the input) and its
/// kind (kernel, stride, grouped or not) (`OnnxBinding.swift`).

// MARK: - The network in an ONNX graph

/// One Conv node's weights, as found in the file.
public struct OnnxConv: Sendable {
    /// The Conv node (`Conv node 'name'`).
    public var node: String
    public var weight: Tensor
    /// The initializer the weight came from.
    public var weightSource: String
    public var bias: Tensor?
    public var biasSource: String?
    /// The BatchNormalization reading this conv's output, when BatchNorm is not folded.
    public var batchNorm: OnnxBatchNorm?
    public var kernel: [Int], strides: [Int], pads: [Int], dilations: [Int], group: Int
    /// Number of convs on the longest path from the graph input to this one, itself included.
    public var depth: Int
    /// The PyTorch key (`stage2.0.branch1.2`) when the weight initializer's name carries it.
    public var key: String?
}

public struct OnnxBatchNorm: Sendable {
    public var node: String
    /// gamma, beta, running mean, running variance.
    public var tensors: [Tensor]
    public var sources: [String]
    public var epsilon: Float
    /// The state_dict prefix when the initializers carry it (`conv1.1`).
    public var prefix: String?
}

public struct OnnxClassifier: Sendable {
    public var node: String
    /// `[out, in]`, as PyTorch's Linear stores it.
    public var weight: Tensor
    public var weightSource: String
    public var bias: Tensor?
    public var biasSource: String?
    /// `fc` when the weight initializer is named `fc.weight` (or `fc.weight_quantized`).
    public var prefix: String?
}

/// Walks the ONNX graph once: producers and consumers of every value, conv depths, and the
/// weights behind each Conv, BatchNormalization and the classifier.
struct Extractor {
    let graph: OnnxGraph
    let file: String
    var initializers: [String: OnnxTensor] = [:]
    var producer: [String: Int] = [:]
    var consumers: [String: [Int]] = [:]

    init(graph: OnnxGraph, file: String) {
        self.graph = graph
        self.file = file
        for t in graph.initializers { initializers[t.name] = t }
        for (i, n) in graph.nodes.enumerated() {
            for o in n.outputs where !o.isEmpty { producer[o] = i }
            for v in Set(n.inputs) where !v.isEmpty { consumers[v, default: []].append(i) }
        }
    }

    func fail(_ message: String) -> ShuffleNetError { ShuffleNetError("\(file): \(message)") }

    mutating func run() throws -> ([OnnxConv], OnnxClassifier) {
        let depth = try convDepths()
        var convs: [OnnxConv] = []
        var classifiers: [OnnxClassifier] = []
        for (i, n) in graph.nodes.enumerated() {
            switch n.opType {
            case "Conv": convs.append(try conv(i, depth: depth[i]))
            case "Gemm": classifiers.append(try gemm(n))
            case "MatMul": classifiers.append(try matMul(n))
            default: break
            }
        }
        let attached = Set(convs.compactMap { $0.batchNorm?.node })
        if let n = graph.nodes.first(where: { $0.opType == "BatchNormalization" && !attached.contains($0.label) }) {
            throw fail("\(n.label) does not directly follow a Conv node; only BatchNorm right after a conv is supported")
        }
        guard !convs.isEmpty else { throw fail("the ONNX graph has no Conv node; it is not a ShuffleNet") }
        guard classifiers.count == 1 else {
            throw fail("the ONNX graph has \(classifiers.count) Gemm/MatMul nodes; a ShuffleNet has exactly one (the classifier)")
        }
        return (convs, classifiers[0])
    }

    /// Convs on the longest path from the inputs to each node's output, the node itself
    /// included. ONNX requires nodes in topological order, which this checks.
    func convDepths() throws -> [Int] {
        var valueDepth: [String: Int] = [:]
        var depth = [Int](repeating: 0, count: graph.nodes.count)
        let external = Set(graph.inputs).union(initializers.keys)
        for (i, n) in graph.nodes.enumerated() {
            var d = 0
            for v in n.inputs where !v.isEmpty {
                if let vd = valueDepth[v] { d = max(d, vd); continue }
                guard external.contains(v) else {
                    if producer[v] != nil {
                        throw fail("\(n.label) reads '\(v)' before the node that computes it; nodes are not in topological order")
                    }
                    throw fail("\(n.label) reads '\(v)', which no node, initializer or graph input provides")
                }
            }
            if n.opType == "Conv" { d += 1 }
            depth[i] = d
            for o in n.outputs where !o.isEmpty { valueDepth[o] = d }
        }
        return depth
    }

    // MARK: Constants

    /// The stored tensor behind `value`: an initializer or a Constant node, through Identity.
    func storedTensor(_ value: String, for node: OnnxNode) throws -> OnnxTensor {
        var v = value
        for _ in 0 ..< 16 {
            if let t = initializers[v] { return t }
            guard let p = producer[v] else {
                throw fail("\(node.label) reads '\(v)' as a weight, but it is not stored in the file")
            }
            let n = graph.nodes[p]
            switch n.opType {
            case "Identity": v = n.inputs.first ?? ""
            case "Constant":
                guard var t = n.attribute("value")?.t else {
                    throw fail("\(n.label) has no tensor 'value' attribute (only tensor constants are supported)")
                }
                if t.name.isEmpty { t.name = v }
                return t
            default:
                throw fail("\(node.label) reads '\(value)' as a weight, but it is computed by \(n.label), not stored in the file")
            }
        }
        throw fail("\(node.label): more than 16 Identity nodes lead to '\(value)'")
    }

    /// A weight in float32: a FLOAT tensor, or the DequantizeLinear of an integer one.
    /// Returns the initializer it came from for error messages.
    func weight(_ value: String, for node: OnnxNode) throws -> (Tensor, String) {
        var v = value
        for _ in 0 ..< 16 {
            guard initializers[v] == nil, let p = producer[v] else { break }
            let n = graph.nodes[p]
            if n.opType == "Identity" { v = n.inputs.first ?? ""; continue }
            if n.opType == "DequantizeLinear" { return try dequantize(n, for: node) }
            break
        }
        let t = try storedTensor(v, for: node)
        guard t.dataType == OnnxDataType.float else {
            throw unsupported(t, quantized: [OnnxDataType.int8, OnnxDataType.uint8, OnnxDataType.int32].contains(t.dataType), node: node)
        }
        return (try t.floatValues(file: file), t.name)
    }

    func unsupported(_ t: OnnxTensor, quantized: Bool, node: OnnxNode) -> ShuffleNetError {
        if quantized {
            return fail("\(t.summary), a weight of \(node.label), is \(OnnxDataType.name(t.dataType)) without a DequantizeLinear; "
                        + "integer weights are supported only as DequantizeLinear inputs")
        }
        return fail("\(t.summary), a weight of \(node.label), has data type \(OnnxDataType.name(t.dataType)) (\(t.dataType)), "
                    + "which is not supported for weights (FLOAT, or INT8/UINT8/INT32 through DequantizeLinear)")
    }

    /// `y = (x - zero_point) * scale`, per tensor (scalar scale) or per channel along `axis`.
    func dequantize(_ dq: OnnxNode, for node: OnnxNode) throws -> (Tensor, String) {
        guard dq.inputs.count >= 2 else { throw fail("\(dq.label) has \(dq.inputs.count) inputs, needs x and x_scale") }
        let x = try storedTensor(dq.inputs[0], for: dq)
        guard [OnnxDataType.int8, OnnxDataType.uint8, OnnxDataType.int32].contains(x.dataType) else {
            throw fail("\(x.summary), a weight of \(node.label) through \(dq.label), has data type \(OnnxDataType.name(x.dataType)) "
                       + "(\(x.dataType)), which is not supported for weights (INT8, UINT8 or INT32)")
        }
        let (shape, q) = try x.integerValues(file: file)
        let scaleTensor = try storedTensor(dq.inputs[1], for: dq)
        guard scaleTensor.dataType == OnnxDataType.float else {
            throw fail("\(scaleTensor.summary), the scale of \(dq.label), is not FLOAT")
        }
        let scale = try scaleTensor.floatValues(file: file)
        var zeroPoint = [Int64](repeating: 0, count: scale.count)
        if dq.inputs.count > 2, !dq.inputs[2].isEmpty {
            let z = try storedTensor(dq.inputs[2], for: dq)
            guard z.dataType == x.dataType else {
                throw fail("\(z.summary), the zero point of \(dq.label), is not \(OnnxDataType.name(x.dataType)) like \(x.name)")
            }
            let zValues = try z.integerValues(file: file).values
            guard zValues.count == scale.count else {
                throw fail("\(z.summary), the zero point of \(dq.label), does not have the scale's shape \(describe(shape: scale.shape))")
            }
            zeroPoint = zValues
        }
        if let block = dq.attribute("block_size")?.i, block != 0 {
            throw fail("\(dq.label) uses blocked quantization (block_size \(block)), which is not supported")
        }
        var values = [Float](repeating: 0, count: q.count)
        if scale.count == 1 && scale.shape.count <= 1 {
            let (s, z) = (scale.data[0], zeroPoint[0])
            for i in 0 ..< q.count { values[i] = Float(q[i] &- z) * s }
        } else if !q.isEmpty {
            var axis = Int(dq.attribute("axis")?.i ?? 1)
            if axis < 0 { axis += shape.count }
            guard scale.shape.count == 1, axis >= 0, axis < shape.count, shape[axis] == scale.count else {
                throw fail("\(dq.label): scale \(scaleTensor.summary) does not fit \(x.summary) along axis \(dq.attribute("axis")?.i ?? 1)")
            }
            let inner = shape[(axis + 1)...].reduce(1, *)
            for i in 0 ..< q.count {
                let c = (i / inner) % scale.count
                values[i] = Float(q[i] &- zeroPoint[c]) * scale.data[c]
            }
        }
        return (Tensor(shape: shape, data: values), x.name)
    }

    // MARK: Conv, BatchNorm, classifier

    func ints(_ n: OnnxNode, _ name: String, default value: [Int]) throws -> [Int] {
        guard let a = n.attribute(name) else { return value }
        guard a.ints.allSatisfy({ $0 >= 0 && $0 <= Int64(Int32.max) }) else {
            throw fail("\(n.label) has \(name) \(describeDims(a.ints)); expected non-negative values")
        }
        return a.ints.map { Int($0) }
    }

    func conv(_ index: Int, depth: Int) throws -> OnnxConv {
        let n = graph.nodes[index]
        guard n.inputs.count >= 2 else { throw fail("\(n.label) has \(n.inputs.count) input(s); a Conv needs X and W") }
        if let pad = n.attribute("auto_pad")?.s, !pad.isEmpty, pad != "NOTSET" {
            throw fail("\(n.label) uses auto_pad \(pad); only explicit pads are supported")
        }
        let (w, wSource) = try weight(n.inputs[1], for: n)
        guard w.shape.count == 4 else {
            throw fail("weight \(wSource) of \(n.label) has shape \(describe(shape: w.shape)); a 2-D conv weight has 4 dims")
        }
        var bias: (Tensor, String)?
        if n.inputs.count > 2, !n.inputs[2].isEmpty { bias = try weight(n.inputs[2], for: n) }
        let group = Int(n.attribute("group")?.i ?? 1)
        var conv = OnnxConv(node: n.label, weight: w, weightSource: wSource, bias: bias?.0, biasSource: bias?.1,
                            batchNorm: nil,
                            kernel: try ints(n, "kernel_shape", default: Array(w.shape[2...])),
                            strides: try ints(n, "strides", default: [1, 1]),
                            pads: try ints(n, "pads", default: [0, 0, 0, 0]),
                            dilations: try ints(n, "dilations", default: [1, 1]),
                            group: group, depth: depth, key: Self.convKey(wSource))
        // A BatchNormalization reading the output (possibly through Identity).
        var out = n.outputs.first ?? ""
        for _ in 0 ..< 4 {
            let readers = (consumers[out] ?? []).map { graph.nodes[$0] }
            if readers.count == 1, readers[0].opType == "Identity" { out = readers[0].outputs.first ?? ""; continue }
            if let bn = readers.first(where: { $0.opType == "BatchNormalization" && $0.inputs.first == out }) {
                guard readers.count == 1 else {
                    throw fail("\(n.label)'s output is read by \(bn.label) and \(readers.count - 1) other node(s); BatchNorm cannot be separated")
                }
                conv.batchNorm = try batchNorm(bn)
            }
            break
        }
        return conv
    }

    func batchNorm(_ n: OnnxNode) throws -> OnnxBatchNorm {
        guard n.inputs.count == 5 else { throw fail("\(n.label) has \(n.inputs.count) inputs; expected X, scale, B, mean, var") }
        if let t = n.attribute("training_mode")?.i, t != 0 {
            throw fail("\(n.label) is in training mode; export the model in eval mode (model.eval())")
        }
        var tensors: [Tensor] = [], sources: [String] = []
        for v in n.inputs[1...] {
            let (t, s) = try weight(v, for: n)
            tensors.append(t)
            sources.append(s)
        }
        var prefix: String? = nil
        if sources[0].hasSuffix(".weight") {
            let p = String(sources[0].dropLast(".weight".count))
            if sources == ["weight", "bias", "running_mean", "running_var"].map({ "\(p).\($0)" }) { prefix = p }
        }
        return OnnxBatchNorm(node: n.label, tensors: tensors, sources: sources,
                             epsilon: n.attribute("epsilon")?.f ?? 1e-5, prefix: prefix)
    }

    /// `ConvBnFusion_W_stage2.0.branch1.2.weight_quantized` or `stage2.0.branch1.2.weight`
    /// -> `stage2.0.branch1.2`; anonymous names (`onnx::Conv_519`) -> nil.
    static func convKey(_ initializer: String) -> String? {
        var s = Substring(initializer)
        for suffix in ["_quantized", "_dequantized"] where s.hasSuffix(suffix) { s = s.dropLast(suffix.count) }
        if s.hasPrefix("ConvBnFusion_W_") { s = s.dropFirst("ConvBnFusion_W_".count) }
        guard s.hasSuffix(".weight"), s.count > ".weight".count, !s.contains(":"), !s.contains("/") else { return nil }
        return String(s.dropLast(".weight".count))
    }

    func fcBias(_ value: String, for node: OnnxNode) throws -> (Tensor, String) {
        let (t, s) = try weight(value, for: node)
        guard t.shape.count <= 2, t.shape.dropLast().allSatisfy({ $0 == 1 }) else {
            throw fail("bias \(s) of \(node.label) has shape \(describe(shape: t.shape)), expected [classes]")
        }
        return (Tensor(shape: [t.count], data: t.data), s)
    }

    func classifier(_ n: OnnxNode, weight w: Tensor, source: String, transposed: Bool, bias: (Tensor, String)?) throws -> OnnxClassifier {
        guard w.shape.count == 2 else {
            throw fail("weight \(source) of \(n.label) has shape \(describe(shape: w.shape)); a classifier weight has 2 dims")
        }
        var weight = w
        if transposed {  // stored [in, out] as a MatMul operand: PyTorch's Linear keeps [out, in]
            let (rows, cols) = (w.shape[0], w.shape[1])
            var data = [Float](repeating: 0, count: w.count)
            for r in 0 ..< rows { for c in 0 ..< cols { data[c * rows + r] = w.data[r * cols + c] } }
            weight = Tensor(shape: [cols, rows], data: data)
        }
        var s = Substring(source)
        for suffix in ["_quantized", "_dequantized"] where s.hasSuffix(suffix) { s = s.dropLast(suffix.count) }
        let prefix = s.hasSuffix(".weight") && s.count > 7 && !s.contains(":") ? String(s.dropLast(7)) : nil
        return OnnxClassifier(node: n.label, weight: weight, weightSource: source, bias: bias?.0, biasSource: bias?.1, prefix: prefix)
    }

    /// `Y = alpha * A B' + beta * C` with B' = B or B^T.
    func gemm(_ n: OnnxNode) throws -> OnnxClassifier {
        guard n.inputs.count >= 2 else { throw fail("\(n.label) has \(n.inputs.count) input(s); a Gemm needs A and B") }
        if let t = n.attribute("transA")?.i, t != 0 { throw fail("\(n.label) has transA \(t); only transA 0 is supported") }
        var (w, source) = try weight(n.inputs[1], for: n)
        var bias: (Tensor, String)? = nil
        if n.inputs.count > 2, !n.inputs[2].isEmpty { bias = try fcBias(n.inputs[2], for: n) }
        if let alpha = n.attribute("alpha")?.f, alpha != 1 { w.data = w.data.map { $0 * alpha } }
        if let beta = n.attribute("beta")?.f, beta != 1, var b = bias { b.0.data = b.0.data.map { $0 * beta }; bias = b }
        return try classifier(n, weight: w, source: source, transposed: (n.attribute("transB")?.i ?? 0) == 0, bias: bias)
    }

    /// MatMul with a stored [in, out] operand; the bias is the Add that follows, possibly
    /// behind a QuantizeLinear/DequantizeLinear pair or Identity.
    func matMul(_ n: OnnxNode) throws -> OnnxClassifier {
        guard n.inputs.count == 2 else { throw fail("\(n.label) has \(n.inputs.count) inputs; a MatMul has 2") }
        let (w, source) = try weight(n.inputs[1], for: n)
        var out = n.outputs.first ?? ""
        var bias: (Tensor, String)? = nil
        for _ in 0 ..< 8 {
            let readers = (consumers[out] ?? []).map { graph.nodes[$0] }
            guard readers.count == 1 else { break }
            let r = readers[0]
            if ["Identity", "QuantizeLinear", "DequantizeLinear"].contains(r.opType) { out = r.outputs.first ?? ""; continue }
            if r.opType == "Add", r.inputs.count == 2 {
                let other = r.inputs[0] == out ? r.inputs[1] : r.inputs[0]
                bias = try fcBias(other, for: r)
            }
            break
        }
        return try classifier(n, weight: w, source: source, transposed: true, bias: bias)
    }
}
