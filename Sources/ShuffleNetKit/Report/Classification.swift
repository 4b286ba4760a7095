import Foundation

/// Turning logits into an answer: softmax, top-k, class names, and the table and JSON the
/// `classify` command prints.

/// Softmax computed in Double (max subtracted first, so large logits cannot overflow).
public func softmax(_ logits: [Float]) -> [Double] {
    guard let m = logits.max() else { return [] }
    let e = logits.map { exp(Double($0) - Double(m)) }
    let sum = e.reduce(0, +)
    return e.map { $0 / sum }
}

/// Indices of the `k` largest values, largest first; ties go to the lower index. NaN sorts
/// last so it never hides a real class.
public func topK(_ values: [Float], _ k: Int) -> [Int] {
    func key(_ i: Int) -> Float { values[i].isNaN ? -.infinity : values[i] }
    return Array(values.indices.sorted { key($0) > key($1) || (key($0) == key($1) && $0 < $1) }.prefix(max(0, k)))
}

/// One row of a classification: rank 1 is the most probable class.
public struct ClassScore: Codable, Equatable, Sendable {
    public var rank: Int
    public var index: Int
    public var probability: Double
    public var logit: Float
    public var label: String?

    public init(rank: Int, index: Int, probability: Double, logit: Float, label: String?) {
        self.rank = rank
        self.index = index
        self.probability = probability
        self.logit = logit
        self.label = label
    }
}

/// The `k` most probable classes of `logits` (softmax probabilities), named by `labels`
/// when given (one per class).
public func classify(logits: [Float], top k: Int = 5, labels: [String]? = nil) -> [ClassScore] {
    let p = softmax(logits)
    return topK(logits, k).enumerated().map { r, i in
        ClassScore(rank: r + 1, index: i, probability: p[i], logit: logits[i],
                   label: labels.flatMap { i < $0.count ? $0[i] : nil })
    }
}

/// What `classify --json` prints.
public struct ClassificationReport: Codable, Equatable, Sendable {
    public var spec: String
    public var weights: String?
    public var input: String
    public var top: [ClassScore]

    public init(spec: String, weights: String?, input: String, top: [ClassScore]) {
        self.spec = spec
        self.weights = weights
        self.input = input
        self.top = top
    }

    /// `rank  class  probability  logit  label` with right-aligned numbers.
    public var text: String {
        let rows = top.map { s in
            [String(s.rank), String(s.index), String(format: "%.4f", s.probability), String(format: "%.3f", s.logit), s.label ?? ""]
        }
        return renderTable(header: ["rank", "class", "probability", "logit", "label"], rows: rows, rightAligned: [0, 1, 2, 3])
    }
}

/// Class names, one per line in class-index order (ImageNet's `synset_words.txt` style: a
/// leading WordNet id such as `n02123045 ` is dropped, so `tabby, tabby cat` remains).
public enum ClassLabels {
    /// Reads a labels file that must name exactly `numClasses` classes.
    public static func read(path: String, numClasses: Int) throws -> [String] {
        let bytes: [UInt8]
        do {
            bytes = try readFileBytes(path)
        } catch let e as ShuffleNetError {
            throw ShuffleNetError("labels file: \(e.message)")
        }
        return try parse(String(decoding: bytes, as: UTF8.self), file: path, numClasses: numClasses)
    }

    public static func parse(_ text: String, file: String, numClasses: Int) throws -> [String] {
        // "\r\n" is one Character in Swift, so both line ends are separators.
        var lines = text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" })
        if lines.last == "" { lines.removeLast() }  // the final newline
        guard lines.count == numClasses else {
            throw ShuffleNetError("\(file): \(lines.count) label line(s), but the network has \(numClasses) classes (one line per class expected)")
        }
        return try lines.enumerated().map { i, line in
            let label = stripWordNetID(line).trimmingCharacters(in: .whitespaces)
            guard !label.isEmpty else { throw ShuffleNetError("\(file): line \(i + 1) (class \(i)) is empty") }
            return label
        }
    }

    /// `n02123045 tabby, tabby cat` -> `tabby, tabby cat`.
    static func stripWordNetID(_ line: Substring) -> Substring {
        let id = line.prefix(9)
        guard id.count == 9, id.first == "n", id.dropFirst().allSatisfy(\.isASCII), id.dropFirst().allSatisfy(\.isNumber),
              line.dropFirst(9).first == " " else { return line }
        return line.dropFirst(10)
    }
}
