import Foundation

/// Which of the two reference channel shuffles a network uses. They are inverses of each
/// other, and pretrained weights only give the right answer with their own order.
public enum ShuffleOrder: String, Codable, Sendable, CaseIterable {
    /// torchvision's v2: view `[g, C/g]`, transpose: `out[c*g + i] = in[i*(C/g) + c]`.
    case torchvision
    /// Megvii's v1: view `[C/g, g]`, permute: `out[i*(C/g) + c] = in[c*g + i]`.
    case megvii

    /// `source[k]` is the input channel that output channel `k` of the shuffle reads.
    public func sourceChannels(channels: Int, groups: Int) -> [Int] {
        let perGroup = channels / groups
        var source = [Int](repeating: 0, count: channels)
        for i in 0..<groups {
            for c in 0..<perGroup {
                switch self {
                case .torchvision: source[c * groups + i] = i * perGroup + c
                case .megvii: source[i * perGroup + c] = c * groups + i
                }
            }
        }
        return source
    }
}

public enum Family: String, Codable, Sendable {
    case v1, v2
}

/// Everything that defines one ShuffleNet variant. Built-in names map to the reference
/// implementations (torchvision for v2, Megvii for v1); a JSON file gives a custom one.
public struct NetworkSpec: Codable, Equatable, Sendable {
    public var name: String
    public var family: Family
    public var inputSize: Int
    public var numClasses: Int
    public var stageRepeats: [Int]
    /// v2: `[conv1, stage2, stage3, stage4, conv5]`; v1: `[first_conv, stage2, stage3, stage4]`.
    public var channels: [Int]
    /// v1's group count for the pointwise convs; v2 always splits in 2 and has no groups.
    public var groups: Int
    public var shuffleOrder: ShuffleOrder

    public init(name: String, family: Family, inputSize: Int = 224, numClasses: Int = 1000,
                stageRepeats: [Int] = [4, 8, 4], channels: [Int], groups: Int,
                shuffleOrder: ShuffleOrder? = nil) {
        self.name = name
        self.family = family
        self.inputSize = inputSize
        self.numClasses = numClasses
        self.stageRepeats = stageRepeats
        self.channels = channels
        self.groups = groups
        self.shuffleOrder = shuffleOrder ?? (family == .v2 ? .torchvision : .megvii)
    }

    enum CodingKeys: String, CodingKey {
        case name, family, inputSize, numClasses, stageRepeats, channels, groups, shuffleOrder
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let family = try c.decode(Family.self, forKey: .family)
        self.init(
            name: try c.decodeIfPresent(String.self, forKey: .name) ?? "custom",
            family: family,
            inputSize: try c.decodeIfPresent(Int.self, forKey: .inputSize) ?? 224,
            numClasses: try c.decodeIfPresent(Int.self, forKey: .numClasses) ?? 1000,
            stageRepeats: try c.decodeIfPresent([Int].self, forKey: .stageRepeats) ?? [4, 8, 4],
            channels: try c.decode([Int].self, forKey: .channels),
            groups: try c.decodeIfPresent(Int.self, forKey: .groups) ?? (family == .v2 ? 1 : 3),
            shuffleOrder: try c.decodeIfPresent(ShuffleOrder.self, forKey: .shuffleOrder))
    }

    /// The spatial size after each downsampling step, as the reference computes it.
    static func convOut(_ size: Int, kernel: Int, stride: Int, pad: Int) -> Int {
        (size + 2 * pad - kernel) / stride + 1
    }

