import Foundation
import ShuffleNetKit

// `shufflenet-gen calibrate`: post-training quantization ranges from a few images.

let calibrateOptions: Set<String> = ["--spec", "--weights", "--seed", "--output", "--method", "--type"]
let calibrateSwitches: Set<String> = ["--no-fold-bn", "--no-fuse-shuffle"]
let calibrateUsage = """
  calibrate --spec S [--weights W] [--seed N] --output Q.json [--method minmax|percentile:P]
            [--type uint8|int8] IMAGE.npy...
                                              run the fp32 network (BN folded) on the images,
                                              record every activation's range (default
                                              percentile:99.99; minmax keeps outliers) and
                                              write the chosen scales and zero points to Q.json,
                                              which --quantization Q.json takes back
"""

/// `--method minmax|percentile:P` (default percentile:99.99).
func calibrationMethod(_ a: Arguments) throws -> RangeMethod {
    do { return try RangeMethod(parsing: a.value("--method") ?? "percentile:99.99") } catch let e as ShuffleNetError {
        throw UsageError(message: e.message)
    }
}

func calibrateCommand(_ a: Arguments) throws {
    let spec = try loadSpec(try a.required("--spec"))
    let output = try a.required("--output")
    let method = try calibrationMethod(a)
    let typeName = a.value("--type") ?? "uint8"
    guard let type = QuantizedType(rawValue: typeName) else {
        throw UsageError(message: "--type takes uint8 or int8, got '\(typeName)'")
    }
    guard !a.positionals.isEmpty else { throw UsageError(message: "calibrate needs at least one image (.npy, [1,3,H,W] float32)") }
    let weights = a.value("--weights")
    let seed = try a.seed()
    let network = try loadNetwork(spec, weights: weights, seed: seed)
    let images = try a.positionals.map { (name: $0, tensor: try Npy.read(path: $0)) }
    let file = try calibrate(network, options: optimizerOptions(a), images: images, method: method, type: type,
                             weights: weights.map { ($0 as NSString).lastPathComponent } ?? "seeded, seed \(seed)")
    try file.write(to: output)
    print("wrote \(output): \(file.activations.count) activations of \(spec.name), \(method), \(type.rawValue), \(images.count) image(s)")
}
