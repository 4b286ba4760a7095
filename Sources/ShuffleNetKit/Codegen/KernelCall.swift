/// What a kernel call says, for both backends: the kernel's name and its arguments in the
/// order the C and Swift kernels take them. The emitters only spell them (`sn_pointwise` or
/// `snPointwise`, `NULL` or `nil`, `1` or `true`), so a kernel's signature lives here once.
public struct KernelCall: Equatable, Sendable {
    public enum Argument: Equatable, Sendable {
        /// The operand's first plane: input, logits or arena, plus its offset.
        case planes(LayerProgram.Operand)
        /// The operand's static channel table, or none when its planes are one run.
        case table(LayerProgram.Operand)
        /// A shape or a count: a constant of the kernel's specialized C function.
        case int(Int)
        /// An integer of the quantization (a zero point or clamp bound): data, passed to the
        /// specialized function, so layers of one shape share it.
        case quantized(Int)
        /// A float offset into the weights, or none.
        case weights(Int?)
        case flag(Bool)
        case float(Float)
        /// The read-only zero row the depthwise kernel reads above and below the image.
        case zeroRow
        /// Scratch at a float offset in the arena, or none.
        case scratch(Int?)
        /// Offsets into the int8 weights and the int32 biases, or none.
        case int8Weights(Int)
        case int32Weights(Int?)
        /// The int8 first conv's already quantized image (`input_q`, NULL in a float call).
        case quantizedImage
    }

    /// lowerCamelCase; the C kernel is `sn_` + its snake_case, the Swift one `sn` + its
    /// UpperCamelCase.
    public var name: String
    public var arguments: [Argument]
}

