import Foundation
import ShuffleNetKit
import XCTest

/// The emitted int8 C against the int8 interpreter, the oracle: logits bit for bit, at
/// -O2 (-Wall -Wextra -Werror, gcc and clang) and -O3 -march=native, under ASan/UBSan, and
/// with no libm call in the inference code.
final class Int8CBackendTests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "int8c-\(getpid())-\(UInt32.random(in: 0 ... .max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        if !dir.isEmpty { try? FileManager.default.removeItem(atPath: dir) }
    }

    static let strict = ["-std=c11", "-O2", "-Wall", "-Wextra", "-Werror"]

    /// Emits `graph` as C under `prefix`, builds it with each flag set and checks the
    /// program's logits equal `expected` bit for bit on each image.
    func emitBuildRun(_ graph: Graph, prefix: String, images: [(String, [Float])], builds: [(compiler: String, flags: [String])]) throws {
        let program = try LayerProgram(graph: graph)
        let files = try CEmitter(prefix: prefix).emit(program, weightSource: "test")
        let out = dir + "/" + prefix
        try writeFilesAtomically(files, to: out)
        for (n, build) in builds.enumerated() {
            let binary = out + "/prog\(n)"
            try CToolchain(compiler: build.compiler).build(["\(out)/\(prefix).c", "\(out)/\(prefix)_weights.c"], output: binary,
                                                           flags: build.flags + ["-DSHUFFLENET_MAIN"])
            for (image, expected) in images {
                let what = "\(prefix) \(build.compiler) \(build.flags.joined(separator: " ")) on \(image)"
                let r = try runProcess(binary, [image, out + "/logits.npy"])
                XCTAssertEqual(r.status, 0, "\(what): \(r.stderr)")
                XCTAssertEqual(r.stderr, "", what)
                let logits = try Npy.read(path: out + "/logits.npy").data
                XCTAssertEqual(logits.count, expected.count, what)
                // Say where they differ: a CI log keeps only the tail of the output.
                let differing = zip(logits, expected).enumerated().filter { $0.element.0.bitPattern != $0.element.1.bitPattern }
                if let first = differing.first {
                    XCTFail("\(what): \(differing.count) of \(expected.count) logits differ from the interpreter's; first at \(first.offset): "
                            + "\(first.element.0) vs \(first.element.1)")
                }
            }
            print("int8 C \(prefix): \(build.compiler) \(build.flags.joined(separator: " ")): "
                  + ((testRun?.failureCount ?? 0) == 0 ? "bit-identical" : "FAILED") + " on \(images.count) image(s)")
        }
    }

    /// The Zoo model on the three photos (the interpreter's logits equal ONNX Runtime's):
    /// gcc -O2 strict and -O3 -march=native, through both entry points: the float image,
    /// and the image quantized here (uint8 .npy, which the program hands to
    /// zoo8_infer_quantized) with QuantizeLinear's formula written out, with the file's
    /// input scale and zero point, which the header must export. Also: int8 weight bytes
    /// <= 0.26x fp32 (plus the float multipliers), and the library object calls no libm function.
    func testZooModelEmittedCIsBitIdentical() throws {
        let spec = try XCTUnwrap(BuiltinSpecs.named("v2-1.0x"))
        let path = try Fixtures.path("onnx/shufflenet-v2-12-qdq.onnx")
        let graph = try loadQuantizedOnnxNetwork(spec, path: path)
        let engine = try Interpreter(graph: graph)
        let input = try XCTUnwrap(graph.nodes[0].quantization?.output)
        XCTAssertEqual(input.type, .uint8)
        let images = try ["cat", "chelsea", "coffee"].flatMap { photo -> [(String, [Float])] in
            let image = try Fixtures.path("onnx/\(photo).npy")
            let x = try Npy.read(path: image)
            let expected = try engine.run(x).data
            let quantized = dir + "/\(photo).u8.npy"
            try writeUInt8Npy(referenceQuantize(x.data, input), shape: x.shape, to: quantized)
            return [(image, expected), (quantized, expected)]
        }
        try emitBuildRun(graph, prefix: "zoo8", images: images, builds: [("gcc", Self.strict), ("gcc", ["-std=c11", "-O3", "-march=native"])])
        let header = try String(contentsOfFile: dir + "/zoo8/zoo8.h", encoding: .utf8)
        XCTAssertTrue(header.contains("#define ZOO8_INPUT_SCALE \(input.scale)f\n"), header)
        XCTAssertTrue(header.contains("#define ZOO8_INPUT_ZERO_POINT \(input.zeroPoint)\n"), header)
        XCTAssertTrue(header.contains("int zoo8_infer_quantized(const uint8_t *input, float *logits, void *arena);"), header)

        let int8 = try LayerProgram(graph: graph)
        let fp32 = try LayerProgram(graph: try optimize(try loadOnnxNetwork(spec, path: path)))
        let int8Bytes = int8.weightsS8.count + 4 * int8.weightsS32.count
        XCTAssertLessThanOrEqual(Double(int8Bytes), 0.26 * Double(4 * fp32.weights.count))
        print("int8 C weights: \(int8.weightsS8.count) int8 + \(int8.weightsS32.count) int32 = \(int8Bytes) B "
              + "(\(String(format: "%.3f", Double(int8Bytes) / Double(4 * fp32.weights.count)))x the fp32 blob's \(4 * fp32.weights.count) B), "
              + "plus \(int8.weights.count) floats (multipliers, float bias)")

        // No libm in the inference path: the object of the library build calls nothing
        // but memory functions.
        let object = dir + "/zoo8.o"
        let compile = try runProcess("gcc", Self.strict + ["-c", dir + "/zoo8/zoo8.c", "-o", object])
        XCTAssertEqual(compile.status, 0, compile.stderr)
        let undefined = try runProcess("nm", ["-u", object]).stdout.split(separator: "\n").compactMap { $0.split(separator: " ").last.map(String.init) }
        XCTAssertTrue(Set(undefined).isSubset(of: ["memcpy", "memmove", "memset", "zoo8_weights", "zoo8_weights_s8", "zoo8_weights_s32"]),
                      "undefined symbols: \(undefined)")
    }

    /// Seeded v2 and v1 specs quantized with fixed parameters (requantize nodes, grouped
    /// 1x1 convs, the in-place residual, the average-pool shortcut): v2 with gcc strict,
    /// v1 with -O3 -march=native (one build each keeps the test short).
    func testSeededSpecsEmittedCAreBitIdentical() throws {
        for (name, flags) in [("v2-0.5x", Self.strict), ("v1-g3-0.5x", ["-std=c11", "-O3", "-march=native"])] {
            let g = try optimize(try seededGraph(name))
            let q = try quantize(g, activations: Int8Tests.fixedActivations(g))
            var rng = SplitMix(seed: 9)
            let x = Tensor(shape: [1, 3, 224, 224], data: (0..<(3 * 224 * 224)).map { _ in Float(Int(rng.next() % 2001) - 1000) / 500 })
            let image = dir + "/\(name).npy"
            try Npy.write(x, to: image)
            let expected = try Interpreter(graph: q).run(x).data
            try emitBuildRun(q, prefix: "s8_" + name.replacingOccurrences(of: "-", with: "_").replacingOccurrences(of: ".", with: "_"),
                             images: [(image, expected)], builds: [("gcc", flags)])
        }
    }

    /// Signed int8 activations (`calibrate --type int8`): the lowering stores them as uint8
    /// with the zero point moved by 128, and the logits must still equal the interpreter's
    /// signed run bit for bit. Seeded tiny v2 and v1 (grouped 1x1 convs, the residual add,
    /// the average-pool shortcut), calibrated on two seeded images, run on a third.
    func testSignedInt8CalibrationEmittedCIsBitIdentical() throws {
        for (name, compiler) in [("tiny-v2", "gcc"), ("tiny-v1", "clang")] {
            let network = try loadNetwork(try loadSpec(try Fixtures.path("corpus/spec/\(name).json")), weights: nil)
            let size = network.spec.inputSize
            let images = (1...3).map { seed -> Tensor in
                var rng = SplitMix(seed: UInt64(seed))
                return Tensor(shape: [1, 3, size, size], data: (0..<(3 * size * size)).map { _ in Float.random(in: -2...2, using: &rng) })
            }
            let file = try calibrate(network, images: [("a", images[0]), ("b", images[1])], method: .minMax, type: .int8, weights: "test")
            let graph = try quantizeCalibrated(network, file, source: "test")
            let types = Set(graph.nodes.compactMap(\.quantization).flatMap { q in q.inputs + [q.output, q.intermediate].compactMap { $0 } }.map(\.type))
            XCTAssertEqual(types, [.int8], "\(name): every activation is signed")
            let image = dir + "/\(name).npy"
            try Npy.write(images[2], to: image)
            let expected = try Interpreter(graph: graph).run(images[2]).data
            try emitBuildRun(graph, prefix: "signed_" + name.replacingOccurrences(of: "-", with: "_"), images: [(image, expected)],
                             builds: [(compiler, Self.strict)])
        }
    }

    /// Small specs that reach every int8 kernel path with its awkward cases: 1x1 convs with
    /// K = 5, 8, 10, 11, 20, 22, 40, 44 (not multiples of 4: the padded planes of a granule)
    /// and the first conv's 27 taps, planes of 28x28, 14x14, 7x7 and 4x4 pixels and conv rows
    /// of 56 (not multiples of the 16- and 8-pixel strips: the overlapped last vector), v1's grouped
    /// convs, in-place residual and average-pool shortcut, v2's requantize nodes, every conv
    /// writing a concat rounded twice (an entry of its own besides the concat's), the
    /// classifier's int8 intermediate, and zero points 0, 3, 128, 200 and 255 (seeded per
    /// tensor). Each is built with the AVX2 kernels (-O3 -march=native), the generic vector
    /// kernels (-O2: SSE2; -DSHUFFLENET_INT8_NO_AVX2), plain C (-DSHUFFLENET_NO_VECTOR), gcc
    /// and clang, -Wall -Wextra -Werror, and under ASan+UBSan; the preprocessor must pick the
    /// path each build names. (The sanitizer builds keep the kernels out of line: with every
    /// kernel inlined into infer, gcc -O1 -g takes a minute over the file.)
    func testEveryKernelPathIsBitIdentical() throws {
        let specs = [
            #"{"name": "i8-v2", "family": "v2", "inputSize": 112, "numClasses": 10, "stageRepeats": [2, 2, 1], "channels": [8, 22, 44, 88, 64]}"#,
            #"{"name": "i8-v1", "family": "v1", "inputSize": 112, "numClasses": 10, "stageRepeats": [2, 1, 1], "channels": [12, 60, 120, 240], "groups": 3}"#,
        ]
        let strict = ["-std=c11", "-Wall", "-Wextra", "-Werror"]
        let native = try runProcess("gcc", ["-march=native", "-E", "-dM", "-x", "c", "/dev/null"]).stdout.contains("#define __AVX2__ 1")
        let builds: [(compiler: String, flags: [String], path: String)] = [
            ("gcc", strict + ["-O3", "-march=native"], native ? "SN_I8_AVX2" : "SN_I8_VECTOR"),
            ("gcc", strict + ["-O2"], "SN_I8_VECTOR"),
            ("gcc", strict + ["-O3", "-march=native", "-DSHUFFLENET_INT8_NO_AVX2"], "SN_I8_VECTOR"),
            ("gcc", strict + ["-O2", "-DSHUFFLENET_NO_VECTOR"], ""),
            ("clang", strict + ["-O3", "-march=native"], native ? "SN_I8_AVX2" : "SN_I8_VECTOR"),
            ("clang", strict + ["-O2", "-DSHUFFLENET_NO_VECTOR"], ""),
            ("gcc", ["-std=c11", "-O1", "-g", "-march=native", "-DSHUFFLENET_FAST_COMPILE", "-fsanitize=address,undefined",
                     "-fno-sanitize-recover=all"], native ? "SN_I8_AVX2" : "SN_I8_VECTOR"),
            ("clang", ["-std=c11", "-O1", "-g", "-DSHUFFLENET_FAST_COMPILE", "-fsanitize=address,undefined", "-fno-sanitize-recover=all"],
             "SN_I8_VECTOR"),
        ]
        for (n, json) in specs.enumerated() {
            let spec = try loadSpec(try writeTemp("int8-paths-\(n).json", json))
            let g = try optimize(try bindWeights(try buildGraph(spec), path: nil))
            let zeroPoints: [Int32] = [0, 3, 128, 200, 255]
            var activations: [String: ActivationQuantization] = [:]
            for (i, key) in quantizationKeys(g).sorted().enumerated() {
                let h = key.utf8.reduce(UInt32(2166136261)) { ($0 ^ UInt32($1)) &* 16777619 }
                activations[key] = ActivationQuantization(scale: 0.01 + Float(h % 97) / 2000, zeroPoint: zeroPoints[(Int(h >> 8) + i) % 5],
                                                          type: .uint8)
            }
            activations["input"] = ActivationQuantization(scale: 4 / 255, zeroPoint: 200, type: .uint8)
            let q = try quantize(g, activations: activations)
            let quantization = q.nodes.compactMap(\.quantization)
            XCTAssertTrue(quantization.contains { $0.intermediate != nil }, "\(spec.name): some conv rounds twice")
            XCTAssertTrue(Set(quantization.compactMap(\.output?.zeroPoint)).isSuperset(of: [0, 255]), "\(spec.name): zero points 0 and 255")
            var rng = SplitMix(seed: 11)
            let x = Tensor(shape: [1, 3, 112, 112], data: (0..<(3 * 112 * 112)).map { _ in Float(Int(rng.next() % 2001) - 1000) / 400 })
            let image = dir + "/\(spec.name).npy"
            try Npy.write(x, to: image)
            let expected = try Interpreter(graph: q).run(x).data
            let prefix = spec.name.replacingOccurrences(of: "-", with: "_")
            try emitBuildRun(q, prefix: prefix, images: [(image, expected)], builds: builds.map { ($0.compiler, $0.flags) })
            for build in builds {
                let macros = try runProcess(build.compiler, build.flags + ["-E", "-dM", "\(dir)/\(prefix)/\(prefix).c"]).stdout
                let picked = ["SN_I8_AVX2", "SN_I8_VECTOR"].filter { macros.contains("#define \($0) 1") }
                XCTAssertEqual(picked, build.path.isEmpty ? [] : [build.path], "\(build.compiler) \(build.flags): int8 kernel path")
            }
        }
    }

    /// An image wider than the kernels' stack buffers (544 pixels: the first conv's padded
    /// row is over SN_CONV_ROW_MAX = 512 bytes, the depthwise planes of 136 over
    /// SN_DW_MAX_WIDTH = 128) takes the fallbacks (tap-by-tap quantization, windows one by
    /// one), still bit-identical with the AVX2 and the generic vector kernels.
    func testWideImageTakesTheFallbackKernels() throws {
        let json = #"{"name": "i8-wide", "family": "v2", "inputSize": 544, "numClasses": 5, "stageRepeats": [1, 1, 1], "channels": [4, 8, 16, 32, 32]}"#
        let spec = try loadSpec(try writeTemp("int8-wide.json", json))
        let g = try optimize(try bindWeights(try buildGraph(spec), path: nil))
        let q = try quantize(g, activations: Int8Tests.fixedActivations(g))
        var rng = SplitMix(seed: 5)
        let x = Tensor(shape: [1, 3, 544, 544], data: (0..<(3 * 544 * 544)).map { _ in Float(Int(rng.next() % 2001) - 1000) / 400 })
        let image = dir + "/wide.npy"
        try Npy.write(x, to: image)
        let strict = ["-std=c11", "-Wall", "-Wextra", "-Werror"]
        try emitBuildRun(q, prefix: "i8_wide", images: [(image, try Interpreter(graph: q).run(x).data)],
                         builds: [("gcc", strict + ["-O3", "-march=native"]), ("gcc", strict + ["-O2"])])
        let code = try String(contentsOfFile: dir + "/i8_wide/i8_wide.c", encoding: .utf8)
        XCTAssertTrue(code.contains("    sn_depthwise3x3_u8(in, NULL, 4, 136, 136, 2,"), "a depthwise conv reads 136-pixel rows")
    }

    /// The tiny per-channel QDQ model: clang strict, and gcc under ASan and UBSan.
    func testTinyModelEmittedCUnderClangAndSanitizers() throws {
        let spec = try loadSpec(try Fixtures.path("parity/tiny-v2.json"))
        let graph = try loadQuantizedOnnxNetwork(spec, path: try Fixtures.path("onnx/tiny-v2.qdq-per-channel.onnx"))
        let image = try Fixtures.path("parity/tiny-v2.input.npy")
        let expected = try Interpreter(graph: graph).run(try Npy.read(path: image)).data
        try emitBuildRun(graph, prefix: "tiny8", images: [(image, expected)], builds: [
            ("clang", Self.strict), ("gcc", ["-std=c11", "-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all"]),
        ])
    }
}

/// A version 1.0 .npy of uint8 values (`'|u1'`), as numpy writes it: the header padded with
/// spaces to a multiple of 64 bytes, ending in a newline.
func writeUInt8Npy(_ values: [UInt8], shape: [Int], to path: String) throws {
    precondition(shape.reduce(1, *) == values.count)
    let dimensions = shape.map(String.init).joined(separator: ", ") + (shape.count == 1 ? "," : "")
    var header = "{'descr': '|u1', 'fortran_order': False, 'shape': (\(dimensions)), }"
    header += String(repeating: " ", count: (64 - (10 + header.utf8.count + 1) % 64) % 64) + "\n"
    let length = header.utf8.count
    let bytes: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(length & 255), UInt8(length >> 8)] + Array(header.utf8) + values
    try Data(bytes).write(to: URL(fileURLWithPath: path))
}

