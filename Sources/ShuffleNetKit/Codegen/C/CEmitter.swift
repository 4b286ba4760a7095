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
        let spec = program.spec
        let common: [String: String] = ["PREFIX": prefix, "SPEC": spec.name, "SUMMARY": program.summary]
        let header = try fillTemplate("c/header.h.in", common.merging([
            "PREFIX_UPPER": upper, "IN_C": "3", "IN_H": "\(spec.inputSize)", "IN_W": "\(spec.inputSize)",
            "INPUT_SIZE": "\(program.inputCount)", "CLASSES": "\(program.outputCount)",
            "ARENA_BYTES": "\(program.arenaBytes)", "LOWER_BOUND": "\(program.lowerBound) bytes",
            "STACK_BYTES_MAX": "\(Self.stackBytesMax)",
        ]) { $1 })
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
        let source = try fillTemplate("c/source.c.in", common.merging([
            "INT8_DECLARATIONS": int8 ? "\nextern const int8_t \(prefix)_weights_s8[\(max(1, program.weightsS8.count))];"
                + "\nextern const int32_t \(prefix)_weights_s32[\(max(1, program.weightsS32.count))];" : "",
            "INT8_POINTERS": int8 ? "\n    uint8_t *const Q = (uint8_t *)arena;\n    const int8_t *const WB = \(prefix)_weights_s8;"
                + "\n    const int32_t *const WI = \(prefix)_weights_s32;\n    (void)A;\n    (void)WI;" : "",
            "WEIGHT_COUNT": "\(program.weights.count)",
            "KERNELS": try selectKernels(fillTemplate("c/kernels.c.in", [:]), path: "c/kernels.c.in", used: called),
            "TABLES": tables,
            "BODY": body.hasSuffix("\n") ? String(body.dropLast()) : body,
            "MAIN": try fillTemplate("c/main.c.in", ["PREFIX": prefix, "PREFIX_UPPER": upper]),
        ]) { $1 })
        var lines: [String] = []
        for start in stride(from: 0, to: program.weights.count, by: 8) {
            let chunk = program.weights[start..<min(start + 8, program.weights.count)]
            lines.append("    " + chunk.map { "\($0)f" }.joined(separator: ", ") + ",")
        }
        if int8 {
            func rows<T>(_ values: [T], _ per: Int, _ text: (T) -> String) -> String {
                stride(from: 0, to: values.count, by: per).map { start in
                    "    " + values[start..<min(start + per, values.count)].map(text).joined(separator: ", ") + ","
                }.joined(separator: "\n")
            }
            let weights = try fillTemplate("c/weights_int8.c.in", [
                "PREFIX": prefix, "WEIGHT_SOURCE": weightSource, "WEIGHT_COUNT": "\(max(1, program.weights.count))",
                "S8_COUNT": "\(max(1, program.weightsS8.count))", "S32_COUNT": "\(max(1, program.weightsS32.count))",
                "S8": program.weightsS8.isEmpty ? "    0" : rows(program.weightsS8, 24) { "\($0)" },
                "S32": program.weightsS32.isEmpty ? "    0" : rows(program.weightsS32, 12) { "\($0)" },
                "WEIGHTS": rows(program.weights, 8) { "\($0)f" },
            ])
            return [("\(prefix).h", header), ("\(prefix).c", source), ("\(prefix)_weights.c", weights)]
        }
        let weights = try fillTemplate("c/weights.c.in", [
            "PREFIX": prefix, "WEIGHT_COUNT": "\(program.weights.count)", "WEIGHT_SOURCE": weightSource,
            "WEIGHTS": lines.joined(separator: "\n"),
        ])
        return [("\(prefix).h", header), ("\(prefix).c", source), ("\(prefix)_weights.c", weights)]
    }

    /// Kernels are `sn_` + their name in snake_case; no pointer is `NULL`, flags are 0 or 1.
    static let spelling = KernelCall.Spelling(
        name: { "sn_" + $0.reduce(into: "") { out, ch in out += ch.isUppercase ? "_" + ch.lowercased() : String(ch) } },
        none: "NULL", flag: { $0 ? "1" : "0" }, floatSuffix: "f", zeroRow: "zero_row")

    func call(_ k: LayerProgram.Kernel) -> String { k.call.source(Self.spelling) }
}
