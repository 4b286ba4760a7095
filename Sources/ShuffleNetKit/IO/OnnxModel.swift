/// Reading the ONNX format: the parts of the protobuf schema a ShuffleNet needs
/// (onnx.proto: ModelProto, GraphProto, NodeProto, AttributeProto, TensorProto) and the
/// decoding of stored tensors. What the graph means is `OnnxGraphRecognition.swift`'s job;
/// binding it to a spec is `OnnxBinding.swift`'s.

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

