/// Reference int8 convolution on one CHW image: the int32 sums of `(x - xZeroPoint) * w`
/// plus the int32 bias, any kernel, stride, padding and group count. Padding is the zero
/// point (real zero), so padded taps add nothing. Requantization is the caller's.
func referenceConv2DAccumulators(_ x: [Int32], _ s: Shape, _ c: Conv, xZeroPoint: Int32, weight: [Int32], bias: [Int32]?,
                                 out o: Shape) -> [Int32] {
    var y = [Int32](repeating: 0, count: o.count)
    let inPerGroup = c.inChannels / c.groups
    let outPerGroup = c.outChannels / c.groups
    let k = c.kernel
    for oc in 0..<c.outChannels {
        let group = oc / outPerGroup
        for oh in 0..<o.h {
            for ow in 0..<o.w {
                var acc = bias?[oc] ?? 0
                for j in 0..<inPerGroup {
                    let plane = (group * inPerGroup + j) * s.h * s.w
                    for kh in 0..<k {
                        let ih = oh * c.stride - c.padding + kh
                        if ih < 0 || ih >= s.h { continue }
                        for kw in 0..<k {
                            let iw = ow * c.stride - c.padding + kw
                            if iw < 0 || iw >= s.w { continue }
                            acc += (x[plane + ih * s.w + iw] - xZeroPoint) * weight[((oc * inPerGroup + j) * k + kh) * k + kw]
                        }
                    }
                }
                y[(oc * o.h + oh) * o.w + ow] = acc
            }
        }
    }
    return y
}

/// Reference int8 classifier: `acc[o] = sum_i (x[i] - xZeroPoint) * w[o][i]`, PyTorch's
/// `[out, in]` weight.
func referenceLinearAccumulators(_ x: [Int32], _ l: Linear, xZeroPoint: Int32, weight: [Int32]) -> [Int32] {
    (0..<l.outFeatures).map { o in
        var acc: Int32 = 0
        for i in 0..<l.inFeatures { acc += (x[i] - xZeroPoint) * weight[o * l.inFeatures + i] }
        return acc
    }
}
