/// Binding the weights recognised in an ONNX file to a spec's graph: by the PyTorch names
/// the initializers carry, or by matching convs in order of depth and kind; every shape and
/// conv attribute checked, each error naming the initializer.

/// The state_dict a file provides for a given graph, with the initializer behind each name.
public struct OnnxBinding: Sendable {
    public var tensors: [String: Tensor]
    public var sources: [String: String]
    /// Conv attributes by weight name, to check against the graph.
    var convs: [String: OnnxConv]
    var batchNorms: [String: OnnxBatchNorm]
}

/// The weights of a ShuffleNet in an ONNX graph, found by structure and decoded to float32.
public struct OnnxNetwork: Sendable {
    public var file: String
    public var convs: [OnnxConv]
    public var classifier: OnnxClassifier
    /// True when no BatchNormalization follows the convs (folded exports, QDQ models).
    public var batchNormFolded: Bool
    /// Whether every name came from the initializers (else the convs are matched by structure).
    public var namedByInitializers: Bool

    public init(path: String) throws {
        try self.init(model: try OnnxModel.read(path: path), file: path)
    }

    public init(model: OnnxModel, file: String) throws {
        var extractor = Extractor(graph: model.graph, file: file)
        self.file = file
        (convs, classifier) = try extractor.run()
        let withBN = convs.filter { $0.batchNorm != nil }.count
        guard withBN == 0 || withBN == convs.count else {
            throw ShuffleNetError("\(file): \(withBN) of \(convs.count) Conv nodes are followed by BatchNormalization; "
                                  + "expected all (an unfolded export) or none (BatchNorm folded into the convs)")
        }
        batchNormFolded = withBN == 0
        if !batchNormFolded, let c = convs.first(where: { $0.bias != nil }) {
            throw ShuffleNetError("\(file): \(c.node) has both a bias (\(c.biasSource ?? "")) and a BatchNormalization; "
                                  + "the reference convs have no bias")
        }
        let folded = batchNormFolded
        namedByInitializers = convs.allSatisfy { $0.key != nil && (folded || $0.batchNorm?.prefix != nil) }
        if namedByInitializers {
            var seen: [String: String] = [:]
            for c in convs {
                if let other = seen[c.key!] {
                    throw ShuffleNetError("\(file): \(other) and \(c.node) both have weights named \(c.key!).weight")
                }
                seen[c.key!] = c.node
            }
        }
    }

    /// Names every tensor for `graph`: from the initializers when they carry PyTorch keys,
    /// otherwise by matching convs to the graph's convs in order of depth and kind.
    public func tensors(for graph: Graph) throws -> OnnxBinding {
        try tensors(for: graph, suggest: true)
    }

    func tensors(for graph: Graph, suggest: Bool) throws -> OnnxBinding {
        var b = OnnxBinding(tensors: [:], sources: [:], convs: [:], batchNorms: [:])
        func put(_ name: String, _ t: Tensor, _ source: String) { b.tensors[name] = t; b.sources[name] = source }
        func putConv(_ c: OnnxConv, weight: String, bias: String, bnPrefix: String?) {
            put(weight, c.weight, c.weightSource)
            if let t = c.bias { put(bias, t, c.biasSource ?? "") }
            b.convs[weight] = c
            if let bn = c.batchNorm, let p = bnPrefix {
                for (suffix, (t, s)) in zip(["weight", "bias", "running_mean", "running_var"], zip(bn.tensors, bn.sources)) {
                    put("\(p).\(suffix)", t, s)
                }
                b.batchNorms[p] = bn
            }
        }
        let linear = graph.nodes.lazy.compactMap { n -> Linear? in if case .linear(let l) = n.op { l } else { nil } }.first
        if namedByInitializers {
            for c in convs { putConv(c, weight: c.key! + ".weight", bias: c.key! + ".bias", bnPrefix: c.batchNorm?.prefix) }
        } else {
            // The BatchNorm reading each conv, by conv node index.
            var bnAfter: [Int: String] = [:]
            for n in graph.nodes { if case .batchNorm(let bn) = n.op, n.inputs.count == 1 { bnAfter[n.inputs[0]] = bn.prefix } }
            for (c, node) in try matchConvs(to: graph, suggest: suggest) {
                guard case .conv(let gc) = graph.nodes[node].op else { continue }
                let bnPrefix = bnAfter[node]
                putConv(c, weight: gc.weight, bias: gc.bias ?? Graph.stem(gc.weight) + ".bias", bnPrefix: bnPrefix)
            }
        }
        // The classifier: by its initializer's name in a named file, else as the graph calls it.
        let fc = classifier
        let stem = (namedByInitializers ? fc.prefix : nil) ?? linear.map { Graph.stem($0.weight) } ?? "fc"
        let weightName = stem + ".weight"
        let biasName = (namedByInitializers ? nil : linear?.bias) ?? stem + ".bias"
        put(weightName, fc.weight, fc.weightSource)
        if let t = fc.bias { put(biasName, t, fc.biasSource ?? "") }
        return b
    }

