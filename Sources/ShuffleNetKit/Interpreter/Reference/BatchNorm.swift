/// Eval-mode BatchNorm2d: `(x - mean) / sqrt(var + eps) * gamma + beta`, as PyTorch computes it.
func referenceBatchNorm(_ x: [Float], _ s: Shape, gamma: [Float], beta: [Float], mean: [Float], variance: [Float], eps: Double) -> [Float] {
    var y = x
    let plane = s.h * s.w
    for c in 0..<s.c {
        let inv = 1 / (variance[c] + Float(eps)).squareRoot()
        for i in (c * plane)..<((c + 1) * plane) {
            y[i] = (x[i] - mean[c]) * inv * gamma[c] + beta[c]
        }
    }
    return y
}
