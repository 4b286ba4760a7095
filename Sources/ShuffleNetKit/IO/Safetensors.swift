import Foundation

/// Reader and writer for the safetensors format:
/// `[u64 little-endian header length N][N bytes of JSON header][data buffer]`, where the
/// header maps tensor names to `{"dtype", "shape", "data_offsets": [begin, end]}` (offsets
/// relative to the data buffer) plus an optional `"__metadata__"` object of strings.
///
/// Files come from outside (PyTorch exports, downloads), so every header value is validated
/// against the bytes actually present before anything is sliced or allocated.
public enum Safetensors {
    /// Largest header accepted; real headers are a few hundred KB at most.
    public static let maxHeaderLength = 100 << 20

    public static func read(_ data: [UInt8], file: String) throws -> [String: Tensor] {
        try readWithMetadata(data, file: file).tensors
    }

    public static func read(path: String) throws -> [String: Tensor] {
        try read(readFileBytes(path), file: path)
    }

    /// Like `read`, but also returns the `__metadata__` string map.
    public static func readWithMetadata(_ data: [UInt8], file: String) throws
        -> (tensors: [String: Tensor], metadata: [String: String]) {
        func fail(_ message: String) -> ShuffleNetError { ShuffleNetError("\(file): \(message)") }

        guard data.count >= 8 else {
            throw fail("file is \(data.count) bytes, too short for the 8-byte safetensors header length")
        }
        let n = (0 ..< 8).reduce(UInt64(0)) { $0 | UInt64(data[$1]) << (8 * UInt64($1)) }
        // Compare before converting or slicing: n comes straight from the file.
        guard n <= UInt64(data.count - 8) else {
            throw fail("header length \(n) (file offset 0) is past the end of the file "
                + "(\(data.count) bytes, so at most \(data.count - 8) header bytes)")
        }
        guard n <= UInt64(maxHeaderLength) else {
            throw fail("header length \(n) exceeds the \(maxHeaderLength)-byte limit")
        }
        let dataStart = 8 + Int(n), dataSize = data.count - dataStart

        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: Data(data[8 ..< dataStart]))
        } catch {
            let why = (error as NSError).userInfo["NSDebugDescription"].map { ": \($0)" } ?? ""
            throw fail("header (file offsets 8..<\(dataStart)) is not valid JSON\(why)")
        }
        guard let header = json as? [String: Any] else {
            throw fail("header (file offsets 8..<\(dataStart)) is not a JSON object")
        }

        // Pass 1: validate every entry (sorted, so the first error reported is deterministic).
        var metadata: [String: String] = [:]
        var entries: [(name: String, dtype: String, shape: [Int], count: Int, begin: Int, end: Int)] = []
        for (name, value) in header.sorted(by: { $0.key < $1.key }) {
            if name == "__metadata__" {
                guard let m = value as? [String: Any] else { throw fail("__metadata__ is not a JSON object") }
                for (k, v) in m {
                    guard let s = v as? String else { throw fail("__metadata__ value for \"\(k)\" is not a string") }
                    metadata[k] = s
                }
                continue
            }
            // BatchNorm's step counter: int64 in PyTorch and meaningless for inference.
            if name.hasSuffix("num_batches_tracked") { continue }

            func bad(_ message: String) -> ShuffleNetError { fail("tensor \(name): \(message)") }
            guard let entry = value as? [String: Any] else { throw bad("header entry is not a JSON object") }
            guard let dtypeValue = entry["dtype"] else { throw bad("header entry has no \"dtype\"") }
            guard let dtype = dtypeValue as? String else { throw bad("\"dtype\" is not a string") }
            guard let shapeValue = entry["shape"] else { throw bad("header entry has no \"shape\"") }
            guard let shape = (shapeValue as? [Any]).flatMap(jsonInts) else {
                throw bad("\"shape\" is not a list of integers")
            }
            guard let offsetsValue = entry["data_offsets"] else { throw bad("header entry has no \"data_offsets\"") }
            guard let offsets = (offsetsValue as? [Any]).flatMap(jsonInts), offsets.count == 2 else {
                throw bad("\"data_offsets\" is not a list of two integers")
            }
            let (begin, end) = (offsets[0], offsets[1])
            let span = "data_offsets [\(begin),\(end)]"

            let width: Int
            switch dtype {
            case "F32": width = 4
            case "F16", "BF16": width = 2
            default: throw bad("dtype \(dtype) is not supported (expected F32, F16 or BF16)")
            }
            guard shape.allSatisfy({ $0 >= 0 }) else { throw bad("shape \(describe(shape: shape)) has a negative dimension") }
            guard begin >= 0, end >= 0 else { throw bad("\(span) are negative") }
            guard begin <= end else { throw bad("\(span) begin is after end") }
            guard end <= dataSize else {
                // end <= Int.max and dataStart <= 100 MB + 8, so UInt64 cannot overflow.
                throw bad("data_offsets end \(end) is past the end of the file's data (\(dataSize) bytes, file offset "
                    + "\(dataStart)); the tensor would end at file offset \(UInt64(dataStart) + UInt64(end)) "
                    + "of \(data.count)")
            }
            guard let count = IOSupport.elementCount(shape),
                  case let (bytes, false) = count.multipliedReportingOverflow(by: width)
            else { throw bad("shape \(describe(shape: shape)) of \(dtype) has too many elements (overflow)") }
            guard bytes == end - begin else {
                throw bad("shape \(describe(shape: shape)) of \(dtype) needs \(bytes) bytes but \(span) span \(end - begin)")
            }
            entries.append((name, dtype, shape, count, begin, end))
        }

        // Pass 2: byte ranges must be disjoint, otherwise two tensors would alias the same weights.
        let ranges = entries.filter { $0.begin < $0.end }.sorted { $0.begin < $1.begin }
        for (a, b) in zip(ranges, ranges.dropFirst()) where b.begin < a.end {
            throw fail("tensors \(a.name) (data_offsets [\(a.begin),\(a.end)]) and \(b.name) "
                + "(data_offsets [\(b.begin),\(b.end)]) overlap at file offsets "
                + "\(dataStart + b.begin)..<\(dataStart + min(a.end, b.end))")
        }

        // Pass 3: decode; every range was checked to lie inside `data`.
        var tensors: [String: Tensor] = [:]
        for e in entries {
            let start = dataStart + e.begin
            let values: [Float] = data.withUnsafeBytes { raw in
                switch e.dtype {
                case "F32": return IOSupport.decodeFloat32LE(raw, at: start, count: e.count)
                case "F16": return (0 ..< e.count).map { halfToFloat(loadUInt16LE(raw, start + 2 * $0)) }
                default: return (0 ..< e.count).map { bfloat16ToFloat(loadUInt16LE(raw, start + 2 * $0)) }
                }
            }
            tensors[e.name] = Tensor(shape: e.shape, data: values)
        }
        return (tensors, metadata)
    }

    /// Encodes F32 tensors. Output is byte-stable for equal input: keys are sorted and the
    /// header is written by hand (JSONSerialization's key order and number formatting are not
    /// guaranteed). The header is space-padded to a multiple of 8 so the data stays aligned.
    public static func encode(_ tensors: [String: Tensor], metadata: [String: String] = [:]) -> [UInt8] {
        precondition(tensors["__metadata__"] == nil, "\"__metadata__\" is reserved and cannot name a tensor")
        let sorted = tensors.sorted { $0.key < $1.key }
        var fields: [String] = []
        if !metadata.isEmpty {
            let pairs = metadata.sorted { $0.key < $1.key }.map { jsonString($0.key) + ":" + jsonString($0.value) }
            fields.append("\"__metadata__\":{" + pairs.joined(separator: ",") + "}")
        }
        var offset = 0
        for (name, t) in sorted {
            let end = offset + 4 * t.count
            fields.append(jsonString(name) + ":{\"dtype\":\"F32\",\"shape\":[" + t.shape.map(String.init).joined(separator: ",")
                + "],\"data_offsets\":[\(offset),\(end)]}")
            offset = end
        }
        var header = Array(("{" + fields.joined(separator: ",") + "}").utf8)
        header += repeatElement(UInt8(ascii: " "), count: (8 - header.count % 8) % 8)

        var out: [UInt8] = []
        out.reserveCapacity(8 + header.count + offset)
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { out += $0 }
        out += header
        for (_, t) in sorted { IOSupport.appendFloat32LE(t.data, to: &out) }
        return out
    }

    public static func write(_ tensors: [String: Tensor], to path: String, metadata: [String: String] = [:]) throws {
        try writeFileAtomically(encode(tensors, metadata: metadata), to: path)
    }

    /// IEEE 754 binary16 -> Float. Every half value is exactly representable as a Float.
    public static func halfToFloat(_ h: UInt16) -> Float {
        let sign = UInt32(h & 0x8000) << 16
        let exponent = UInt32(h >> 10) & 0x1F
        let mantissa = UInt32(h & 0x3FF)
        switch exponent {
        case 0: // zero or subnormal: mantissa * 2^-24, exact in Float
            let magnitude = Float(mantissa) * 0x1p-24
            return sign == 0 ? magnitude : -magnitude
        case 0x1F: // inf (mantissa 0) or NaN (payload kept in the top mantissa bits)
            return Float(bitPattern: sign | 0x7F80_0000 | mantissa << 13)
        default: // rebias exponent from 15 to 127
            return Float(bitPattern: sign | (exponent + 112) << 23 | mantissa << 13)
        }
    }

    /// bfloat16 is the top half of a binary32, so widening is a shift (covers inf/NaN/subnormals).
    public static func bfloat16ToFloat(_ b: UInt16) -> Float {
        Float(bitPattern: UInt32(b) << 16)
    }
}