    /// Pairs every Conv of the file with a conv node of `graph`: same count of convs at
    /// each depth, and within a depth the same kinds (kernel, stride, grouped or not),
    /// paired in order. Shapes are not compared here, so a file of another width still
    /// pairs up and the shape check can say which tensor differs.
    func matchConvs(to graph: Graph, suggest: Bool) throws -> [(OnnxConv, Int)] {
        var depth = [Int](repeating: 0, count: graph.nodes.count)
        var ours: [(node: Int, depth: Int, kind: ConvKind)] = []
        for (i, n) in graph.nodes.enumerated() {
            let d = n.inputs.map { depth[$0] }.max() ?? 0
            if case .conv(let c) = n.op {
                depth[i] = d + 1
                ours.append((i, d + 1, ConvKind(kernel: c.kernel, stride: c.stride, grouped: c.groups > 1)))
            } else {
                depth[i] = d
            }
        }
        let theirs = convs.enumerated().map { i, c in
            (conv: c, order: i, depth: c.depth, kind: ConvKind(kernel: c.kernel.first ?? 0, stride: c.strides.first ?? 1, grouped: c.group > 1))
        }
        func fail(_ detail: String) -> ShuffleNetError {
            ShuffleNetError("\(file): the ONNX graph is not spec \(graph.spec.name): \(detail)"
                            + (suggest ? suggestion(excluding: graph.spec.name) : ""))
        }
        guard ours.count == theirs.count else {
            throw fail("it has \(theirs.count) Conv nodes, the spec has \(ours.count)")
        }
        var pairs: [(OnnxConv, Int)] = []
        let maxDepth = max(ours.map(\.depth).max() ?? 0, theirs.map(\.depth).max() ?? 0)
        for d in 1 ... max(1, maxDepth) {
            // Sorted by kind, then by order in the file / the graph.
            let a = theirs.filter { $0.depth == d }.sorted { $0.kind < $1.kind || ($0.kind == $1.kind && $0.order < $1.order) }
            let b = ours.filter { $0.depth == d }.sorted { $0.kind < $1.kind || ($0.kind == $1.kind && $0.node < $1.node) }
            guard a.map(\.kind) == b.map(\.kind) else {
                throw fail("the convs \(d) deep from the input are [\(a.map(\.kind.description).joined(separator: ", "))] in the file, "
                           + "[\(b.map(\.kind.description).joined(separator: ", "))] in the spec")
            }
            pairs += zip(a, b).map { ($0.conv, $1.node) }
        }
        return pairs
    }

    /// Built-in specs whose every parameter this file provides with the exact shape.
    public func matchingBuiltinSpecs() -> [String] {
        BuiltinSpecs.all.filter { spec in
            guard let g = try? buildGraph(spec, batchNormFolded: batchNormFolded),
                  let b = try? tensors(for: g, suggest: false) else { return false }
            let specs = g.parameterSpecs
            return specs.count == b.tensors.count && specs.allSatisfy { b.tensors[$0.name]?.shape == $0.shape }
        }.map(\.name)
    }

