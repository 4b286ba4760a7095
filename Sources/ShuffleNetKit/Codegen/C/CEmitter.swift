/// Prints a `LayerProgram` as C: `PREFIX.h`, `PREFIX.c` (code and channel tables) and
/// `PREFIX_weights.c` (one read-only float array), from the templates in `templates/c/`.
public struct CEmitter {
    public var prefix: String
    /// `PREFIX_STACK_BYTES_MAX`: the stack `PREFIX_infer` may use (CSafetyTests checks it).
    public static let stackBytesMax = 4096

    public init(prefix: String) throws {
        guard let first = prefix.unicodeScalars.first, first == "_" || (first.properties.isAlphabetic && first.isASCII),
              prefix.unicodeScalars.allSatisfy({ $0.isASCII && ($0 == "_" || $0.properties.isAlphabetic || ("0"..."9").contains($0)) }) else {
            throw ShuffleNetError("--name '\(prefix)' is not a C identifier (letters, digits and _, not starting with a digit)")
        }
        self.prefix = prefix
    }

    /// File name -> contents.
    public func emit(_ program: LayerProgram, weightSource: String) throws -> [(name: String, text: String)] {
        let upper = prefix.uppercased()
        let kernels = try fillTemplate("c/kernels.c.in", [:])
        let layerFunctions = try CLayerFunctions(program, signatures: try cKernelSignatures(kernels), spelling: Self.spelling)
        let body = zip(program.layers, layerFunctions.calls).map { layer, calls in
            "    /* \(layer.comment) */\n" + calls.map { "    " + $0 + "\n" }.joined()
        }.joined()
        let called = Set(program.layers.flatMap { $0.kernels.map { Self.spelling.name($0.call.name) } })
        var tables = program.tables.enumerated().map { k, t in
            "static const int32_t map\(k)[\(t.count)] = {" + t.map(String.init).joined(separator: ", ") + "};\n"
        }.joined()
        if program.zeroRow > 0 {
            tables += "/* What the depthwise and pool kernels read above and below the image. */\nstatic const float zero_row[\(program.zeroRow)] = {0};\n"
        }
        let int8 = !program.weightsS8.isEmpty
        let source = try fillTemplate("c/source.c.in", [
            "PREFIX": prefix, "SPEC": program.spec.name, "SUMMARY": program.summary,
            "WEIGHT_DECLARATIONS": try weightBlobs(program).map { try blobType($0) + "extern const union \($0.name)_blob \($0.name);" }
                .joined(separator: "\n"),
            "KERNELS": try selectKernels(kernels, path: "c/kernels.c.in", used: called),
            "LAYER_FUNCTIONS": layerFunctions.definitions,
            "TABLES": tables,
            // int8: the float and the quantized-image entry points share one function of layers.
            "INFER": try fillTemplate(int8 ? "c/infer_int8.c.in" : "c/infer.c.in",
                                      ["PREFIX": prefix, "BODY": body.hasSuffix("\n") ? String(body.dropLast()) : body]),
            "MAIN": try fillTemplate("c/main.c.in", [
                "PREFIX": prefix, "PREFIX_UPPER": upper,
                // int8: a uint8 .npy goes to PREFIX_infer_quantized.
                "QUANTIZED_USAGE": int8 ? "\n * A uint8 .npy is taken as the image already quantized (see \(upper)_INPUT_SCALE in the header)\n * and goes to \(prefix)_infer_quantized." : "",
                "QUANTIZED_BUFFER": int8 ? "\n    static uint8_t input_q[\(upper)_INPUT_SIZE];" : "",
                "QUANTIZED_IMAGE": int8 ? "input_q" : "NULL",
                "INFER_CALL": int8 ? "(quantized ? \(prefix)_infer_quantized(input_q, logits, arena) : \(prefix)_infer(input, logits, arena))"
                    : "\(prefix)_infer(input, logits, arena)",
            ]),
        ])
        return [("\(prefix).h", try header(program)), ("\(prefix).c", source),
                ("\(prefix)_weights.c", try weightsFile(program, weightSource: weightSource, codeFile: "\(prefix).c"))]
    }

    /// `PREFIX.h`: the constants and `PREFIX_infer`, which the Embedded Swift backend's
    /// entry point implements too.
    func header(_ program: LayerProgram) throws -> String {
        let spec = program.spec
        return try fillTemplate("c/header.h.in", [
            "PREFIX": prefix, "SPEC": spec.name, "SUMMARY": program.summary,
            "PREFIX_UPPER": prefix.uppercased(), "IN_C": "3", "IN_H": "\(spec.inputSize)", "IN_W": "\(spec.inputSize)",
            "INPUT_SIZE": "\(program.inputCount)", "CLASSES": "\(program.outputCount)",
            "ARENA_BYTES": "\(program.arenaBytes)", "LOWER_BOUND": "\(program.lowerBound) bytes",
            "STACK_BYTES_MAX": "\(Self.stackBytesMax)",
            "QUANTIZED_INCLUDE": program.inputQuantization == nil ? "" : "\n\n#include <stdint.h>",
            "QUANTIZED_INPUT": try program.inputQuantization.map { q in
                try fillTemplate("c/header_quantized_input.h.in", [
                    "PREFIX": prefix, "PREFIX_UPPER": prefix.uppercased(), "SCALE": "\(q.scale)f", "ZERO_POINT": "\(q.zeroPoint)",
                ])
            } ?? "",
        ])
    }

