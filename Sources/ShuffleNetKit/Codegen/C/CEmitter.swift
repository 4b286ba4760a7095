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
        let body = program.layers.map { layer in
            "    /* \(layer.comment) */\n" + layer.kernels.map { "    " + call($0) + ";\n" }.joined()
        }.joined()
        let called = Set(program.layers.flatMap { $0.kernels.map { Self.spelling.name($0.call.name) } })
        var tables = program.tables.enumerated().map { k, t in
            "static const int32_t map\(k)[\(t.count)] = {" + t.map(String.init).joined(separator: ", ") + "};\n"
        }.joined()
        if program.zeroRow > 0 {
            tables += "/* What the depthwise kernels read above and below the image. */\nstatic const float zero_row[\(program.zeroRow)] = {0};\n"
        }
        let int8 = !program.weightsS8.isEmpty
        let source = try fillTemplate("c/source.c.in", [
            "PREFIX": prefix, "SPEC": program.spec.name, "SUMMARY": program.summary,
            "INT8_DECLARATIONS": int8 ? "\nextern const int8_t \(prefix)_weights_s8[\(max(1, program.weightsS8.count))];"
                + "\nextern const int32_t \(prefix)_weights_s32[\(max(1, program.weightsS32.count))];" : "",
            "WEIGHT_COUNT": "\(program.weights.count)",
            "KERNELS": try selectKernels(fillTemplate("c/kernels.c.in", [:]), path: "c/kernels.c.in", used: called),
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

    /// `PREFIX_weights.c`: the weights of `codeFile` as one read-only float array, `PREFIX_weights`;
    /// an int8 network's also as `PREFIX_weights_s8` and `PREFIX_weights_s32` (the float array
    /// then holds the requantization multipliers and the classifier's bias).
    func weightsFile(_ program: LayerProgram, weightSource: String, codeFile: String) throws -> String {
        // Where the arrays go (a named section on ELF targets): the same for both precisions.
        let placement = try fillTemplate("c/weights_placement.c.in", [:])
        guard !program.weightsS8.isEmpty else {
            return try fillTemplate("c/weights.c.in", [
                "PLACEMENT": placement, "PREFIX": prefix, "CODE_FILE": codeFile, "WEIGHT_COUNT": "\(program.weights.count)", "WEIGHT_SOURCE": weightSource,
                "WEIGHTS": Self.initializerLines(program.weights.map { "\($0)f" }),
            ])
        }
        return try fillTemplate("c/weights_int8.c.in", [
            "PLACEMENT": placement, "PREFIX": prefix, "WEIGHT_SOURCE": weightSource, "WEIGHT_COUNT": "\(max(1, program.weights.count))",
            "S8_COUNT": "\(max(1, program.weightsS8.count))", "S32_COUNT": "\(max(1, program.weightsS32.count))",
            "S8": program.weightsS8.isEmpty ? "    0" : Self.initializerLines(program.weightsS8.map { "\($0)" }, perLine: 24),
            "S32": program.weightsS32.isEmpty ? "    0" : Self.initializerLines(program.weightsS32.map { "\($0)" }, perLine: 12),
            "WEIGHTS": Self.initializerLines(program.weights.map { "\($0)f" }),
        ])
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
