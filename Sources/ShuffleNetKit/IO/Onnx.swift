/// ONNX models as a weights source: a reader for the parts of the ONNX protobuf schema a
/// ShuffleNet needs (onnx.proto: ModelProto, GraphProto, NodeProto, AttributeProto,
/// TensorProto), and the mapping of an exported network's weights onto a spec's graph.
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
/// kind (kernel, stride, grouped or not).

// MARK: - Schema

/// `TensorProto.DataType` codes.
public enum OnnxDataType {
    public static let float: Int32 = 1, uint8: Int32 = 2, int8: Int32 = 3, int32: Int32 = 6, int64: Int32 = 7

    public static func name(_ code: Int32) -> String {
        let names = [0: "UNDEFINED", 1: "FLOAT", 2: "UINT8", 3: "INT8", 4: "UINT16", 5: "INT16", 6: "INT32", 7: "INT64",
                     8: "STRING", 9: "BOOL", 10: "FLOAT16", 11: "DOUBLE", 12: "UINT32", 13: "UINT64", 14: "COMPLEX64",
                     15: "COMPLEX128", 16: "BFLOAT16", 17: "FLOAT8E4M3FN", 18: "FLOAT8E4M3FNUZ", 19: "FLOAT8E5M2",
                     20: "FLOAT8E5M2FNUZ", 21: "UINT4", 22: "INT4", 23: "FLOAT4E2M1"]
        return names[Int(code)] ?? "data type \(code)"
    }

    /// Bytes per element in `raw_data` for the types this reader decodes.
    static func byteSize(_ code: Int32) -> Int? {
        switch code {
        case float, int32: 4
        case uint8, int8: 1
        case int64: 8
        default: nil
        }
    }
}

/// A `TensorProto` as stored: the data stays undecoded until a weight needs it.
public struct OnnxTensor: Sendable {
    public var name: String = ""
    public var dims: [Int64] = []
    public var dataType: Int32 = 0
    /// `raw_data`, indexed by file offsets.
    public var rawData: ArraySlice<UInt8>?
    public var floatData: [Float] = []
    /// `int32_data`: holds INT32, INT8, UINT8 (and other small types) one value per varint.
    public var int32Data: [Int64] = []
    public var int64Data: [Int64] = []
    /// Values in `double_data`, `uint64_data` or `string_data`, which no supported type uses.
    public var otherDataCount = 0
    /// `data_location == EXTERNAL`: the bytes live in a side file.
    public var isExternal = false
    /// Byte offset of the TensorProto in the file.
    public var offset = 0

    /// `initializer NAME (INT8 [58,24,1,1])`, for error messages.
    public var summary: String {
        "initializer \(name.isEmpty ? "(unnamed)" : name) (\(OnnxDataType.name(dataType)) \(describeDims(dims)))"
    }
}

public struct OnnxAttribute: Sendable {
    public var name = ""
    public var type: Int32 = 0
    public var f: Float?
    public var i: Int64?
    public var s: String?
    public var t: OnnxTensor?
    public var floats: [Float] = []
    public var ints: [Int64] = []
}

public struct OnnxNode: Sendable {
    public var name = ""
    public var opType = ""
    public var domain = ""
    public var inputs: [String] = []
    public var outputs: [String] = []
    public var attributes: [OnnxAttribute] = []
    /// Byte offset of the NodeProto in the file.
    public var offset = 0

    public func attribute(_ name: String) -> OnnxAttribute? { attributes.first { $0.name == name } }

    /// `Conv 'name'` (or its first output when unnamed), for error messages.
    public var label: String { "\(opType) node '\(name.isEmpty ? (outputs.first ?? "?") : name)'" }
}

public struct OnnxGraph: Sendable {
    public var name = ""
    public var nodes: [OnnxNode] = []
    public var initializers: [OnnxTensor] = []
    public var inputs: [String] = []
    public var outputs: [String] = []
}

public struct OnnxModel: Sendable {
    public var irVersion: Int64 = 0
    public var producerName = ""
    public var producerVersion = ""
    /// `(domain, version)`; the default domain is `""`.
    public var opsetImports: [(domain: String, version: Int64)] = []
    public var graph = OnnxGraph()

