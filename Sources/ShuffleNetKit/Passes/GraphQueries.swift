extension Graph {
    /// Nodes that read node `i`'s buffer, in execution order.
    public func readers(of i: Int) -> [Int] {
        nodes.indices.filter { nodes[$0].inputs.contains(i) }
    }

    /// The single reader of node `i`'s value, if exactly one node reads it.
    func soleReader(of i: Int) -> Int? {
        let r = readers(of: i)
        return r.count == 1 && nodes[r[0]].inputs.filter({ $0 == i }).count == 1 ? r[0] : nil
    }

    /// The state-dict stem of a conv (`stage2.0.branch2.0` for `stage2.0.branch2.0.weight`).
    static func stem(_ weightName: String) -> String {
        weightName.hasSuffix(".weight") ? String(weightName.dropLast(".weight".count)) : weightName
    }
}