extension LayerProgram.Kernel {
    public var call: KernelCall {
        typealias A = KernelCall.Argument
        func io(_ o: LayerProgram.Operand) -> [A] { [.planes(o), .table(o)] }
        switch self {
        case let .pointwise(input, k, pixels, weights, bias, o, output, accumulate, relu):
            return KernelCall(name: "pointwise", arguments: io(input) + [.int(k), .int(pixels), .weights(weights), .weights(bias), .int(o)]
                + io(output) + [.flag(accumulate), .flag(relu)])
        case let .pointwiseChannelBlocked(input, k, pixels, weights, bias, o, output, accumulate, relu, packed):
            return KernelCall(name: "pointwiseChannelBlocked", arguments: io(input) + [.int(k), .int(pixels), .weights(weights), .weights(bias),
                                                                                      .int(o)] + io(output) + [.flag(accumulate), .flag(relu), .scratch(packed)])
        case let .depthwise3x3(input, c, h, w, stride, weights, bias, output, oh, ow, relu):
            return KernelCall(name: "depthwise3x3", arguments: io(input) + [.int(c), .int(h), .int(w), .int(stride), .weights(weights), .weights(bias)]
                + io(output) + [.int(oh), .int(ow), .flag(relu), .zeroRow])
        case let .convDirect(input, c, h, w, weights, bias, o, k, stride, pad, output, oh, ow, relu):
            return KernelCall(name: "convDirect", arguments: [.planes(input), .int(c), .int(h), .int(w), .weights(weights), .weights(bias), .int(o),
                                                             .int(k), .int(stride), .int(pad)] + io(output) + [.int(oh), .int(ow), .flag(relu)])
        case let .convMaxPool(input, c, h, w, weights, bias, o, k, stride, pad, ch, cw, relu, pool, output, oh, ow, ring):
            return KernelCall(name: "convMaxPool", arguments: [.planes(input), .int(c), .int(h), .int(w), .weights(weights), .weights(bias), .int(o),
                                                              .int(k), .int(stride), .int(pad), .int(ch), .int(cw), .flag(relu),
                                                              .int(pool.kernel), .int(pool.stride), .int(pool.padding)]
                + io(output) + [.int(oh), .int(ow), .scratch(ring)])
        case let .pool(input, c, h, w, pool, isMax, output, oh, ow):
            return KernelCall(name: "pool", arguments: io(input) + [.int(c), .int(h), .int(w), .int(pool.kernel), .int(pool.stride), .int(pool.padding),
                                                                   .flag(isMax)] + io(output) + [.int(oh), .int(ow), .zeroRow])
        case let .globalAvgPool(input, c, pixels, output):
            return KernelCall(name: "globalAvgPool", arguments: io(input) + [.int(c), .int(pixels)] + io(output))
        case let .linear(input, k, weights, bias, o, output):
            return KernelCall(name: "linear", arguments: io(input) + [.int(k), .weights(weights), .weights(bias), .int(o), .planes(output)])
        case let .batchNorm(input, c, pixels, gamma, beta, mean, variance, eps, output):
            return KernelCall(name: "batchNorm", arguments: io(input) + [.int(c), .int(pixels), .weights(gamma), .weights(beta), .weights(mean),
                                                                        .weights(variance), .float(eps)] + io(output))
        case let .relu(input, c, pixels, output):
            return KernelCall(name: "reluPlanes", arguments: io(input) + [.int(c), .int(pixels)] + io(output))
        case let .add(a, b, c, pixels, output):
            return KernelCall(name: "addPlanes", arguments: io(a) + io(b) + [.int(c), .int(pixels)] + io(output))
        case let .copy(input, c, pixels, output):
            return KernelCall(name: "copyPlanes", arguments: io(input) + [.int(c), .int(pixels)] + io(output))
        case let .convMaxPoolU8(input, c, h, w, image, weights, bias, multipliers, o, k, stride, pad, ch, cw, pool, output, oh, ow, ring, e):
            return KernelCall(name: "convMaxPoolU8", arguments: [.planes(input), .quantizedImage, .int(c), .int(h), .int(w)] + quantization(image)
                + [.int8Weights(weights), .int32Weights(bias), .weights(multipliers), .int(o), .int(k), .int(stride), .int(pad), .int(ch), .int(cw),
                   .int(pool.kernel), .int(pool.stride), .int(pool.padding)] + io(output) + [.int(oh), .int(ow), .planes(ring)] + epilogue(e))
        case let .pointwiseU8(input, k, pixels, weights, bias, multipliers, o, output, e):
            return KernelCall(name: "pointwiseU8", arguments: io(input) + [.int(k), .int(pixels), .int8Weights(weights),
                                                                          .int32Weights(bias), .weights(multipliers), .int(o)] + io(output) + epilogue(e))
        case let .pointwiseResidualU8(input, k, pixels, weights, bias, multipliers, o, output, rzp, rm, e):
            return KernelCall(name: "pointwiseResidualU8", arguments: io(input) + [.int(k), .int(pixels), .int8Weights(weights),
                                                                                  .int32Weights(bias), .weights(multipliers), .int(o)] + io(output)
                + [.quantized(Int(rzp)), .float(rm), .quantized(Int(e.zeroPoint)), .quantized(Int(e.min)), .quantized(Int(e.max))])
        case let .avgPoolU8(input, c, h, w, pool, from, to, output, oh, ow):
            return KernelCall(name: "avgPoolU8", arguments: io(input) + [.int(c), .int(h), .int(w), .int(pool.kernel), .int(pool.stride), .int(pool.padding)]
                + quantization(from) + quantization(to) + io(output) + [.int(oh), .int(ow)])
        case let .depthwise3x3U8(input, c, h, w, stride, zp, weights, bias, multipliers, output, oh, ow, e):
            return KernelCall(name: "depthwise3x3U8", arguments: io(input) + [.int(c), .int(h), .int(w), .int(stride), .quantized(Int(zp)),
                                                                             .int8Weights(weights), .int32Weights(bias), .weights(multipliers)]
                + io(output) + [.int(oh), .int(ow)] + epilogue(e))
        case let .requantizePlanesU8(input, c, pixels, from, to, output):
            return KernelCall(name: "requantizePlanesU8", arguments: io(input) + [.int(c), .int(pixels)] + quantization(from) + quantization(to) + io(output))
        case let .globalAvgPoolU8(input, c, pixels, from, to, output):
            return KernelCall(name: "globalAvgPoolU8", arguments: io(input) + [.int(c), .int(pixels)] + quantization(from) + quantization(to) + io(output))
        case let .linearU8(input, k, weights, bias, multipliers, o, intermediate, floatBias, output):
            let mid = intermediate.map { [A.flag(true)] + quantization($0) } ?? [.flag(false), .float(1), .quantized(0), .quantized(0), .quantized(0)]
            return KernelCall(name: "linearU8", arguments: io(input) + [.int(k), .int8Weights(weights), .int32Weights(bias),
                                                                       .weights(multipliers), .int(o)] + mid + [.weights(floatBias), .planes(output)])
        }
    }

