import Foundation
import ShuffleNetKit
import XCTest

/// Hands out spec indices to the worker threads and collects their outcomes.
final class WorkQueue: @unchecked Sendable {
    private let lock = NSLock()
    private var next = 0
    private let count: Int
    private(set) var results: [CSafetyTests.Outcome] = []
    init(count: Int) { self.count = count }
    func take() -> Int? { lock.withLock { next < count ? { next += 1; return next - 1 }() : nil } }
    func put(_ o: CSafetyTests.Outcome) { lock.withLock { results.append(o) } }
}

/// The emitted C is memory-safe, thread-safe and stack-bounded, by test. The checks:
///
/// - ASan+UBSan: a build under `-fsanitize=address,undefined -fno-sanitize-recover=all`
///   runs clean and matches the interpreter. Input, logits and arena are allocated to their
///   exact sizes with 4 KiB guard zones behind them that are poisoned for ASan and filled
///   with a pattern checked afterwards, so one byte read or written too far is fatal, and the
///   input must come back unmodified. Built either for the generic vector width or with
///   `-march=native` (the widest vectors, other strips and tails);
/// - valgrind: `valgrind --error-exitcode=1` (-O1, guard zones no-access) reports no invalid
///   access and no use of uninitialised arena bytes, and the logits match;
/// - TSan: built with `-fsanitize=thread`, two threads with two arenas run the same network
///   twice each and agree bit for bit (and with the interpreter);
/// - stack: the deepest call chain from `PREFIX_infer` in gcc's `-fcallgraph-info=su` call
///   graph of the code file (infer, the layer function it calls, and whatever that calls
///   out of line, each frame static) stays within the header's `PREFIX_STACK_BYTES_MAX`;
///   the -O2 and -O3 -march=native objects also run with the guard driver (the optimized
///   code keeps to its arena too).
///
/// The default run (no environment variable; a few minutes on 2 cores, the figure is in
/// docs/robustness.md) covers every family on a subset, `defaultSpecs`:
///
/// - ASan+UBSan + guard bytes: `sanitizeSpecs`, v2-0.5x (generic), v2-1.0x (-march=native),
///   v1-g3-0.5x (-march=native), v1-g1-1.0x (generic) and v1-g8-0.5x (generic: the
///   cheapest v1 g8 build, about a minute of gcc; -march=native about doubles that);
/// - valgrind: `valgrindSpecs`, v2-0.5x; TSan: `threadSpecs`, v1-g3-0.5x;
/// - stack: `stackSpecs`, the widest v2 and v1 g3 (v2-2.0x, v1-g3-2.0x) and v1-g8-1.5x
///   (whose frame once passed the bound: 4,104 bytes) with the production flags only
///   (-O3 -march=native), each also run with the guard driver.
///
/// `SHUFFLENET_SAFETY_FULL=1` runs the full matrix: every check on all 15 built-in specs,
/// ASan+UBSan at both vector widths, valgrind, TSan, and the stack check at -O2, -O3, -O2
/// -march=native and -O3 -march=native (with the guard driver at -O2 and -O3 -march=native).
///
/// The sanitizer builds are -O0 with UBSan trapping (`-fsanitize-undefined-trap-on-error`)
/// and no ASan stack redzones (`--param asan-stack=0`; UBSan's bounds check covers local
/// arrays): with all kernels inlined into one function, gcc takes minutes per file otherwise.
/// A failing spec is rebuilt with UBSan's runtime so the report says what and where.
///
/// int8 (`testEmittedInt8CodeIsMemorySafe`): the ONNX Model Zoo's int8 v2-1.0x on the cat
/// photo, with the same checks but TSan: ASan+UBSan at both vector widths, valgrind, the
/// stack bound at -O2, -O3, -O2 -march=native and -O3 -march=native (guard driver at -O2 and
/// -O3 -march=native). Each run calls both entry points (the float image, and the image
/// quantized by the test with QuantizeLinear's formula, its guard zones too), and both must
/// give the interpreter's logits bit for bit.
///
/// The weights are linked as the exact float32 blob the weights file spells out
/// (`.incbin` of `LayerProgram.weights`): compiling 15 weights files of up to 100 MB of C
/// takes minutes and tests nothing about memory safety (CBackendTests compiles them).
final class CSafetyTests: XCTestCase {
    static let full = ProcessInfo.processInfo.environment["SHUFFLENET_SAFETY_FULL"] != nil
    /// Default run: the specs built under ASan+UBSan, and whether with `-march=native`.
    static let sanitizeSpecs: [String: Bool] = [
        "v2-0.5x": false, "v2-1.0x": true, "v1-g3-0.5x": true, "v1-g1-1.0x": false, "v1-g8-0.5x": false,
    ]
    static let valgrindSpecs: Set<String> = ["v2-0.5x"]
    static let threadSpecs: Set<String> = ["v1-g3-0.5x"]
    static let stackFlags: [[String]] = [["-O2"], ["-O3"], ["-O2", "-march=native"], ["-O3", "-march=native"]]
    /// Default run: the widest v2 and v1 g3, and v1-g8-1.5x (over the bound with the
    /// session 2 kernels, whose register tiles lived on the stack), with the production
    /// flags only; the full run has the other flags and specs. Building and checking
    /// v1-g8-1.5x at -O3 -march=native took 83 s.
    static let stackSpecs: [String: [[String]]] = [
        "v2-2.0x": [["-O3", "-march=native"]], "v1-g3-2.0x": [["-O3", "-march=native"]],
        "v1-g8-1.5x": [["-O3", "-march=native"]],
    ]
    /// Default run: every spec above, in the order the workers take them (slowest first,
    /// so the two workers finish together).
    static let defaultSpecs: [String] = [
        "v1-g8-1.5x", "v1-g8-0.5x", "v1-g3-2.0x", "v2-2.0x", "v1-g3-0.5x", "v2-1.0x", "v1-g1-1.0x", "v2-0.5x",
    ]

