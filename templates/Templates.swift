import Foundation

/// The template files of the emitted code (`c/`, `swift/`), shipped as this target's
/// resources so the generator finds them wherever it runs.
public enum TemplateFiles {
    public static func text(_ path: String) throws -> String {
        guard let root = Bundle.module.resourceURL else {
            throw TemplateError(message: "template resources are missing from the shufflenet-gen build")
        }
        let url = root.appendingPathComponent(path)
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw TemplateError(message: "template \(path) is missing from the shufflenet-gen build (\(url.path))")
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// The path of a shipped file that is used as is (the board harness's sources).
    public static func path(_ path: String) throws -> String {
        guard let root = Bundle.module.resourceURL else {
            throw TemplateError(message: "template resources are missing from the shufflenet-gen build")
        }
        let url = root.appendingPathComponent(path)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw TemplateError(message: "\(path) is missing from the shufflenet-gen build (\(url.path))")
        }
        return url.path
    }
}

public struct TemplateError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