    /// `; the file matches built-in spec v2-1.0x`, or what the file holds when none does.
    func suggestion(excluding name: String) -> String {
        let matches = matchingBuiltinSpecs().filter { $0 != name }
        if !matches.isEmpty {
            return "; the file matches built-in spec \(matches.joined(separator: ", ")) (--spec \(matches[0]))"
        }
        let first = convs.first.map { describe(shape: $0.weight.shape) } ?? "none"
        return "; no built-in spec matches it (\(convs.count) convs, first conv weight \(first), classifier weight \(describe(shape: classifier.weight.shape)))"
    }

    /// Binds the file's weights to `graph` (whose BatchNorm form must match the file's):
    /// every tensor's shape, then every conv's stride, padding, groups and dilation, then
    /// missing and left-over tensors, each error naming the initializer.
    public func bind(to graph: Graph) throws -> Graph {
        let hasBN = graph.nodes.contains { if case .batchNorm = $0.op { true } else { false } }
        guard hasBN == !batchNormFolded else {
            throw ShuffleNetError("\(file): the file has BatchNorm \(batchNormFolded ? "folded into the convs" : "as separate nodes"), "
                                  + "the graph \(hasBN ? "has BatchNorm nodes" : "has it folded"); build it with "
                                  + "buildGraph(spec, batchNormFolded: \(batchNormFolded)) (loadNetwork does)")
        }
        let b = try tensors(for: graph)
        let spec = graph.spec.name
        for p in graph.parameterSpecs {
            guard let t = b.tensors[p.name], t.shape != p.shape else { continue }
            let source = b.sources[p.name].map { $0 == p.name ? $0 : "\($0) (\(p.name))" } ?? p.name
            throw ShuffleNetError("\(file): initializer \(source) has shape \(describe(shape: t.shape)), "
                                  + "spec \(spec) expects \(describe(shape: p.shape))\(suggestion(excluding: spec))")
        }
        for n in graph.nodes {
            switch n.op {
            case .conv(let gc):
                guard let c = b.convs[gc.weight] else { continue }
                let checks: [(String, [Int], [Int])] = [
                    ("kernel_shape", c.kernel, [gc.kernel, gc.kernel]), ("strides", c.strides, [gc.stride, gc.stride]),
                    ("pads", c.pads, [Int](repeating: gc.padding, count: 4)), ("dilations", c.dilations, [1, 1]),
                    ("group", [c.group], [gc.groups]),
                ]
                for (attr, got, want) in checks where got != want {
                    throw ShuffleNetError("\(file): \(c.node) (\(Graph.stem(gc.weight))) has \(attr) \(describe(shape: got)), "
                                          + "spec \(spec) expects \(describe(shape: want))")
                }
            case .batchNorm(let bn):
                guard let f = b.batchNorms[bn.prefix] else { continue }
                guard abs(Double(f.epsilon) - bn.eps) <= 1e-3 * bn.eps else {
                    throw ShuffleNetError("\(file): \(f.node) (\(bn.prefix)) has epsilon \(f.epsilon), spec \(spec) uses \(bn.eps)")
                }
            default: break
            }
        }
        do {
            return try graph.binding(b.tensors, source: file)
        } catch let e as ShuffleNetError {
            throw ShuffleNetError(e.message + suggestion(excluding: spec))
        }
    }
}

struct ConvKind: Comparable, CustomStringConvertible {
    var kernel: Int, stride: Int, grouped: Bool
    static func < (a: ConvKind, b: ConvKind) -> Bool {
        (a.kernel, a.stride, a.grouped ? 1 : 0) < (b.kernel, b.stride, b.grouped ? 1 : 0)
    }
    var description: String { "\(kernel)x\(kernel)/s\(stride)\(grouped ? " grouped" : "")" }
}

/// Reads an ONNX file and binds its weights to `spec`'s graph, in the form (BatchNorm
/// folded or not) the file has.
public func loadOnnxNetwork(_ spec: NetworkSpec, path: String) throws -> Graph {
    let network = try OnnxNetwork(path: path)
    return try network.bind(to: try buildGraph(spec, batchNormFolded: network.batchNormFolded))
}
