import Foundation

/// `shufflenet-gen plan`: where every activation lives in the arena, and how the arena
/// compares with the lower bound and with the usual strategies.
public struct PlanReport: Codable, Equatable, Sendable {
    public struct Block: Codable, Equatable, Sendable {
        public var name: String
        public var offset: Int
        public var size: Int
        public var firstOp: Int
        public var lastOp: Int
    }

    public struct Totals: Codable, Equatable, Sendable {
        public var arenaBytes: Int
        public var lowerBound: Int
        public var ratio: Double
        public var greedyBySizeBytes: Int
        public var naiveBytes: Int
    }

    public var spec: String
    public var alignment: Int
    public var blocks: [Block]
    /// Input and logits in caller buffers (what the emitted code does).
    public var callerIO: Totals
    /// Input and logits inside the arena too.
    public var arenaIO: Totals
    public var note: String
    /// `fp32` or `int8`: the element type of the activations (1 or 4 bytes each).
    public var precision: String
    /// Bytes of the weights in that precision (`Graph.weightBytes`).
    public var weightBytes: Int

    public init(graph: Graph) {
        spec = graph.spec.name
        precision = graph.isQuantized ? "int8" : "fp32"
        weightBytes = graph.weightBytes
        alignment = arenaAlignment
        let layout = ArenaLayout(graph)
        blocks = zip(layout.plan.lifetimes, layout.plan.offsets).map {
            Block(name: $0.name, offset: $1, size: $0.size, firstOp: $0.first, lastOp: $0.last)
        }
        func totals(includeIO: Bool) -> Totals {
            let lifetimes = graph.bufferLifetimes(includeIO: includeIO).map(\.lifetime)
            let best = planArena(lifetimes).arenaBytes
            let bound = lowerBound(lifetimes)
            return Totals(arenaBytes: best, lowerBound: bound, ratio: bound == 0 ? 1 : Double(best) / Double(bound),
                          greedyBySizeBytes: planArena(lifetimes, strategy: .greedyBySize).arenaBytes,
                          naiveBytes: planArena(lifetimes, strategy: .naive).arenaBytes)
        }
        callerIO = totals(includeIO: false)
        arenaIO = totals(includeIO: true)
        note = callerIO.arenaBytes == callerIO.lowerBound
            ? "arena equals the lower bound: the most bytes live at any one op of this schedule"
            : "arena exceeds the lower bound by \(callerIO.arenaBytes - callerIO.lowerBound) bytes: no first-fit order packed these lifetimes tighter"
    }

    public var text: String {
        let rows = blocks.map { [$0.name, grouped($0.offset), grouped($0.size), "\($0.firstOp)..\($0.lastOp)"] }
        func line(_ label: String, _ t: Totals) -> String {
            "\(label): arena \(grouped(t.arenaBytes)) B, lower bound \(grouped(t.lowerBound)) B, arena / lower bound \(String(format: "%.3f", t.ratio)); greedy-by-size \(grouped(t.greedyBySizeBytes)) B, naive \(grouped(t.naiveBytes)) B\n"
        }
        return "spec \(spec), precision \(precision): weights \(grouped(weightBytes)) B, arena alignment \(alignment) bytes\n"
            + renderTable(header: ["buffer", "offset", "bytes", "live ops"], rows: rows, rightAligned: [1, 2])
            + line("input and logits in caller buffers", callerIO)
            + line("input and logits in the arena", arenaIO)
            + note + "\n"
    }

    /// The arena over time: x is the op index, y the byte offset, one labelled box per buffer.
    public var svg: String {
        let width = 1000.0, height = 600.0, margin = 50.0
        let ops = Double((blocks.map(\.lastOp).max() ?? 0) + 1)
        let bytes = Double(max(callerIO.arenaBytes, 1))
        let sx = (width - 2 * margin) / ops, sy = (height - 2 * margin) / bytes
        var out = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" font-family="sans-serif" font-size="9">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(margin)" y="20" font-size="13">\(spec): arena \(grouped(callerIO.arenaBytes)) bytes, lower bound \(grouped(callerIO.lowerBound)) (x: op index, y: offset)</text>
        <line x1="\(margin)" y1="\(height - margin)" x2="\(width - margin)" y2="\(height - margin)" stroke="black"/>
        <line x1="\(margin)" y1="\(margin)" x2="\(margin)" y2="\(height - margin)" stroke="black"/>

        """
        let palette = ["#8dd3c7", "#ffffb3", "#bebada", "#fb8072", "#80b1d3", "#fdb462", "#b3de69", "#fccde5", "#d9d9d9", "#bc80bd"]
        for (n, b) in blocks.enumerated() {
            let x = margin + Double(b.firstOp) * sx, w = Double(b.lastOp - b.firstOp + 1) * sx
            let y = height - margin - Double(b.offset + b.size) * sy, h = Double(b.size) * sy
            out += String(format: "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%@\" stroke=\"#333\" stroke-width=\"0.5\"><title>%@: offset %d, %d bytes, ops %d..%d</title></rect>\n",
                          x, y, w, h, palette[n % palette.count], b.name, b.offset, b.size, b.firstOp, b.lastOp)
            // Label only boxes the name fits in (about 5.5 px a character at this size).
            if h > 10 && w > Double(b.name.count) * 5.5 {
                out += String(format: "<text x=\"%.1f\" y=\"%.1f\">%@</text>\n", x + 2, y + min(h - 2, 10), b.name)
            }
        }
        for t in stride(from: 0, through: Int(ops), by: 10) {
            out += String(format: "<text x=\"%.1f\" y=\"%.1f\">%d</text>\n", margin + Double(t) * sx, height - margin + 14, t)
        }
        out += String(format: "<text x=\"5\" y=\"%.1f\">%@ B</text>\n", margin, grouped(callerIO.arenaBytes))
        out += String(format: "<text x=\"5\" y=\"%.1f\">0</text>\n", height - margin)
        return out + "</svg>\n"
    }
}