    public static func read(path: String) throws -> OnnxModel {
        try read(readFileBytes(path), file: path)
    }

    /// Parses a ModelProto. A file that does not even start like one (a safetensors
    /// checkpoint, an .npy, a zip) is reported as not ONNX; a file that does but breaks off
    /// or is inconsistent is reported with the byte offset where parsing failed.
    public static func read(_ bytes: [UInt8], file: String) throws -> OnnxModel {
        guard !bytes.isEmpty else { throw ShuffleNetError("\(file): not an ONNX model: the file is empty") }
        try checkLooksLikeOnnx(bytes, file: file)
        var r = ProtobufReader(bytes, context: "\(file): ONNX model", messageName: "ModelProto")
        var model = OnnxModel()
        var sawGraph = false
        while let f = try r.nextField() {
            switch f.number {
            case 1: model.irVersion = try r.readInt64(f)
            case 2: try r.expect(f, .lengthDelimited); model.producerName = try r.readString()
            case 3: try r.expect(f, .lengthDelimited); model.producerVersion = try r.readString()
            case 7:
                try r.expect(f, .lengthDelimited)
                var g = try r.readMessage("GraphProto")
                model.graph = try readGraph(&g)
                sawGraph = true
            case 8:
                try r.expect(f, .lengthDelimited)
                var m = try r.readMessage("OperatorSetIdProto")
                var domain = "", version: Int64 = 0
                while let ff = try m.nextField() {
                    switch ff.number {
                    case 1: try m.expect(ff, .lengthDelimited); domain = try m.readString()
                    case 2: version = try m.readInt64(ff)
                    default: try m.skip(ff)
                    }
                }
                model.opsetImports.append((domain, version))
            default: try r.skip(f)
            }
        }
        guard sawGraph else {
            throw ShuffleNetError("\(file): no graph (ModelProto field 7) before the end of the file at byte offset \(bytes.count): "
                                  + "a truncated ONNX model, or not one at all")
        }
        // Required since IR version 3; its absence after a complete graph means the file was
        // cut off right after the graph.
        guard model.irVersion < 3 || model.opsetImports.contains(where: { $0.domain == "" || $0.domain == "ai.onnx" }) else {
            throw ShuffleNetError("\(file): no opset_import for the default ONNX domain before the end of the file "
                                  + "at byte offset \(bytes.count): truncated after the graph?")
        }
        return model
    }

