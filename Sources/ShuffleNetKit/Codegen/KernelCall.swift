/// What a kernel call says, for both backends: the kernel's name and its arguments in the
/// order the C and Swift kernels take them. The emitters only spell them (`sn_pointwise` or
/// `snPointwise`, `NULL` or `nil`, `1` or `true`), so a kernel's signature lives here once.
public struct KernelCall: Equatable, Sendable {
    public enum Argument: Equatable, Sendable {
        /// The operand's first plane: input, logits or arena, plus its offset.
        case planes(LayerProgram.Operand)
        /// The operand's static channel table, or none when its planes are one run.
        case table(LayerProgram.Operand)
        case int(Int)
        /// A float offset into the weights, or none.
        case weights(Int?)
        case flag(Bool)
        case float(Float)
        /// The read-only zero row the depthwise kernel reads above and below the image.
        case zeroRow
        /// Scratch at a float offset in the arena.
        case scratch(Int)
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
        case let .pointwise(input, k, pixels, weights, bias, o, output, accumulate, relu),
             let .pointwiseChannelBlocked(input, k, pixels, weights, bias, o, output, accumulate, relu):
            let name = if case .pointwise = self { "pointwise" } else { "pointwiseChannelBlocked" }
            return KernelCall(name: name, arguments: io(input) + [.int(k), .int(pixels), .weights(weights), .weights(bias), .int(o)]
                + io(output) + [.flag(accumulate), .flag(relu)])
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
                                                                   .flag(isMax)] + io(output) + [.int(oh), .int(ow)])
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
        }
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
        let arguments = arguments.map { a -> String in
            switch a {
            case .planes(let o):
                switch o.base {
                case .input: o.offset == 0 ? "input" : "input + \(o.offset)"
                case .logits: o.offset == 0 ? "logits" : "logits + \(o.offset)"
                case .arena(let at): "A + \(at + o.offset)"
                }
            case .table(let o): o.table.map { "map\($0)" } ?? s.none
            case .int(let n): "\(n)"
            case .weights(let at): at.map { "W + \($0)" } ?? s.none
            case .flag(let b): s.flag(b)
            case .float(let x): "\(x)\(s.floatSuffix)"
            case .zeroRow: s.zeroRow
            case .scratch(let at): "A + \(at)"
            }
        }
        return "\(s.name(name))(\(arguments.joined(separator: ", ")))"
    }
}
