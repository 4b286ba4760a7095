/// Reader and writer for NumPy's `.npy` format, float32 only:
/// `\x93NUMPY`, version (major, minor), header length (u16 for 1.0, u32 for 2.0/3.0),
/// a Python dict literal `{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1000), }`
/// padded with spaces and a final `\n`, then the raw little-endian data.
public enum Npy {
    static let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)

    public static func read(_ bytes: [UInt8], file: String) throws -> Tensor {
        func fail(_ message: String) -> ShuffleNetError { ShuffleNetError("\(file): \(message)") }

        guard bytes.count >= 10 else {
            throw fail("file is \(bytes.count) bytes, too short for an .npy header (at least 10)")
        }
        guard bytes.starts(with: magic) else { throw fail("not an .npy file (no \\x93NUMPY magic at file offset 0)") }
        let lengthSize: Int
        switch bytes[6] {
        case 1: lengthSize = 2
        case 2, 3: lengthSize = 4
        default: throw fail(".npy version \(bytes[6]).\(bytes[7]) is not supported (expected 1.0, 2.0 or 3.0)")
        }
        guard bytes.count >= 8 + lengthSize else {
            throw fail("file is \(bytes.count) bytes, too short for a version \(bytes[6]).0 header length")
        }
        // At most 2^32 - 1, so this cannot overflow Int and is compared before slicing.
        let headerLength = (0 ..< lengthSize).reduce(0) { $0 | Int(bytes[8 + $1]) << (8 * $1) }
        let headerStart = 8 + lengthSize, dataStart = headerStart + headerLength
        guard dataStart <= bytes.count else {
            throw fail("header length \(headerLength) (file offset 8) is past the end of the file "
                + "(\(bytes.count) bytes, header would end at file offset \(dataStart))")
        }

        var parser = PyLiteralParser(bytes: bytes[headerStart ..< dataStart])
        guard let parsed = parser.parseHeader(), case let .dict(header) = parsed else {
            throw fail("header (file offsets \(headerStart)..<\(dataStart)) is not a valid Python dict literal")
        }
        guard let descrValue = header["descr"] else { throw fail("header has no 'descr'") }
        guard descrValue == .string("<f4") else {
            let shown = if case let .string(s) = descrValue { s } else { descrValue.description }
            throw fail("dtype \(shown) is not supported, expected float32 ('<f4')")
        }
        guard case let .bool(fortranOrder)? = header["fortran_order"] else {
            throw fail("header has no boolean 'fortran_order'")
        }
        guard !fortranOrder else {
            throw fail("fortran_order True is not supported; save a C-contiguous array (np.ascontiguousarray)")
        }
        guard case let .tuple(dims)? = header["shape"] else { throw fail("header has no 'shape' tuple") }
        var shape: [Int] = []
        for d in dims {
            guard case let .int(n) = d, n >= 0 else { throw fail("shape \(PyValue.tuple(dims)) has a non-integer or negative dimension") }
            shape.append(n)
        }
        let actual = bytes.count - dataStart
        guard let count = IOSupport.elementCount(shape), case let (needed, false) = count.multipliedReportingOverflow(by: 4) else {
            throw fail("shape \(PyValue.tuple(dims)) of float32 has too many elements (overflow)")
        }
        guard needed == actual else {
            throw fail("shape \(PyValue.tuple(dims)) of float32 needs \(needed) bytes of data but the file has \(actual) "
                + "(data starts at file offset \(dataStart))")
        }
        return Tensor(shape: shape, data: bytes.withUnsafeBytes { IOSupport.decodeFloat32LE($0, at: dataStart, count: count) })
    }

    public static func read(path: String) throws -> Tensor {
        try read(readFileBytes(path), file: path)
    }

    /// Byte-identical to `np.save` of a C-ordered float32 array (numpy >= 1.24 header layout).
    public static func encode(_ t: Tensor) -> [UInt8] {
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': \(PyValue.tuple(t.shape.map(PyValue.int))), }"
        // numpy reserves room so the first axis can grow in place (GROWTH_AXIS_MAX_DIGITS = 21).
        if let first = t.shape.first { header += String(repeating: " ", count: max(0, 21 - String(first).count)) }
        let text = Array(header.utf8)

        // Total (magic + version + length field + header + '\n') is padded to a multiple of 64;
        // like numpy, a header that already fits exactly still gets 64 spaces.
        func padding(_ lengthSize: Int) -> Int { 64 - (8 + lengthSize + text.count + 1) % 64 }
        let useV1 = text.count + 1 + padding(2) <= 0xFFFF
        let lengthSize = useV1 ? 2 : 4
        let length = text.count + padding(lengthSize) + 1

        var out = magic + [useV1 ? 1 : 2, 0]
        out.reserveCapacity(8 + lengthSize + length + 4 * t.count)
        for i in 0 ..< lengthSize { out.append(UInt8(truncatingIfNeeded: length >> (8 * i))) }
        out += text
        out += repeatElement(UInt8(ascii: " "), count: padding(lengthSize))
        out.append(UInt8(ascii: "\n"))
        IOSupport.appendFloat32LE(t.data, to: &out)
        return out
    }

    public static func write(_ t: Tensor, to path: String) throws {
        try writeFileAtomically(encode(t), to: path)
    }
}

