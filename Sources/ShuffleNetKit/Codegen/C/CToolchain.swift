import Foundation

/// Runs the system C compiler and the programs it builds (for `--check`, the tests and
/// the benchmarks).
public struct CToolchain: Sendable {
    public var compiler: String

    public init(compiler: String? = nil) {
        self.compiler = compiler ?? ProcessInfo.processInfo.environment["CC"] ?? "cc"
    }

    /// Compiles and links `sources` into `output`; compiler diagnostics become the error.
    public func build(_ sources: [String], output: String, flags: [String]) throws {
        let result = try runProcess(compiler, flags + sources + ["-o", output, "-lm"])
        guard result.status == 0 else {
            throw ShuffleNetError("\(compiler) failed (exit \(result.status)) building \(output):\n\(result.stderr)")
        }
    }
}

public struct ProcessResult: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
}

/// Runs a program found on PATH (or by path), capturing both streams; in `directory` if given.
public func runProcess(_ program: String, _ arguments: [String], environment: [String: String]? = nil,
                       directory: String? = nil) throws -> ProcessResult {
    let p = Process()
    if let directory { p.currentDirectoryURL = URL(fileURLWithPath: directory) }
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = [program] + arguments
    if let environment { p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
    // Both streams go to files, so a chatty compiler never blocks on a full pipe.
    let dir = FileManager.default.temporaryDirectory
    let tag = UUID().uuidString
    let outURL = dir.appendingPathComponent("sn-\(tag).out"), errURL = dir.appendingPathComponent("sn-\(tag).err")
    _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
    _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
    defer {
        try? FileManager.default.removeItem(at: outURL)
        try? FileManager.default.removeItem(at: errURL)
    }
    let out = try FileHandle(forWritingTo: outURL), err = try FileHandle(forWritingTo: errURL)
    p.standardOutput = out
    p.standardError = err
    do { try p.run() } catch { throw ShuffleNetError("cannot run \(program): \(error.localizedDescription)") }
    p.waitUntilExit()
    try? out.close()
    try? err.close()
    let outData = FileManager.default.contents(atPath: outURL.path) ?? Data()
    let errData = FileManager.default.contents(atPath: errURL.path) ?? Data()
    return ProcessResult(status: p.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                         stderr: String(decoding: errData, as: UTF8.self))
}
