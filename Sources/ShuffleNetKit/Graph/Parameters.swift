/// What a parameter tensor is for; the seeded generator draws each kind from its own range.
public enum ParameterRole: Equatable, Sendable {
    case weight(fanIn: Int)
    case bias
    case bnWeight, bnBias, bnMean, bnVariance
}

public struct ParameterSpec: Equatable, Sendable {
    public var name: String
    public var shape: [Int]
    public var role: ParameterRole
}

extension Graph {
    /// Every parameter the graph reads, in execution order, with the shape the reference
    /// state_dict stores (conv `[out, in/groups, k, k]`, linear `[out, in]`).
    public var parameterSpecs: [ParameterSpec] {
        var specs: [ParameterSpec] = []
        for node in nodes {
            switch node.op {
            case .conv(let c):
                let perGroup = c.inChannels / c.groups
                specs.append(ParameterSpec(name: c.weight, shape: [c.outChannels, perGroup, c.kernel, c.kernel],
                                           role: .weight(fanIn: perGroup * c.kernel * c.kernel)))
                if let bias = c.bias { specs.append(ParameterSpec(name: bias, shape: [c.outChannels], role: .bias)) }
            case .batchNorm(let bn):
                for (suffix, role) in [("weight", ParameterRole.bnWeight), ("bias", .bnBias),
                                       ("running_mean", .bnMean), ("running_var", .bnVariance)] {
                    specs.append(ParameterSpec(name: "\(bn.prefix).\(suffix)", shape: [bn.channels], role: role))
                }
            case .linear(let l):
                specs.append(ParameterSpec(name: l.weight, shape: [l.outFeatures, l.inFeatures], role: .weight(fanIn: l.inFeatures)))
                if let bias = l.bias { specs.append(ParameterSpec(name: bias, shape: [l.outFeatures], role: .bias)) }
            default:
                break
            }
        }
        return specs
    }

    /// Binds loaded tensors to the graph by state-dict name. Every expected tensor must be
    /// present with its exact shape and nothing else may be left over, so a checkpoint of
    /// another variant fails loudly instead of running with half its weights.
    public func binding(_ tensors: [String: Tensor], source: String) throws -> Graph {
        let specs = parameterSpecs
        var bound: [String: Tensor] = [:]
        var missing: [String] = []
        for p in specs {
            guard let t = tensors[p.name] else { missing.append(p.name); continue }
            // PyTorch stores 1-element vectors and scalars interchangeably in a few exports.
            guard t.shape == p.shape else {
                throw ShuffleNetError("\(source): tensor \(p.name) has shape \(describe(shape: t.shape)), spec \(spec.name) expects \(describe(shape: p.shape))")
            }
            bound[p.name] = t
        }
        if !missing.isEmpty {
            let shown = missing.prefix(5).joined(separator: ", ")
            throw ShuffleNetError("\(source): missing \(missing.count) tensor(s) that spec \(spec.name) needs: \(shown)\(missing.count > 5 ? ", ..." : "")")
        }
        let unknown = tensors.keys.filter { bound[$0] == nil }.sorted()
        if !unknown.isEmpty {
            let shown = unknown.prefix(5).joined(separator: ", ")
            throw ShuffleNetError("\(source): \(unknown.count) tensor(s) that spec \(spec.name) does not have: \(shown)\(unknown.count > 5 ? ", ..." : "")")
        }
        var g = self
        g.parameters = bound
        return g
    }
}
