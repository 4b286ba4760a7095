/// A small reader for the protobuf wire format (what ONNX files are), with no dependency.
///
/// Encoding: a message is a sequence of fields, each a varint tag `field_number << 3 |
/// wire_type` followed by its payload: 0 varint, 1 fixed 64-bit, 2 varint length then that
/// many bytes (strings, bytes, sub-messages, packed repeated scalars), 5 fixed 32-bit.
/// Groups (3, 4) are long deprecated and refused.
///
/// The bytes come from outside, so every read is checked against the end of the enclosing
/// message before it happens, lengths are compared as UInt64 before they become Ints, varints
/// longer than 10 bytes or overflowing 64 bits are refused, and nothing is ever allocated
/// from a length read from the file without first checking it against the bytes that
/// remain. Every failure is a `ShuffleNetError` with the absolute byte offset in the file.
public struct ProtobufReader {
    public enum WireType: UInt8, Sendable, CustomStringConvertible {
        case varint = 0, fixed64 = 1, lengthDelimited = 2, startGroup = 3, endGroup = 4, fixed32 = 5

        public var description: String {
            switch self {
            case .varint: "varint"
            case .fixed64: "64-bit"
            case .lengthDelimited: "length-delimited"
            case .startGroup: "start-group"
            case .endGroup: "end-group"
            case .fixed32: "32-bit"
            }
        }
    }

    /// One field's key: its number, wire type and the byte offset of its tag.
    public struct Field: Sendable {
        public var number: Int
        public var wireType: WireType
        public var offset: Int
    }

    /// Nesting limit for sub-messages; ONNX models need 5 (model, graph, node, attribute, tensor).
    public static let maxDepth = 32

    /// The whole file; offsets in errors and in `position` index it directly.
    public let bytes: [UInt8]
    /// Next byte to read.
    public private(set) var position: Int
    /// End of the message being read (exclusive).
    public let end: Int
    /// Sub-message nesting level: 0 for the top-level message.
    public let depth: Int
    /// What error messages start with (the file name).
    public let context: String
    /// What error messages say is being read (`TensorProto`, ...).
    public var messageName: String
    /// The field whose payload is being read, for error messages.
    private var current: Field?

    public init(_ bytes: [UInt8], context: String, messageName: String = "message") {
        self.init(bytes: bytes, range: 0 ..< bytes.count, depth: 0, context: context, messageName: messageName)
    }

    private init(bytes: [UInt8], range: Range<Int>, depth: Int, context: String, messageName: String) {
        self.bytes = bytes
        self.position = range.lowerBound
        self.end = range.upperBound
        self.depth = depth
        self.context = context
        self.messageName = messageName
    }

    public var isAtEnd: Bool { position >= end }
    public var remaining: Int { end - position }

    /// An error at `offset` naming the file and the message being read.
    public func error(_ message: String, at offset: Int) -> ShuffleNetError {
        ShuffleNetError("\(context): malformed protobuf at byte offset \(offset) (in \(messageName)): \(message)")
    }

    /// The next field's key, or nil at the end of the message.
    public mutating func nextField() throws -> Field? {
        guard position < end else { return nil }
        let offset = position
        let tag = try readVarint()
        let wire = UInt8(tag & 7)
        guard let wireType = WireType(rawValue: wire) else {
            throw error("invalid wire type \(wire) in tag 0x\(String(tag, radix: 16))", at: offset)
        }
        let number = tag >> 3
        guard number >= 1, number <= 0x1FFF_FFFF else {
            throw error("invalid field number \(number)", at: offset)
        }
        if wireType == .startGroup || wireType == .endGroup {
            throw error("field \(number) uses protobuf groups (wire type \(wire)), which are not supported", at: offset)
        }
        let field = Field(number: Int(number), wireType: wireType, offset: offset)
        current = field
        return field
    }