    /// The first field of every ONNX file is a ModelProto field with its schema's wire type
    /// (writers put ir_version first). Anything else is some other kind of file.
    static func checkLooksLikeOnnx(_ bytes: [UInt8], file: String) throws {
        var r = ProtobufReader(bytes, context: file)
        let expected: [Int: ProtobufReader.WireType] = [1: .varint, 5: .varint, 2: .lengthDelimited, 3: .lengthDelimited,
                                                        4: .lengthDelimited, 6: .lengthDelimited, 7: .lengthDelimited,
                                                        8: .lengthDelimited, 14: .lengthDelimited, 20: .lengthDelimited,
                                                        25: .lengthDelimited]
        if let f = try? r.nextField(), expected[f.number] == f.wireType { return }
        let head = bytes.prefix(8).map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }
        throw ShuffleNetError("\(file): not an ONNX model\(sniffFormat(bytes)): the file does not start with an ONNX ModelProto field "
                              + "(first bytes \(head.joined(separator: " ")))")
    }

    /// A hint at what a non-ONNX file is, from its magic bytes.
    static func sniffFormat(_ b: [UInt8]) -> String {
        if b.starts(with: [0x93] + Array("NUMPY".utf8)) { return " (it looks like a NumPy .npy array)" }
        if b.starts(with: [0x50, 0x4B, 0x03, 0x04]) { return " (it looks like a zip archive, e.g. a PyTorch .pt/.pth checkpoint)" }
        if b.count > 9 {
            let n = (0 ..< 8).reduce(UInt64(0)) { $0 | UInt64(b[$1]) << (8 * UInt64($1)) }
            if n > 1, n <= UInt64(b.count - 8), b[8] == UInt8(ascii: "{") {
                return " (it looks like a safetensors checkpoint; name it .safetensors)"
            }
        }
        return ""
    }

    static func readGraph(_ r: inout ProtobufReader) throws -> OnnxGraph {
        var g = OnnxGraph()
        while let f = try r.nextField() {
            switch f.number {
            case 1:
                try r.expect(f, .lengthDelimited)
                var m = try r.readMessage("NodeProto")
                g.nodes.append(try readNode(&m, offset: f.offset))
            case 2: try r.expect(f, .lengthDelimited); g.name = try r.readString()
            case 5:
                try r.expect(f, .lengthDelimited)
                var m = try r.readMessage("TensorProto")
                g.initializers.append(try readTensor(&m, offset: f.offset))
            case 11, 12:
                try r.expect(f, .lengthDelimited)
                var m = try r.readMessage("ValueInfoProto")
                var name = ""
                while let ff = try m.nextField() {
                    if ff.number == 1 { try m.expect(ff, .lengthDelimited); name = try m.readString() } else { try m.skip(ff) }
                }
                if f.number == 11 { g.inputs.append(name) } else { g.outputs.append(name) }
            default: try r.skip(f)
            }
        }
        return g
    }

    static func readNode(_ r: inout ProtobufReader, offset: Int) throws -> OnnxNode {
        var n = OnnxNode()
        n.offset = offset
        while let f = try r.nextField() {
            switch f.number {
            case 1: try r.expect(f, .lengthDelimited); n.inputs.append(try r.readString())
            case 2: try r.expect(f, .lengthDelimited); n.outputs.append(try r.readString())
            case 3: try r.expect(f, .lengthDelimited); n.name = try r.readString()
            case 4: try r.expect(f, .lengthDelimited); n.opType = try r.readString()
            case 7: try r.expect(f, .lengthDelimited); n.domain = try r.readString()
            case 5:
                try r.expect(f, .lengthDelimited)
                var m = try r.readMessage("AttributeProto")
                n.attributes.append(try readAttribute(&m))
            default: try r.skip(f)
            }
        }
        return n
    }

    /// Subgraph attributes (If/Loop bodies) are skipped: a ShuffleNet has none.
    static func readAttribute(_ r: inout ProtobufReader) throws -> OnnxAttribute {
        var a = OnnxAttribute()
        while let f = try r.nextField() {
            switch f.number {
            case 1: try r.expect(f, .lengthDelimited); a.name = try r.readString()
            case 2: a.f = try r.readFloat(f)
            case 3: a.i = try r.readInt64(f)
            case 4: try r.expect(f, .lengthDelimited); a.s = try r.readString()
            case 5:
                try r.expect(f, .lengthDelimited)
                var m = try r.readMessage("TensorProto")
                a.t = try readTensor(&m, offset: f.offset)
            case 7: try r.readRepeatedFloat(f, into: &a.floats)
            case 8: try r.readRepeatedInt64(f, into: &a.ints)
            case 20: a.type = try r.readInt32(f)
            default: try r.skip(f)
            }
        }
        return a
    }

    static func readTensor(_ r: inout ProtobufReader, offset: Int) throws -> OnnxTensor {
        var t = OnnxTensor()
        t.offset = offset
        var floats: [Float] = [], doubles = 0
        while let f = try r.nextField() {
            switch f.number {
            case 1: try r.readRepeatedInt64(f, into: &t.dims)
            case 2: t.dataType = try r.readInt32(f)
            case 4: try r.readRepeatedFloat(f, into: &floats)
            case 5: try r.readRepeatedInt64(f, into: &t.int32Data)
            case 7: try r.readRepeatedInt64(f, into: &t.int64Data)
            case 8: try r.expect(f, .lengthDelimited); t.name = try r.readString()
            case 9: try r.expect(f, .lengthDelimited); t.rawData = try r.readBytes()
            case 6, 10, 11:
                // string_data, double_data, uint64_data: counted, never decoded.
                let before = r.position
                try r.skip(f)
                doubles += max(1, (r.position - before) / 8)
            case 14: t.isExternal = try r.readInt64(f) == 1
            default: try r.skip(f)
            }
        }
        t.floatData = floats
        t.otherDataCount = doubles
        return t
    }
}

func describeDims(_ dims: [Int64]) -> String {
    "[" + dims.map(String.init).joined(separator: ",") + "]"
}

