import Foundation
import ShuffleNetKit
import XCTest
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

final class IOTests: XCTestCase {
    private var tempDir = ""

    override func setUpWithError() throws {
        tempDir = NSTemporaryDirectory() + "/iotests-\(getpid())-\(UInt32.random(in: 0 ... .max))"
        try FileManager.default.createDirectory(atPath: tempDir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: tempDir)
    }

    // MARK: - Helpers

    /// Asserts that `body` throws a ShuffleNetError whose message contains every part.
    private func assertFails(_ parts: [String], file: StaticString = #filePath, line: UInt = #line,
                             _ body: () throws -> Any) {
        do {
            _ = try body()
            XCTFail("expected an error containing \(parts)", file: file, line: line)
        } catch let error as ShuffleNetError {
            for part in parts where !error.message.contains(part) {
                XCTFail("error \"\(error.message)\" does not contain \"\(part)\"", file: file, line: line)
            }
        } catch {
            XCTFail("expected ShuffleNetError, got \(error)", file: file, line: line)
        }
    }

    /// A safetensors file with a hand-written header (unpadded) and raw data buffer.
    private func safetensors(_ header: String, _ data: [UInt8] = []) -> [UInt8] {
        let h = Array(header.utf8)
        return withUnsafeBytes(of: UInt64(h.count).littleEndian, Array.init) + h + data
    }

