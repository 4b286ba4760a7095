/// Every failure a user can cause (bad file, bad spec, bad shape) is one of these, with a
/// message that names the file, tensor, shape or byte offset involved. The CLI prints
/// `message` and exits 1.
public struct ShuffleNetError: Error, CustomStringConvertible, Equatable, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
