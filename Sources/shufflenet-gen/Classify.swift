import Foundation
import ShuffleNetKit

// `shufflenet-gen classify`: the top classes of one image.

let classifyOptions: Set<String> = ["--spec", "--weights", "--input", "--labels", "--top", "--engine", "--precision"]
let classifySwitches: Set<String> = ["--json", "--allow-nonfinite"]
let classifyUsage = """
  classify --spec S --weights W --input x.npy [--labels FILE] [--top K] [--engine interpreter|c]
           [--json] [--allow-nonfinite] [--precision fp32|int8]
                                              the K (default 5) most probable classes of one
                                              image (softmax of the optimized graph's logits);
                                              W is .safetensors or .onnx (QDQ int8 or fp32);
                                              FILE has one class name per line; --engine c
                                              emits the C, builds it with cc -O3 -march=native
                                              and runs that (default: the interpreted engine)
"""

func classifyCommand(_ a: Arguments) throws {
    let spec = try loadSpec(try a.required("--spec"))
    let weights = try a.required("--weights")
    let inputPath = try a.required("--input")
    var k = 5
    if let s = a.value("--top") {
        guard let n = Int(s), n >= 1, n <= spec.numClasses else {
            throw UsageError(message: "--top takes an integer from 1 to \(spec.numClasses) (the spec's classes), got '\(s)'")
        }
        k = n
    }
    let useC: Bool
    switch a.value("--engine") ?? "interpreter" {
    case "interpreter": useC = false
    case "c": useC = true
    case let other: throw UsageError(message: "--engine takes 'interpreter' or 'c', got '\(other)'")
    }
    // Labels first: a wrong labels file should fail before the network is loaded and run.
    let labels = try a.value("--labels").map { try ClassLabels.read(path: $0, numClasses: spec.numClasses) }
    let request = try networkRequest(a)
    let engine = try Interpreter(graph: try requestedGraph(request))
    let input = try Npy.read(path: inputPath)
    try engine.validateInput(input, source: inputPath)
    let logits: [Float]
    if useC {
        logits = try runGeneratedC(request, input: Tensor(shape: [1] + input.shape.suffix(3), data: input.data))
    } else {
        logits = try engine.run(input).data
    }
    let report = ClassificationReport(spec: spec.name, weights: weights, input: inputPath,
                                      top: classify(logits: logits, top: k, labels: labels))
    print(a.flag("--json") ? try jsonString(report) : report.text, terminator: "")
}
