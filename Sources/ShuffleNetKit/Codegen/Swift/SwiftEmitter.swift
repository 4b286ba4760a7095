/// Prints a `LayerProgram` as Swift, from the templates in `templates/swift/`, in one of two
/// modes that share the skeleton and the kernels and differ in how the code reaches its
/// read-only data and what API it offers (`hosted.swift.in` and `embedded.swift.in` fill
/// the same places of `source.swift.in`):
/// - hosted: `PREFIX.swift` (a public enum with the shapes, the arena size, `infer` on
///   pointers and on arrays, the kernels and the channel tables) and `PREFIX_weights.swift`
///   (the weight blob as one base64 string literal, decoded once at run time);
/// - embedded (Embedded Swift on a microcontroller, built with -no-allocations):
///   `PREFIX.swift` (the enum without arrays, and the C entry point `PREFIX_infer`),
///   `PREFIX.h` (the C backend's header, which declares that entry point) and
///   `PREFIX_weights.c` (the C backend's weights file, plus the channel maps and zero row
///   and the functions that return their addresses), so the weights stay in flash.
///
/// Why base64 (swiftc -O on v2-1.0x's 2,272,192 floats, 2 cores, measured): one `[Float]`
/// literal fails to type-check after 30 s (5.2 GB); the same in 46 literals of 50,000
/// takes 461 s (4.5 GB; `[UInt32]` bit patterns are slower still); a base64 `StaticString`
/// takes about 2 s (hex 2.9 s), and decoding it with its digest check costs about 26 ms
/// at first use. A binary file read at start (fread, or mmap) compiles as fast and loads
/// in about 19 ms, but needs a path at run time and a byte-exact writer. So the weights
/// stay in a source file (no path to pass, no Foundation) and, like the C backend's
/// `_weights.c`, that file is not committed: the digest in the code file pins it.
public struct SwiftEmitter {
    public enum Mode: String, CaseIterable, Sendable {
        /// swiftc -O on a machine with an operating system.
        case hosted
        /// Embedded Swift, no heap: weights in C read-only data, a C entry point.
        case embedded
    }

    public var prefix: String
    /// The public enum: `shufflenet_v2_1_0x` -> `ShufflenetV2_1_0x`.
    public var typeName: String
    public var mode: Mode

    public init(prefix: String, mode: Mode = .hosted) throws {
        guard let first = prefix.unicodeScalars.first, first == "_" || (first.properties.isAlphabetic && first.isASCII),
              prefix.unicodeScalars.allSatisfy({ $0.isASCII && ($0 == "_" || $0.properties.isAlphabetic || ("0"..."9").contains($0)) }) else {
            throw ShuffleNetError("--name '\(prefix)' is not a Swift identifier (letters, digits and _, not starting with a digit)")
        }
        let name = Self.typeName(for: prefix)
        guard !Self.reserved.contains(name) else {
            throw ShuffleNetError("--name '\(prefix)' would name the generated type \(name), which the generated code itself uses; pick another name")
        }
        self.prefix = prefix
        self.typeName = name
        self.mode = mode
    }

    /// Words split at `_`, each capitalized; a word starting with a digit keeps its `_`.
    static func typeName(for prefix: String) -> String {
        var out = ""
        for (i, word) in prefix.split(separator: "_", omittingEmptySubsequences: false).enumerated() {
            guard let c = word.first else { out += "_"; continue }
            if c.isNumber { out += (i == 0 ? "" : "_") + word } else { out += c.uppercased() + word.dropFirst() }
        }
        if out.isEmpty || out.first!.isNumber { out = "_" + out }
        return out
    }

    /// Names the generated file refers to: a type called one of these would shadow it.
    static let reserved: Set<String> = [
        "Any", "Self", "Type", "Protocol", "Float", "Double", "Int", "Int32", "UInt8", "UInt32", "UInt64", "Bool",
        "String", "StaticString", "Array", "Optional", "Never", "SIMD", "SIMD4", "SIMD8", "SIMD16", "SIMD32", "SIMD64",
        "MemoryLayout", "Sendable", "ContinuousClock", "Data", "FileHandle", "FileManager", "CommandLine",
        "UnsafePointer", "UnsafeMutablePointer", "UnsafeRawPointer", "UnsafeMutableRawPointer",
    ]

