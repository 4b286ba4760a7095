/// Max pool; padding never wins (PyTorch pads with -inf).
func referenceMaxPool(_ x: [Float], _ s: Shape, _ p: Pool, out o: Shape) -> [Float] {
    pool(x, s, p, out: o, initial: -.infinity, combine: max, finish: { $0 })
}

/// Average pool with `count_include_pad=True`: the divisor is always k*k.
func referenceAvgPool(_ x: [Float], _ s: Shape, _ p: Pool, out o: Shape) -> [Float] {
    let area = Float(p.kernel * p.kernel)
    return pool(x, s, p, out: o, initial: 0, combine: +, finish: { $0 / area })
}

private func pool(_ x: [Float], _ s: Shape, _ p: Pool, out o: Shape, initial: Float,
                  combine: (Float, Float) -> Float, finish: (Float) -> Float) -> [Float] {
    var y = [Float](repeating: 0, count: o.count)
    for c in 0..<s.c {
        for oh in 0..<o.h {
            for ow in 0..<o.w {
                var acc = initial
                for kh in 0..<p.kernel {
                    let ih = oh * p.stride - p.padding + kh
                    if ih < 0 || ih >= s.h { continue }
                    for kw in 0..<p.kernel {
                        let iw = ow * p.stride - p.padding + kw
                        if iw < 0 || iw >= s.w { continue }
                        acc = combine(acc, x[(c * s.h + ih) * s.w + iw])
                    }
                }
                y[(c * o.h + oh) * o.w + ow] = finish(acc)
            }
        }
    }
    return y
}

/// Mean over H and W for each channel.
func referenceGlobalAvgPool(_ x: [Float], _ s: Shape) -> [Float] {
    let plane = s.h * s.w
    return (0..<s.c).map { c in
        var sum: Float = 0
        for i in (c * plane)..<((c + 1) * plane) { sum += x[i] }
        return sum / Float(plane)
    }
}