    struct Outcome: Sendable {
        var spec: String
        var failures: [String] = []
        var row: [String: String] = [:]
        var stack: [String: Int] = [:]
    }

    /// The int8 network's name in the report.
    static let int8Name = "zoo-int8"

    func testEmittedInt8CodeIsMemorySafe() throws {
        let gcc = "gcc"
        guard (try? runProcess(gcc, ["--version"]))?.status == 0 else { throw XCTSkip("gcc is not installed") }
        let haveValgrind = try Self.valgrindAvailable()
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("sn-safety8-\(getpid())").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let spec = try XCTUnwrap(BuiltinSpecs.named("v2-1.0x"))
        let graph = try loadQuantizedOnnxNetwork(spec, path: try Fixtures.path("onnx/shufflenet-v2-12-qdq.onnx"))
        let input = try Npy.read(path: try Fixtures.path("onnx/cat.npy"))
        let started = Date()
        let o = Self.check(spec, in: root + "/zoo", gcc: gcc, valgrind: haveValgrind, int8: (Self.int8Name, graph, input))
        let columns = ["asan+ubsan", "asan+ubsan native", "valgrind", "guard O2", "guard O3 native", "stack O2", "stack O3", "stack O2 native", "stack O3 native", "seconds"]
        print("| network | " + columns.joined(separator: " | ") + " |")
        print("| \(o.spec) | " + columns.map { o.row[$0] ?? "-" }.joined(separator: " | ") + " |")
        print("CSafety int8: \(String(format: "%.0f", Date().timeIntervalSince(started))) s; largest stack \(o.stack.values.max() ?? 0) bytes (bound \(CEmitter.stackBytesMax))")
        for f in o.failures { XCTFail("\(o.spec): \(f)") }
        XCTAssertEqual(o.stack.count, Self.stackFlags.count, "every stack build was measured")
    }

    /// valgrind's runs are skipped (with the package named) where it is missing, but under
    /// CI=true a missing valgrind fails: CI must never pass by skipping.
    static func valgrindAvailable() throws -> Bool {
        if (try? runProcess("valgrind", ["--version"]))?.status == 0 { return true }
        if ProcessInfo.processInfo.environment["CI"] == "true" {
            throw ShuffleNetError("CI=true, so this cannot skip: valgrind is not installed (Debian package valgrind)")
        }
        print("CSafety: valgrind not found (Debian package valgrind); its runs are skipped")
        return false
    }

