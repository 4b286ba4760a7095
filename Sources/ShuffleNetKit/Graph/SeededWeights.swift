import Foundation

/// Deterministic weights for running any spec without a checkpoint. The generator is
/// counter-based so that Python (tools/make_fixtures.py) reproduces it bit for bit with
/// vectorized numpy: value `i` of tensor `name` is
///
///     key = fnv1a64(utf8(name)) ^ (seed * 0x9E3779B97F4A7C15)
///     z   = splitmix64_finalize(key + (i + 1) * 0x9E3779B97F4A7C15)    (all mod 2^64)
///     u   = (z >> 40) / 2^24                                         in [0, 1)
///
/// and each role maps `u` (in float64, rounded once to float32) to a range that keeps
/// activations bounded through all units while making BatchNorm folding non-trivial:
/// weights U(-b, b) with b = sqrt(6 / fan_in) (He uniform); conv/fc bias U(-0.1, 0.1);
/// BN gamma U(0.5, 1.5), beta U(-0.2, 0.2), running mean U(-0.2, 0.2), running var U(0.5, 1.5).
public enum SeededWeights {
    public static let defaultSeed: UInt64 = 2024

    static let golden: UInt64 = 0x9E37_79B9_7F4A_7C15

    static func fnv1a64(_ s: String) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in s.utf8 {
            h ^= UInt64(byte)
            h = h &* 0x0000_0100_0000_01B3
        }
        return h
    }

    /// `count` uniform draws in [0, 1) for one named tensor, as float64.
    public static func uniforms(name: String, count: Int, seed: UInt64) -> [Double] {
        let key = fnv1a64(name) ^ (seed &* golden)
        return (0..<count).map { i in
            var z = key &+ UInt64(i + 1) &* golden
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            z ^= z >> 31
            return Double(z >> 40) / 16_777_216.0
        }
    }

    public static func tensor(_ p: ParameterSpec, seed: UInt64) -> Tensor {
        let count = p.shape.reduce(1, *)
        let u = uniforms(name: p.name, count: count, seed: seed)
        let values: [Float]
        switch p.role {
        case .weight(let fanIn):
            let bound = (6.0 / Double(fanIn)).squareRoot()
            values = u.map { Float(($0 * 2 - 1) * bound) }
        case .bias: values = u.map { Float(($0 * 2 - 1) * 0.1) }
        case .bnWeight, .bnVariance: values = u.map { Float($0 + 0.5) }
        case .bnBias, .bnMean: values = u.map { Float(($0 * 2 - 1) * 0.2) }
        }
        return Tensor(shape: p.shape, data: values)
    }

    /// Every parameter of `graph`, generated.
    public static func parameters(for graph: Graph, seed: UInt64 = defaultSeed) -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        for p in graph.parameterSpecs { out[p.name] = tensor(p, seed: seed) }
        return out
    }

    /// A seeded input image, U(-1, 1) per value (roughly the range of a normalized photo).
    public static func input(for spec: NetworkSpec, seed: UInt64 = defaultSeed) -> Tensor {
        let s = spec.inputSize
        let u = uniforms(name: "input", count: 3 * s * s, seed: seed)
        return Tensor(shape: [1, 3, s, s], data: u.map { Float($0 * 2 - 1) })
    }
}
