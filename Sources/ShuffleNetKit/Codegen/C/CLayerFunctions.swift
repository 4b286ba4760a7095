/// A program's kernel calls as C: one function per distinct layer shape, and the calls
/// `infer` makes to them.
///
/// Why: with every kernel call inlined into `infer` with its constants, gcc -O3 spent 13 s
/// on v2-1.0x's code and 98 s on v1-g8-1.0x's, compiling the same loops again for every
/// layer. Most layers repeat a shape (v1-g8-1.0x: 271 kernel calls, 24 shapes), so each
/// shape gets one function that calls its kernel with the shape's constants (counts, sizes,
/// flags, absent pointers), which the compiler folds into the loops as before, and takes
/// what differs between its layers (pointers, scales, zero points) as parameters.
struct CLayerFunctions {
    /// The functions, each after a comment naming its constants, in order of first use.
    var definitions: String
    /// Per layer, its calls (one per kernel call) as statements without indentation.
    var calls: [[String]]

    init(_ program: LayerProgram, signatures: [String: [CParameter]], spelling: KernelCall.Spelling) throws {
        struct Shape: Hashable {
            var kernel: String
            /// Each argument's text if it is a constant, nil if it is a parameter.
            var constants: [String?]
        }
        var names: [Shape: String] = [:]
        var order: [Shape] = [], uses: [Shape: Int] = [:], perKernel: [String: Int] = [:]
        calls = try program.layers.map { layer in
            try layer.kernels.map { kernel in
                let call = kernel.call
                let kernelName = spelling.name(call.name)
                guard let parameters = signatures[kernelName], parameters.count == call.arguments.count else {
                    throw ShuffleNetError("kernel \(kernelName): the call has \(call.arguments.count) arguments, the template's "
                                          + "declaration \(signatures[kernelName].map { "\($0.count)" } ?? "none")")
                }
                let shape = Shape(kernel: kernelName, constants: call.arguments.map { $0.isData ? nil : $0.source(spelling) })
                if names[shape] == nil {
                    perKernel[kernelName, default: 0] += 1
                    names[shape] = "\(kernelName)_\(perKernel[kernelName]!)"
                    order.append(shape)
                }
                uses[shape, default: 0] += 1
                let data = call.arguments.filter(\.isData).map { $0.source(spelling) }
                return "\(names[shape]!)(\(data.joined(separator: ", ")));"
            }
        }
        definitions = order.map { shape in
            let parameters = signatures[shape.kernel]!
            let pairs = zip(parameters, shape.constants)
            let constants = pairs.compactMap { p, c in c.map { "\(p.name) = \($0)" } }
            let data = pairs.filter { $0.1 == nil }.map(\.0)
            let count = uses[shape]!
            return "/* \(shape.kernel)" + (constants.isEmpty ? "" : " with " + constants.joined(separator: ", "))
                + ": \(count) call\(count == 1 ? "" : "s") */\n"
                + "SN_LAYER void \(names[shape]!)(\(data.isEmpty ? "void" : data.map(\.declaration).joined(separator: ", "))) {\n"
                + "    \(shape.kernel)(\(pairs.map { p, c in c ?? p.name }.joined(separator: ", ")));\n}\n"
        }.joined(separator: "\n")
    }
}