    private func le16(_ values: [UInt16]) -> [UInt8] { values.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] } }
    private func le32(_ values: [Float]) -> [UInt8] {
        values.flatMap { v in (0 ..< 4).map { UInt8(truncatingIfNeeded: v.bitPattern >> (8 * $0)) } }
    }

    /// An .npy file with a hand-written header (u16 length for version 1, u32 otherwise).
    private func npy(_ header: String, _ data: [UInt8] = [], version: UInt8 = 1) -> [UInt8] {
        let h = Array(header.utf8)
        let length = (0 ..< (version == 1 ? 2 : 4)).map { UInt8(truncatingIfNeeded: h.count >> (8 * $0)) }
        return [0x93] + Array("NUMPY".utf8) + [version, 0] + length + h + data
    }

    private func tempFiles(in dir: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.contains(".tmp-") }
    }

    private func hex(_ s: String) -> [UInt8] {
        var out: [UInt8] = [], chars = Array(s)
        while chars.count >= 2 { out.append(UInt8(String(chars[0 ..< 2]), radix: 16)!); chars.removeFirst(2) }
        return out
    }

    // MARK: - Safetensors round trips and decoding

    func testSafetensorsRoundTripWithMetadata() throws {
        let tensors: [String: Tensor] = [
            "conv.weight": Tensor(shape: [2, 3, 1, 1], data: [1, -2, 3.5, .infinity, -0.0, 0x1p-140]),
            "fc.bias": Tensor(shape: [3], data: [0.25, 0.5, 0.75]),
            "scale": Tensor(shape: [], data: [42]),
            "empty": Tensor(shape: [0, 4], data: []),
            "quote\"name\\é": Tensor(shape: [1], data: [7]),
        ]
        let metadata = ["format": "pt", "note": "tab\there \"quoted\" back\\slash\nnewline \u{1}"]
        let bytes = Safetensors.encode(tensors, metadata: metadata)
        XCTAssertEqual(bytes, Safetensors.encode(tensors, metadata: metadata), "encoding must be deterministic")
        let headerLength = bytes[0 ..< 8].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        XCTAssertEqual(headerLength % 8, 0, "header is padded to 8 bytes")

        let (decoded, meta) = try Safetensors.readWithMetadata(bytes, file: "m.safetensors")
        XCTAssertEqual(decoded, tensors)
        XCTAssertEqual(meta, metadata)

        let path = tempDir + "/model.safetensors"
        try Safetensors.write(tensors, to: path, metadata: metadata)
        XCTAssertEqual(try Safetensors.read(path: path), tensors)
        XCTAssertEqual(try readFileBytes(path), bytes)
        XCTAssertEqual(tempFiles(in: tempDir), [])
    }

    func testSafetensorsEncodedHeaderLayout() {
        let bytes = Safetensors.encode(["b": Tensor(shape: [1], data: [2]), "a": Tensor(shape: [], data: [1])],
                                       metadata: ["k": "v"])
        let header = String(decoding: bytes[8 ..< bytes.count - 8], as: UTF8.self)
        XCTAssertEqual(header, #"{"__metadata__":{"k":"v"},"a":{"dtype":"F32","shape":[],"data_offsets":[0,4]},"#
            + #""b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"# + "     ")
        XCTAssertEqual(Array(bytes.suffix(8)), le32([1, 2]))
    }

    func testSafetensorsReadsForeignHeaderWithWhitespace() throws {
        let header = """
        { "__metadata__" : { "format" : "pt" },
          "z" : { "shape" : [ 2 ], "data_offsets" : [ 8, 16 ], "dtype" : "F32" },
          "a" : { "dtype" : "F32", "shape" : [ 1, 2 ], "data_offsets" : [ 0, 8 ] } }
        """
        let t = try Safetensors.read(safetensors(header, le32([1, 2, 3, 4])), file: "f.safetensors")
        XCTAssertEqual(t, ["a": Tensor(shape: [1, 2], data: [1, 2]), "z": Tensor(shape: [2], data: [3, 4])])
    }

    func testHalfToFloatKnownValues() {
        XCTAssertEqual(Safetensors.halfToFloat(0x3C00), 1.0)
        XCTAssertEqual(Safetensors.halfToFloat(0xC000), -2.0)
        XCTAssertEqual(Safetensors.halfToFloat(0x7BFF), 65504)
        XCTAssertEqual(Safetensors.halfToFloat(0x0001), 0x1p-24) // smallest subnormal
        XCTAssertEqual(Safetensors.halfToFloat(0x03FF), 1023 * 0x1p-24) // largest subnormal
        XCTAssertEqual(Safetensors.halfToFloat(0x0400), 0x1p-14) // smallest normal
        XCTAssertEqual(Safetensors.halfToFloat(0x3555), 0.333251953125)
        XCTAssertEqual(Safetensors.halfToFloat(0x7C00), .infinity)
        XCTAssertEqual(Safetensors.halfToFloat(0xFC00), -.infinity)
        XCTAssertTrue(Safetensors.halfToFloat(0x7E00).isNaN)
        XCTAssertTrue(Safetensors.halfToFloat(0xFC01).isNaN)
        XCTAssertEqual(Safetensors.halfToFloat(0x8000).bitPattern, (-Float(0)).bitPattern)
        XCTAssertEqual(Safetensors.halfToFloat(0x8001), -0x1p-24)
    }

    #if !(os(macOS) && arch(x86_64))
    /// Cross-check all 65536 bit patterns against the standard library's Float16.
    func testHalfToFloatExhaustive() {
        for bits in 0 ... UInt16.max {
            let mine = Safetensors.halfToFloat(bits), reference = Float(Float16(bitPattern: bits))
            if reference.isNaN { XCTAssertTrue(mine.isNaN) } else {
                XCTAssertEqual(mine.bitPattern, reference.bitPattern, "0x\(String(bits, radix: 16))")
            }
        }
    }
    #endif

    func testBFloat16KnownValues() {
        XCTAssertEqual(Safetensors.bfloat16ToFloat(0x3F80), 1.0)
        XCTAssertEqual(Safetensors.bfloat16ToFloat(0xC000), -2.0)
        XCTAssertEqual(Safetensors.bfloat16ToFloat(0x4049), 3.140625)
        XCTAssertEqual(Safetensors.bfloat16ToFloat(0x7F80), .infinity)
        XCTAssertEqual(Safetensors.bfloat16ToFloat(0xFF80), -.infinity)
        XCTAssertTrue(Safetensors.bfloat16ToFloat(0x7FC0).isNaN)
        XCTAssertEqual(Safetensors.bfloat16ToFloat(0x0001), 0x1p-133) // subnormal
        XCTAssertEqual(Safetensors.bfloat16ToFloat(0x7F7F), 0x1.FEp127) // largest finite
    }

    func testReadsF16AndBF16Tensors() throws {
        let header = #"{"h":{"dtype":"F16","shape":[2,2],"data_offsets":[0,8]},"#
            + #""b":{"dtype":"BF16","shape":[3],"data_offsets":[8,14]}}"#
        let data = le16([0x3C00, 0xC000, 0x7BFF, 0x0001]) + le16([0x3F80, 0xC000, 0x0000])
        let t = try Safetensors.read(safetensors(header, data), file: "half.safetensors")
        XCTAssertEqual(t["h"], Tensor(shape: [2, 2], data: [1, -2, 65504, 0x1p-24]))
        XCTAssertEqual(t["b"], Tensor(shape: [3], data: [1, -2, 0]))
    }

    func testNumBatchesTrackedIsSkipped() throws {
        let header = #"{"bn.num_batches_tracked":{"dtype":"I64","shape":[],"data_offsets":[0,8]},"#
            + #""bn.weight":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#
        let t = try Safetensors.read(safetensors(header, [5, 0, 0, 0, 0, 0, 0, 0] + le32([0.5])), file: "bn.safetensors")
        XCTAssertEqual(t, ["bn.weight": Tensor(shape: [1], data: [0.5])])
    }

    // MARK: - Safetensors errors

    func testSafetensorsFileTooShort() {
        assertFails(["s.safetensors", "5 bytes", "too short"]) { try Safetensors.read([1, 2, 3, 4, 5], file: "s.safetensors") }
        assertFails(["e.safetensors", "0 bytes"]) { try Safetensors.read([], file: "e.safetensors") }
    }

    func testSafetensorsHeaderLengthPastEnd() {
        var bytes = safetensors("{}", [0, 0])
        bytes.replaceSubrange(0 ..< 8, with: withUnsafeBytes(of: UInt64(1000).littleEndian, Array.init))
        assertFails(["p.safetensors", "header length 1000", "past the end of the file", "12 bytes"]) {
            try Safetensors.read(bytes, file: "p.safetensors")
        }
        bytes.replaceSubrange(0 ..< 8, with: [UInt8](repeating: 0xFF, count: 8))
        assertFails(["header length 18446744073709551615", "past the end"]) { try Safetensors.read(bytes, file: "p") }
    }

    func testSafetensorsHeaderLengthCap() {
        let size = Safetensors.maxHeaderLength + 16
        var bytes = [UInt8](repeating: 0x20, count: size)
        bytes.replaceSubrange(0 ..< 8, with: withUnsafeBytes(of: UInt64(size - 8).littleEndian, Array.init))
        assertFails(["big.safetensors", "exceeds"]) { try Safetensors.read(bytes, file: "big.safetensors") }
    }

    func testSafetensorsInvalidHeaderJSON() {
        assertFails(["j.safetensors", "not valid JSON", "8..<17"]) { try Safetensors.read(safetensors("{not json"), file: "j.safetensors") }
        assertFails(["j.safetensors", "not a JSON object"]) { try Safetensors.read(safetensors("[1, 2]"), file: "j.safetensors") }
        assertFails(["not valid JSON"]) { try Safetensors.read(safetensors("\"str\""), file: "j") }
        assertFails(["not valid JSON"]) { try Safetensors.read(safetensors("{\"a\": 1e999}"), file: "j") }
        assertFails(["not valid JSON"]) { try Safetensors.read([2, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFE], file: "j") }
    }

    func testSafetensorsMalformedEntries() {
        func entry(_ body: String, data: [UInt8] = [0, 0, 0, 0]) throws -> Any {
            try Safetensors.read(safetensors(#"{"w":"# + body + "}", data), file: "m.safetensors")
        }
        assertFails(["m.safetensors", "tensor w", "not a JSON object"]) { try entry("[1]") }
        assertFails(["tensor w", "no \"dtype\""]) { try entry(#"{"shape":[1],"data_offsets":[0,4]}"#) }
        assertFails(["tensor w", "no \"shape\""]) { try entry(#"{"dtype":"F32","data_offsets":[0,4]}"#) }
        assertFails(["tensor w", "no \"data_offsets\""]) { try entry(#"{"dtype":"F32","shape":[1]}"#) }
        assertFails(["tensor w", "\"dtype\" is not a string"]) { try entry(#"{"dtype":4,"shape":[1],"data_offsets":[0,4]}"#) }
        assertFails(["tensor w", "\"shape\" is not a list"]) { try entry(#"{"dtype":"F32","shape":"1","data_offsets":[0,4]}"#) }
        assertFails(["tensor w", "\"shape\" is not a list"]) { try entry(#"{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}"#) }
        assertFails(["tensor w", "\"shape\" is not a list"]) { try entry(#"{"dtype":"F32","shape":[true],"data_offsets":[0,4]}"#) }
        assertFails(["tensor w", "\"shape\" is not a list"]) { try entry(#"{"dtype":"F32","shape":[1e30],"data_offsets":[0,4]}"#) }
        assertFails(["tensor w", "\"data_offsets\" is not a list of two"]) { try entry(#"{"dtype":"F32","shape":[1],"data_offsets":[0]}"#) }
        assertFails(["tensor w", "\"data_offsets\" is not a list of two"]) {
            try entry(#"{"dtype":"F32","shape":[1],"data_offsets":[0,18446744073709551615]}"#)
        }
        assertFails(["tensor w", "are negative"]) { try entry(#"{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}"#) }
        assertFails(["__metadata__", "\"k\"", "not a string"]) {
            try Safetensors.read(safetensors(#"{"__metadata__":{"k":1}}"#), file: "m")
        }
    }

    func testSafetensorsNegativeDimension() {
        let h = #"{"w":{"dtype":"F32","shape":[-1,2],"data_offsets":[0,8]}}"#
        assertFails(["n.safetensors", "tensor w", "[-1,2]", "negative"]) { try Safetensors.read(safetensors(h, le32([1, 2])), file: "n.safetensors") }
    }

    func testSafetensorsUnsupportedDtype() {
        let h = #"{"layer.idx":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}"#
        assertFails(["d.safetensors", "tensor layer.idx", "dtype I64 is not supported"]) {
            try Safetensors.read(safetensors(h, [UInt8](repeating: 0, count: 8)), file: "d.safetensors")
        }
    }

    func testSafetensorsElementCountOverflow() {
        let h = #"{"w":{"dtype":"F32","shape":[4611686018427387904,2],"data_offsets":[0,8]}}"#
        assertFails(["o.safetensors", "tensor w", "[4611686018427387904,2]", "overflow"]) {
            try Safetensors.read(safetensors(h, le32([1, 2])), file: "o.safetensors")
        }
        // Element count fits but count * 4 bytes does not.
        let h2 = #"{"w":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,8]}}"#
        assertFails(["tensor w", "of F32", "overflow"]) { try Safetensors.read(safetensors(h2, le32([1, 2])), file: "o") }
    }

    func testSafetensorsSizeMismatch() {
        let h = #"{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}}"#
        assertFails(["z.safetensors: tensor w: shape [2,2] of F32 needs 16 bytes but data_offsets [0,12] span 12"]) {
            try Safetensors.read(safetensors(h, le32([1, 2, 3])), file: "z.safetensors")
        }
        let h16 = #"{"w":{"dtype":"BF16","shape":[3],"data_offsets":[0,4]}}"#
        assertFails(["shape [3] of BF16 needs 6 bytes but data_offsets [0,4] span 4"]) {
            try Safetensors.read(safetensors(h16, le32([1])), file: "z")
        }
    }

    func testSafetensorsBeginAfterEnd() {
        let h = #"{"w":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}}"#
        assertFails(["b.safetensors", "tensor w", "data_offsets [8,4]", "begin is after end"]) {
            try Safetensors.read(safetensors(h, le32([1, 2])), file: "b.safetensors")
        }
    }

    func testSafetensorsEndPastData() {
        let h = #"{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#
        let fileBytes = safetensors(h, le32([1, 2]))
        let dataStart = fileBytes.count - 8
        assertFails(["x.safetensors", "tensor w",
                     "data_offsets end 16 is past the end of the file's data (8 bytes, file offset \(dataStart))",
                     "file offset \(dataStart + 16) of \(fileBytes.count)"]) {
            try Safetensors.read(fileBytes, file: "x.safetensors")
        }
        let huge = #"{"w":{"dtype":"F32","shape":[1],"data_offsets":[9223372036854775803,9223372036854775807]}}"#
        assertFails(["past the end of the file's data"]) { try Safetensors.read(safetensors(huge, le32([1])), file: "x") }
    }

    func testSafetensorsOverlappingRanges() {
        let h = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"#
            + #""b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#
        let fileBytes = safetensors(h, le32([1, 2, 3]))
        let dataStart = fileBytes.count - 12
        assertFails(["v.safetensors", "tensors a (data_offsets [0,8]) and b (data_offsets [4,12]) overlap",
                     "\(dataStart + 4)..<\(dataStart + 8)"]) {
            try Safetensors.read(fileBytes, file: "v.safetensors")
        }
        // Empty tensors at the same offset do not overlap anything.
        let ok = #"{"a":{"dtype":"F32","shape":[0],"data_offsets":[4,4]},"#
            + #""b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#
        XCTAssertNoThrow(try Safetensors.read(safetensors(ok, le32([1, 2])), file: "v"))
    }

    func testReadMissingFile() {
        let path = tempDir + "/nope.safetensors"
        assertFails(["cannot read \(path): no such file"]) { try Safetensors.read(path: path) }
        assertFails(["cannot read \(path): no such file"]) { try Npy.read(path: path) }
        assertFails(["cannot read \(tempDir): is a directory"]) { try readFileBytes(tempDir) }
    }

    // MARK: - Npy

    func testNpyRoundTrips() throws {
        let cases = [
            Tensor(shape: [5], data: [1, -2, 3.5, .infinity, -0.0]),
            Tensor(shape: [2, 3], data: [1, 2, 3, 4, 5, 6]),
            Tensor(shape: [2, 1, 2, 2], data: (0 ..< 8).map { Float($0) * 0.1 }),
            Tensor(shape: [], data: [3]),
            Tensor(shape: [0, 3], data: []),
        ]
        for (i, t) in cases.enumerated() {
            let bytes = Npy.encode(t)
            XCTAssertEqual(try Npy.read(bytes, file: "t.npy"), t)
            let path = tempDir + "/t\(i).npy"
            try Npy.write(t, to: path)
            XCTAssertEqual(try Npy.read(path: path), t)
        }
        XCTAssertEqual(tempFiles(in: tempDir), [])
    }

    /// Expected headers were produced once with numpy 2.4 (`np.save` of float32 zeros).
    func testNpyHeaderMatchesNumpy() {
        let expected: [([Int], String, Int)] = [
            ([1, 1000], "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1000), }", 55),
            ([1000], "{'descr': '<f4', 'fortran_order': False, 'shape': (1000,), }", 57),
            ([2, 3, 4, 5], "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, 4, 5), }", 52),
            ([], "{'descr': '<f4', 'fortran_order': False, 'shape': (), }", 62),
        ]
        for (shape, text, spaces) in expected {
            let header = [0x93] + Array("NUMPY".utf8) + [1, 0, 0x76, 0]
                + Array((text + String(repeating: " ", count: spaces) + "\n").utf8)
            XCTAssertEqual(header.count, 128)
            let bytes = Npy.encode(Tensor(zeros: shape))
            XCTAssertEqual(Array(bytes.prefix(128)), header, "shape \(shape)")
            XCTAssertEqual(bytes.count, 128 + 4 * shape.reduce(1, *))
        }
    }

    /// `np.lib.format.write_array(f, np.arange(6, dtype='<f4').reshape(2, 3) * 0.5 - 1, version=(2, 0))`
    func testNpyReadsNumpyVersion2File() throws {
        let bytes = hex("934e554d50590200740000007b276465736372273a20273c6634272c2027666f727472616e5f6f72646572273a2046616c73"
            + "652c20277368617065273a2028322c2033292c207d" + String(repeating: "20", count: 56)
            + "0a000080bf000000bf000000000000003f0000803f0000c03f")
        XCTAssertEqual(try Npy.read(bytes, file: "v2.npy"), Tensor(shape: [2, 3], data: [-1, -0.5, 0, 0.5, 1, 1.5]))
    }

    func testNpyReadsOldStyleHeaders() throws {
        // Python 2 numpy wrote longs as 3L and had no trailing comma; double quotes are also legal.
        let t = try Npy.read(npy("{\"descr\": '<f4', 'shape': (3L,), 'fortran_order': False}\n", le32([1, 2, 3])), file: "old.npy")
        XCTAssertEqual(t, Tensor(shape: [3], data: [1, 2, 3]))
        let v3 = try Npy.read(npy("{'descr':'<f4','fortran_order':False,'shape':(1,)}", le32([4]), version: 3), file: "v3.npy")
        XCTAssertEqual(v3, Tensor(shape: [1], data: [4]))
    }

    func testNpyUnsupportedDtype() {
        let f8 = npy("{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }\n", [UInt8](repeating: 0, count: 24))
        assertFails(["x.npy: dtype <f8 is not supported, expected float32 ('<f4')"]) { try Npy.read(f8, file: "x.npy") }
        let i8 = npy("{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }\n", [UInt8](repeating: 0, count: 24))
        assertFails(["x.npy: dtype <i8 is not supported"]) { try Npy.read(i8, file: "x.npy") }
        let be = npy("{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }\n", [0, 0, 0, 0])
        assertFails(["dtype >f4 is not supported"]) { try Npy.read(be, file: "x.npy") }
        let structured = npy("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }\n", [0, 0, 0, 0])
        assertFails(["dtype [('a', '<f4')] is not supported"]) { try Npy.read(structured, file: "x.npy") }
    }

    func testNpyFortranOrder() {
        let f = npy("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }\n", [UInt8](repeating: 0, count: 24))
        assertFails(["f.npy", "fortran_order True"]) { try Npy.read(f, file: "f.npy") }
    }

    func testNpyDataLengthMismatch() {
        var bytes = Npy.encode(Tensor(shape: [1, 1000], data: [Float](repeating: 1, count: 1000)))
        bytes.removeLast(4)
        assertFails(["l.npy", "shape (1, 1000) of float32 needs 4000 bytes of data but the file has 3996",
                     "file offset 128"]) { try Npy.read(bytes, file: "l.npy") }
        bytes += [0, 0, 0, 0, 0]
        assertFails(["needs 4000 bytes of data but the file has 4001"]) { try Npy.read(bytes, file: "l.npy") }
    }

    func testNpyMalformedHeaders() {
        assertFails(["s.npy", "too short"]) { try Npy.read([0x93, 0x4E], file: "s.npy") }
        assertFails(["m.npy", "magic"]) { try Npy.read(Array("PK\u{3}\u{4}hello world".utf8), file: "m.npy") }
        assertFails(["version 9.0"]) { try Npy.read(npy("{}", version: 9), file: "v.npy") }
        var past = npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }\n")
        past[8] = 0xFF; past[9] = 0xFF
        assertFails(["p.npy", "header length 65535", "past the end"]) { try Npy.read(past, file: "p.npy") }
        let bad = ["{'descr': '<f4', 'fortran_order': False, 'shape': (1,)", "{'descr' '<f4'}", "not a dict",
                   "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), } junk", String(repeating: "(", count: 5000),
                   "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }", "{'descr': '<f4\\"]
        for h in bad { assertFails(["h.npy", "not a valid Python dict literal"]) { try Npy.read(npy(h), file: "h.npy") } }
        assertFails(["no 'descr'"]) { try Npy.read(npy("{'fortran_order': False, 'shape': (1,)}"), file: "h.npy") }
        assertFails(["no boolean 'fortran_order'"]) { try Npy.read(npy("{'descr': '<f4', 'fortran_order': 0, 'shape': ()}"), file: "h.npy") }
        assertFails(["no 'shape' tuple"]) { try Npy.read(npy("{'descr': '<f4', 'fortran_order': False, 'shape': [1]}"), file: "h.npy") }
        assertFails(["shape (2, -1)", "negative"]) {
            try Npy.read(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, -1), }"), file: "h.npy")
        }
        assertFails(["shape (4611686018427387904, 4)", "overflow"]) {
            try Npy.read(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4), }"), file: "h.npy")
        }
    }

    // MARK: - Robustness

    /// Applies 1-3 random mutations. `lengthField` is where the header length lives and
    /// `headerRange` where the header text lives, so some mutations can target them.
    private func mutate(_ base: [UInt8], lengthField: Range<Int>, headerRange: Range<Int>,
                        rng: inout SplitMix) -> [UInt8] {
        var b = base
        for _ in 0 ..< Int.random(in: 1 ... 3, using: &rng) where !b.isEmpty {
            let at = Int.random(in: 0 ..< b.count, using: &rng)
            switch Int.random(in: 0 ..< 8, using: &rng) {
            case 0: b[at] ^= 1 << UInt8.random(in: 0 ..< 8, using: &rng)
            case 1: b[at] = UInt8.random(in: 0 ... 255, using: &rng)
            case 2: b.removeSubrange(at...)
            case 3: b.insert(contentsOf: (0 ..< Int.random(in: 1 ... 8, using: &rng)).map { _ in UInt8.random(in: 0 ... 255, using: &rng) }, at: at)
            case 4: b.removeSubrange(at ..< min(b.count, at + Int.random(in: 1 ... 16, using: &rng)))
            case 5: // extreme header lengths
                let values: [UInt64] = [.max, 1 << 63, UInt64(Int.max), UInt64(b.count), UInt64(max(0, b.count - 7)), 0,
                                        UInt64(lengthField.count == 2 ? 0xFFFF : 100 << 20), .random(in: 0 ... .max, using: &rng)]
                let v = values.randomElement(using: &rng)!
                guard lengthField.upperBound <= b.count else { continue }
                for (k, i) in lengthField.enumerated() { b[i] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(k))) }
            default: // rewrite a number in the header text, keeping the header length consistent
                guard headerRange.upperBound <= b.count else { continue }
                let digits = headerRange.filter { (48 ... 57).contains(b[$0]) }
                guard let d = digits.randomElement(using: &rng) else { continue }
                let replacements = ["-1", "0", "7", "99999999999999999999", "9223372036854775807", "4611686018427387904",
                                    "1.5", "true", "null", "\"x\"", "[]", "{}", "1e30", "-0"]
                let r = Array(replacements.randomElement(using: &rng)!.utf8)
                b.replaceSubrange(d ... d, with: r)
                let newLength = UInt64(headerRange.count + r.count - 1)
                for (k, i) in lengthField.enumerated() { b[i] = UInt8(truncatingIfNeeded: newLength >> (8 * UInt64(k))) }
            }
        }
        return b
    }

    func testRandomMutationsNeverCrash() {
        var rng = SplitMix(seed: 0x5EED)
        let st = Safetensors.encode([
            "conv.weight": Tensor(shape: [2, 3, 1, 1], data: [1, 2, 3, 4, 5, 6]),
            "bias": Tensor(shape: [2], data: [7, 8]),
            "scalar": Tensor(shape: [], data: [9]),
        ], metadata: ["format": "pt"])
        let stHeaderEnd = 8 + st[0 ..< 8].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        let np = Npy.encode(Tensor(shape: [2, 3], data: [1, 2, 3, 4, 5, 6]))

        var outcomes = [0, 0, 0, 0] // safetensors ok/err, npy ok/err
        for _ in 0 ..< 2000 {
            let m1 = mutate(st, lengthField: 0 ..< 8, headerRange: 8 ..< stHeaderEnd, rng: &rng)
            do { _ = try Safetensors.read(m1, file: "fuzz.safetensors"); outcomes[0] += 1 } catch is ShuffleNetError { outcomes[1] += 1 } catch {
                XCTFail("unexpected error type \(error)")
            }
            let m2 = mutate(np, lengthField: 8 ..< 10, headerRange: 10 ..< 128, rng: &rng)
            do { _ = try Npy.read(m2, file: "fuzz.npy"); outcomes[2] += 1 } catch is ShuffleNetError { outcomes[3] += 1 } catch {
                XCTFail("unexpected error type \(error)")
            }
        }
        // Both paths must actually be exercised, otherwise the mutations are too weak or too strong.
        XCTAssertTrue(outcomes.allSatisfy { $0 > 10 }, "outcomes \(outcomes)")
    }

    // MARK: - Atomic writes

    func testAtomicWriteReplacesFile() throws {
        let path = tempDir + "/out.bin"
        try writeFileAtomically([1, 2, 3], to: path)
        try writeFileAtomically([4, 5], to: path)
        XCTAssertEqual(try readFileBytes(path), [4, 5])
        XCTAssertEqual(tempFiles(in: tempDir), [])
        // A bare file name writes into the current directory.
        let cwd = FileManager.default.currentDirectoryPath
        XCTAssertTrue(FileManager.default.changeCurrentDirectoryPath(tempDir))
        defer { _ = FileManager.default.changeCurrentDirectoryPath(cwd) }
        try writeFileAtomically([6], to: "bare.bin")
        XCTAssertEqual(try readFileBytes(tempDir + "/bare.bin"), [6])
    }

    func testAtomicWriteIntoMissingDirectoryFails() {
        let path = tempDir + "/missing/sub/out.safetensors"
        assertFails(["cannot write \(path)", "no such file"]) {
            try Safetensors.write(["a": Tensor(shape: [1], data: [1])], to: path)
        }
        assertFails(["cannot write \(tempDir)/missing/x.npy"]) { try Npy.write(Tensor(shape: [], data: [1]), to: tempDir + "/missing/x.npy") }
        XCTAssertEqual(tempFiles(in: tempDir), [])
        assertFails(["cannot write \(tempDir)/: not a file path"]) { try writeFileAtomically([1], to: tempDir + "/") }
    }

    func testAtomicWriteRenameFailureKeepsTarget() throws {
        // rename() cannot replace a non-empty directory, so the write fails after the temp file exists.
        let target = tempDir + "/model.safetensors"
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: false)
        try writeFileAtomically([1], to: target + "/keep")
        assertFails(["cannot write \(target)"]) { try Safetensors.write(["a": Tensor(shape: [1], data: [1])], to: target) }
        XCTAssertEqual(try readFileBytes(target + "/keep"), [1])
        XCTAssertEqual(tempFiles(in: tempDir), [])
    }

    #if canImport(Glibc)
    /// Provokes a failure in the middle of writing the data (EFBIG via RLIMIT_FSIZE; works even
    /// as root, where permission tricks do not) and checks the old file survives intact.
    func testAtomicWriteFailureMidWriteKeepsOldFile() throws {
        let path = tempDir + "/weights.npy"
        let old = Npy.encode(Tensor(shape: [2], data: [1, 2]))
        try writeFileAtomically(old, to: path)

        var saved = rlimit()
        XCTAssertEqual(getrlimit(__rlimit_resource_t(RLIMIT_FSIZE.rawValue), &saved), 0)
        let oldHandler = signal(SIGXFSZ, SIG_IGN) // otherwise exceeding the limit kills the process
        var limited = saved
        limited.rlim_cur = 1024
        XCTAssertEqual(setrlimit(__rlimit_resource_t(RLIMIT_FSIZE.rawValue), &limited), 0)
        let result = Result { try Npy.write(Tensor(zeros: [4096]), to: path) }
        setrlimit(__rlimit_resource_t(RLIMIT_FSIZE.rawValue), &saved)
        signal(SIGXFSZ, oldHandler)

        assertFails(["cannot write \(path)", "after 1024 of"]) { try result.get() }
        XCTAssertEqual(try readFileBytes(path), old)
        XCTAssertEqual(try Npy.read(path: path), Tensor(shape: [2], data: [1, 2]))
        XCTAssertEqual(tempFiles(in: tempDir), [])
    }
    #endif
}
