// libFuzzer entry points for the readers of ShuffleNetKit, one per build (-D FUZZ_<READER>).
// Compiled together with the module's sources (Codegen excluded: it needs the templates
// module) by tools/fuzz/run.sh; see there. Every input must either be accepted or refused
// with a ShuffleNetError: any other error, a trap or an ASan report is a finding.
import Foundation

#if FUZZ_SPEC
/// loadSpec takes a path: each input goes to one file in /dev/shm (or TMPDIR).
private let specPath: String = {
    let dir = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
    return "\(dir)/shufflenet-fuzz-spec-\(getpid()).json"
}()
#endif

/// The tiny spec of the corpus (tests/.../corpus/spec/tiny-v2.json): what the weight
/// readers bind to, so the fuzzer reaches binding and the finiteness check.
private let tiny = NetworkSpec(name: "tiny-v2", family: .v2, inputSize: 16, numClasses: 3, stageRepeats: [2],
                               channels: [4, 8, 16], groups: 1)
private let tinyGraph = try! buildGraph(tiny)
private let tinyFolded = try! buildGraph(tiny, batchNormFolded: true)

private func target(_ bytes: [UInt8]) throws {
    #if FUZZ_SAFETENSORS
    let tensors = try Safetensors.read(bytes, file: "fuzz.safetensors")
    try checkFinite(tensors, source: "fuzz.safetensors")
    _ = try tinyGraph.binding(tensors, source: "fuzz.safetensors")
    #elseif FUZZ_NPY
    let t = try Npy.read(bytes, file: "fuzz.npy")
    if t.count == 3 * 16 * 16 {
        let engine = try Interpreter(graph: try optimize(tinyGraph.bindingSeeded()))
        try engine.validateInput(t, source: "fuzz.npy")
        _ = try engine.run(t)
    }
    #elseif FUZZ_ONNX
    let network = try OnnxNetwork(model: try OnnxModel.read(bytes, file: "fuzz.onnx"), file: "fuzz.onnx")
    let g = try network.bind(to: network.batchNormFolded ? tinyFolded : tinyGraph)
    try checkFinite(g.parameters, source: "fuzz.onnx")
    #elseif FUZZ_SPEC
    try Data(bytes).write(to: URL(fileURLWithPath: specPath))
    let spec = try loadSpec(specPath)
    let g = try buildGraph(spec)
    // Small accepted specs go on through seeded weights and the optimizer.
    if g.totalParameters <= 20_000 { _ = try optimize(try bindWeights(g, path: nil)) }
    #else
    #error("build with -D FUZZ_SAFETENSORS, FUZZ_NPY, FUZZ_ONNX or FUZZ_SPEC")
    #endif
}

extension Graph {
    fileprivate func bindingSeeded() throws -> Graph { try bindWeights(self, path: nil) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = size == 0 || data == nil ? [] : Array(UnsafeBufferPointer(start: data, count: size))
    do {
        try target(bytes)
    } catch is ShuffleNetError {
    } catch {
        fatalError("not a ShuffleNetError: \(type(of: error)): \(error)")
    }
    return 0
}