    /// Checks every divisibility and size the architecture relies on, so that a bad spec
    /// fails here with a sentence instead of deep inside graph construction.
    public func validate() throws {
        func fail(_ why: String) -> ShuffleNetError { ShuffleNetError("spec \(name): \(why)") }
        let stages = stageRepeats.count
        let expected = family == .v2 ? stages + 2 : stages + 1
        guard stages >= 1 else { throw fail("stageRepeats must name at least one stage") }
        guard stageRepeats.allSatisfy({ $0 >= 1 && $0 <= 64 }) else {
            throw fail("every stage repeat must be between 1 and 64, got \(stageRepeats)")
        }
        guard channels.count == expected else {
            throw fail("\(family.rawValue) with \(stages) stages needs \(expected) channel counts, got \(channels.count) (\(channels))")
        }
        guard channels.allSatisfy({ $0 >= 1 && $0 <= 16384 }) else {
            throw fail("channel counts must be between 1 and 16384, got \(channels)")
        }
        guard (1...4096).contains(inputSize) else { throw fail("inputSize must be between 1 and 4096, got \(inputSize)") }
        guard (1...100_000).contains(numClasses) else { throw fail("numClasses must be between 1 and 100000, got \(numClasses)") }
        switch family {
        case .v2:
            guard groups == 1 else { throw fail("v2 has no groups (it always splits channels in two); got groups \(groups)") }
            for (s, c) in channels[1...stages].enumerated() where c % 2 != 0 {
                throw fail("stage\(s + 2) has \(c) channels; v2 splits them in two, so they must be even")
            }
        case .v1:
            guard (1...64).contains(groups) else { throw fail("groups must be between 1 and 64, got \(groups)") }
            var input = channels[0]
            for s in 0..<stages {
                let out = channels[s + 1]
                guard out % 4 == 0 else { throw fail("stage\(s + 2) has \(out) channels; v1 needs a multiple of 4 (mid = out/4)") }
                let mid = out / 4
                guard mid % groups == 0 else {
                    throw fail("stage\(s + 2) has \(out) channels: mid = \(mid) does not divide by groups \(groups)")
                }
                guard out > input else {
                    throw fail("stage\(s + 2) has \(out) channels, not more than its input \(input); the stride-2 unit concatenates its input")
                }
                let branchOut = out - input
                guard branchOut % groups == 0, out % groups == 0 else {
                    throw fail("stage\(s + 2): output channels \(branchOut) (stride 2) and \(out) (stride 1) must divide by groups \(groups)")
                }
                if s > 0, input % groups != 0 {
                    throw fail("stage\(s + 2): input channels \(input) do not divide by groups \(groups)")
                }
                input = out
            }
        }
    }
}

/// The built-in specs: torchvision's four ShuffleNetV2 widths and the ShuffleNet v1 table
/// of the paper (g=3 and g=8 at four widths; g=1, 2, 4 at 1.0x).
public enum BuiltinSpecs {
    public static let all: [NetworkSpec] = {
        var specs: [NetworkSpec] = [
            NetworkSpec(name: "v2-0.5x", family: .v2, channels: [24, 48, 96, 192, 1024], groups: 1),
            NetworkSpec(name: "v2-1.0x", family: .v2, channels: [24, 116, 232, 464, 1024], groups: 1),
            NetworkSpec(name: "v2-1.5x", family: .v2, channels: [24, 176, 352, 704, 1024], groups: 1),
            NetworkSpec(name: "v2-2.0x", family: .v2, channels: [24, 244, 488, 976, 2048], groups: 1),
        ]
        let v1: [(Int, String, [Int])] = [
            (3, "0.5x", [12, 120, 240, 480]), (3, "1.0x", [24, 240, 480, 960]),
            (3, "1.5x", [24, 360, 720, 1440]), (3, "2.0x", [48, 480, 960, 1920]),
            (8, "0.5x", [16, 192, 384, 768]), (8, "1.0x", [24, 384, 768, 1536]),
            (8, "1.5x", [24, 576, 1152, 2304]), (8, "2.0x", [48, 768, 1536, 3072]),
            (1, "1.0x", [24, 144, 288, 576]), (2, "1.0x", [24, 200, 400, 800]),
            (4, "1.0x", [24, 272, 544, 1088]),
        ]
        for (g, width, channels) in v1 {
            specs.append(NetworkSpec(name: "v1-g\(g)-\(width)", family: .v1, channels: channels, groups: g))
        }
        return specs
    }()

    public static var names: [String] { all.map(\.name) }

    public static func named(_ name: String) -> NetworkSpec? { all.first { $0.name == name } }
}

