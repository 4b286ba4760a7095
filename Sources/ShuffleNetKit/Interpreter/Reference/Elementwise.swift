func referenceReLU(_ x: [Float]) -> [Float] { x.map { max($0, 0) } }

func referenceAdd(_ a: [Float], _ b: [Float]) -> [Float] { zip(a, b).map { $0 + $1 } }

/// `y = W x + b` with PyTorch's `[out, in]` weight.
func referenceLinear(_ x: [Float], _ l: Linear, weight: [Float], bias: [Float]?) -> [Float] {
    (0..<l.outFeatures).map { o in
        var acc: Float = bias?[o] ?? 0
        for i in 0..<l.inFeatures { acc += weight[o * l.inFeatures + i] * x[i] }
        return acc
    }
}
