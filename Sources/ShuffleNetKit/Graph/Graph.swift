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

public struct Node: Equatable, Sendable {
    /// Stable, human-readable name (`stage3.2.branch2.conv1`), used in reports and emitted code.
    public var name: String
    public var op: Op
    /// Values read, by the index of the node that produced them.
    public var inputs: [Int]
    public var shape: Shape
}

/// A network as an ordered list of nodes (execution order), plus its named parameters.
/// Node `i` produces value `i`; the last node is the output.
public struct Graph: Equatable, Sendable {
    public var spec: NetworkSpec
    public var nodes: [Node]
    /// Parameter tensors by state-dict name. Empty until weights are bound.
    public var parameters: [String: Tensor]

    public var output: Int { nodes.count - 1 }
}
