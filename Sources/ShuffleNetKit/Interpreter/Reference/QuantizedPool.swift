/// Reference int8 max pool: the max of the stored integers (input and output share their
/// parameters, so the order is the real values' order); padding never wins.
func referenceMaxPoolQuantized(_ x: [Int32], _ s: Shape, _ p: Pool, out o: Shape) -> [Int32] {
    var y = [Int32](repeating: 0, count: o.count)
    for c in 0..<s.c {
        for oh in 0..<o.h {
            for ow in 0..<o.w {
                var m = Int32.min
                for kh in 0..<p.kernel {
                    let ih = oh * p.stride - p.padding + kh
                    if ih < 0 || ih >= s.h { continue }
                    for kw in 0..<p.kernel {
                        let iw = ow * p.stride - p.padding + kw
                        if iw >= 0 && iw < s.w { m = max(m, x[(c * s.h + ih) * s.w + iw]) }
                    }
                }
                y[(c * o.h + oh) * o.w + ow] = m
            }
        }
    }
    return y
}

/// Reference int8 average pool counting padding (v1's shortcut): the int32 sum of
/// `q - zp` over the window (padding is real zero), then
/// `(float(sum) * x_scale) / (k * k) / y_scale` rounded once.
func referenceAvgPoolQuantized(_ x: [Int32], _ s: Shape, _ p: Pool, out o: Shape,
                               from: ActivationQuantization, to: ActivationQuantization) -> [Int32] {
    var y = [Int32](repeating: 0, count: o.count)
    let area = Float(p.kernel * p.kernel)
    for c in 0..<s.c {
        for oh in 0..<o.h {
            for ow in 0..<o.w {
                var sum: Int32 = 0
                for kh in 0..<p.kernel {
                    let ih = oh * p.stride - p.padding + kh
                    if ih < 0 || ih >= s.h { continue }
                    for kw in 0..<p.kernel {
                        let iw = ow * p.stride - p.padding + kw
                        if iw >= 0 && iw < s.w { sum += x[(c * s.h + ih) * s.w + iw] - from.zeroPoint }
                    }
                }
                y[(c * o.h + oh) * o.w + ow] = quantizeLinear(Float(sum) * from.scale / area, to)
            }
        }
    }
    return y
}

/// Reference int8 global average pool: per channel the int32 sum of `q - zp`, then
/// `(float(sum) * x_scale) / pixels` quantized with `to` (ONNX Runtime runs this model's
/// pool as DequantizeLinear, a float ReduceMean and QuantizeLinear).
func referenceGlobalAvgPoolQuantized(_ x: [Int32], _ s: Shape, from: ActivationQuantization, to: ActivationQuantization) -> [Int32] {
    let plane = s.h * s.w
    return (0..<s.c).map { c in
        var sum: Int32 = 0
        for i in (c * plane)..<((c + 1) * plane) { sum += x[i] - from.zeroPoint }
        return quantizeLinear(Float(sum) * from.scale / Float(plane), to)
    }
}