/// The subset of Python literals that appear in .npy headers.
enum PyValue: Equatable, CustomStringConvertible {
    case string(String), bool(Bool), int(Int), none
    case tuple([PyValue]), list([PyValue]), dict([String: PyValue])

    /// Python repr, so error messages and the written header look like numpy's.
    var description: String {
        switch self {
        case let .string(s): return "'\(s)'"
        case let .bool(b): return b ? "True" : "False"
        case let .int(n): return String(n)
        case .none: return "None"
        case let .tuple(items): return items.count == 1 ? "(\(items[0]),)" : "(" + items.map(\.description).joined(separator: ", ") + ")"
        case let .list(items): return "[" + items.map(\.description).joined(separator: ", ") + "]"
        case let .dict(d): return "{" + d.sorted { $0.key < $1.key }.map { "'\($0.key)': \($0.value)" }.joined(separator: ", ") + "}"
        }
    }
}

/// Recursive-descent parser for a Python literal; returns nil on anything malformed.
/// Nesting is capped so a hostile header like "((((..." cannot overflow the stack.
struct PyLiteralParser {
    let bytes: ArraySlice<UInt8>
    var i: Int
    var depth = 0

    init(bytes: ArraySlice<UInt8>) { self.bytes = bytes; i = bytes.startIndex }

    /// One value followed only by whitespace (numpy pads with spaces and ends with '\n').
    mutating func parseHeader() -> PyValue? {
        guard let v = value() else { return nil }
        skipSpace()
        return i == bytes.endIndex ? v : nil
    }

    private var peek: UInt8? { i < bytes.endIndex ? bytes[i] : nil }

    private mutating func skipSpace() {
        while let c = peek, c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 { i += 1 }
    }

    private mutating func eat(_ c: Character) -> Bool {
        skipSpace()
        guard peek == c.asciiValue else { return false }
        i += 1
        return true
    }

    private mutating func value() -> PyValue? {
        skipSpace()
        guard let c = peek, depth < 32 else { return nil }
        switch c {
        case UInt8(ascii: "'"), UInt8(ascii: "\""): return string().map(PyValue.string)
        case UInt8(ascii: "("): return sequence(close: ")").map(PyValue.tuple)
        case UInt8(ascii: "["): return sequence(close: "]").map(PyValue.list)
        case UInt8(ascii: "{"): return dict()
        case UInt8(ascii: "-"), UInt8(ascii: "0") ... UInt8(ascii: "9"): return integer()
        default:
            for (word, v) in [("True", PyValue.bool(true)), ("False", .bool(false)), ("None", .none)]
            where bytes[i...].starts(with: word.utf8) {
                i += word.utf8.count
                return v
            }
            return nil
        }
    }

    private mutating func string() -> String? {
        guard let quote = peek else { return nil }
        i += 1
        let start = i
        while let c = peek, c != quote {
            i += c == UInt8(ascii: "\\") ? 2 : 1 // skip escaped char; descr never contains escapes
        }
        guard i < bytes.endIndex else { return nil }
        defer { i += 1 }
        return String(decoding: bytes[start ..< i], as: UTF8.self)
    }

    private mutating func integer() -> PyValue? {
        let negative = peek == UInt8(ascii: "-")
        if negative { i += 1 }
        var n = 0, digits = 0
        while let c = peek, c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") {
            let (m, o1) = n.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.addingReportingOverflow(Int(c - UInt8(ascii: "0")))
            if o1 || o2 { return nil }
            n = s; digits += 1; i += 1
        }
        if peek == UInt8(ascii: "L") { i += 1 } // Python 2 longs: old files say (3L, 4L)
        return digits > 0 ? .int(negative ? -n : n) : nil
    }

    /// Comma-separated values with an optional trailing comma.
    private mutating func sequence(close: Character) -> [PyValue]? {
        i += 1; depth += 1
        defer { depth -= 1 }
        var items: [PyValue] = []
        while !eat(close) {
            guard let v = value() else { return nil }
            items.append(v)
            if !eat(",") { return eat(close) ? items : nil }
        }
        return items
    }

    private mutating func dict() -> PyValue? {
        i += 1; depth += 1
        defer { depth -= 1 }
        var d: [String: PyValue] = [:]
        while !eat("}") {
            skipSpace()
            guard peek == UInt8(ascii: "'") || peek == UInt8(ascii: "\""), let key = string(),
                  eat(":"), let v = value() else { return nil }
            d[key] = v
            if !eat(",") { return eat("}") ? .dict(d) : nil }
        }
        return .dict(d)
    }
}
