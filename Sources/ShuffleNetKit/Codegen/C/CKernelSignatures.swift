import Foundation

/// One parameter of a C kernel as the template declares it: `const float *SN_RESTRICT` `in`.
struct CParameter: Equatable {
    var type: String
    var name: String

    /// `type name`, spaced as C is usually written (`float *out`, `int K`).
    var declaration: String { type.hasSuffix("*") ? type + name : type + " " + name }
}

/// The parameter lists of the kernels in `templates/c/kernels.c.in`, read from the template
/// itself (`SN_KERNEL void sn_NAME(...)`), so the C signature stays written in one place.
/// A parameter that is a macro of the template (`SN_RQ_PARAMS`) is replaced by its text.
func cKernelSignatures(_ template: String) throws -> [String: [CParameter]] {
    // Macros, with their continuation lines joined.
    var macros: [String: String] = [:]
    var lines = template.split(separator: "\n", omittingEmptySubsequences: false)[...]
    while let line = lines.popFirst() {
        guard line.hasPrefix("#define ") else { continue }
        var text = String(line.dropFirst("#define ".count))
        while text.hasSuffix("\\"), let next = lines.popFirst() { text = String(text.dropLast()) + String(next) }
        let words = text.split(separator: " ", maxSplits: 1)
        if words.count == 2, !words[0].contains("(") { macros[String(words[0])] = String(words[1]) }
    }

    var signatures: [String: [CParameter]] = [:]
    var rest = template[...]
    while let start = rest.range(of: "SN_KERNEL void ") {
        rest = rest[start.upperBound...]
        guard let open = rest.firstIndex(of: "("), let close = rest.firstIndex(of: ")") else {
            throw ShuffleNetError("templates/c/kernels.c.in: a SN_KERNEL declaration without its parameter list")
        }
        let name = String(rest[..<open])
        var parameters: [CParameter] = []
        for piece in rest[rest.index(after: open)..<close].split(separator: ",") {
            let text = piece.trimmingCharacters(in: .whitespacesAndNewlines)
            for part in (macros[text].map { $0.split(separator: ",").map(String.init) } ?? [text]) {
                let trimmed = part.trimmingCharacters(in: .whitespacesAndNewlines)
                guard let cut = trimmed.lastIndex(where: { !($0.isLetter || $0.isNumber || $0 == "_") }) else {
                    throw ShuffleNetError("templates/c/kernels.c.in: cannot read parameter '\(trimmed)' of \(name)")
                }
                let type = trimmed[...cut].trimmingCharacters(in: .whitespaces)
                parameters.append(CParameter(type: type, name: String(trimmed[trimmed.index(after: cut)...])))
            }
        }
        signatures[name] = parameters
        rest = rest[close...]
    }
    return signatures
}