// MARK: - Helpers shared with Npy

/// Namespaced so these generic names cannot clash with helpers elsewhere in the module.
enum IOSupport {
    /// Product of dims, nil on overflow. An empty shape (0-d tensor) has one element.
    static func elementCount(_ shape: [Int]) -> Int? {
        var count = 1
        for d in shape {
            let (p, overflow) = count.multipliedReportingOverflow(by: d)
            if overflow { return nil }
            count = p
        }
        return count
    }

    /// `count` little-endian float32 values starting at byte `start`; the caller has bounds-checked.
    static func decodeFloat32LE(_ raw: UnsafeRawBufferPointer, at start: Int, count: Int) -> [Float] {
        (0 ..< count).map {
            Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: start + 4 * $0, as: UInt32.self)))
        }
    }

    static func appendFloat32LE(_ values: [Float], to out: inout [UInt8]) {
        #if _endian(little)
        values.withUnsafeBytes { out += $0 }
        #else
        for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { out += $0 } }
        #endif
    }
}

private func loadUInt16LE(_ raw: UnsafeRawBufferPointer, _ offset: Int) -> UInt16 {
    UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
}

/// JSON integers only. JSONSerialization also turns `true` and `2.5` into NSNumber, and
/// `as? Int` would accept `true` as 1 and `2.0` as 2; the objCType tells them apart.
private func jsonInts(_ values: [Any]) -> [Int]? {
    var out: [Int] = []
    for v in values {
        guard let n = v as? NSNumber, let i = v as? Int,
              !["c", "d", "f"].contains(String(cString: n.objCType)) else { return nil }
        out.append(i)
    }
    return out
}

/// A JSON string literal, escaping what RFC 8259 requires.
private func jsonString(_ s: String) -> String {
    var out = "\""
    for u in s.unicodeScalars {
        switch u {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case _ where u.value < 0x20:
            let hex = String(u.value, radix: 16)
            out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        default: out.unicodeScalars.append(u)
        }
    }
    return out + "\""
}