    func testEmittedCodeIsMemorySafe() throws {
        let gcc = "gcc"
        guard (try? runProcess(gcc, ["--version"]))?.status == 0 else { throw XCTSkip("gcc is not installed") }
        let haveValgrind = try Self.valgrindAvailable()
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("sn-safety-\(getpid())").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }

        let specs = try Self.full ? BuiltinSpecs.all : Self.defaultSpecs.map { name in
            try XCTUnwrap(BuiltinSpecs.named(name), "\(name) is not a built-in spec")
        }
        let selected = Set(Self.defaultSpecs)
        XCTAssertEqual(selected.count, Self.defaultSpecs.count, "a spec is listed twice in defaultSpecs")
        for name in Set(Self.sanitizeSpecs.keys).union(Self.valgrindSpecs).union(Self.threadSpecs).union(Self.stackSpecs.keys) {
            XCTAssert(selected.contains(name), "\(name) has checks but is not in defaultSpecs")
        }
        let workers = max(1, min(2, ProcessInfo.processInfo.activeProcessorCount))
        let queue = WorkQueue(count: specs.count)
        let started = Date()
        DispatchQueue.concurrentPerform(iterations: workers) { _ in
            while let k = queue.take() {
                queue.put(Self.check(specs[k], in: root + "/\(specs[k].name)", gcc: gcc, valgrind: haveValgrind))
            }
        }
        var outcomes = queue.results
        let order = BuiltinSpecs.names
        outcomes.sort { a, b in order.firstIndex(of: a.spec) ?? order.count < order.firstIndex(of: b.spec) ?? order.count }