// MARK: - Decoding tensors

extension OnnxTensor {
    /// Dims as Ints with the element count, refusing negative dims and overflow.
    func checkedShape(file: String) throws -> (shape: [Int], count: Int) {
        guard dims.allSatisfy({ $0 >= 0 }) else { throw ShuffleNetError("\(file): \(summary) has a negative dimension") }
        let shape = dims.map { Int($0) }
        guard let count = IOSupport.elementCount(shape) else {
            throw ShuffleNetError("\(file): \(summary) has too many elements (overflow)")
        }
        return (shape, count)
    }

    /// Checks the stored data fits the dims and returns the element count; `typed` is the
    /// number of values in the typed field the data type uses.
    private func checkData(file: String, typed: Int, typedField: String) throws -> (shape: [Int], count: Int) {
        let (shape, count) = try checkedShape(file: file)
        if isExternal {
            throw ShuffleNetError("\(file): \(summary) is stored in an external data file, which is not supported; "
                                  + "save the model with its tensors inside (onnx.save_model(m, path, save_as_external_data=False))")
        }
        if let raw = rawData {
            let size = OnnxDataType.byteSize(dataType)!
            guard case let (needed, false) = count.multipliedReportingOverflow(by: size), needed == raw.count else {
                throw ShuffleNetError("\(file): \(summary): raw_data is \(raw.count) bytes (at byte offset \(raw.startIndex)), "
                                      + "but \(count) values of \(OnnxDataType.name(dataType)) need \(count &* size)")
            }
        } else if typed != count {
            throw ShuffleNetError("\(file): \(summary) holds \(typed) values in \(typedField), dims need \(count)")
        }
        return (shape, count)
    }

    /// A FLOAT tensor's values, from raw_data or float_data, checked against the dims.
    public func floatValues(file: String) throws -> Tensor {
        guard dataType == OnnxDataType.float else {
            throw ShuffleNetError("\(file): \(summary): expected FLOAT")
        }
        let (shape, count) = try checkData(file: file, typed: floatData.count, typedField: "float_data")
        guard let raw = rawData else { return Tensor(shape: shape, data: floatData) }
        let values = raw.withUnsafeBytes { IOSupport.decodeFloat32LE($0, at: 0, count: count) }
        return Tensor(shape: shape, data: values)
    }

    /// An INT8, UINT8, INT32 or INT64 tensor's values, checked against the dims and the type's range.
    public func integerValues(file: String) throws -> (shape: [Int], values: [Int64]) {
        let dt = dataType
        guard [OnnxDataType.int8, OnnxDataType.uint8, OnnxDataType.int32, OnnxDataType.int64].contains(dt) else {
            throw ShuffleNetError("\(file): \(summary): expected INT8, UINT8, INT32 or INT64")
        }
        let typed = dt == OnnxDataType.int64 ? int64Data : int32Data
        let (shape, count) = try checkData(file: file, typed: typed.count, typedField: dt == OnnxDataType.int64 ? "int64_data" : "int32_data")
        guard let raw = rawData else {
            let range: ClosedRange<Int64> = switch dt {
            case OnnxDataType.int8: -128 ... 127
            case OnnxDataType.uint8: 0 ... 255
            case OnnxDataType.int32: Int64(Int32.min) ... Int64(Int32.max)
            default: Int64.min ... Int64.max
            }
            if let bad = typed.firstIndex(where: { !range.contains($0) }) {
                throw ShuffleNetError("\(file): \(summary): value \(typed[bad]) at index \(bad) is out of range for \(OnnxDataType.name(dt))")
            }
            return (shape, typed)
        }
        let p = raw.startIndex
        let b = raw
        var values = [Int64](repeating: 0, count: count)
        switch dt {
        case OnnxDataType.int8: for i in 0 ..< count { values[i] = Int64(Int8(bitPattern: b[p + i])) }
        case OnnxDataType.uint8: for i in 0 ..< count { values[i] = Int64(b[p + i]) }
        case OnnxDataType.int32:
            for i in 0 ..< count {
                var v: UInt32 = 0
                for k in 0 ..< 4 { v |= UInt32(b[p + 4 * i + k]) << (8 * UInt32(k)) }
                values[i] = Int64(Int32(bitPattern: v))
            }
        default:
            for i in 0 ..< count {
                var v: UInt64 = 0
                for k in 0 ..< 8 { v |= UInt64(b[p + 8 * i + k]) << (8 * UInt64(k)) }
                values[i] = Int64(bitPattern: v)
            }
        }
        return (shape, values)
    }
}

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

