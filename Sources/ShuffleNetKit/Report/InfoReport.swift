import Foundation

/// `shufflenet-gen info`: one row per layer and the totals.
public struct InfoReport: Codable, Equatable, Sendable {
    public struct Layer: Codable, Equatable, Sendable {
        public var name: String
        public var op: String
        public var shape: [Int]
        public var params: Int
        public var macs: Int
    }

    public var spec: String
    public var layers: [Layer]
    public var totalParams: Int
    public var totalMACs: Int
    public var ops: Int

    public init(graph: Graph) {
        spec = graph.spec.name
        layers = graph.nodes.map { node in
            Layer(name: node.name, op: node.op.kind, shape: [node.shape.c, node.shape.h, node.shape.w],
                  params: graph.parameterCount(of: node), macs: graph.macs(of: node))
        }
        totalParams = graph.totalParameters
        totalMACs = graph.totalMACs
        ops = graph.nodes.count - 1
    }

    public var text: String {
        let rows = layers.map { [$0.name, $0.op, $0.shape.map(String.init).joined(separator: "x"), grouped($0.params), grouped($0.macs)] }
        return "spec \(spec)\n" + renderTable(header: ["layer", "op", "output", "params", "MACs"], rows: rows, rightAligned: [3, 4])
            + "total: \(grouped(totalParams)) params, \(grouped(totalMACs)) MACs, \(ops) ops\n"
    }
}

/// Every report's `--json` form: stable key order so scripts and diffs see the same bytes.
public func jsonString<T: Encodable>(_ value: T) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    return String(decoding: try encoder.encode(value), as: UTF8.self) + "\n"
}
