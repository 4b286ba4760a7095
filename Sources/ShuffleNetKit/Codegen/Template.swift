import ShuffleNetTemplates

/// Fills `{{NAME}}` placeholders. Every placeholder in the template must get a value and
/// every value must be used, so a renamed placeholder fails loudly instead of emitting
/// half a file.
func fillTemplate(_ path: String, _ values: [String: String]) throws -> String {
    let text: String
    do { text = try TemplateFiles.text(path) } catch { throw ShuffleNetError("\(error)") }
    var out = ""
    var used: Set<String> = []
    var rest = text[...]
    while let open = rest.range(of: "{{") {
        out += rest[..<open.lowerBound]
        guard let close = rest[open.upperBound...].range(of: "}}") else {
            throw ShuffleNetError("template \(path): unclosed placeholder")
        }
        let name = String(rest[open.upperBound..<close.lowerBound])
        guard let value = values[name] else { throw ShuffleNetError("template \(path): no value for {{\(name)}}") }
        out += value
        used.insert(name)
        rest = rest[close.upperBound...]
    }
    out += rest
    let unused = Set(values.keys).subtracting(used)
    guard unused.isEmpty else { throw ShuffleNetError("template \(path): values never used: \(unused.sorted())") }
    return out
}

/// Keeps the template's prelude and the sections of the kernels in `used` (and the kernels
/// those name after `needs`), in template order, so an emitted file holds no kernel it
/// never calls. A section starts at a line `/*@ kernel NAME [needs OTHER...] */`; any other
/// comment opening with `/*@` is for template readers only. Marker lines are dropped.
func selectKernels(_ text: String, path: String, used: Set<String>) throws -> String {
    var sections: [(name: String?, needs: [String], lines: [Substring])] = [(nil, [], [])]
    var inTemplateComment = false
    for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
        if inTemplateComment {
            inTemplateComment = !line.hasSuffix("*/")
            continue
        }
        guard line.hasPrefix("/*@") else {
            sections[sections.count - 1].lines.append(line)
            continue
        }
        let words = line.dropFirst(3).split(separator: " ").filter { $0 != "*/" }
        if words.first == "kernel" {
            guard words.count >= 2, line.hasSuffix(" */"), words.count == 2 || (words[2] == "needs" && words.count > 3) else {
                throw ShuffleNetError("template \(path): malformed kernel marker '\(line)'; expected '/*@ kernel NAME [needs OTHER...] */'")
            }
            sections.append((String(words[1]), words.dropFirst(3).map(String.init), []))
        } else {
            inTemplateComment = !line.hasSuffix("*/")
        }
    }
    let byName = Dictionary(sections.compactMap { s in s.name.map { ($0, s.needs) } }, uniquingKeysWith: { a, _ in a })
    var keep: Set<String> = []
    var pending = Array(used)
    while let name = pending.popLast() {
        guard let needs = byName[name] else { throw ShuffleNetError("template \(path): no kernel section '\(name)'") }
        if keep.insert(name).inserted { pending += needs }
    }
    return sections.filter { $0.name.map(keep.contains) ?? true }
        .flatMap(\.lines).joined(separator: "\n")
}

/// The named sections of a filled template, each its lines with their line breaks: a section
/// starts at a line `/*@ section NAME */` and runs to the next one; text before the first
/// marker is for template readers only.
/// Lets one file hold the variants of several places of another template (the hosted and
/// the embedded parts of the Swift file), each variant in one file.
func templateSections(_ path: String, _ values: [String: String]) throws -> [String: String] {
    var sections: [String: [Substring]] = [:]
    var current: String?
    var lines = try fillTemplate(path, values).split(separator: "\n", omittingEmptySubsequences: false)
    if lines.last == "" { lines.removeLast() }
    for line in lines {
        if line.hasPrefix("/*@ section ") {
            let words = line.split(separator: " ")
            guard words.count == 4, words[3] == "*/", sections[String(words[2])] == nil else {
                throw ShuffleNetError("template \(path): malformed or repeated section marker '\(line)'")
            }
            current = String(words[2])
            sections[current!] = []
        } else if let current {
            sections[current]!.append(line)
        }
    }
    return sections.mapValues { $0.map { $0 + "\n" }.joined() }
}
