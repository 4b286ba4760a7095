import Foundation

/// Which of the two reference channel shuffles a network uses. They are inverses of each
/// other, and pretrained weights only give the right answer with their own order.
public enum ShuffleOrder: String, Codable, Sendable, CaseIterable {
    /// torchvision's v2: view `[g, C/g]`, transpose: `out[c*g + i] = in[i*(C/g) + c]`.
    case torchvision
    /// Megvii's v1: view `[C/g, g]`, permute: `out[i*(C/g) + c] = in[c*g + i]`.
    case megvii

    /// `source[k]` is the input channel that output channel `k` of the shuffle reads.
    public func sourceChannels(channels: Int, groups: Int) -> [Int] {
        let perGroup = channels / groups
        var source = [Int](repeating: 0, count: channels)
        for i in 0..<groups {
            for c in 0..<perGroup {
                switch self {
                case .torchvision: source[c * groups + i] = i * perGroup + c
                case .megvii: source[i * perGroup + c] = c * groups + i
                }
            }
        }
        return source
    }
}

public enum Family: String, Codable, Sendable {
    case v1, v2
}

/// Everything that defines one ShuffleNet variant. Built-in names map to the reference
/// implementations (torchvision for v2, Megvii for v1); a JSON file gives a custom one.
public struct NetworkSpec: Codable, Equatable, Sendable {
    public var name: String
    public var family: Family
    public var inputSize: Int
    public var numClasses: Int
    public var stageRepeats: [Int]
    /// v2: `[conv1, stage2, stage3, stage4, conv5]`; v1: `[first_conv, stage2, stage3, stage4]`.
    public var channels: [Int]
    /// v1's group count for the pointwise convs; v2 always splits in 2 and has no groups.
    public var groups: Int
    public var shuffleOrder: ShuffleOrder

    public init(name: String, family: Family, inputSize: Int = 224, numClasses: Int = 1000,
                stageRepeats: [Int] = [4, 8, 4], channels: [Int], groups: Int,
                shuffleOrder: ShuffleOrder? = nil) {
        self.name = name
        self.family = family
        self.inputSize = inputSize
        self.numClasses = numClasses
        self.stageRepeats = stageRepeats
        self.channels = channels
        self.groups = groups
        self.shuffleOrder = shuffleOrder ?? (family == .v2 ? .torchvision : .megvii)
    }

    enum CodingKeys: String, CodingKey {
        case name, family, inputSize, numClasses, stageRepeats, channels, groups, shuffleOrder
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let family = try c.decode(Family.self, forKey: .family)
        self.init(
            name: try c.decodeIfPresent(String.self, forKey: .name) ?? "custom",
            family: family,
            inputSize: try c.decodeIfPresent(Int.self, forKey: .inputSize) ?? 224,
            numClasses: try c.decodeIfPresent(Int.self, forKey: .numClasses) ?? 1000,
            stageRepeats: try c.decodeIfPresent([Int].self, forKey: .stageRepeats) ?? [4, 8, 4],
            channels: try c.decode([Int].self, forKey: .channels),
            groups: try c.decodeIfPresent(Int.self, forKey: .groups) ?? (family == .v2 ? 1 : 3),
            shuffleOrder: try c.decodeIfPresent(ShuffleOrder.self, forKey: .shuffleOrder))
    }

    /// The spatial size after each downsampling step, as the reference computes it.
    static func convOut(_ size: Int, kernel: Int, stride: Int, pad: Int) -> Int {
        (size + 2 * pad - kernel) / stride + 1
    }

    /// Checks every divisibility and size the architecture relies on, so that a bad spec
    /// fails here with a sentence instead of deep inside graph construction.
    public func validate() throws {
        func fail(_ why: String) -> ShuffleNetError { ShuffleNetError("spec \(name): \(why)") }
        let stages = stageRepeats.count
        let expected = family == .v2 ? stages + 2 : stages + 1
        guard stages >= 1 else { throw fail("stageRepeats must name at least one stage") }
        guard stageRepeats.allSatisfy({ $0 >= 1 && $0 <= 64 }) else {
            throw fail("every stage repeat must be between 1 and 64, got \(stageRepeats)")
        }
        guard channels.count == expected else {
            throw fail("\(family.rawValue) with \(stages) stages needs \(expected) channel counts, got \(channels.count) (\(channels))")
        }
        guard channels.allSatisfy({ $0 >= 1 && $0 <= 16384 }) else {
            throw fail("channel counts must be between 1 and 16384, got \(channels)")
        }
        guard (1...4096).contains(inputSize) else { throw fail("inputSize must be between 1 and 4096, got \(inputSize)") }
        guard (1...100_000).contains(numClasses) else { throw fail("numClasses must be between 1 and 100000, got \(numClasses)") }
        switch family {
        case .v2:
            guard groups == 1 else { throw fail("v2 has no groups (it always splits channels in two); got groups \(groups)") }
            for (s, c) in channels[1...stages].enumerated() where c % 2 != 0 {
                throw fail("stage\(s + 2) has \(c) channels; v2 splits them in two, so they must be even")
            }
        case .v1:
            guard (1...64).contains(groups) else { throw fail("groups must be between 1 and 64, got \(groups)") }
            var input = channels[0]
            for s in 0..<stages {
                let out = channels[s + 1]
                guard out % 4 == 0 else { throw fail("stage\(s + 2) has \(out) channels; v1 needs a multiple of 4 (mid = out/4)") }
                let mid = out / 4
                guard mid % groups == 0 else {
                    throw fail("stage\(s + 2) has \(out) channels: mid = \(mid) does not divide by groups \(groups)")
                }
                guard out > input else {
                    throw fail("stage\(s + 2) has \(out) channels, not more than its input \(input); the stride-2 unit concatenates its input")
                }
                let branchOut = out - input
                guard branchOut % groups == 0, out % groups == 0 else {
                    throw fail("stage\(s + 2): output channels \(branchOut) (stride 2) and \(out) (stride 1) must divide by groups \(groups)")
                }
                if s > 0, input % groups != 0 {
                    throw fail("stage\(s + 2): input channels \(input) do not divide by groups \(groups)")
                }
                input = out
            }
        }
    }
}