/// Resolves `--spec`: a built-in name, or a path to a JSON spec file.
///
/// A spec file comes from outside, so it is checked before anything is built from it: at
/// most 1 MiB (read no further), UTF-8, strict JSON (RFC 8259) with at most 32 levels of
/// nesting (checked without recursion), no duplicate keys at any level, no unknown fields,
/// whole numbers only (no fraction or exponent, within 64 bits), a name that is safe in
/// file names and C comments, `validate()`, and a network whose weights and largest
/// activation each fit in 2^28 floats. Every failure is a ShuffleNetError naming the file
/// and, where there is one, the line, column and field.
public func loadSpec(_ nameOrPath: String) throws -> NetworkSpec {
    if let spec = BuiltinSpecs.named(nameOrPath) { return spec }
    let looksLikeFile = nameOrPath.hasSuffix(".json") || nameOrPath.contains("/")
    guard looksLikeFile else {
        throw ShuffleNetError("unknown spec '\(nameOrPath)'; valid names: \(BuiltinSpecs.names.joined(separator: ", ")), or a path to a JSON spec file")
    }
    let bytes = try readSpecFile(nameOrPath, limit: specFileLimit)
    var checker = SpecJSONChecker(bytes: bytes, file: nameOrPath)
    try checker.check()
    let spec: NetworkSpec
    do {
        spec = try JSONDecoder().decode(NetworkSpec.self, from: Data(bytes))
    } catch let DecodingError.keyNotFound(key, _) {
        throw ShuffleNetError("\(nameOrPath): missing field '\(key.stringValue)'")
    } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context) {
        let path = context.codingPath.map(\.stringValue).joined(separator: ".")
        throw ShuffleNetError("\(nameOrPath): field '\(path)' has the wrong type: \(context.debugDescription)")
    } catch let DecodingError.dataCorrupted(context) {
        let path = context.codingPath.map(\.stringValue).joined(separator: ".")
        throw ShuffleNetError("\(nameOrPath): invalid spec\(path.isEmpty ? "" : " at '\(path)'"): \(context.debugDescription)")
    } catch {
        throw ShuffleNetError("\(nameOrPath): not a valid JSON spec: \(error)")
    }
    try checkSpecName(spec.name, file: nameOrPath)
    try spec.validate()
    try checkSpecSize(spec, file: nameOrPath)
    return spec
}

private let specFileLimit = 1 << 20

/// Reads at most `limit` bytes (one more to tell "too big"), so `/dev/zero` or a huge file
/// fails fast instead of filling memory; errors say why (errno).
private func readSpecFile(_ path: String, limit: Int) throws -> [UInt8] {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw ShuffleNetError("cannot read spec file \(path): \(specErrnoText(errno))") }
    defer { close(fd) }
    var out = [UInt8](repeating: 0, count: limit + 1)
    var done = 0
    while done <= limit {
        let n = out.withUnsafeMutableBytes { read(fd, $0.baseAddress! + done, limit + 1 - done) }
        if n < 0 {
            if errno == EINTR { continue }
            throw ShuffleNetError("cannot read spec file \(path): \(specErrnoText(errno))")
        }
        if n == 0 { break }
        done += n
    }
    guard done <= limit else {
        throw ShuffleNetError("\(path): spec file is larger than \(limit) bytes; a spec is a small JSON object (at most 1 MiB)")
    }
    guard done > 0 else { throw ShuffleNetError("\(path): spec file is empty; expected a JSON object") }
    out.removeSubrange(done...)
    return out
}

private func specErrnoText(_ code: Int32) -> String {
    switch code {
    case ENOENT: return "no such file or directory"
    case EACCES, EPERM: return "permission denied"
    case EISDIR: return "is a directory"
    case ENOTDIR: return "a parent path is not a directory"
    default: return String(cString: strerror(code)).lowercased()
    }
}

/// The name ends up in file names, C identifiers (via the default prefix), C comments,
/// reports and SVG: a `*/` or a newline in it would break the emitted code.
private func checkSpecName(_ name: String, file: String) throws {
    let allowed = name.unicodeScalars.allSatisfy {
        $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "-" || $0 == "_" || $0 == ".")
    }
    guard allowed, (1...64).contains(name.unicodeScalars.count) else {
        let shown = name.unicodeScalars.count > 64 ? String(name.unicodeScalars.prefix(64)) + "..." : name
        throw ShuffleNetError("\(file): spec name \(specQuoted(shown)) must be 1 to 64 ASCII letters, digits, '-', '_' or '.' "
                              + "(it names the generated files and C symbols)")
    }
}

