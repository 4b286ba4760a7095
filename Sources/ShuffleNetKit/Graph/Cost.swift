/// Parameter and multiply-accumulate counts, counted the way architectures.md states the
/// reference totals: conv and linear weights, biases and BN affine parameters (not running
/// statistics); MACs of convs and linear layers only.
extension Graph {
    public func parameterCount(of node: Node) -> Int {
        switch node.op {
        case .conv(let c):
            return c.outChannels * (c.inChannels / c.groups) * c.kernel * c.kernel + (c.bias == nil ? 0 : c.outChannels)
        case .batchNorm(let bn):
            return 2 * bn.channels
        case .linear(let l):
            return l.outFeatures * l.inFeatures + (l.bias == nil ? 0 : l.outFeatures)
        default:
            return 0
        }
    }

    public func macs(of node: Node) -> Int {
        switch node.op {
        case .conv(let c):
            return (c.convShape ?? node.shape).count * (c.inChannels / c.groups) * c.kernel * c.kernel
        case .linear(let l):
            return l.outFeatures * l.inFeatures
        default:
            return 0
        }
    }

    public var totalParameters: Int { nodes.reduce(0) { $0 + parameterCount(of: $1) } }
    public var totalMACs: Int { nodes.reduce(0) { $0 + macs(of: $1) } }

    /// Bytes the weights take as the emitted code stores them: 4 per float parameter; once
    /// quantized, 1 per int8 weight, 4 per int32 bias, per float bias and per scale.
    public var weightBytes: Int {
        parameterSpecs.reduce(0) { total, p in
            guard isQuantized, let q = quantizedParameters[p.name] else { return total + p.shape.reduce(1, *) * 4 }
            return total + q.values.count * (p.role == .bias ? 4 : 1) + q.scales.count * 4
        }
    }
}
