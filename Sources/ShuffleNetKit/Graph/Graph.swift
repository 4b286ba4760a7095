/// Logical shape of one activation: batch is always 1, so channels x height x width.
/// A linear layer's output is `[features, 1, 1]`.
public struct Shape: Equatable, Hashable, Sendable, CustomStringConvertible {
    public var c: Int, h: Int, w: Int
    public init(c: Int, h: Int, w: Int) { self.c = c; self.h = h; self.w = w }
    public var count: Int { c * h * w }
    public var description: String { "\(c)x\(h)x\(w)" }
}

public struct Conv: Equatable, Sendable {
    public var inChannels: Int
    public var outChannels: Int
    public var kernel: Int
    public var stride: Int
    public var padding: Int
    public var groups: Int
    /// Parameter names in `Graph.parameters`: PyTorch's `[out, in/groups, k, k]` weight and
    /// an optional `[out]` bias (present once BatchNorm has been folded in).
    public var weight: String
    public var bias: String?
    /// Epilogue fused by the optimizer: ReLU after the bias (and after the residual add).
    public var relu: Bool = false
    /// Set by the optimizer: the node has a second input that is added to the conv's
    /// output before the ReLU (v1's `relu(x + main)`), read from the very planes written.
    public var residual: Bool = false
    /// Set by the optimizer: a max pool applied to this conv's output (after bias and ReLU)
    /// as it is produced, a few rows at a time, so the full-size conv output never exists.
    /// The node's shape is then the pooled shape; `convShape` is the conv's own output.
    public var maxPool: Pool? = nil
    public var convShape: Shape? = nil

    public var isDepthwise: Bool { groups == inChannels && groups == outChannels && groups > 1 }
}

public struct BatchNorm: Equatable, Sendable {
    /// State-dict prefix: the tensors are `prefix.{weight,bias,running_mean,running_var}`.
    public var prefix: String
    public var channels: Int
    public var eps: Double = 1e-5
}

public struct Pool: Equatable, Sendable {
    public var kernel: Int
    public var stride: Int
    public var padding: Int
}

public struct Linear: Equatable, Sendable {
    public var inFeatures: Int
    public var outFeatures: Int
    public var weight: String
    public var bias: String?
}

/// One operation of the network. Each produces exactly one value.
public enum Op: Equatable, Sendable {
    case input
    case conv(Conv)
    case batchNorm(BatchNorm)
    case relu
    case maxPool(Pool)
    /// Average pool that counts padding (PyTorch's default): always divides by k*k.
    case avgPool(Pool)
    case globalAvgPool
    /// One part of a channel split: channels `start ..< start + count` of the input.
    case slice(start: Int, count: Int)
    case concat
    case shuffle(groups: Int, order: ShuffleOrder)
    case add
    case linear(Linear)
    /// Set by `quantize`: rescales the planes it reads, in place, from their stored
    /// parameters to the node's output parameters (a v2 identity half entering a concat
    /// with other parameters).
    case requantize

    /// Short name for reports.
    public var kind: String {
        switch self {
        case .input: "input"
        case .conv(let c): c.isDepthwise ? "dwconv" : (c.groups > 1 ? "gconv" : "conv")
        case .batchNorm: "batchnorm"
        case .relu: "relu"
        case .maxPool: "maxpool"
        case .avgPool: "avgpool"
        case .globalAvgPool: "globalpool"
        case .slice: "split"
        case .concat: "concat"
        case .shuffle: "shuffle"
        case .add: "add"
        case .linear: "linear"
        case .requantize: "requantize"
        }
    }

    /// Ops whose only effect is moving data: what the optimizer must remove.
    public var isDataMovement: Bool {
        switch self {
        case .slice, .concat, .shuffle: true
        default: false
        }
    }
}

/// Where a node writes its output: planes of a buffer owned by some node. Before the
/// optimizer every node owns a buffer of its own shape and writes it in order.
public struct Placement: Equatable, Sendable {
    /// The node that owns the buffer (it may be the writer itself).
    public var buffer: Int
    /// `channels[k]` is the plane of that buffer that holds logical output channel `k`.
    public var channels: [Int]
}

