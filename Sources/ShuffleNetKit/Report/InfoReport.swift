import Foundation

/// `shufflenet-gen info`: one row per layer and the totals.
public struct InfoReport: Codable, Equatable, Sendable {
    public struct Layer: Codable, Equatable, Sendable {
        public var name: String
        public var op: String
        public var shape: [Int]
        public var params: Int
        public var macs: Int
        /// Optimized graphs only: where the output goes and what the inputs read, when
        /// that is not simply a buffer of its own.
        public var layout: String?
    }

    /// Before/after totals of `info --optimized`.
    public struct Optimization: Codable, Equatable, Sendable {
        public var opsBefore: Int
        public var opsAfter: Int
        public var bytesMovedBefore: Int
        public var bytesMovedAfter: Int
        public var scatteredReadsAfter: Int
    }

    public var spec: String
    public var layers: [Layer]
    public var totalParams: Int
    public var totalMACs: Int
    public var ops: Int
    public var optimization: Optimization?
    /// What the emitted code needs in this precision (`info --precision`).
    public struct Memory: Codable, Equatable, Sendable {
        public var precision: String
        public var weightBytes: Int
        public var arenaBytes: Int
    }
    public var memory: Memory?

    public init(graph: Graph, unoptimized: Graph? = nil, withMemory: Bool = false) {
        spec = graph.spec.name
        layers = graph.nodes.indices.map { i in
            let node = graph.nodes[i]
            return Layer(name: node.name, op: describeOp(node.op), shape: [node.shape.c, node.shape.h, node.shape.w],
                         params: graph.parameterCount(of: node), macs: graph.macs(of: node),
                         layout: unoptimized == nil ? nil : describeLayout(graph, i))
        }
        if let before = unoptimized {
            optimization = Optimization(opsBefore: before.nodes.count - 1, opsAfter: graph.nodes.count - 1,
                                        bytesMovedBefore: before.dataMovementBytes, bytesMovedAfter: graph.dataMovementBytes,
                                        scatteredReadsAfter: graph.scatteredReads)
        }
        totalParams = graph.totalParameters
        totalMACs = graph.totalMACs
        ops = graph.nodes.count - 1
        if withMemory {
            memory = Memory(precision: graph.isQuantized ? "int8" : "fp32", weightBytes: graph.weightBytes,
                            arenaBytes: ArenaLayout(graph).plan.arenaBytes)
        }
    }

    public var text: String {
        let withLayout = optimization != nil
        let rows = layers.map {
            [$0.name, $0.op, $0.shape.map(String.init).joined(separator: "x"), grouped($0.params), grouped($0.macs)]
                + (withLayout ? [$0.layout ?? ""] : [])
        }
        var out = "spec \(spec)\n" + renderTable(header: ["layer", "op", "output", "params", "MACs"] + (withLayout ? ["layout"] : []),
                                                rows: rows, rightAligned: [3, 4])
            + "total: \(grouped(totalParams)) params, \(grouped(totalMACs)) MACs, \(ops) ops\n"
        if let o = optimization {
            out += "optimization: ops \(o.opsBefore) -> \(o.opsAfter); bytes moved by split/concat/shuffle \(grouped(o.bytesMovedBefore)) -> \(grouped(o.bytesMovedAfter)); reads through a scattered channel list after: \(o.scatteredReadsAfter)\n"
        }
        if let m = memory {
            out += "\(m.precision): weights \(grouped(m.weightBytes)) bytes, arena \(grouped(m.arenaBytes)) bytes\n"
        }
        return out
    }
}

/// Every report's `--json` form: stable key order so scripts and diffs see the same bytes.
public func jsonString<T: Encodable>(_ value: T) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    return String(decoding: try encoder.encode(value), as: UTF8.self) + "\n"
}

/// `conv+bias+add+relu`: the op and what its epilogue does.
func describeOp(_ op: Op) -> String {
    guard case .conv(let c) = op else { return op.kind }
    return op.kind + (c.bias == nil ? "" : "+bias") + (c.residual ? "+add" : "") + (c.relu ? "+relu" : "")
}

/// Plane lists as runs: `0..57`, `29..57,87..115`; long scattered lists by count.
func describePlanes(_ planes: [Int]) -> String {
    var runs: [(Int, Int)] = []
    for p in planes {
        if let last = runs.last, last.1 + 1 == p { runs[runs.count - 1].1 = p } else { runs.append((p, p)) }
    }
    if runs.count > 4 { return "\(planes.count) planes in \(runs.count) runs" }
    return runs.map { $0.0 == $0.1 ? "\($0.0)" : "\($0.0)..\($0.1)" }.joined(separator: ",")
}

/// What an optimized node reads and where it writes, in the terms of `Node`'s maps.
func describeLayout(_ g: Graph, _ i: Int) -> String? {
    let node = g.nodes[i]
    var parts: [String] = []
    for k in node.inputs.indices {
        if let planes = node.inputChannels[k] {
            parts.append("reads \(describePlanes(planes)) of \(g.nodes[node.inputs[k]].name)")
        }
    }
    if let p = node.placement {
        let target = p.buffer == i ? "own buffer" : g.nodes[p.buffer].name
        if p.channels != Array(0..<node.shape.c) || p.buffer != i {
            parts.append("writes \(describePlanes(p.channels)) of \(target)")
        }
    }
    if let c = node.bufferChannels { parts.append("owns \(c) planes") }
    return parts.isEmpty ? nil : parts.joined(separator: "; ")
}