    public mutating func readVarint() throws -> UInt64 {
        let start = position
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard position < end else {
                throw error("truncated varint (message ends at byte offset \(end))", at: start)
            }
            let byte = bytes[position]
            position += 1
            if shift == 63 && byte > 1 {
                throw error("varint overflows 64 bits", at: start)
            }
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
            if shift > 63 { throw error("varint longer than 10 bytes", at: start) }
        }
    }

    public mutating func readFixed32() throws -> UInt32 {
        guard remaining >= 4 else {
            throw error("truncated 32-bit value: 4 bytes needed, \(remaining) remain before byte offset \(end)", at: position)
        }
        var v: UInt32 = 0
        for i in 0 ..< 4 { v |= UInt32(bytes[position + i]) << (8 * UInt32(i)) }
        position += 4
        return v
    }

    public mutating func readFixed64() throws -> UInt64 {
        guard remaining >= 8 else {
            throw error("truncated 64-bit value: 8 bytes needed, \(remaining) remain before byte offset \(end)", at: position)
        }
        var v: UInt64 = 0
        for i in 0 ..< 8 { v |= UInt64(bytes[position + i]) << (8 * UInt64(i)) }
        position += 8
        return v
    }

    /// The payload range of a length-delimited field (file offsets), checked to lie inside
    /// the message.
    public mutating func readLengthDelimited() throws -> Range<Int> {
        let start = position
        let length = try readVarint()
        guard length <= UInt64(remaining) else {
            let which = current.map { "field \($0.number) (tag at byte offset \($0.offset)) has length" } ?? "length"
            throw error("\(which) \(length), past the end: only \(remaining) bytes remain before byte offset \(end)"
                        + (end == bytes.count ? " (end of file: truncated?)" : " (end of the enclosing message)"), at: start)
        }
        let range = position ..< position + Int(length)
        position = range.upperBound
        return range
    }

    public mutating func readBytes() throws -> ArraySlice<UInt8> {
        bytes[try readLengthDelimited()]
    }

    /// UTF-8 text; invalid sequences become U+FFFD rather than failing.
    public mutating func readString() throws -> String {
        String(decoding: try readBytes(), as: UTF8.self)
    }

    /// A reader for the sub-message in the next length-delimited field.
    public mutating func readMessage(_ name: String) throws -> ProtobufReader {
        let start = position
        guard depth + 1 <= Self.maxDepth else {
            throw error("messages nested deeper than \(Self.maxDepth)", at: start)
        }
        return ProtobufReader(bytes: bytes, range: try readLengthDelimited(), depth: depth + 1, context: context, messageName: name)
    }

    /// Skips the payload of a field this reader does not interpret.
    public mutating func skip(_ field: Field) throws {
        switch field.wireType {
        case .varint: _ = try readVarint()
        case .fixed64: _ = try readFixed64()
        case .fixed32: _ = try readFixed32()
        case .lengthDelimited: _ = try readLengthDelimited()
        case .startGroup, .endGroup:
            throw error("field \(field.number) uses protobuf groups, which are not supported", at: field.offset)
        }
    }

    /// Refuses a known field sent with another wire type than its schema's.
    public func expect(_ field: Field, _ wireType: WireType) throws {
        guard field.wireType == wireType else {
            throw error("field \(field.number) has wire type \(field.wireType), expected \(wireType)", at: field.offset)
        }
    }

    // MARK: - Scalars and repeated scalars

    /// A varint field as a signed 64-bit value (protobuf int64/int32: two's complement).
    public mutating func readInt64(_ field: Field) throws -> Int64 {
        try expect(field, .varint)
        return Int64(bitPattern: try readVarint())
    }

    /// A protobuf int32: sent as a sign-extended varint, must fit 32 bits.
    public mutating func readInt32(_ field: Field) throws -> Int32 {
        try expect(field, .varint)
        let start = position
        let v = Int64(bitPattern: try readVarint())
        guard let n = Int32(exactly: v) else { throw error("int32 field \(field.number) holds \(v), out of range", at: start) }
        return n
    }

    public mutating func readFloat(_ field: Field) throws -> Float {
        try expect(field, .fixed32)
        return Float(bitPattern: try readFixed32())
    }

    /// Repeated int64/int32 values, packed (wire type 2) or one per field (wire type 0),
    /// appended to `values`. Capacity is reserved from the packed length, which has been
    /// checked against the bytes present (a varint takes at least one byte).
    public mutating func readRepeatedInt64(_ field: Field, into values: inout [Int64]) throws {
        switch field.wireType {
        case .varint:
            values.append(Int64(bitPattern: try readVarint()))
        case .lengthDelimited:
            let range = try readLengthDelimited()
            var sub = ProtobufReader(bytes: bytes, range: range, depth: depth, context: context, messageName: messageName)
            values.reserveCapacity(values.count + range.count)
            while !sub.isAtEnd { values.append(Int64(bitPattern: try sub.readVarint())) }
        default:
            throw error("repeated integer field \(field.number) has wire type \(field.wireType)", at: field.offset)
        }
    }

    /// Repeated floats, packed or one per field.
    public mutating func readRepeatedFloat(_ field: Field, into values: inout [Float]) throws {
        switch field.wireType {
        case .fixed32:
            values.append(Float(bitPattern: try readFixed32()))
        case .lengthDelimited:
            let start = position
            let range = try readLengthDelimited()
            guard range.count % 4 == 0 else {
                throw error("packed float field \(field.number) is \(range.count) bytes, not a multiple of 4", at: start)
            }
            values.reserveCapacity(values.count + range.count / 4)
            var p = range.lowerBound
            while p < range.upperBound {
                var v: UInt32 = 0
                for i in 0 ..< 4 { v |= UInt32(bytes[p + i]) << (8 * UInt32(i)) }
                values.append(Float(bitPattern: v))
                p += 4
            }
        default:
            throw error("repeated float field \(field.number) has wire type \(field.wireType)", at: field.offset)
        }
    }
}
