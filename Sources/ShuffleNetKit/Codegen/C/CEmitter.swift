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
        let called = Set(program.layers.flatMap { $0.kernels.map { String(call($0).prefix { $0 != "(" }) } })
        var tables = program.tables.enumerated().map { k, t in
            "static const int32_t map\(k)[\(t.count)] = {" + t.map(String.init).joined(separator: ", ") + "};\n"
        }.joined()
        if program.zeroRow > 0 {
            tables += "/* What the depthwise kernels read above and below the image. */\nstatic const float zero_row[\(program.zeroRow)] = {0};\n"
        }
        let source = try fillTemplate("c/source.c.in", common.merging([
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
        let weights = try fillTemplate("c/weights.c.in", [
            "PREFIX": prefix, "WEIGHT_COUNT": "\(program.weights.count)", "WEIGHT_SOURCE": weightSource,
            "WEIGHTS": lines.joined(separator: "\n"),
        ])
        return [("\(prefix).h", header), ("\(prefix).c", source), ("\(prefix)_weights.c", weights)]
    }

    func operand(_ o: LayerProgram.Operand) -> (pointer: String, table: String) {
        let pointer: String
        switch o.base {
        case .input: pointer = o.offset == 0 ? "input" : "input + \(o.offset)"
        case .logits: pointer = o.offset == 0 ? "logits" : "logits + \(o.offset)"
        case .arena(let at): pointer = "A + \(at + o.offset)"
        }
        return (pointer, o.table.map { "map\($0)" } ?? "NULL")
    }

    func w(_ offset: Int?) -> String { offset.map { "W + \($0)" } ?? "NULL" }
    func flag(_ b: Bool) -> String { b ? "1" : "0" }

    func call(_ k: LayerProgram.Kernel) -> String {
        switch k {
        case let .pointwise(input, kk, pixels, weights, bias, o, output, accumulate, relu),
             let .pointwiseChannelBlocked(input, kk, pixels, weights, bias, o, output, accumulate, relu):
            let (i, o2) = (operand(input), operand(output))
            let name = if case .pointwise = k { "sn_pointwise" } else { "sn_pointwise_cb" }
            return "\(name)(\(i.pointer), \(i.table), \(kk), \(pixels), \(w(weights)), \(w(bias)), \(o), \(o2.pointer), \(o2.table), \(flag(accumulate)), \(flag(relu)))"
        case let .depthwise3x3(input, c, h, wd, stride, weights, bias, output, oh, ow, relu):
            let (i, o) = (operand(input), operand(output))
            return "sn_depthwise3x3(\(i.pointer), \(i.table), \(c), \(h), \(wd), \(stride), \(w(weights)), \(w(bias)), \(o.pointer), \(o.table), \(oh), \(ow), \(flag(relu)), zero_row)"
        case let .convDirect(input, c, h, wd, weights, bias, o, k, stride, pad, output, oh, ow, relu):
            let (i, out) = (operand(input), operand(output))
            return "sn_conv_direct(\(i.pointer), \(c), \(h), \(wd), \(w(weights)), \(w(bias)), \(o), \(k), \(stride), \(pad), \(out.pointer), \(out.table), \(oh), \(ow), \(flag(relu)))"
        case let .convMaxPool(input, c, h, wd, weights, bias, o, k, stride, pad, ch, cw, relu, pool, output, oh, ow, ring):
            let (i, out) = (operand(input), operand(output))
            return "sn_conv_maxpool(\(i.pointer), \(c), \(h), \(wd), \(w(weights)), \(w(bias)), \(o), \(k), \(stride), \(pad), \(ch), \(cw), \(flag(relu)), \(pool.kernel), \(pool.stride), \(pool.padding), \(out.pointer), \(out.table), \(oh), \(ow), A + \(ring))"
        case let .pool(input, c, h, wd, pool, isMax, output, oh, ow):
            let (i, o) = (operand(input), operand(output))
            return "sn_pool(\(i.pointer), \(i.table), \(c), \(h), \(wd), \(pool.kernel), \(pool.stride), \(pool.padding), \(flag(isMax)), \(o.pointer), \(o.table), \(oh), \(ow))"
        case let .globalAvgPool(input, c, pixels, output):
            let (i, o) = (operand(input), operand(output))
            return "sn_global_avgpool(\(i.pointer), \(i.table), \(c), \(pixels), \(o.pointer), \(o.table))"
        case let .linear(input, kk, weights, bias, o, output):
            let i = operand(input)
            return "sn_linear(\(i.pointer), \(i.table), \(kk), \(w(weights)), \(w(bias)), \(o), \(operand(output).pointer))"
        case let .batchNorm(input, c, pixels, gamma, beta, mean, variance, eps, output):
            let (i, o) = (operand(input), operand(output))
            return "sn_batchnorm(\(i.pointer), \(i.table), \(c), \(pixels), W + \(gamma), W + \(beta), W + \(mean), W + \(variance), \(eps)f, \(o.pointer), \(o.table))"
        case let .relu(input, c, pixels, output):
            let (i, o) = (operand(input), operand(output))
            return "sn_relu_planes(\(i.pointer), \(i.table), \(c), \(pixels), \(o.pointer), \(o.table))"
        case let .add(a, b, c, pixels, output):
            let (x, y, o) = (operand(a), operand(b), operand(output))
            return "sn_add_planes(\(x.pointer), \(x.table), \(y.pointer), \(y.table), \(c), \(pixels), \(o.pointer), \(o.table))"
        case let .copy(input, c, pixels, output):
            let (i, o) = (operand(input), operand(output))
            return "sn_copy_planes(\(i.pointer), \(i.table), \(c), \(pixels), \(o.pointer), \(o.table))"
        }
    }
}