/// The built-in specs: torchvision's four ShuffleNetV2 widths and the ShuffleNet v1 table
/// of the paper (g=3 and g=8 at four widths; g=1, 2, 4 at 1.0x).
public enum BuiltinSpecs {
    public static let all: [NetworkSpec] = {
        var specs: [NetworkSpec] = [
            NetworkSpec(name: "v2-0.5x", family: .v2, channels: [24, 48, 96, 192, 1024], groups: 1),
            NetworkSpec(name: "v2-1.0x", family: .v2, channels: [24, 116, 232, 464, 1024], groups: 1),
            NetworkSpec(name: "v2-1.5x", family: .v2, channels: [24, 176, 352, 704, 1024], groups: 1),
            NetworkSpec(name: "v2-2.0x", family: .v2, channels: [24, 244, 488, 976, 2048], groups: 1),
        ]
        let v1: [(Int, String, [Int])] = [
            (3, "0.5x", [12, 120, 240, 480]), (3, "1.0x", [24, 240, 480, 960]),
            (3, "1.5x", [24, 360, 720, 1440]), (3, "2.0x", [48, 480, 960, 1920]),
            (8, "0.5x", [16, 192, 384, 768]), (8, "1.0x", [24, 384, 768, 1536]),
            (8, "1.5x", [24, 576, 1152, 2304]), (8, "2.0x", [48, 768, 1536, 3072]),
            (1, "1.0x", [24, 144, 288, 576]), (2, "1.0x", [24, 200, 400, 800]),
            (4, "1.0x", [24, 272, 544, 1088]),
        ]
        for (g, width, channels) in v1 {
            specs.append(NetworkSpec(name: "v1-g\(g)-\(width)", family: .v1, channels: channels, groups: g))
        }
        return specs
    }()

    public static var names: [String] { all.map(\.name) }

    public static func named(_ name: String) -> NetworkSpec? { all.first { $0.name == name } }
}

/// Resolves `--spec`: a built-in name, or a path to a JSON spec file.
public func loadSpec(_ nameOrPath: String) throws -> NetworkSpec {
    if let spec = BuiltinSpecs.named(nameOrPath) { return spec }
    let looksLikeFile = nameOrPath.hasSuffix(".json") || nameOrPath.contains("/")
    guard looksLikeFile else {
        throw ShuffleNetError("unknown spec '\(nameOrPath)'; valid names: \(BuiltinSpecs.names.joined(separator: ", ")), or a path to a JSON spec file")
    }
    guard let data = FileManager.default.contents(atPath: nameOrPath) else {
        throw ShuffleNetError("cannot read spec file \(nameOrPath)")
    }
    guard data.count <= 1 << 20 else {
        throw ShuffleNetError("\(nameOrPath): spec file is \(data.count) bytes; a spec is a small JSON object (at most 1 MiB)")
    }
    let spec: NetworkSpec
    do {
        spec = try JSONDecoder().decode(NetworkSpec.self, from: data)
    } catch let DecodingError.keyNotFound(key, _) {
        throw ShuffleNetError("\(nameOrPath): missing field '\(key.stringValue)'")
    } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context) {
        let path = context.codingPath.map(\.stringValue).joined(separator: ".")
        throw ShuffleNetError("\(nameOrPath): field '\(path)' has the wrong type: \(context.debugDescription)")
    } catch let DecodingError.dataCorrupted(context) {
        let path = context.codingPath.map(\.stringValue).joined(separator: ".")
        throw ShuffleNetError("\(nameOrPath): invalid spec\(path.isEmpty ? "" : " at '\(path)'"): \(context.debugDescription)")
    } catch {
        throw ShuffleNetError("\(nameOrPath): not a valid JSON spec: \(error)")
    }
    try spec.validate()
    return spec
}
