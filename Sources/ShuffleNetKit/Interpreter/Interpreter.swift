/// The interpreted engine: runs a graph op by op with the reference kernels. It is the
/// correctness oracle for every optimization pass and for the generated code, and the
/// baseline the generated code is benchmarked against.
public struct Interpreter: Sendable {
    public let graph: Graph

    public init(graph: Graph) throws {
        let missing = graph.parameterSpecs.filter { graph.parameters[$0.name] == nil }
        guard missing.isEmpty else {
            throw ShuffleNetError("graph of \(graph.spec.name) has no weights bound for \(missing.count) tensor(s), e.g. \(missing[0].name)")
        }
        self.graph = graph
    }

    /// Checks an input image against the spec: `[1, 3, H, W]` or `[3, H, W]`.
    public func validateInput(_ input: Tensor, source: String = "input") throws {
        let s = graph.nodes[0].shape
        guard input.shape == [1, s.c, s.h, s.w] || input.shape == [s.c, s.h, s.w] else {
            throw ShuffleNetError("\(source): shape \(describe(shape: input.shape)) does not fit spec \(graph.spec.name), expected [1,\(s.c),\(s.h),\(s.w)] or [\(s.c),\(s.h),\(s.w)]")
        }
    }

    /// Runs the network and returns the logits as `[1, classes]`.
    public func run(_ input: Tensor) throws -> Tensor {
        let values = try runAll(input)
        return Tensor(shape: [1, graph.nodes[graph.output].shape.c], data: values[graph.output])
    }

    /// Every node's output, by node index (for tests and debugging).
    public func runAll(_ input: Tensor) throws -> [[Float]] {
        try validateInput(input)
        var values: [[Float]] = []
        values.reserveCapacity(graph.nodes.count)
        // A value is dropped after its last reader so that peak memory stays near the network's.
        var lastUse = [Int](repeating: -1, count: graph.nodes.count)
        for (i, node) in graph.nodes.enumerated() { for v in node.inputs { lastUse[v] = i } }
        for (i, node) in graph.nodes.enumerated() {
            values.append(evaluate(node, values, input: input.data))
            for v in node.inputs where lastUse[v] == i && v != graph.output { values[v] = [] }
        }
        return values
    }

    func param(_ name: String) -> [Float] { graph.parameters[name]!.data }

    func evaluate(_ node: Node, _ values: [[Float]], input: [Float]) -> [Float] {
        let x = node.inputs.first.map { values[$0] } ?? []
        let s = node.inputs.first.map { graph.nodes[$0].shape } ?? node.shape
        switch node.op {
        case .input:
            return input
        case .conv(let c):
            return referenceConv2D(x, s, c, weight: param(c.weight), bias: c.bias.map(param), out: node.shape)
        case .batchNorm(let bn):
            return referenceBatchNorm(x, s, gamma: param(bn.prefix + ".weight"), beta: param(bn.prefix + ".bias"),
                                      mean: param(bn.prefix + ".running_mean"), variance: param(bn.prefix + ".running_var"),
                                      eps: bn.eps)
        case .relu:
            return referenceReLU(x)
        case .maxPool(let p):
            return referenceMaxPool(x, s, p, out: node.shape)
        case .avgPool(let p):
            return referenceAvgPool(x, s, p, out: node.shape)
        case .globalAvgPool:
            return referenceGlobalAvgPool(x, s)
        case .slice(let start, let count):
            return referenceSlice(x, s, start: start, count: count)
        case .concat:
            return referenceConcat(node.inputs.map { values[$0] })
        case .shuffle(let groups, let order):
            return referenceShuffle(x, s, groups: groups, order: order)
        case .add:
            return referenceAdd(x, values[node.inputs[1]])
        case .linear(let l):
            return referenceLinear(x, l, weight: param(l.weight), bias: l.bias.map(param))
        }
    }
}
