/// The interpreted engine on a quantized graph: the same walk as `run` (gather each input
/// through its channel map, compute, scatter into the output's planes), over stored
/// integers, with the int8 reference kernels. The oracle the emitted int8 C must match bit
/// for bit.
extension Interpreter {
    /// With `arena`, buffers sit at their planned byte offsets (one stored value per byte).
    func runQuantized(_ input: Tensor, arena: ArenaLayout?) -> Tensor {
        runQuantizedTrace(input, arena: arena).logits
    }

    /// Runs the quantized graph and also returns, by node index, what each node wrote: its
    /// output (logical channel order) and its whole output buffer right after it (a concat
    /// is complete in its buffer after its last producer), as stored integers; the logits
    /// node's entries are empty. For per-layer comparisons.
    public func runQuantizedTrace(_ input: Tensor, arena: ArenaLayout? = nil) -> (logits: Tensor, outputs: [[Int32]], buffers: [[Int32]]) {
        let nodes = graph.nodes
        var offset = [Int](repeating: -1, count: nodes.count)
        var end = 0
        if let arena {
            for (block, o) in zip(arena.blocks, arena.plan.offsets) {
                if case .buffer(let b) = block { offset[b] = o }
            }
            end = arena.plan.arenaBytes
        }
        for b in nodes.indices where offset[b] < 0 && graph.bufferPlanes(b) > 0 {
            offset[b] = end
            end += graph.bufferPlanes(b) * planeSize(b) * graph.elementBytes(b)
        }
        var memory = [Int32](repeating: 0, count: end)
        var logits: [Float] = []
        var outputs: [[Int32]] = []
        var buffers: [[Int32]] = []
        for (i, node) in nodes.enumerated() {
            let xs = node.inputs.indices.map { k in
                gather(memory, base: offset[node.inputs[k]], graph.inputPlanes(i, k), plane: planeSize(node.inputs[k]))
            }
            let shapes = node.inputs.indices.map { k in
                let s = nodes[node.inputs[k]].shape
                return Shape(c: graph.inputPlanes(i, k).count, h: s.h, w: s.w)
            }
            let q = node.quantization!
            var y: [Int32] = []
            switch node.op {
            case .input:
                y = input.data.map { quantizeLinear($0, q.output!) }
            case .linear(let l):
                logits = evaluateClassifier(xs[0], l, q)
            default:
                y = evaluateQuantized(node, xs, shapes, q)
            }
            outputs.append(y)
            guard !y.isEmpty else { buffers.append([]); continue }
            let owner = node.outputBuffer(self: i)
            let base = offset[owner]
            let plane = node.shape.h * node.shape.w
            for (k, p) in node.outputPlanes.enumerated() {
                memory.replaceSubrange((base + p * plane)..<(base + (p + 1) * plane), with: y[(k * plane)..<((k + 1) * plane)])
            }
            buffers.append(Array(memory[base..<(base + graph.bufferPlanes(owner) * plane)]))
        }
        return (Tensor(shape: [1, logits.count], data: logits), outputs, buffers)
    }

    func quantized(_ name: String) -> QuantizedTensor { graph.quantizedParameters[name]! }

    func evaluateQuantized(_ node: Node, _ xs: [[Int32]], _ shapes: [Shape], _ q: NodeQuantization) -> [Int32] {
        let (x, s, out) = (xs[0], shapes[0], q.output!)
        switch node.op {
        case .conv(let c):
            let convShape = c.convShape ?? node.shape
            let w = quantized(c.weight)
            let acc = referenceConv2DAccumulators(x, s, c, xZeroPoint: q.inputs[0].zeroPoint, weight: w.values,
                                                  bias: c.bias.map { quantized($0).values }, out: convShape)
            let plane = convShape.h * convShape.w
            var y = [Int32](repeating: 0, count: acc.count)
            for oc in 0..<c.outChannels {
                let own = q.intermediate ?? out
                let m = requantizeMultiplier(input: q.inputs[0].scale, weight: w.scale(oc), output: own.scale)
                for j in (oc * plane)..<((oc + 1) * plane) {
                    if c.residual {
                        // v1's relu(shortcut + main): both terms scaled to the output, one rounding.
                        let r = q.inputs[1]
                        let sum = Float(acc[j]) * m + Float(xs[1][j] - r.zeroPoint) * (r.scale / out.scale)
                        y[j] = saturateRound(sum, zeroPoint: out.zeroPoint, min: c.relu ? max(out.zeroPoint, out.type.min) : out.type.min,
                                             max: out.type.max)
                    } else {
                        y[j] = requantize(acc[j], multiplier: m, own, relu: c.relu)
                        if let inter = q.intermediate { y[j] = rescale(y[j], from: inter, to: out) }
                    }
                }
            }
            if let p = c.maxPool { y = referenceMaxPoolQuantized(y, convShape, p, out: node.shape) }
            return y
        case .maxPool(let p):
            return referenceMaxPoolQuantized(x, s, p, out: node.shape)
        case .avgPool(let p):
            return referenceAvgPoolQuantized(x, s, p, out: node.shape, from: q.inputs[0], to: out)
        case .globalAvgPool:
            return referenceGlobalAvgPoolQuantized(x, s, from: q.inputs[0], to: out)
        case .requantize:
            return x.map { rescale($0, from: q.inputs[0], to: out) }
        default:
            preconditionFailure("\(node.name): \(node.op.kind) has no int8 kernel (quantize refuses it)")
        }
    }

    /// Float logits: `float(acc) * (x_scale * w_scale)` plus the float bias, or, with an
    /// intermediate (ONNX Runtime's QLinearMatMul then DequantizeLinear), the accumulator
    /// requantized to it, dequantized, plus the bias. An int32 bias (a QDQ Gemm's) joins
    /// the accumulator instead.
    func evaluateClassifier(_ x: [Int32], _ l: Linear, _ q: NodeQuantization) -> [Float] {
        let w = quantized(l.weight)
        var acc = referenceLinearAccumulators(x, l, xZeroPoint: q.inputs[0].zeroPoint, weight: w.values)
        var bias = l.bias.map { graph.parameters[$0]!.data }
        if let b = l.bias.flatMap({ graph.quantizedParameters[$0] }) {
            for o in acc.indices { acc[o] += b.values[o] }
            bias = nil
        }
        return (0..<l.outFeatures).map { o in
            let value: Float
            if let inter = q.intermediate {
                let m = requantizeMultiplier(input: q.inputs[0].scale, weight: w.scale(o), output: inter.scale)
                value = Float(requantize(acc[o], multiplier: m, inter) - inter.zeroPoint) * inter.scale
            } else {
                value = Float(acc[o]) * (q.inputs[0].scale * w.scale(o))
            }
            return value + (bias?[o] ?? 0)
        }
    }
}
