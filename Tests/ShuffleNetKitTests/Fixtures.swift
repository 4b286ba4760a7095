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