        // The table for docs/robustness.md.
        let columns = ["asan+ubsan", "asan+ubsan native", "valgrind", "tsan", "guard O2", "guard O3 native", "stack O2", "stack O3", "stack O2 native", "stack O3 native", "seconds"]
        print("| spec | " + columns.joined(separator: " | ") + " |")
        print("|" + String(repeating: "---|", count: columns.count + 1))
        for o in outcomes { print("| \(o.spec) | " + columns.map { o.row[$0] ?? "-" }.joined(separator: " | ") + " |") }
        let worst = outcomes.flatMap(\.stack.values).max() ?? 0
        print("CSafety (\(Self.full ? "full" : "default") run): \(specs.count) specs in \(String(format: "%.0f", Date().timeIntervalSince(started))) s; largest stack \(worst) bytes "
              + "(bound \(CEmitter.stackBytesMax))")
        for o in outcomes { for f in o.failures { XCTFail("\(o.spec): \(f)") } }
        XCTAssertEqual(outcomes.count, specs.count)
    }

    /// Everything for one spec (its seeded fp32 network, or with `int8` a quantized graph and
    /// its input, under that name: every check but TSan, at every flag set); failures are
    /// collected, not asserted (this runs on a worker thread).
    static func check(_ spec: NetworkSpec, in dir: String, gcc: String, valgrind: Bool,
                      int8: (name: String, graph: Graph, input: Tensor)? = nil) -> Outcome {
        var o = Outcome(spec: int8?.name ?? spec.name)
        let started = Date()
        let full = Self.full || int8 != nil
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let graph = try int8?.graph ?? optimize(try loadNetwork(spec, weights: nil))
            let program = try LayerProgram(graph: graph)
            let prefix = defaultPrefix(for: spec)
            let files = try CEmitter(prefix: prefix).emit(program, weightSource: "seeded")
            try writeFilesAtomically(files.filter { !$0.name.hasSuffix("_weights.c") }, to: dir)
            let header = files.first { $0.name == "\(prefix).h" }?.text ?? ""
            let upper = prefix.uppercased()
            guard let declared = header.split(separator: "\n").first(where: { $0.hasPrefix("#define \(upper)_STACK_BYTES_MAX ") })
                .flatMap({ Int($0.split(separator: " ").last!) }) else {
                throw ShuffleNetError("no \(upper)_STACK_BYTES_MAX in the header")
            }

            // Weights: the blob, assembled once.
            try writeFileAtomically(floatBytes(program.weights), to: dir + "/weights.bin")
            try writeFileAtomically(Array(blobSource(symbol: "\(prefix)_weights", bytes: 4 * program.weights.count, path: dir + "/weights.bin").utf8),
                                    to: dir + "/weights_blob.c")
            try compile(gcc, ["-c", dir + "/weights_blob.c", "-o", dir + "/weights.o"])
            // Input and the interpreter's answer.
            let input = int8?.input ?? SeededWeights.input(for: spec)
            try writeFileAtomically(floatBytes(input.data), to: dir + "/input.bin")
            var quantizedInput: [String] = [], blobs: [String] = []
            if program.inputQuantization != nil, let q = graph.nodes[0].quantization?.output {
                // The image as the quantized entry point takes it, and the integer weights.
                try writeFileAtomically(referenceQuantize(input.data, q), to: dir + "/input_q.bin")
                quantizedInput = [dir + "/input_q.bin"]
                try writeFileAtomically(program.weightsS8.map { UInt8(bitPattern: $0) }, to: dir + "/weights_s8.bin")
                try writeFileAtomically(program.weightsS32.flatMap { v in withUnsafeBytes(of: v.littleEndian, Array.init) }, to: dir + "/weights_s32.bin")
                for (symbol, count, file) in [("\(prefix)_weights_s8", program.weightsS8.count, "weights_s8"), ("\(prefix)_weights_s32", 4 * program.weightsS32.count, "weights_s32")] {
                    try writeFileAtomically(Array(blobSource(symbol: symbol, bytes: count, path: dir + "/\(file).bin").utf8), to: dir + "/\(file)_blob.c")
                    try compile(gcc, ["-c", dir + "/\(file)_blob.c", "-o", dir + "/\(file).o"])
                    blobs.append(dir + "/\(file).o")
                }
            }
            let expected = try Interpreter(graph: graph).run(input).data
            try writeFileAtomically(Array(driverSource(prefix: prefix).utf8), to: dir + "/driver.c")

            let code = dir + "/\(prefix).c"
            let driver = ["-std=c11", "-g", "-fno-var-tracking", "-Wall", "-Wextra", "-Werror", "-I", dir, dir + "/driver.c"]
                + (quantizedInput.isEmpty ? [] : ["-DSN_QUANTIZED_INPUT"])
            let link = [dir + "/weights.o"] + blobs + ["-lm"]
            /// Builds `sources` (the code file or its object) with the driver and runs it; nil when it passed.
            func run(_ label: String, flags: [String], sources: [String], wrapper: [String] = []) throws -> String? {
                let t0 = Date()
                let exe = dir + "/prog-" + String(label.map { $0.isLetter || $0.isNumber ? $0 : "-" })
                try compile(gcc, flags + driver + sources + link + ["-o", exe])
                let out = dir + "/logits-\(exe.split(separator: "/").last!).bin"
                let argv = wrapper + [exe, dir + "/input.bin", out] + quantizedInput
                let r = try runProcess(argv[0], Array(argv.dropFirst()))
                guard r.status == 0, r.stdout.contains("ok") else {
                    o.row[label] = "FAIL"
                    return "\(label): exit \(r.status)\n\(r.stdout)\n\(String(r.stderr.suffix(6000)))"
                }
                let logits = try readFloats(out)
                let err = relativeError(logits, expected)
                // int8: bit for bit.
                let exact = int8 == nil || logits.map(\.bitPattern) == expected.map(\.bitPattern)
                if err > 1e-4 || top(5, logits) != top(5, expected) || !exact {
                    o.row[label] = "FAIL"
                    return "\(label): differs from the interpreter (max diff / max|logit| = \(err))"
                }
                o.row[label] = String(format: "ok %.0fs", Date().timeIntervalSince(t0))
                return nil
            }
            func check(_ label: String, flags: [String], sources: [String], wrapper: [String] = []) throws {
                if let failure = try run(label, flags: flags, sources: sources, wrapper: wrapper) { o.failures.append(failure) }
            }

            // asan-stack=0: ASan's redzones around the locals of 271 inlined kernels cost gcc
            // minutes; UBSan's bounds check still covers indexing of local arrays.
            let sanitize = ["-O0", "-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer",
                            "--param", "asan-stack=0"]
            for native in full ? [false, true] : sanitizeSpecs[spec.name].map({ [$0] }) ?? [] {
                let label = native ? "asan+ubsan native" : "asan+ubsan"
                let march = native ? ["-march=native"] : []
                if let failure = try run(label, flags: sanitize + ["-fsanitize-undefined-trap-on-error"] + march, sources: [code]) {
                    // Again with UBSan's runtime, for a report that names the check and the line.
                    let detail = try run(label + " diagnostics", flags: sanitize + march, sources: [code])
                    o.failures.append(failure + "\n" + (detail ?? "(passes with UBSan's runtime)"))
                    o.row[label] = "FAIL"
                }
            }
            if valgrind && (full || valgrindSpecs.contains(spec.name)) {
                try check("valgrind", flags: ["-O1", "-DSN_VALGRIND"], sources: [code],
                          wrapper: ["valgrind", "-q", "--error-exitcode=1", "--leak-check=no"])
            }
            if int8 == nil && (full || threadSpecs.contains(spec.name)) {
                try check("tsan", flags: ["-O1", "-fsanitize=thread", "-pthread", "-DSN_THREADS"], sources: [code])
            }
            for flags in full ? stackFlags : stackSpecs[spec.name] ?? [] {
                let label = "stack " + flags.joined(separator: " ").replacingOccurrences(of: "-march=", with: "").replacingOccurrences(of: "-", with: "")
                let tag = flags.joined().replacingOccurrences(of: "-march=", with: "").replacingOccurrences(of: "-", with: "")
                let obj = dir + "/\(prefix)-\(tag).o", graph = dir + "/\(prefix)-\(tag).ci"
                try? FileManager.default.removeItem(atPath: graph)
                let r = try runProcess(gcc, ["-std=c11", "-Wall", "-Wextra", "-Werror", "-fcallgraph-info=su", "-c"] + flags + [code, "-o", obj])
                guard r.status == 0 else { o.failures.append("\(label): gcc failed\n\(r.stderr)"); continue }
                // gcc names the call graph after the object: infer's frame plus its deepest
                // chain of callees (layer functions, and under FAST_COMPILE the kernels).
                let (total, chain, problems) = deepestStack(callGraph: try String(contentsOfFile: graph, encoding: .utf8), root: "\(prefix)_infer")
                o.failures += problems.map { "\(label): \($0)" }
                let text = chain.joined(separator: " -> ")
                o.stack[label] = total
                o.row[label] = "\(total)"
                if total > declared {
                    o.failures.append("\(label): \(prefix)_infer uses \(total) bytes of stack, more than \(upper)_STACK_BYTES_MAX = \(declared):\n\(text)")
                }
                if flags == ["-O2"] || flags == ["-O3", "-march=native"] {
                    try check("guard " + label.dropFirst("stack ".count), flags: flags, sources: [obj])
                }
            }
        } catch {
            o.failures.append("\(error)")
        }
        o.row["seconds"] = String(format: "%.0f", Date().timeIntervalSince(started))
        return o
    }

    static func compile(_ gcc: String, _ args: [String]) throws {
        let r = try runProcess(gcc, args)
        guard r.status == 0 else { throw ShuffleNetError("\(gcc) \(args.joined(separator: " ")) failed:\n\(r.stderr)") }
    }

    static func floatBytes(_ values: [Float]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(values.count * 4)
        for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { out += $0 } }
        return out
    }

    static func readFloats(_ path: String) throws -> [Float] {
        let b = try readFileBytes(path)
        return stride(from: 0, to: b.count - 3, by: 4).map { i in
            Float(bitPattern: UInt32(b[i]) | UInt32(b[i + 1]) << 8 | UInt32(b[i + 2]) << 16 | UInt32(b[i + 3]) << 24)
        }
    }

    /// `symbol` (`PREFIX_weights`, or an int8 network's `_s8` and `_s32` arrays) as a
    /// 64-byte-aligned read-only object holding the blob's bytes.
    static func blobSource(symbol: String, bytes: Int, path: String) -> String {
        """
        __asm__(".section .rodata\\n"
                ".balign 64\\n"
                ".globl \(symbol)\\n"
                ".type \(symbol), @object\\n"
                ".size \(symbol), \(bytes)\\n"
                "\(symbol):\\n"
                ".incbin \\"\(path)\\"\\n"
                ".previous\\n");

        """
    }

    /// The driver: `prog input.bin logits.bin` runs PREFIX_infer once (or, with
    /// SN_THREADS, twice in each of two threads with their own arenas) and checks the guards.
    /// With SN_QUANTIZED_INPUT (int8), `prog input.bin logits.bin input_q.bin` then also runs
    /// PREFIX_infer_quantized on the uint8 image, in guard zones of its own and the same
    /// arena, and its logits must equal the float call's bit for bit.
    static func driverSource(prefix: String) -> String {
        let upper = prefix.uppercased()
        return """
        #define _POSIX_C_SOURCE 200809L
        #include "\(prefix).h"
        #include <stdint.h>
        #include <stdio.h>
        #include <stdlib.h>
        #include <string.h>
        #ifdef SN_THREADS
        #include <pthread.h>
        #endif
        #if defined(SN_VALGRIND) && defined(__has_include)
        #if __has_include(<valgrind/memcheck.h>)
        #include <valgrind/memcheck.h>
        #define SN_NOACCESS(p, n) VALGRIND_MAKE_MEM_NOACCESS(p, n)
        #define SN_ACCESS(p, n) VALGRIND_MAKE_MEM_DEFINED(p, n)
        #endif
        #endif
        #if !defined(SN_NOACCESS) && defined(__SANITIZE_ADDRESS__)
        void __asan_poison_memory_region(void const volatile *addr, size_t size);
        void __asan_unpoison_memory_region(void const volatile *addr, size_t size);
        #define SN_NOACCESS(p, n) __asan_poison_memory_region(p, n)
        #define SN_ACCESS(p, n) __asan_unpoison_memory_region(p, n)
        #endif
        #ifndef SN_NOACCESS
        #define SN_NOACCESS(p, n) ((void)0)
        #define SN_ACCESS(p, n) ((void)0)
        #endif

        #define GUARD 4096
        #define PATTERN 0xA5

        /* size bytes, 64-byte aligned, followed by GUARD bytes of PATTERN that no one may touch.
           The size bytes themselves stay uninitialised (valgrind reports reads of them). */
        static unsigned char *guarded(size_t size) {
            void *p = NULL;
            if (posix_memalign(&p, 64, size + GUARD) != 0) { fprintf(stderr, "out of memory\\n"); exit(3); }
            memset((unsigned char *)p + size, PATTERN, GUARD);
            SN_NOACCESS((unsigned char *)p + size, GUARD);
            return p;
        }

        static int guard_intact(unsigned char *p, size_t size, const char *what) {
            SN_ACCESS(p + size, GUARD);
            for (size_t i = 0; i < GUARD; i++) {
                if (p[size + i] != PATTERN) {
                    fprintf(stderr, "%s: byte %zu past its %zu bytes was written\\n", what, i, size);
                    return 0;
                }
            }
            return 1;
        }

        #define IN_BYTES ((size_t)\(upper)_INPUT_SIZE * sizeof(float))
        #define OUT_BYTES ((size_t)\(upper)_OUTPUT_SIZE * sizeof(float))
        #define ARENA ((size_t)\(upper)_ARENA_BYTES)

        static float *input;
        static float copy[\(upper)_INPUT_SIZE];
        #ifdef SN_QUANTIZED_INPUT
        #define Q_BYTES ((size_t)\(upper)_INPUT_SIZE)
        static unsigned char copy_q[\(upper)_INPUT_SIZE];
        #endif

        typedef struct { unsigned char *arena; float *logits; int status; } job;

        #ifdef SN_THREADS
        static void *work(void *arg) {
            job *j = arg;
            for (int r = 0; r < 2 && j->status == 0; r++) j->status = \(prefix)_infer(input, j->logits, j->arena);
            return NULL;
        }
        #endif

        int main(int argc, char **argv) {
            if (argc < 3) { fprintf(stderr, "usage: %s input.bin logits.bin\\n", argv[0]); return 2; }
            input = (float *)guarded(IN_BYTES);
            FILE *f = fopen(argv[1], "rb");
            if (!f || fread(input, 1, IN_BYTES, f) != IN_BYTES || fgetc(f) != EOF) { fprintf(stderr, "bad input\\n"); return 2; }
            fclose(f);
            memcpy(copy, input, IN_BYTES);
            job jobs[2];
            int n = 1;
        #ifdef SN_THREADS
            n = 2;
        #endif
            for (int t = 0; t < n; t++) {
                jobs[t].arena = guarded(ARENA);
                jobs[t].logits = (float *)guarded(OUT_BYTES);
                jobs[t].status = 0;
            }
        #ifdef SN_THREADS
            pthread_t threads[2];
            for (int t = 0; t < 2; t++) if (pthread_create(&threads[t], NULL, work, &jobs[t]) != 0) return 3;
            for (int t = 0; t < 2; t++) pthread_join(threads[t], NULL);
        #else
            jobs[0].status = \(prefix)_infer(input, jobs[0].logits, jobs[0].arena);
        #endif
            int ok = 1;
            for (int t = 0; t < n; t++) {
                if (jobs[t].status != 0) { fprintf(stderr, "thread %d: infer returned %d\\n", t, jobs[t].status); ok = 0; }
                ok &= guard_intact(jobs[t].arena, ARENA, "arena");
                ok &= guard_intact((unsigned char *)jobs[t].logits, OUT_BYTES, "logits");
            }
            ok &= guard_intact((unsigned char *)input, IN_BYTES, "input");
            if (memcmp(copy, input, IN_BYTES) != 0) { fprintf(stderr, "the input was modified\\n"); ok = 0; }
        #ifdef SN_QUANTIZED_INPUT
            if (argc != 4) { fprintf(stderr, "usage: %s input.bin logits.bin input_q.bin\\n", argv[0]); return 2; }
            unsigned char *image_q = guarded(Q_BYTES);
            float *logits_q = (float *)guarded(OUT_BYTES);
            f = fopen(argv[3], "rb");
            if (!f || fread(image_q, 1, Q_BYTES, f) != Q_BYTES || fgetc(f) != EOF) { fprintf(stderr, "bad quantized input\\n"); return 2; }
            fclose(f);
            memcpy(copy_q, image_q, Q_BYTES);
            const int status_q = \(prefix)_infer_quantized(image_q, logits_q, jobs[0].arena);
            if (status_q != 0) { fprintf(stderr, "infer_quantized returned %d\\n", status_q); ok = 0; }
            ok &= guard_intact(jobs[0].arena, ARENA, "arena (quantized)");
            ok &= guard_intact((unsigned char *)logits_q, OUT_BYTES, "logits (quantized)");
            ok &= guard_intact(image_q, Q_BYTES, "quantized input");
            if (memcmp(copy_q, image_q, Q_BYTES) != 0) { fprintf(stderr, "the quantized input was modified\\n"); ok = 0; }
            if (memcmp(logits_q, jobs[0].logits, OUT_BYTES) != 0) { fprintf(stderr, "the two entry points disagree\\n"); ok = 0; }
            free(image_q);
            free(logits_q);
        #else
            if (argc != 3) { fprintf(stderr, "usage: %s input.bin logits.bin\\n", argv[0]); return 2; }
        #endif
            if (n == 2 && memcmp(jobs[0].logits, jobs[1].logits, OUT_BYTES) != 0) {
                fprintf(stderr, "the two threads disagree\\n");
                ok = 0;
            }
            f = fopen(argv[2], "wb");
            if (!f || fwrite(jobs[0].logits, 1, OUT_BYTES, f) != OUT_BYTES || fclose(f) != 0) { fprintf(stderr, "cannot write\\n"); return 2; }
            for (int t = 0; t < n; t++) { free(jobs[t].arena); free(jobs[t].logits); }
            free(input);
            if (!ok) return 1;
            puts("ok");
            return 0;
        }

        """
    }
}
