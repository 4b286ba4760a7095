/// Channels `start ..< start + count` of a CHW tensor.
func referenceSlice(_ x: [Float], _ s: Shape, start: Int, count: Int) -> [Float] {
    let plane = s.h * s.w
    return Array(x[(start * plane)..<((start + count) * plane)])
}

/// Concatenation along channels.
func referenceConcat(_ parts: [[Float]]) -> [Float] {
    parts.flatMap { $0 }
}

/// Channel shuffle: output channel `k` is input channel `order.sourceChannels(...)[k]`.
func referenceShuffle(_ x: [Float], _ s: Shape, groups: Int, order: ShuffleOrder) -> [Float] {
    let plane = s.h * s.w
    let source = order.sourceChannels(channels: s.c, groups: groups)
    var y = [Float](repeating: 0, count: x.count)
    for k in 0..<s.c {
        for i in 0..<plane { y[k * plane + i] = x[source[k] * plane + i] }
    }
    return y
}