/// `validate()` bounds each number; these bound what they multiply to, so a spec that
/// passes cannot ask for more memory than a machine has (the graph is cheap to build once
/// the stage count is bounded).
private func checkSpecSize(_ spec: NetworkSpec, file: String) throws {
    let maxStages = 16, maxUnits = 1024, maxFloats = 1 << 28
    guard spec.stageRepeats.count <= maxStages else {
        throw ShuffleNetError("\(file): spec \(spec.name): \(spec.stageRepeats.count) stages; at most \(maxStages) are supported")
    }
    let units = spec.stageRepeats.reduce(0, +)
    guard units <= maxUnits else {
        throw ShuffleNetError("\(file): spec \(spec.name): \(units) units in all stages; at most \(maxUnits) are supported")
    }
    let graph = try buildGraph(spec)
    let params = graph.totalParameters
    guard params <= maxFloats else {
        throw ShuffleNetError("\(file): spec \(spec.name) has \(params) parameters; at most \(maxFloats) (1 GiB of float32) are supported")
    }
    if let big = graph.nodes.first(where: { $0.shape.count > maxFloats }) {
        throw ShuffleNetError("\(file): spec \(spec.name): \(big.name) would be \(big.shape) = \(big.shape.count) floats; "
                              + "at most \(maxFloats) (1 GiB) per activation are supported")
    }
}

private func specQuoted(_ s: String) -> String {
    var out = "'"
    for u in s.unicodeScalars {
        if u.value < 0x20 || u.value == 0x7F || u == "\\" || u == "'" {
            out += u.value < 0x20 || u.value == 0x7F ? "\\u{\(String(u.value, radix: 16))}" : "\\\(u)"
        } else {
            out.unicodeScalars.append(u)
        }
    }
    return out + "'"
}

/// A strict RFC 8259 checker for spec files that never recurses (an explicit stack, capped
/// at `maxDepth`), so 100,000 nested brackets cost one error, not the stack. It also refuses
/// what JSONDecoder would let through silently: duplicate keys (it keeps one of them),
/// unknown fields (a typo like "group" would fall back to the default), and numbers that
/// are not plain 64-bit integers (which JSONDecoder reports only as "not valid JSON").
private struct SpecJSONChecker {
    let bytes: [UInt8]
    let file: String
    var i = 0
    static let maxDepth = 32
    static let fields = ["name", "family", "inputSize", "numClasses", "stageRepeats", "channels", "groups", "shuffleOrder"]

    enum Container { case object(keys: Set<String>, key: String?), array(index: Int) }
    var stack: [Container] = []

    init(bytes: [UInt8], file: String) {
        self.bytes = bytes
        self.file = file
    }

    /// "line 3, column 7" of byte offset `at` (columns count bytes, 1-based).
    func position(_ at: Int) -> String {
        var line = 1, lineStart = 0
        for k in 0..<min(at, bytes.count) where bytes[k] == 0x0A { line += 1; lineStart = k + 1 }
        return "line \(line), column \(at - lineStart + 1)"
    }

    /// `channels[3]`, `stageRepeats`: where the checker is, for messages.
    var path: String {
        var out = ""
        for c in stack {
            switch c {
            case let .object(_, key): if let key { out += out.isEmpty ? key : ".\(key)" }
            case let .array(index): out += "[\(index)]"
            }
        }
        return out
    }

    /// `spec.json: line 3, column 7 (in 'channels[2]'): why`.
    func fail(_ why: String, at: Int) -> ShuffleNetError {
        var p = path
        if p.count > 60 { p = String(p.prefix(60)) + "..." }
        return ShuffleNetError("\(file): \(position(at))\(p.isEmpty ? "" : " (in '\(p)')"): \(why)")
    }
    func syntax(_ why: String, at: Int) -> ShuffleNetError { fail("invalid JSON: \(why)", at: at) }

    func describe(_ at: Int) -> String {
        guard at < bytes.count else { return "the end of the file" }
        let c = bytes[at]
        return (0x21...0x7E).contains(c) ? "'\(Character(Unicode.Scalar(c)))'" : "byte 0x\(String(c, radix: 16, uppercase: true))"
    }

    mutating func skipSpace() {
        while i < bytes.count, [0x20, 0x0A, 0x0D, 0x09].contains(bytes[i]) { i += 1 }
    }

