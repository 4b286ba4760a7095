/// The interpreted engine: runs a graph op by op with the reference kernels. It is the
/// correctness oracle for every optimization pass and for the generated code, and the
/// baseline the generated code is benchmarked against.
///
/// It honours the optimizer's physical layout: each node gathers its inputs through their
/// channel maps (`Graph.inputPlanes`), computes on logical tensors, and scatters its output
/// into the planes its placement names, so an unoptimized graph (every map the identity)
/// and an optimized one (shuffles, splits and concats folded into maps) run on one code path.
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
    ///
    /// Without `arena`, every buffer gets space of its own. With it, the buffers the plan
    /// covers share one allocation at the planned offsets (input and logits stay in caller
    /// memory), and `poisonDeadBytes` fills every arena byte that no live buffer holds with
    /// NaN after each op, so a planning mistake shows up as a wrong answer.
    ///
    /// `observe`, when given, sees every node's output (logical channel order) as it is
    /// computed, the input image first: what a calibrator records activation ranges from.
    public func run(_ input: Tensor, arena: ArenaLayout? = nil, poisonDeadBytes: Bool = false,
                    observe: ((_ node: Int, _ output: [Float]) -> Void)? = nil) throws -> Tensor {
        try validateInput(input)
        if graph.isQuantized { return runQuantized(input, arena: arena) }
        let nodes = graph.nodes
        // Float offsets of every buffer in one flat memory: the arena first, then the rest.
        var offset = [Int](repeating: -1, count: nodes.count)
        var end = 0
        if let arena {
            for (block, o) in zip(arena.blocks, arena.plan.offsets) {
                if case .buffer(let b) = block { offset[b] = o / MemoryLayout<Float>.size }
            }
            end = arena.plan.arenaBytes / MemoryLayout<Float>.size
        }
        let arenaFloats = end
        for b in nodes.indices where offset[b] < 0 && graph.bufferPlanes(b) > 0 {
            offset[b] = end
            end += graph.bufferPlanes(b) * planeSize(b)
        }
        var memory = [Float](repeating: .nan, count: end)
        var result: [Float] = []
        for (i, node) in nodes.enumerated() {
            let inputs = node.inputs.indices.map { k in
                gather(memory, base: offset[node.inputs[k]], graph.inputPlanes(i, k), plane: planeSize(node.inputs[k]))
            }
            let inputShapes = node.inputs.indices.map { k in
                let s = nodes[node.inputs[k]].shape
                return Shape(c: graph.inputPlanes(i, k).count, h: s.h, w: s.w)
            }
            let y = node.op == .input ? input.data : evaluate(node, inputs, inputShapes)
            observe?(i, y)
            let base = offset[node.outputBuffer(self: i)]
            let plane = node.shape.h * node.shape.w
            for (k, p) in node.outputPlanes.enumerated() {
                memory.replaceSubrange((base + p * plane)..<(base + (p + 1) * plane), with: y[(k * plane)..<((k + 1) * plane)])
            }
            if i == graph.output { result = y }
            if poisonDeadBytes, let arena { poison(&memory, arenaFloats: arenaFloats, after: i, arena) }
        }
        return Tensor(shape: [1, nodes[graph.output].shape.c], data: result)
    }

    /// NaN into every arena float that no buffer alive across the step `op -> op + 1` holds.
    func poison(_ memory: inout [Float], arenaFloats: Int, after op: Int, _ arena: ArenaLayout) {
        var live = [Bool](repeating: false, count: arenaFloats)
        for (l, o) in zip(arena.plan.lifetimes, arena.plan.offsets) where l.first <= op && l.last > op {
            let start = o / MemoryLayout<Float>.size
            for f in start..<(start + l.size / MemoryLayout<Float>.size) { live[f] = true }
        }
        for f in 0..<arenaFloats where !live[f] { memory[f] = .nan }
    }

    func planeSize(_ owner: Int) -> Int { graph.nodes[owner].shape.h * graph.nodes[owner].shape.w }

    func gather<T>(_ memory: [T], base: Int, _ planes: [Int], plane: Int) -> [T] {
        var out: [T] = []
        out.reserveCapacity(planes.count * plane)
        for p in planes { out.append(contentsOf: memory[(base + p * plane)..<(base + (p + 1) * plane)]) }
        return out
    }

    func param(_ name: String) -> [Float] { graph.parameters[name]!.data }

    func evaluate(_ node: Node, _ xs: [[Float]], _ shapes: [Shape]) -> [Float] {
        let x = xs.first ?? []
        let s = shapes.first ?? node.shape
        switch node.op {
        case .input:
            preconditionFailure("the input node is not evaluated")
        case .conv(let c):
            let convShape = c.convShape ?? node.shape
            var y = referenceConv2D(x, s, c, weight: param(c.weight), bias: c.bias.map(param), out: convShape)
            if c.residual { y = referenceAdd(y, xs[1]) }
            if c.relu { y = referenceReLU(y) }
            if let p = c.maxPool { y = referenceMaxPool(y, convShape, p, out: node.shape) }
            return y
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
            return referenceConcat(xs)
        case .shuffle(let groups, let order):
            return referenceShuffle(x, s, groups: groups, order: order)
        case .add:
            return referenceAdd(x, xs[1])
        case .linear(let l):
            return referenceLinear(x, l, weight: param(l.weight), bias: l.bias.map(param))
        case .requantize:
            preconditionFailure("requantize nodes exist only in quantized graphs")
        }
    }
}
