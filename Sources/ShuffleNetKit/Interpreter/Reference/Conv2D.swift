/// Reference convolution on one CHW image: direct loops, any kernel, stride, padding and
/// group count; bias included, epilogue (residual, ReLU) left to the caller. Slow on purpose: it is the oracle everything else is compared against.
func referenceConv2D(_ x: [Float], _ s: Shape, _ c: Conv, weight: [Float], bias: [Float]?, out o: Shape) -> [Float] {
    var y = [Float](repeating: 0, count: o.count)
    let inPerGroup = c.inChannels / c.groups
    let outPerGroup = c.outChannels / c.groups
    let k = c.kernel
    x.withUnsafeBufferPointer { xp in
        weight.withUnsafeBufferPointer { wp in
            y.withUnsafeMutableBufferPointer { yp in
                for oc in 0..<c.outChannels {
                    let plane = yp.baseAddress! + oc * o.h * o.w
                    let b = bias?[oc] ?? 0
                    for i in 0..<(o.h * o.w) { plane[i] = b }
                    let group = oc / outPerGroup
                    for j in 0..<inPerGroup {
                        let input = xp.baseAddress! + (group * inPerGroup + j) * s.h * s.w
                        for kh in 0..<k {
                            for kw in 0..<k {
                                let wv = wp[((oc * inPerGroup + j) * k + kh) * k + kw]
                                // Output columns whose input column lies inside the image.
                                var ow0 = 0
                                while ow0 < o.w && ow0 * c.stride - c.padding + kw < 0 { ow0 += 1 }
                                var ow1 = o.w
                                while ow1 > ow0 && (ow1 - 1) * c.stride - c.padding + kw >= s.w { ow1 -= 1 }
                                for oh in 0..<o.h {
                                    let ih = oh * c.stride - c.padding + kh
                                    if ih < 0 || ih >= s.h { continue }
                                    let row = input + ih * s.w - c.padding + kw
                                    let outRow = plane + oh * o.w
                                    for ow in ow0..<ow1 { outRow[ow] += wv * row[ow * c.stride] }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    return y
}
