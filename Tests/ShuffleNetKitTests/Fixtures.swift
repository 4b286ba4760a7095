import Foundation
import ShuffleNetKit
import XCTest

enum Fixtures {
    static func path(_ relative: String) throws -> String {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
        return url.appendingPathComponent(relative).path
    }
}

/// Max |a - b| over the largest |b|: the relative error every parity check bounds.
func relativeError(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count)
    let scale = b.map(abs).max() ?? 1
    return zip(a, b).map { abs($0 - $1) }.max()! / max(scale, .leastNormalMagnitude)
}

func top(_ k: Int, _ x: [Float]) -> [Int] {
    Array(x.indices.sorted { x[$0] > x[$1] || (x[$0] == x[$1] && $0 < $1) }.prefix(k))
}

func seededGraph(_ name: String) throws -> Graph {
    try bindWeights(try buildGraph(try XCTUnwrap(BuiltinSpecs.named(name))), path: nil)
}

/// SplitMix64: tiny, seedable, identical on every platform; the tests' random source.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