    mutating func check() throws {
        // The UTF-8 check first, so everything after can look at bytes.
        var parser = Unicode.UTF8.ForwardParser()
        var iterator = bytes.makeIterator()
        var offset = 0
        decoding: while true {
            switch parser.parseScalar(from: &iterator) {
            case let .valid(s): offset += s.count
            case .emptyInput: break decoding
            case .error: throw ShuffleNetError("\(file): not UTF-8 text (invalid byte 0x\(String(bytes[offset], radix: 16, uppercase: true)) at \(position(offset)))")
            }
        }
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { i = 3 } // a UTF-8 byte order mark, as JSONDecoder allows
        skipSpace()
        guard i < bytes.count, bytes[i] == UInt8(ascii: "{") else {
            throw ShuffleNetError("\(file): a spec is a JSON object ({\"family\": ..., \"channels\": [...]}), but the file starts with \(describe(i)) at \(position(i))")
        }
        try value()
        skipSpace()
        guard i == bytes.count else { throw syntax("unexpected \(describe(i)) after the spec object", at: i) }
    }

    /// One complete top-level value, iteratively.
    mutating func value() throws {
        repeat {
            skipSpace()
            guard i < bytes.count else { throw syntax("the file ends inside a value", at: i) }
            switch bytes[i] {
            case UInt8(ascii: "{"):
                guard stack.count < Self.maxDepth else { throw fail("nested deeper than \(Self.maxDepth) levels", at: i) }
                i += 1
                stack.append(.object(keys: [], key: nil))
                skipSpace()
                if i < bytes.count, bytes[i] == UInt8(ascii: "}") { i += 1; stack.removeLast(); break }
                try key()
                continue
            case UInt8(ascii: "["):
                guard stack.count < Self.maxDepth else { throw fail("nested deeper than \(Self.maxDepth) levels", at: i) }
                i += 1
                stack.append(.array(index: 0))
                skipSpace()
                if i < bytes.count, bytes[i] == UInt8(ascii: "]") { i += 1; stack.removeLast(); break }
                continue
            case UInt8(ascii: "\""): _ = try string()
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): try number()
            case UInt8(ascii: "t"): try literal("true")
            case UInt8(ascii: "f"): try literal("false")
            case UInt8(ascii: "n"): try literal("null")
            default: throw syntax("expected a value, found \(describe(i))", at: i)
            }
            try afterValue()
        } while !stack.isEmpty
    }

    /// After a complete value: close containers or move to the next element / key.
    mutating func afterValue() throws {
        while let top = stack.last {
            skipSpace()
            let c: UInt8? = i < bytes.count ? bytes[i] : nil
            switch top {
            case let .array(index):
                if c == UInt8(ascii: ",") {
                    i += 1
                    stack[stack.count - 1] = .array(index: index + 1)
                    return
                }
                guard c == UInt8(ascii: "]") else { throw syntax("expected ',' or ']' in a list, found \(describe(i))", at: i) }
                i += 1
                stack.removeLast()
            case .object:
                if c == UInt8(ascii: ",") {
                    i += 1
                    try key()
                    return
                }
                guard c == UInt8(ascii: "}") else { throw syntax("expected ',' or '}' in an object, found \(describe(i))", at: i) }
                i += 1
                stack.removeLast()
            }
        }
    }

    /// `"key":` inside the object on top of the stack.
    mutating func key() throws {
        if case let .object(keys, _) = stack[stack.count - 1] { stack[stack.count - 1] = .object(keys: keys, key: nil) }
        skipSpace()
        guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw syntax("expected a quoted key, found \(describe(i))", at: i) }
        let at = i
        let name = try string()
        guard case .object(var keys, _) = stack[stack.count - 1] else { return }
        guard !keys.contains(name) else {
            throw fail("duplicate key \(specQuoted(name)); each field may appear only once", at: at)
        }
        if stack.count == 1, !Self.fields.contains(name) {
            throw fail("unknown field \(specQuoted(name)); a spec has \(Self.fields.joined(separator: ", "))", at: at)
        }
        keys.insert(name)
        stack[stack.count - 1] = .object(keys: keys, key: name)
        skipSpace()
        guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { throw syntax("expected ':' after key \(specQuoted(name)), found \(describe(i))", at: i) }
        i += 1
    }

    mutating func literal(_ word: String) throws {
        guard bytes[i...].starts(with: word.utf8) else { throw syntax("expected a value, found \(describe(i))", at: i) }
        i += word.utf8.count
    }

    /// A string; returns it unescaped (keys are compared unescaped).
    mutating func string() throws -> String {
        let start = i
        i += 1
        var scalars = String.UnicodeScalarView()
        var run = i
        func flush() { scalars.append(contentsOf: String(decoding: bytes[run..<i], as: UTF8.self).unicodeScalars) }
        while true {
            guard i < bytes.count else { throw syntax("unterminated string (opened at \(position(start)))", at: i) }
            let c = bytes[i]
            if c == UInt8(ascii: "\"") { flush(); i += 1; return String(scalars) }
            if c < 0x20 { throw syntax("control character 0x\(String(c, radix: 16, uppercase: true)) inside a string (escape it)", at: i) }
            guard c == UInt8(ascii: "\\") else { i += 1; continue }
            flush()
            guard i + 1 < bytes.count else { throw syntax("unterminated string (opened at \(position(start)))", at: i) }
            let e = bytes[i + 1]
            switch e {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): scalars.append(Unicode.Scalar(e)); i += 2
            case UInt8(ascii: "b"): scalars.append("\u{8}"); i += 2
            case UInt8(ascii: "f"): scalars.append("\u{C}"); i += 2
            case UInt8(ascii: "n"): scalars.append("\n"); i += 2
            case UInt8(ascii: "r"): scalars.append("\r"); i += 2
            case UInt8(ascii: "t"): scalars.append("\t"); i += 2
            case UInt8(ascii: "u"):
                let high = try hex4(at: i + 2)
                i += 6
                if (0xD800..<0xDC00).contains(high) {
                    let paired = i + 1 < bytes.count && bytes[i] == UInt8(ascii: "\\") && bytes[i + 1] == UInt8(ascii: "u")
                    let low = paired ? try hex4(at: i + 2) : 0
                    guard (0xDC00..<0xE000).contains(low) else {
                        throw syntax("\\u escape \(String(high, radix: 16)) is an unpaired surrogate", at: i - 6)
                    }
                    i += 6
                    scalars.append(Unicode.Scalar(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))!)
                } else if let s = Unicode.Scalar(high) {
                    scalars.append(s)
                } else {
                    throw syntax("\\u escape \(String(high, radix: 16)) is an unpaired surrogate", at: i - 6)
                }
            default: throw syntax("invalid escape \\\(describe(i + 1)) in a string", at: i)
            }
            run = i
        }
    }

    func hex4(at: Int) throws -> UInt32 {
        guard at + 4 <= bytes.count else { throw syntax("\\u escape needs 4 hex digits", at: at - 2) }
        var v: UInt32 = 0
        for k in at..<(at + 4) {
            guard let d = Character(Unicode.Scalar(bytes[k])).hexDigitValue else { throw syntax("\\u escape needs 4 hex digits", at: at - 2) }
            v = v << 4 | UInt32(d)
        }
        return v
    }

    /// RFC 8259 number syntax; every number in a spec is a count, so it must also be a
    /// whole number without fraction or exponent that fits in 64 bits.
    mutating func number() throws {
        let start = i
        if bytes[i] == UInt8(ascii: "-") { i += 1 }
        func digits() -> Int {
            let s = i
            while i < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[i]) { i += 1 }
            return i - s
        }
        let intStart = i
        let n = digits()
        guard n > 0 else { throw syntax("'-' must be followed by a digit", at: start) }
        guard n == 1 || bytes[intStart] != UInt8(ascii: "0") else { throw syntax("numbers may not have leading zeros", at: start) }
        var whole = true
        if i < bytes.count, bytes[i] == UInt8(ascii: ".") {
            i += 1
            guard digits() > 0 else { throw syntax("a '.' in a number must be followed by a digit", at: start) }
            whole = false
        }
        if i < bytes.count, bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
            i += 1
            if i < bytes.count, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") { i += 1 }
            guard digits() > 0 else { throw syntax("an exponent in a number needs digits", at: start) }
            whole = false
        }
        let text = String(decoding: bytes[start..<i], as: UTF8.self)
        guard whole else { throw fail("\(text) is not a whole number; spec fields are integers", at: start) }
        guard Int64(text) != nil else { throw fail("\(text) does not fit in a 64-bit integer", at: start) }
    }
}