    /// Scale, zero point and the range of the stored integers.
    private func quantization(_ p: ActivationQuantization) -> [KernelCall.Argument] {
        [.float(p.scale), .quantized(Int(p.zeroPoint)), .quantized(Int(p.type.min)), .quantized(Int(p.type.max))]
    }

    private func epilogue(_ e: LayerProgram.Int8Epilogue) -> [KernelCall.Argument] {
        let rescale = e.rescale.map { [KernelCall.Argument.flag(true), .float($0.from.scale), .float($0.to.scale), .quantized(Int($0.to.zeroPoint)),
                                       .quantized(Int($0.to.type.min)), .quantized(Int($0.to.type.max))] }
            ?? [.flag(false), .float(1), .float(1), .quantized(0), .quantized(0), .quantized(0)]
        return [.quantized(Int(e.zeroPoint)), .quantized(Int(e.min)), .quantized(Int(e.max))] + rescale
    }
}

extension KernelCall {
    /// How a backend writes what differs between C and Swift; the rest of a call's text
    /// (operands, offsets, integers) is the same in both.
    struct Spelling: Sendable {
        /// The kernel's source name from its lowerCamelCase name.
        var name: @Sendable (String) -> String
        /// No pointer (`NULL` or `nil`).
        var none: String
        var flag: @Sendable (Bool) -> String
        var floatSuffix: String
        var zeroRow: String
    }

    /// The call as source text, `name(arguments)`.
    func source(_ s: Spelling) -> String {
        "\(s.name(name))(\(arguments.map { $0.source(s) }.joined(separator: ", ")))"
    }
}

extension KernelCall.Argument {
    /// Whether the argument differs between layers of one shape (pointers, scales, zero
    /// points): a parameter of a specialized function rather than one of its constants.
    /// An absent pointer is a constant: a kernel takes another path without it.
    var isData: Bool {
        switch self {
        case .int, .flag: false
        case .table(let o): o.table != nil
        case .weights(let at): at != nil
        case .int32Weights(let at): at != nil
        case .scratch(let at): at != nil
        case .planes, .quantized, .float, .zeroRow, .int8Weights, .quantizedImage: true
        }
    }

    func source(_ s: KernelCall.Spelling) -> String {
        switch self {
        case .planes(let o):
            switch o.base {
            case .input: o.offset == 0 ? "input" : "input + \(o.offset)"
            case .logits: o.offset == 0 ? "logits" : "logits + \(o.offset)"
            case .arena(let at): "A + \(at + o.offset)"
            case .arenaBytes(let at): "Q + \(at + o.offset)"
            }
        case .table(let o): o.table.map { "map\($0)" } ?? s.none
        case .int(let n), .quantized(let n): "\(n)"
        case .weights(let at): at.map { "W + \($0)" } ?? s.none
        case .flag(let b): s.flag(b)
        case .float(let x): "\(x)\(s.floatSuffix)"
        case .zeroRow: s.zeroRow
        case .scratch(let at): at.map { "A + \($0)" } ?? s.none
        case .int8Weights(let at): "WB + \(at)"
        case .int32Weights(let at): at.map { "WI + \($0)" } ?? s.none
        case .quantizedImage: "input_q"
        }
    }
}
