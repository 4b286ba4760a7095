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