    /// File name -> contents.
    public func emit(_ program: LayerProgram, weightSource: String) throws -> [(name: String, text: String)] {
        let spec = program.spec
        let file = "\(prefix).swift"
        let weightsFile = mode == .hosted ? "\(prefix)_weights.swift" : "\(prefix)_weights.c"
        let digest = Self.digest(program.weights)
        let summary = program.summary.replacingOccurrences(of: "\n * ", with: "\n// ")

        // Tables one after another in one array; map k is a pointer into it.
        var mapOffsets: [Int] = []
        var at = 0
        for t in program.tables {
            mapOffsets.append(at)
            at += t.count
        }

        let calls = program.layers.map { layer in
            (layer.comment, layer.kernels.map(call))
        }
        let body = calls.map { comment, lines in
            "        // \(comment)\n" + lines.map { "        \($0)\n" }.joined()
        }.joined()
        // Locals only for what the body uses (an unused one would be a warning).
        var locals: [String] = []
        if body.contains("W + ") { locals.append("        let W = s.weights") }
        if body.contains("Z)") { locals.append("        let Z = s.zeroRow") }
        for k in program.tables.indices where body.contains("map\(k),") || body.contains("map\(k))") {
            locals.append("        let map\(k) = s.maps + \(mapOffsets[k])")
        }
        if !locals.isEmpty { locals.insert("        let s = store", at: 0) }
        if body.contains("A + ") { locals.append("        let A = arena.bindMemory(to: Float.self, capacity: arenaBytes / 4)") }

        let modeParts: [String: String]
        switch mode {
        case .hosted:
            modeParts = try templateSections("swift/hosted.swift.in", [
                "FILE": file, "WEIGHTS_FILE": weightsFile, "SPEC": spec.name, "TYPE": typeName,
                "IN_C": "3", "IN_H": "\(spec.inputSize)", "IN_W": "\(spec.inputSize)", "CLASSES": "\(program.outputCount)",
                "WEIGHT_BYTES": grouped((program.weights.count + program.zeroRow + at) * 4),
                "TABLES": Self.tableLines(program.tables), "ZERO_ROW": "\(program.zeroRow)",
            ])
        case .embedded:
            modeParts = try templateSections("swift/embedded.swift.in", [
                "FILE": file, "WEIGHTS_FILE": weightsFile, "SPEC": spec.name, "TYPE": typeName, "PREFIX": prefix,
            ])
        }
        func part(_ name: String) throws -> String {
            guard let text = modeParts[name] else { throw ShuffleNetError("template swift/\(mode.rawValue).swift.in: no section '\(name)'") }
            return text
        }

        let source = try fillTemplate("swift/source.swift.in", [
            "FILE": file, "SPEC": spec.name, "SUMMARY": summary, "TYPE": typeName,
            "IN_C": "3", "IN_H": "\(spec.inputSize)", "IN_W": "\(spec.inputSize)",
            "INPUT_SIZE": "\(program.inputCount)", "CLASSES": "\(program.outputCount)",
            "ARENA_BYTES": "\(program.arenaBytes)", "LOWER_BOUND": "\(grouped(program.lowerBound)) bytes",
            "WEIGHT_COUNT": "\(program.weights.count)", "WEIGHTS_FILE": weightsFile,
            "DIGEST": digest, "LOCALS": locals.joined(separator: "\n"),
            "BODY": body.hasSuffix("\n") ? String(body.dropLast()) : body,
            "PRELUDE": try part("prelude"), "INPUT_SHAPE": try part("inputShape"), "OUTPUT_SHAPE": try part("outputShape"),
            "LOAD_WEIGHTS": try part("loadWeights"), "ARRAY_API": try part("arrayAPI"), "STORE": try part("store"),
            "KERNELS": try selectKernels(fillTemplate("swift/kernels.swift.in", [:]), path: "swift/kernels.swift.in",
                                         used: Set(program.layers.flatMap { $0.kernels.map { Self.spelling.name($0.call.name) } })),
            "MAIN": mode == .hosted ? try fillTemplate("swift/main.swift.in", ["TYPE": typeName]) : try part("entry"),
        ])
        switch mode {
        case .hosted:
            let weights = try fillTemplate("swift/weights.swift.in", [
                "FILE": weightsFile, "MAIN_FILE": file, "TYPE": typeName, "WEIGHT_COUNT": "\(program.weights.count)",
                "WEIGHT_SOURCE": weightSource, "DIGEST": digest, "BASE64": Self.base64Lines(program.weights),
            ])
            return [(file, source), (weightsFile, weights)]
        case .embedded:
            let c = try CEmitter(prefix: prefix)
            // Each table after a comment naming it, as in the hosted file. C has no empty
            // arrays: one unused entry or float when there is nothing to hold.
            let maps = program.tables.enumerated().map { k, t in
                "    /* map\(k): \(t.count) planes */\n" + CEmitter.initializerLines(t.map(String.init))
            }
            let weights = try c.weightsFile(program, weightSource: weightSource, codeFile: file)
                + fillTemplate("swift/readonly_data.c.in", [
                    "FILE": file, "PREFIX": prefix,
                    "MAP_COUNT": "\(max(at, 1))", "MAPS": maps.isEmpty ? "    0," : maps.joined(separator: "\n"),
                    "ZERO_ROW": "\(max(program.zeroRow, 1))",
                ])
            return [("\(prefix).h", try c.header(program)), (file, source), (weightsFile, weights)]
        }
    }

