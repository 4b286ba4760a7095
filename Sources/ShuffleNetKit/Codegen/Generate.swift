import Foundation

public enum Backend: String, CaseIterable, Sendable {
    case c
    case swift
}

/// What `shufflenet-gen --spec S` does: load, optimize, lower, print.
public struct GenerateRequest: Sendable {
    public var spec: NetworkSpec
    public var weights: String?
    public var seed: UInt64 = SeededWeights.defaultSeed
    public var options = OptimizerOptions()
    public var backend: Backend = .c
    /// For the Swift backend: hosted (swiftc -O) or Embedded Swift for a microcontroller.
    public var swiftMode: SwiftEmitter.Mode = .hosted
    public var prefix: String
    public var allowNonFinite = false
    /// int8: the graph quantized with `quantization` (a calibration) when given, else with
    /// the scales of an int8 QDQ ONNX file (`weights`).
    public var int8 = false
    public var quantization: (file: QuantizationFile, source: String)?

    public init(spec: NetworkSpec, weights: String? = nil, prefix: String? = nil) {
        self.spec = spec
        self.weights = weights
        self.prefix = prefix ?? defaultPrefix(for: spec)
    }
}

/// `v2-1.0x` -> `shufflenet_v2_1_0x`.
public func defaultPrefix(for spec: NetworkSpec) -> String {
    "shufflenet_" + String(spec.name.map { $0.isLetter || $0.isNumber ? $0 : "_" })
}

/// The optimized graph a request describes: fp32, or int8 with a calibration's or a QDQ
/// file's parameters.
public func requestedGraph(_ r: GenerateRequest) throws -> Graph {
    guard r.int8 else {
        return try optimize(try loadNetwork(r.spec, weights: r.weights, seed: r.seed, allowNonFinite: r.allowNonFinite), r.options)
    }
    if let q = r.quantization {
        let network = try loadNetwork(r.spec, weights: r.weights, seed: r.seed, allowNonFinite: r.allowNonFinite)
        return try quantizeCalibrated(network, options: r.options, q.file, source: q.source)
    }
    guard let path = r.weights, path.hasSuffix(".onnx"), try onnxFileIsQuantized(path: path) else {
        throw ShuffleNetError("int8 needs activation quantization parameters: a calibration (--quantization FILE or --calibrate IMAGE...) "
                              + "or an int8 QDQ ONNX model as weights (\(r.weights ?? "seeded weights") has none)")
    }
    return try loadQuantizedOnnxNetwork(r.spec, path: path)
}

public func generate(_ r: GenerateRequest) throws -> [(name: String, text: String)] {
    let graph = try requestedGraph(r)
    if r.int8 && r.backend == .swift { throw ShuffleNetError("the Swift backend is fp32 only for now") }
    let program = try LayerProgram(graph: graph, allowNonFinite: r.allowNonFinite)
    let source = r.weights.map { "from \(URL(fileURLWithPath: $0).lastPathComponent)" } ?? "seeded, seed \(r.seed)"
    switch r.backend {
    case .c: return try CEmitter(prefix: r.prefix).emit(program, weightSource: source)
    case .swift: return try SwiftEmitter(prefix: r.prefix, mode: r.swiftMode).emit(program, weightSource: source)
    }
}

/// Writes every file to a temporary name first and renames them only when all are
/// written, so a failure leaves the previous files as they were.
public func writeFilesAtomically(_ files: [(name: String, text: String)], to directory: String) throws {
    var isDir: ObjCBool = false
    if !FileManager.default.fileExists(atPath: directory, isDirectory: &isDir) {
        do { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) } catch {
            throw ShuffleNetError("cannot create output folder \(directory): \(error.localizedDescription)")
        }
    } else if !isDir.boolValue {
        throw ShuffleNetError("output folder \(directory) is a file")
    }
    var staged: [(temp: String, final: String)] = []
    do {
        for f in files {
            let final = (directory as NSString).appendingPathComponent(f.name)
            let temp = (directory as NSString).appendingPathComponent(".\(f.name).tmp-\(getpid())")
            staged.append((temp, final))
            guard FileManager.default.createFile(atPath: temp, contents: Data(f.text.utf8)) else {
                throw ShuffleNetError("cannot write \(temp)")
            }
        }
        // Renames can still fail one by one (a target that is a directory, a full disk):
        // keep a hard link to every previous file and put them all back if one fails, so
        // the folder never holds a mix of old and new files.
        var backups: [(backup: String?, final: String)] = []
        do {
            for s in staged {
                let backup = s.temp.replacingOccurrences(of: ".tmp-", with: ".tmp-old-")
                backups.append((link(s.final, backup) == 0 ? backup : nil, s.final))
                guard rename(s.temp, s.final) == 0 else {
                    let why = String(cString: strerror(errno))
                    backups.removeLast().backup.map { _ = unlink($0) }
                    throw ShuffleNetError("cannot rename \(s.temp) to \(s.final): \(why)")
                }
            }
        } catch {
            for b in backups.reversed() {
                if let backup = b.backup { rename(backup, b.final) } else { unlink(b.final) }
            }
            throw error
        }
        for b in backups { b.backup.map { _ = unlink($0) } }
    } catch {
        for s in staged { unlink(s.temp) }
        throw error
    }
}
