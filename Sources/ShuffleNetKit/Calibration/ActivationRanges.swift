/// Post-training calibration, step one: the range of every activation of a network over a
/// few representative images, read off the interpreted engine as it runs.
///
/// Ranges are recorded per node of the graph it is given (the optimized fp32 graph, so
/// BatchNorm is already folded and every name is one the quantize pass knows), plus the
/// input image (node 0), which the first conv quantizes inside its kernel.
public struct ActivationRange: Equatable, Codable, Sendable {
    public var min: Float
    public var max: Float
    public init(min: Float, max: Float) { self.min = min; self.max = max }
}

/// How a range is chosen from what the images showed.
public enum RangeMethod: Equatable, Sendable, CustomStringConvertible {
    /// The smallest and largest value seen: nothing is clipped, but one outlier widens
    /// every quantization step of its tensor.
    case minMax
    /// The `p`-th and `(100 - p)`-th percentiles of all values seen (e.g. 99.99): a few
    /// outliers saturate so that the bulk of the values gets finer steps.
    case percentile(Double)

    /// `minmax` or `percentile:99.99`, as on the command line and in the file.
    public init(parsing text: String) throws {
        if text == "minmax" { self = .minMax; return }
        if text.hasPrefix("percentile:"), let p = Double(text.dropFirst("percentile:".count)), p > 50, p <= 100 {
            self = .percentile(p)
            return
        }
        throw ShuffleNetError("unknown calibration method '\(text)' (valid: minmax, percentile:P with 50 < P <= 100, e.g. percentile:99.99)")
    }

    public var description: String {
        switch self {
        case .minMax: "minmax"
        case .percentile(let p): "percentile:\(p)"
        }
    }
}

/// Runs `graph` on every image and returns one range per node (indexed like
/// `graph.nodes`). The percentile method makes a second pass: the first finds each
/// tensor's extent, the second counts its values into a fine histogram over that extent,
/// so memory stays one histogram per tensor however many images there are.
public func recordActivationRanges(_ graph: Graph, images: [Tensor], method: RangeMethod) throws -> [ActivationRange] {
    guard !images.isEmpty else { throw ShuffleNetError("calibration needs at least one image") }
    let engine = try Interpreter(graph: graph)
    var extent = [ActivationRange](repeating: ActivationRange(min: .infinity, max: -.infinity), count: graph.nodes.count)
    for image in images {
        _ = try engine.run(image) { node, values in
            for v in values {
                if v < extent[node].min { extent[node].min = v }
                if v > extent[node].max { extent[node].max = v }
            }
        }
    }
    guard case .percentile(let p) = method else { return extent }

    let bins = 16384
    var histograms = [[Int]](repeating: [Int](repeating: 0, count: bins), count: graph.nodes.count)
    var counts = [Int](repeating: 0, count: graph.nodes.count)
    func bin(_ v: Float, _ r: ActivationRange) -> Int {
        guard r.max > r.min else { return 0 }
        return Swift.min(bins - 1, Swift.max(0, Int(Double(v - r.min) / Double(r.max - r.min) * Double(bins))))
    }
    for image in images {
        _ = try engine.run(image) { node, values in
            let r = extent[node]
            for v in values { histograms[node][bin(v, r)] += 1 }
            counts[node] += values.count
        }
    }
    return extent.indices.map { node in
        let r = extent[node]
        guard r.max > r.min else { return r }
        let width = Double(r.max - r.min) / Double(bins)
        // Values below the low bin's edge are at most (100 - p)% of all; likewise above.
        let tail = Int((Double(counts[node]) * (100 - p) / 100).rounded(.down))
        var below = 0, lo = 0
        while lo < bins - 1 && below + histograms[node][lo] <= tail { below += histograms[node][lo]; lo += 1 }
        var above = 0, hi = bins - 1
        while hi > lo && above + histograms[node][hi] <= tail { above += histograms[node][hi]; hi -= 1 }
        return ActivationRange(min: lo == 0 ? r.min : Float(Double(r.min) + Double(lo) * width),
                               max: hi == bins - 1 ? r.max : Float(Double(r.min) + Double(hi + 1) * width))
    }
}