    /// The hosted channel-map array's initializer: each table after a comment naming it.
    static func tableLines(_ tables: [[Int32]]) -> String {
        var lines: [String] = []
        for (k, t) in tables.enumerated() {
            lines.append("        // map\(k): \(t.count) planes")
            for start in stride(from: 0, to: t.count, by: 24) {
                lines.append("        " + t[start..<min(start + 24, t.count)].map(String.init).joined(separator: ", ") + ",")
            }
        }
        return lines.isEmpty ? "" : "\n" + lines.joined(separator: "\n") + "\n    "
    }

    /// FNV-1a over the little-endian bytes of the blob, as `LayerProgram`'s summary has it.
    static func digest(_ weights: [Float]) -> String {
        var digest: UInt64 = 0xCBF2_9CE4_8422_2325
        for v in weights {
            var bits = v.bitPattern
            for _ in 0..<4 { digest = (digest ^ UInt64(bits & 0xFF)) &* 0x0000_0100_0000_01B3; bits >>= 8 }
        }
        let hex = String(digest, radix: 16)
        return "0x" + String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// Standard base64 of the float32 little-endian bytes, 100 characters a line.
    static func base64Lines(_ weights: [Float]) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(weights.count * 4)
        for v in weights {
            let b = v.bitPattern
            bytes += [UInt8(b & 0xFF), UInt8(b >> 8 & 0xFF), UInt8(b >> 16 & 0xFF), UInt8(b >> 24)]
        }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count / 3 * 4 + bytes.count / 75 + 8)
        var column = 0
        func put(_ c: UInt8) {
            if column == 100 { out.append(0x0A); column = 0 }
            out.append(c)
            column += 1
        }
        var i = 0
        while i < bytes.count {
            let n = min(3, bytes.count - i)
            let chunk = UInt32(bytes[i]) << 16 | (n > 1 ? UInt32(bytes[i + 1]) << 8 : 0) | (n > 2 ? UInt32(bytes[i + 2]) : 0)
            put(alphabet[Int(chunk >> 18 & 63)])
            put(alphabet[Int(chunk >> 12 & 63)])
            put(n > 1 ? alphabet[Int(chunk >> 6 & 63)] : UInt8(ascii: "="))
            put(n > 2 ? alphabet[Int(chunk & 63)] : UInt8(ascii: "="))
            i += 3
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Kernels are `sn` + their name in UpperCamelCase; no pointer is `nil`.
    static let spelling = KernelCall.Spelling(
        name: { "sn" + $0.prefix(1).uppercased() + $0.dropFirst() },
        none: "nil", flag: { "\($0)" }, floatSuffix: "", zeroRow: "Z")

    func call(_ k: LayerProgram.Kernel) -> String { k.call.source(Self.spelling) }
}