    /// `PREFIX_weights.c`: the weights of `codeFile` as one read-only array, `PREFIX_weights`;
    /// an int8 network's also as `PREFIX_weights_s8` and `PREFIX_weights_s32` (the float array
    /// then holds the requantization multipliers and the classifier's bias).
    func weightsFile(_ program: LayerProgram, weightSource: String, codeFile: String) throws -> String {
        // Where the arrays go (a named section on ELF targets): the same for both precisions.
        let placement = try fillTemplate("c/weights_placement.c.in", [:])
        let blobs = try weightBlobs(program).map { blob in
            try blobType(blob) + fillTemplate("c/weights_blob.c.in", ["NAME": blob.name, "BYTES": Self.stringLiteralLines(blob.bytes())])
        }.joined(separator: "\n")
        guard !program.weightsS8.isEmpty else {
            return try fillTemplate("c/weights.c.in", [
                "PLACEMENT": placement, "PREFIX": prefix, "CODE_FILE": codeFile, "WEIGHT_COUNT": "\(program.weights.count)",
                "WEIGHT_SOURCE": weightSource, "BLOBS": blobs,
            ])
        }
        return try fillTemplate("c/weights_int8.c.in", [
            "PLACEMENT": placement, "PREFIX": prefix, "WEIGHT_SOURCE": weightSource, "WEIGHT_COUNT": "\(program.weights.count)",
            "S8_COUNT": "\(program.weightsS8.count)", "S32_COUNT": "\(program.weightsS32.count)", "BLOBS": blobs,
        ])
    }

    /// One read-only array of the weights file: its symbol, C element type, element count
    /// and, made only where the weights file is written, its little-endian bytes.
    struct WeightBlob {
        var name: String, type: String, count: Int, byteCount: Int
        var bytes: () -> [UInt8]
    }

    /// The arrays of a program's weights file; an empty one holds one zero (C has no empty arrays).
    func weightBlobs(_ program: LayerProgram) -> [WeightBlob] {
        func blob<T: FixedWidthInteger>(_ suffix: String, _ type: String, _ values: [T]) -> WeightBlob {
            let stored = values.isEmpty ? [T.zero] : values
            return WeightBlob(name: prefix + suffix, type: type, count: stored.count, byteCount: stored.count * MemoryLayout<T>.size,
                              bytes: { stored.map(\.littleEndian).withUnsafeBytes { Array($0) } })
        }
        let floats = blob("_weights", "float", program.weights.map(\.bitPattern))
        guard !program.weightsS8.isEmpty else { return [floats] }
        return [blob("_weights_s8", "int8_t", program.weightsS8), blob("_weights_s32", "int32_t", program.weightsS32), floats]
    }

    /// The union that lets a string literal's bytes be the storage of `blob.count` values (one
    /// byte more for the literal's terminating zero), the same text in the code file and the
    /// weights file, so both declare one type.
    func blobType(_ blob: WeightBlob) throws -> String {
        try fillTemplate("c/weights_blob_type.c.in", [
            "PREFIX": prefix, "NAME": blob.name, "TYPE": blob.type, "COUNT": "\(blob.count)", "BYTE_COUNT": "\(blob.byteCount + 1)",
        ])
    }

    /// Bytes as the lines of one C string literal, 96 bytes a line: printable ASCII as itself
    /// (but `"`, `\\` and `?`, which could start a trigraph), every other byte as a three-digit
    /// octal escape, which cannot swallow a digit after it.
    static func stringLiteralLines(_ bytes: [UInt8]) -> String {
        let quote = UInt8(ascii: "\""), backslash = UInt8(ascii: "\\"), zero = UInt8(ascii: "0")
        var text: [UInt8] = []
        text.reserveCapacity(bytes.count * 3 + bytes.count / 96 * 8 + 8)
        for (n, b) in bytes.enumerated() {
            if n % 96 == 0 { text += n == 0 ? Array("    \"".utf8) : Array("\"\n    \"".utf8) }
            if b >= 0x20 && b < 0x7F && b != quote && b != backslash && b != UInt8(ascii: "?") {
                text.append(b)
            } else {
                text += [backslash, zero + (b >> 6), zero + ((b >> 3) & 7), zero + (b & 7)]
            }
        }
        text.append(quote)
        return String(decoding: text, as: UTF8.self)
    }

    /// An array initializer's values, `perLine` a line, each line indented and ending in a comma.
    static func initializerLines(_ values: [String], perLine: Int = 8) -> String {
        stride(from: 0, to: values.count, by: perLine).map { start in
            "    " + values[start..<min(start + perLine, values.count)].joined(separator: ", ") + ","
        }.joined(separator: "\n")
    }

    /// Kernels are `sn_` + their name in snake_case; no pointer is `NULL`, flags are 0 or 1.
    static let spelling = KernelCall.Spelling(
        name: { "sn_" + $0.reduce(into: "") { out, ch in out += ch.isUppercase ? "_" + ch.lowercased() : String(ch) } },
        none: "NULL", flag: { $0 ? "1" : "0" }, floatSuffix: "f", zeroRow: "zero_row")

    func call(_ k: LayerProgram.Kernel) -> String { k.call.source(Self.spelling) }
}