/// The state_dict a file provides for a given graph, with the initializer behind each name.
public struct OnnxBinding: Sendable {
    public var tensors: [String: Tensor]
    public var sources: [String: String]
    /// Conv attributes by weight name, to check against the graph.
    var convs: [String: OnnxConv]
    var batchNorms: [String: OnnxBatchNorm]
}

/// The weights of a ShuffleNet in an ONNX graph, found by structure and decoded to float32.
public struct OnnxNetwork: Sendable {
    public var file: String
    public var convs: [OnnxConv]
    public var classifier: OnnxClassifier
    /// True when no BatchNormalization follows the convs (folded exports, QDQ models).
    public var batchNormFolded: Bool
    /// Whether every name came from the initializers (else the convs are matched by structure).
    public var namedByInitializers: Bool

    public init(path: String) throws {
        try self.init(model: try OnnxModel.read(path: path), file: path)
    }

    public init(model: OnnxModel, file: String) throws {
        var extractor = Extractor(graph: model.graph, file: file)
        self.file = file
        (convs, classifier) = try extractor.run()
        let withBN = convs.filter { $0.batchNorm != nil }.count
        guard withBN == 0 || withBN == convs.count else {
            throw ShuffleNetError("\(file): \(withBN) of \(convs.count) Conv nodes are followed by BatchNormalization; "
                                  + "expected all (an unfolded export) or none (BatchNorm folded into the convs)")
        }
        batchNormFolded = withBN == 0
        if !batchNormFolded, let c = convs.first(where: { $0.bias != nil }) {
            throw ShuffleNetError("\(file): \(c.node) has both a bias (\(c.biasSource ?? "")) and a BatchNormalization; "
                                  + "the reference convs have no bias")
        }
        let folded = batchNormFolded
        namedByInitializers = convs.allSatisfy { $0.key != nil && (folded || $0.batchNorm?.prefix != nil) }
        if namedByInitializers {
            var seen: [String: String] = [:]
            for c in convs {
                if let other = seen[c.key!] {
                    throw ShuffleNetError("\(file): \(other) and \(c.node) both have weights named \(c.key!).weight")
                }
                seen[c.key!] = c.node
            }
        }
    }

    /// Names every tensor for `graph`: from the initializers when they carry PyTorch keys,
    /// otherwise by matching convs to the graph's convs in order of depth and kind.
    public func tensors(for graph: Graph) throws -> OnnxBinding {
        try tensors(for: graph, suggest: true)
    }

    func tensors(for graph: Graph, suggest: Bool) throws -> OnnxBinding {
        var b = OnnxBinding(tensors: [:], sources: [:], convs: [:], batchNorms: [:])
        func put(_ name: String, _ t: Tensor, _ source: String) { b.tensors[name] = t; b.sources[name] = source }
        func putConv(_ c: OnnxConv, weight: String, bias: String, bnPrefix: String?) {
            put(weight, c.weight, c.weightSource)
            if let t = c.bias { put(bias, t, c.biasSource ?? "") }
            b.convs[weight] = c
            if let bn = c.batchNorm, let p = bnPrefix {
                for (suffix, (t, s)) in zip(["weight", "bias", "running_mean", "running_var"], zip(bn.tensors, bn.sources)) {
                    put("\(p).\(suffix)", t, s)
                }
                b.batchNorms[p] = bn
            }
        }
        let linear = graph.nodes.lazy.compactMap { n -> Linear? in if case .linear(let l) = n.op { l } else { nil } }.first
        if namedByInitializers {
            for c in convs { putConv(c, weight: c.key! + ".weight", bias: c.key! + ".bias", bnPrefix: c.batchNorm?.prefix) }
        } else {
            // The BatchNorm reading each conv, by conv node index.
            var bnAfter: [Int: String] = [:]
            for n in graph.nodes { if case .batchNorm(let bn) = n.op, n.inputs.count == 1 { bnAfter[n.inputs[0]] = bn.prefix } }
            for (c, node) in try matchConvs(to: graph, suggest: suggest) {
                guard case .conv(let gc) = graph.nodes[node].op else { continue }
                let bnPrefix = bnAfter[node]
                putConv(c, weight: gc.weight, bias: gc.bias ?? Graph.stem(gc.weight) + ".bias", bnPrefix: bnPrefix)
            }
        }
        // The classifier: by its initializer's name in a named file, else as the graph calls it.
        let fc = classifier
        let stem = (namedByInitializers ? fc.prefix : nil) ?? linear.map { Graph.stem($0.weight) } ?? "fc"
        let weightName = stem + ".weight"
        let biasName = (namedByInitializers ? nil : linear?.bias) ?? stem + ".bias"
        put(weightName, fc.weight, fc.weightSource)
        if let t = fc.bias { put(biasName, t, fc.biasSource ?? "") }
        return b
    }

