import Foundation

/// The result of a calibration, written by `shufflenet-gen calibrate` and read back by the
/// generator (`--quantization FILE`), so an int8 build is reproducible without the images.
/// JSON, one entry per activation of the optimized graph in execution order:
///
///     {"format": "shufflenet-gen activation quantization 1", "spec": "v2-1.0x",
///      "weights": "seeded, seed 42", "method": "percentile:99.99", "images": ["a.npy"],
///      "activations": [{"name": "input", "type": "uint8", "scale": 0.0187, "zeroPoint": 114,
///                       "min": -2.1179, "max": 2.64}, ...]}
///
/// `min`/`max` are what the images showed (after the method's clipping); `scale`,
/// `zeroPoint` and `type` are what the quantize pass uses. Floats are printed in their
/// shortest form that reads back to the same bits.
public struct QuantizationFile: Equatable, Codable, Sendable {
    public static let formatName = "shufflenet-gen activation quantization 1"

    public struct Entry: Equatable, Codable, Sendable {
        public var name: String
        public var type: QuantizedType
        public var scale: Float
        public var zeroPoint: Int32
        public var min: Float
        public var max: Float

        public var quantization: ActivationQuantization { ActivationQuantization(scale: scale, zeroPoint: zeroPoint, type: type) }
    }

    public var format: String = Self.formatName
    public var spec: String
    public var weights: String
    public var method: String
    public var images: [String]
    public var activations: [Entry]

    public init(spec: String, weights: String, method: String, images: [String], activations: [Entry]) {
        self.spec = spec
        self.weights = weights
        self.method = method
        self.images = images
        self.activations = activations
    }

    /// The parameters by node name, checked against the calibration graph they were made
    /// on (`calibrationGraph`): every node has exactly one entry (by its own name, without
    /// what fusion appended) and every entry names a node, with usable numbers.
    public func quantization(for graph: Graph, source: String) throws -> [String: ActivationQuantization] {
        guard spec == graph.spec.name else {
            throw ShuffleNetError("\(source): calibrated for spec \(spec), but the network is \(graph.spec.name)")
        }
        var byName: [String: ActivationQuantization] = [:]
        let names = Set(graph.nodes.map { storedValueName($0.name) })
        for (i, e) in activations.enumerated() {
            guard names.contains(e.name) else {
                throw ShuffleNetError("\(source): activations[\(i)] names '\(e.name)', which \(graph.spec.name)'s optimized graph does not have (made with other optimizer switches?)")
            }
            guard byName[e.name] == nil else { throw ShuffleNetError("\(source): activations[\(i)]: '\(e.name)' appears twice") }
            if let why = e.quantization.problem { throw ShuffleNetError("\(source): activation '\(e.name)': \(why)") }
            byName[e.name] = e.quantization
        }
        if let missing = graph.nodes.map({ storedValueName($0.name) }).first(where: { byName[$0] == nil }) {
            throw ShuffleNetError("\(source): no entry for activation '\(missing)' (\(activations.count) entries for \(graph.nodes.count) activations)")
        }
        return byName
    }

    public static func read(path: String) throws -> QuantizationFile {
        guard let data = FileManager.default.contents(atPath: path) else { throw ShuffleNetError("cannot read quantization file \(path)") }
        guard data.count <= 16 << 20 else { throw ShuffleNetError("\(path): \(data.count) bytes; a quantization file is a small JSON file (at most 16 MiB)") }
        let file: QuantizationFile
        do {
            file = try JSONDecoder().decode(QuantizationFile.self, from: data)
        } catch let DecodingError.keyNotFound(key, context) {
            throw ShuffleNetError("\(path): missing field '\(key.stringValue)' at \(describe(context.codingPath))")
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context) {
            throw ShuffleNetError("\(path): wrong type at \(describe(context.codingPath)): \(context.debugDescription)")
        } catch let DecodingError.dataCorrupted(context) {
            throw ShuffleNetError("\(path): not a quantization file (\(context.underlyingError.map { "\($0)" } ?? context.debugDescription)) at \(describe(context.codingPath))")
        } catch {
            throw ShuffleNetError("\(path): not a quantization file: \(error)")
        }
        guard file.format == formatName else {
            throw ShuffleNetError("\(path): format is '\(file.format)', expected '\(formatName)'")
        }
        return file
    }

    public func write(to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try writeFileAtomically(Array(try encoder.encode(self)) + [0x0A], to: path)
    }
}

private func describe(_ path: [CodingKey]) -> String {
    path.isEmpty ? "the top level" : path.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
}