public struct Node: Equatable, Sendable {
    /// Stable, human-readable name (`stage3.2.branch2.pw1`), used in reports and emitted code.
    public var name: String
    public var op: Op
    /// Buffers read, by the index of the node that owns them.
    public var inputs: [Int]
    /// Logical output shape.
    public var shape: Shape
    /// Per input: the planes of that buffer holding the logical channels this node reads,
    /// in order; `nil` reads all planes in order. This is the static channel map that
    /// replaces shuffles and splits.
    public var inputChannels: [[Int]?]
    /// `nil`: the node owns a buffer of exactly its output shape. Otherwise where it writes.
    public var placement: Placement?
    /// Planes of the buffer this node owns, when other nodes write slices of it too.
    public var bufferChannels: Int?
    /// Set by `eliminateDataMovement`: the concat whose slice this node writes.
    public var joins: String?
    /// Set by `quantize`: the node computes in integers with these parameters.
    public var quantization: NodeQuantization?

    public init(name: String, op: Op, inputs: [Int], shape: Shape) {
        self.name = name
        self.op = op
        self.inputs = inputs
        self.shape = shape
        self.inputChannels = inputs.map { _ in nil }
        self.placement = nil
        self.bufferChannels = nil
        self.joins = nil
        self.quantization = nil
    }

    /// The node whose buffer receives this node's output.
    public func outputBuffer(self index: Int) -> Int { placement?.buffer ?? index }

    /// Planes written, in logical channel order.
    public var outputPlanes: [Int] { placement?.channels ?? Array(0..<shape.c) }
}

/// A network as an ordered list of nodes (execution order), plus its named parameters.
/// Node `i` produces value `i`; the last node is the output.
public struct Graph: Equatable, Sendable {
    public var spec: NetworkSpec
    public var nodes: [Node]
    /// Parameter tensors by state-dict name. Empty until weights are bound.
    public var parameters: [String: Tensor]
    /// Integer weights as a quantized source stored them (an int8 QDQ ONNX file), by
    /// parameter name, kept in step with `parameters` by every pass that reorders weights;
    /// `quantize` uses them instead of quantizing the float copies.
    public var quantizedParameters: [String: QuantizedTensor] = [:]

    /// True once `quantize` has run.
    public var isQuantized: Bool { nodes.contains { $0.quantization != nil } }

    public var output: Int { nodes.count - 1 }

    /// Number of planes of the buffer owned by node `i` (0 if it owns none).
    public func bufferPlanes(_ i: Int) -> Int {
        let n = nodes[i]
        if let c = n.bufferChannels { return c }
        return n.placement == nil || n.placement?.buffer == i ? n.shape.c : 0
    }

    /// Planes node `consumer` reads from its input `k`, in logical channel order.
    public func inputPlanes(_ consumer: Int, _ k: Int) -> [Int] {
        let n = nodes[consumer]
        return n.inputChannels[k] ?? Array(0..<bufferPlanes(n.inputs[k]))
    }

    /// Drops `removed` nodes and points every reference to a removed node at its
    /// replacement (which must own the same buffer layout), renumbering what is left.
    public func compacted(removing removed: Set<Int>, replacing: [Int: Int] = [:]) -> Graph {
        func resolve(_ i: Int) -> Int {
            var i = i
            while let r = replacing[i] { i = r }
            precondition(!removed.contains(i), "node \(nodes[i].name) removed without replacement")
            return i
        }
        var newIndex = [Int](repeating: -1, count: nodes.count)
        var kept: [Node] = []
        for (i, n) in nodes.enumerated() where !removed.contains(i) {
            newIndex[i] = kept.count
            kept.append(n)
        }
        for j in kept.indices {
            kept[j].inputs = kept[j].inputs.map { newIndex[resolve($0)] }
            if var p = kept[j].placement {
                p.buffer = newIndex[resolve(p.buffer)]
                kept[j].placement = p
            }
        }
        var g = self
        g.nodes = kept
        return g
    }
}