    /// Pairs every Conv of the file with a conv node of `graph`: same count of convs at
    /// each depth, and within a depth the same kinds (kernel, stride, grouped or not),
    /// paired in order. Shapes are not compared here, so a file of another width still
    /// pairs up and the shape check can say which tensor differs.
    func matchConvs(to graph: Graph, suggest: Bool) throws -> [(OnnxConv, Int)] {
        var depth = [Int](repeating: 0, count: graph.nodes.count)
        var ours: [(node: Int, depth: Int, kind: ConvKind)] = []
        for (i, n) in graph.nodes.enumerated() {
            let d = n.inputs.map { depth[$0] }.max() ?? 0
            if case .conv(let c) = n.op {
                depth[i] = d + 1
                ours.append((i, d + 1, ConvKind(kernel: c.kernel, stride: c.stride, grouped: c.groups > 1)))
            } else {
                depth[i] = d
            }
        }
        let theirs = convs.enumerated().map { i, c in
            (conv: c, order: i, depth: c.depth, kind: ConvKind(kernel: c.kernel.first ?? 0, stride: c.strides.first ?? 1, grouped: c.group > 1))
        }
        func fail(_ detail: String) -> ShuffleNetError {
            ShuffleNetError("\(file): the ONNX graph is not spec \(graph.spec.name): \(detail)"
                            + (suggest ? suggestion(excluding: graph.spec.name) : ""))
        }
        guard ours.count == theirs.count else {
            throw fail("it has \(theirs.count) Conv nodes, the spec has \(ours.count)")
        }
        var pairs: [(OnnxConv, Int)] = []
        let maxDepth = max(ours.map(\.depth).max() ?? 0, theirs.map(\.depth).max() ?? 0)
        for d in 1 ... max(1, maxDepth) {
            // Sorted by kind, then by order in the file / the graph.
            let a = theirs.filter { $0.depth == d }.sorted { $0.kind < $1.kind || ($0.kind == $1.kind && $0.order < $1.order) }
            let b = ours.filter { $0.depth == d }.sorted { $0.kind < $1.kind || ($0.kind == $1.kind && $0.node < $1.node) }
            guard a.map(\.kind) == b.map(\.kind) else {
                throw fail("the convs \(d) deep from the input are [\(a.map(\.kind.description).joined(separator: ", "))] in the file, "
                           + "[\(b.map(\.kind.description).joined(separator: ", "))] in the spec")
            }
            pairs += zip(a, b).map { ($0.conv, $1.node) }
        }
        return pairs
    }

    /// Built-in specs whose every parameter this file provides with the exact shape.
    public func matchingBuiltinSpecs() -> [String] {
        BuiltinSpecs.all.filter { spec in
            guard let g = try? buildGraph(spec, batchNormFolded: batchNormFolded),
                  let b = try? tensors(for: g, suggest: false) else { return false }
            let specs = g.parameterSpecs
            return specs.count == b.tensors.count && specs.allSatisfy { b.tensors[$0.name]?.shape == $0.shape }
        }.map(\.name)
    }

    /// `; the file matches built-in spec v2-1.0x`, or what the file holds when none does.
    func suggestion(excluding name: String) -> String {
        let matches = matchingBuiltinSpecs().filter { $0 != name }
        if !matches.isEmpty {
            return "; the file matches built-in spec \(matches.joined(separator: ", ")) (--spec \(matches[0]))"
        }
        let first = convs.first.map { describe(shape: $0.weight.shape) } ?? "none"
        return "; no built-in spec matches it (\(convs.count) convs, first conv weight \(first), classifier weight \(describe(shape: classifier.weight.shape)))"
    }

    /// Binds the file's weights to `graph` (whose BatchNorm form must match the file's):
    /// every tensor's shape, then every conv's stride, padding, groups and dilation, then
    /// missing and left-over tensors, each error naming the initializer.
    public func bind(to graph: Graph) throws -> Graph {
        let hasBN = graph.nodes.contains { if case .batchNorm = $0.op { true } else { false } }
        guard hasBN == !batchNormFolded else {
            throw ShuffleNetError("\(file): the file has BatchNorm \(batchNormFolded ? "folded into the convs" : "as separate nodes"), "
                                  + "the graph \(hasBN ? "has BatchNorm nodes" : "has it folded"); build it with "
                                  + "buildGraph(spec, batchNormFolded: \(batchNormFolded)) (loadNetwork does)")
        }
        let b = try tensors(for: graph)
        let spec = graph.spec.name
        for p in graph.parameterSpecs {
            guard let t = b.tensors[p.name], t.shape != p.shape else { continue }
            let source = b.sources[p.name].map { $0 == p.name ? $0 : "\($0) (\(p.name))" } ?? p.name
            throw ShuffleNetError("\(file): initializer \(source) has shape \(describe(shape: t.shape)), "
                                  + "spec \(spec) expects \(describe(shape: p.shape))\(suggestion(excluding: spec))")
        }
        for n in graph.nodes {
            switch n.op {
            case .conv(let gc):
                guard let c = b.convs[gc.weight] else { continue }
                let checks: [(String, [Int], [Int])] = [
                    ("kernel_shape", c.kernel, [gc.kernel, gc.kernel]), ("strides", c.strides, [gc.stride, gc.stride]),
                    ("pads", c.pads, [Int](repeating: gc.padding, count: 4)), ("dilations", c.dilations, [1, 1]),
                    ("group", [c.group], [gc.groups]),
                ]
                for (attr, got, want) in checks where got != want {
                    throw ShuffleNetError("\(file): \(c.node) (\(Graph.stem(gc.weight))) has \(attr) \(describe(shape: got)), "
                                          + "spec \(spec) expects \(describe(shape: want))")
                }
            case .batchNorm(let bn):
                guard let f = b.batchNorms[bn.prefix] else { continue }
                guard abs(Double(f.epsilon) - bn.eps) <= 1e-3 * bn.eps else {
                    throw ShuffleNetError("\(file): \(f.node) (\(bn.prefix)) has epsilon \(f.epsilon), spec \(spec) uses \(bn.eps)")
                }
            default: break
            }
        }
        do {
            return try graph.binding(b.tensors, source: file)
        } catch let e as ShuffleNetError {
            throw ShuffleNetError(e.message + suggestion(excluding: spec))
        }
    }
}

struct ConvKind: Comparable, CustomStringConvertible {
    var kernel: Int, stride: Int, grouped: Bool
    static func < (a: ConvKind, b: ConvKind) -> Bool {
        (a.kernel, a.stride, a.grouped ? 1 : 0) < (b.kernel, b.stride, b.grouped ? 1 : 0)
    }
    var description: String { "\(kernel)x\(kernel)/s\(stride)\(grouped ? " grouped" : "")" }
}

/// Walks the ONNX graph once: producers and consumers of every value, conv depths, and the
/// weights behind each Conv, BatchNormalization and the classifier.
private struct Extractor {
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

/// Reads an ONNX file and binds its weights to `spec`'s graph, in the form (BatchNorm
/// folded or not) the file has.
public func loadOnnxNetwork(_ spec: NetworkSpec, path: String) throws -> Graph {
    let network = try OnnxNetwork(path: path)
    return try network.bind(to: try buildGraph(spec, batchNormFolded: network.batchNormFolded))
}
