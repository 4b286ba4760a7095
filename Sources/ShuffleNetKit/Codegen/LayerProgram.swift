/// The front half of every backend: the optimized graph lowered to a list of kernel calls
/// with constant arguments, the packed weight blob and the static channel tables. The C
/// and Swift printers only print this.
public struct LayerProgram: Sendable {
    /// Where a kernel's operand starts and how its planes are found.
    public struct Operand: Equatable, Sendable {
        public enum Base: Equatable, Sendable {
            case input
            case logits
            /// Float offset in the arena.
            case arena(Int)
            /// Byte offset in the arena (int8 graphs: one stored value per byte).
            case arenaBytes(Int)
        }
        public var base: Base
        /// Float offset added to the base (the first plane of a contiguous run).
        public var offset: Int
        /// Index into `tables` when the planes are not one contiguous run.
        public var table: Int?
    }

    public enum Kernel: Equatable, Sendable {
        /// Weights packed [ceil(o/4)][k][4]: vectors over pixels, blocks of 4 output rows.
        case pointwise(input: Operand, k: Int, pixels: Int, weights: Int, bias: Int?, o: Int, output: Operand, accumulate: Bool, relu: Bool)
        /// The same convolution over a small plane, vectors over output channels: weights
        /// packed [ceil(o/16)][k][16] and the bias padded to a multiple of 16, zeros past o.
        case pointwiseChannelBlocked(input: Operand, k: Int, pixels: Int, weights: Int, bias: Int?, o: Int, output: Operand, accumulate: Bool, relu: Bool,
                                     packed: Int)
        case depthwise3x3(input: Operand, c: Int, h: Int, w: Int, stride: Int, weights: Int, bias: Int?, output: Operand, oh: Int, ow: Int, relu: Bool)
        case convDirect(input: Operand, c: Int, h: Int, w: Int, weights: Int, bias: Int?, o: Int, k: Int, stride: Int, pad: Int, output: Operand, oh: Int, ow: Int, relu: Bool)
        case convMaxPool(input: Operand, c: Int, h: Int, w: Int, weights: Int, bias: Int?, o: Int, k: Int, stride: Int, pad: Int,
                         ch: Int, cw: Int, relu: Bool, pool: Pool, output: Operand, oh: Int, ow: Int, ring: Int)
        case pool(input: Operand, c: Int, h: Int, w: Int, pool: Pool, isMax: Bool, output: Operand, oh: Int, ow: Int)
        case globalAvgPool(input: Operand, c: Int, pixels: Int, output: Operand)
        case linear(input: Operand, k: Int, weights: Int, bias: Int?, o: Int, output: Operand)
        case batchNorm(input: Operand, c: Int, pixels: Int, gamma: Int, beta: Int, mean: Int, variance: Int, eps: Float, output: Operand)
        case relu(input: Operand, c: Int, pixels: Int, output: Operand)
        case add(a: Operand, b: Operand, c: Int, pixels: Int, output: Operand)
        case copy(input: Operand, c: Int, pixels: Int, output: Operand)
        // int8 kernels (uint8 activations, int8 weights, int32 biases; weights, biases and
        // multipliers are offsets into `weightsS8`, `weightsS32` and `weights`).
        /// Weights packed and bias folded as a 1x1 conv's over the C*K*K taps.
        case convMaxPoolU8(input: Operand, c: Int, h: Int, w: Int, image: ActivationQuantization, weights: Int, bias: Int, multipliers: Int,
                           o: Int, k: Int, stride: Int, pad: Int, ch: Int, cw: Int, pool: Pool, output: Operand, oh: Int, ow: Int,
                           ring: Operand, epilogue: Int8Epilogue)
        /// Weights in granules of 4 rows x 4 planes (`packGranules`); `bias` (always there) is
        /// `bias - inputZeroPoint * sum_k w` (`foldZeroPoint`), so the kernel needs no zero point.
        case pointwiseU8(input: Operand, k: Int, pixels: Int, weights: Int, bias: Int, multipliers: Int, o: Int,
                         output: Operand, epilogue: Int8Epilogue)
        /// v1's relu(shortcut + conv), in place: the shortcut is read from the output planes.
        case pointwiseResidualU8(input: Operand, k: Int, pixels: Int, weights: Int, bias: Int, multipliers: Int, o: Int,
                                 output: Operand, shortcutZeroPoint: Int32, shortcutMultiplier: Float, epilogue: Int8Epilogue)
        case avgPoolU8(input: Operand, c: Int, h: Int, w: Int, pool: Pool, from: ActivationQuantization, to: ActivationQuantization,
                       output: Operand, oh: Int, ow: Int)
        /// Weights [c][9]; `bias` folded over the 9 taps (`foldZeroPoint`); the zero point is
        /// what the kernel reads outside the image.
        case depthwise3x3U8(input: Operand, c: Int, h: Int, w: Int, stride: Int, inputZeroPoint: Int32, weights: Int, bias: Int,
                            multipliers: Int, output: Operand, oh: Int, ow: Int, epilogue: Int8Epilogue)
        case requantizePlanesU8(input: Operand, c: Int, pixels: Int, from: ActivationQuantization, to: ActivationQuantization, output: Operand)
        case globalAvgPoolU8(input: Operand, c: Int, pixels: Int, from: ActivationQuantization, to: ActivationQuantization, output: Operand)
        /// Float logits; `intermediate`: requantized to it and dequantized before the float bias.
        /// Weights packed and bias folded as a 1x1 conv's (the bias int32 then, 0 when the
        /// classifier's bias stays float).
        case linearU8(input: Operand, k: Int, weights: Int, bias: Int, multipliers: Int, o: Int,
                      intermediate: ActivationQuantization?, floatBias: Int?, output: Operand)
    }

    /// How an int8 kernel stores an int32 accumulator: `acc * multiplier` rounded with
    /// `zeroPoint` in `[min, max]` (min = zero point under a fused ReLU), then, when
    /// `rescale` is set (a conv writing a concat with other parameters), moved from
    /// `rescale.from` to `rescale.to` (`Interpreter/Reference/Requantize.swift`).
    public struct Int8Epilogue: Equatable, Sendable {
        public var zeroPoint: Int32, min: Int32, max: Int32
        public var rescale: (from: ActivationQuantization, to: ActivationQuantization)?

        public static func == (a: Int8Epilogue, b: Int8Epilogue) -> Bool {
            (a.zeroPoint, a.min, a.max) == (b.zeroPoint, b.min, b.max) && a.rescale?.from == b.rescale?.from && a.rescale?.to == b.rescale?.to
        }
    }

    public struct Layer: Sendable {
        /// One line for people: what the layer is and where it reads and writes.
        public var comment: String
        public var kernels: [Kernel]
    }

    public var spec: NetworkSpec
    public var layers: [Layer]
    public var weights: [Float]
    public var tables: [[Int32]]
    /// Length of the read-only zero row the depthwise kernel and the pools read above and below the image.
    public var zeroRow: Int
    public var arenaBytes: Int
    public var lowerBound: Int
    public var inputCount: Int
    public var outputCount: Int
    public var summary: String
    /// int8 graphs: the int8 weights and int32 biases (`weights` then holds the float
    /// requantization multipliers, scales and float biases).
    public var weightsS8: [Int8] = []
    public var weightsS32: [Int32] = []
    /// int8 graphs: how the quantized entry point's image is stored (always uint8: a signed
    /// input is shifted by 128 like every other tensor, see `storedAsUInt8`).
    public var inputQuantization: ActivationQuantization?
}

extension LayerProgram {
    /// Channels per packed block of `pointwiseChannelBlocked` weights.
    public static let channelBlock = 16
    /// Whether a 1x1 conv (one group: k input channels, planes of `pixels`) gets
    /// `pointwiseChannelBlocked`: at 7x7 a strip of pixel vectors is mostly tail, while the
    /// channel counts there are large; at 14x14 where k >= 320, the pixel kernel's strip of
    /// k planes (3 vectors each, 96 bytes with AVX) outgrows a 32 KB L1 (v2-2.0x's 488 -> 488
    /// at 14x14: 85.7 -> 89.6 GFLOP/s, Zen 3; the 244-plane layers run faster as they are).
    public static func isChannelBlocked(pixels: Int, k: Int) -> Bool {
        pixels <= 64 || (pixels <= 196 && k >= 320)
    }

    /// Lowers an optimized graph. Fails on non-finite weights (unless allowed) and on ops
    /// no kernel covers. `channelBlocked: false` keeps every 1x1 conv on the pixel-vector
    /// kernel.
    public init(graph g: Graph, allowNonFinite: Bool = false, channelBlocked: Bool = true) throws {
        if g.isQuantized {
            self = try Self.lowerQuantized(g)
            return
        }
        let layout = ArenaLayout(g)
        try validate(layout.plan)
        var weights: [Float] = []
        var tables = ChannelTables()

        func append(_ values: [Float], _ name: String) throws -> Int {
            if !allowNonFinite, let bad = values.firstIndex(where: { !$0.isFinite }) {
                throw ShuffleNetError("tensor \(name) has a non-finite value (\(values[bad])) at index \(bad); refusing to emit it")
            }
            let at = weights.count
            weights += values
            // Keep every tensor 16-float aligned inside the 64-byte-aligned blob.
            while weights.count % 16 != 0 { weights.append(0) }
            return at
        }
        func param(_ name: String) -> [Float] { g.parameters[name]!.data }
        func operand(_ buffer: Int, _ planes: [Int]) -> Operand {
            let owner = g.nodes[buffer]
            let plane = owner.shape.h * owner.shape.w
            let base: Operand.Base = buffer == 0 ? .input : (buffer == g.output ? .logits : .arena(layout.offset(of: .buffer(buffer))! / 4))
            return tables.operand(base, planes: planes, planeSize: plane)
        }

        var layers: [Layer] = []
        for i in g.nodes.indices where i > 0 {
            let node = g.nodes[i]
            let inShapes = node.inputs.map { g.nodes[$0].shape }
            // Operands are made where a case uses them: making one interns its channel table.
            func input(_ k: Int) -> Operand { operand(node.inputs[k], g.inputPlanes(i, k)) }
            let outPlanes = node.outputPlanes
            var out: Operand { operand(node.outputBuffer(self: i), outPlanes) }
            let s = node.shape
            var kernels: [Kernel] = []
            switch node.op {
            case .input:
                continue
            case .conv(let c) where c.kernel == 1 && !c.isDepthwise && c.stride == 1 && c.padding == 0:
                let w = param(c.weight), bias = c.bias.map(param)
                let kg = c.inChannels / c.groups, og = c.outChannels / c.groups
                let inPlanes = g.inputPlanes(i, 0)
                let blocked = channelBlocked && Self.isChannelBlocked(pixels: s.h * s.w, k: kg)
                let rowsPerBlock = blocked ? Self.channelBlock : 4
                for group in 0..<c.groups {
                    let rows = Array(w[(group * og * kg)..<((group + 1) * og * kg)])
                    let wOff = try append(Self.packRowBlocks(rows, rows: og, columns: kg, block: rowsPerBlock), c.weight)
                    let bOff = try bias.map { b -> Int in
                        var values = Array(b[(group * og)..<((group + 1) * og)])
                        if blocked { values += [Float](repeating: 0, count: (rowsPerBlock - og % rowsPerBlock) % rowsPerBlock) }
                        return try append(values, c.bias!)
                    }
                    let input = operand(node.inputs[0], Array(inPlanes[(group * kg)..<((group + 1) * kg)]))
                    let output = operand(node.outputBuffer(self: i), Array(outPlanes[(group * og)..<((group + 1) * og)]))
                    kernels.append(blocked
                        ? .pointwiseChannelBlocked(input: input, k: kg, pixels: s.h * s.w, weights: wOff, bias: bOff, o: og,
                                                   output: output, accumulate: c.residual, relu: c.relu,
                                                   packed: layout.offset(of: .scratch(i))! / 4)
                        : .pointwise(input: input, k: kg, pixels: s.h * s.w, weights: wOff, bias: bOff, o: og,
                                     output: output, accumulate: c.residual, relu: c.relu))
                }
            case .conv(let c) where c.isDepthwise && c.kernel == 3 && c.padding == 1 && !c.residual && c.maxPool == nil:
                kernels.append(.depthwise3x3(input: input(0), c: c.inChannels, h: inShapes[0].h, w: inShapes[0].w, stride: c.stride,
                                             weights: try append(param(c.weight), c.weight), bias: try c.bias.map { try append(param($0), $0) },
                                             output: out, oh: s.h, ow: s.w, relu: c.relu))
            case .conv(let c) where c.groups == 1 && !c.residual && node.inputChannels[0] == nil:
                let b = try c.bias.map { try append(param($0), $0) }
                if let pool = c.maxPool, let cs = c.convShape {
                    // Each conv row is a 1x1 conv over its C*K*K tap strips: packed as one.
                    let w = try append(Self.packRowBlocks(param(c.weight), rows: c.outChannels, columns: c.inChannels * c.kernel * c.kernel), c.weight)
                    kernels.append(.convMaxPool(input: input(0), c: c.inChannels, h: inShapes[0].h, w: inShapes[0].w, weights: w, bias: b,
                                                o: c.outChannels, k: c.kernel, stride: c.stride, pad: c.padding, ch: cs.h, cw: cs.w,
                                                relu: c.relu, pool: pool, output: out, oh: s.h, ow: s.w,
                                                ring: layout.offset(of: .scratch(i))! / 4))
                } else {
                    let w = try append(param(c.weight), c.weight)
                    kernels.append(.convDirect(input: input(0), c: c.inChannels, h: inShapes[0].h, w: inShapes[0].w, weights: w, bias: b,
                                               o: c.outChannels, k: c.kernel, stride: c.stride, pad: c.padding, output: out,
                                               oh: s.h, ow: s.w, relu: c.relu))
                }
            case .maxPool(let p), .avgPool(let p):
                kernels.append(.pool(input: input(0), c: s.c, h: inShapes[0].h, w: inShapes[0].w, pool: p,
                                     isMax: node.op.kind == "maxpool", output: out, oh: s.h, ow: s.w))
            case .globalAvgPool:
                kernels.append(.globalAvgPool(input: input(0), c: s.c, pixels: inShapes[0].h * inShapes[0].w, output: out))
            case .linear(let l):
                // Transposed to [in][out]: the kernel accumulates whole output vectors per input.
                let w = param(l.weight)
                var transposed = [Float](repeating: 0, count: w.count)
                for o in 0..<l.outFeatures { for k in 0..<l.inFeatures { transposed[k * l.outFeatures + o] = w[o * l.inFeatures + k] } }
                kernels.append(.linear(input: input(0), k: l.inFeatures, weights: try append(transposed, l.weight),
                                       bias: try l.bias.map { try append(param($0), $0) }, o: l.outFeatures, output: out))
            case .batchNorm(let bn):
                let p = { (suffix: String) in try append(param("\(bn.prefix).\(suffix)"), "\(bn.prefix).\(suffix)") }
                kernels.append(.batchNorm(input: input(0), c: s.c, pixels: s.h * s.w, gamma: try p("weight"), beta: try p("bias"),
                                          mean: try p("running_mean"), variance: try p("running_var"), eps: Float(bn.eps), output: out))
            case .relu:
                kernels.append(.relu(input: input(0), c: s.c, pixels: s.h * s.w, output: out))
            case .add:
                kernels.append(.add(a: input(0), b: input(1), c: s.c, pixels: s.h * s.w, output: out))
            case .slice(let start, let count):
                let planes = g.inputPlanes(i, 0)
                kernels.append(.copy(input: operand(node.inputs[0], Array(planes[start..<(start + count)])), c: s.c, pixels: s.h * s.w, output: out))
            case .shuffle(let groups, let order):
                let planes = g.inputPlanes(i, 0)
                let source = order.sourceChannels(channels: s.c, groups: groups).map { planes[$0] }
                kernels.append(.copy(input: operand(node.inputs[0], source), c: s.c, pixels: s.h * s.w, output: out))
            case .concat:
                var at = 0
                for k in node.inputs.indices {
                    let n = g.inputPlanes(i, k).count
                    kernels.append(.copy(input: input(k), c: n, pixels: s.h * s.w,
                                         output: operand(node.outputBuffer(self: i), Array(outPlanes[at..<(at + n)]))))
                    at += n
                }
            case .requantize:
                throw ShuffleNetError("layer \(node.name): no fp32 C kernel for requantize (int8 graphs only)")
            case .conv:
                throw ShuffleNetError("layer \(node.name): no C kernel for this convolution (\(describeOp(node.op)), kernel \(inShapes))")
            }
            layers.append(Layer(comment: Self.comment(g, i), kernels: kernels))
        }
        let input = g.nodes[0].shape
        // A digest of the weight blob in the code file ties it to its weights file.
        var digest: UInt64 = 0xCBF2_9CE4_8422_2325
        for v in weights {
            var bits = v.bitPattern
            for _ in 0..<4 { digest = (digest ^ UInt64(bits & 0xFF)) &* 0x0000_0100_0000_01B3; bits >>= 8 }
        }
        let hex = String(digest, radix: 16)
        let zeroRow = layers.flatMap(\.kernels).map { k -> Int in
            switch k {
            case let .depthwise3x3(_, _, _, w, _, _, _, _, _, _, _), let .pool(_, _, _, w, _, _, _, _, _): w
            default: 0
            }
        }.max() ?? 0
        self.init(spec: g.spec, layers: layers, weights: weights, tables: tables.tables, zeroRow: zeroRow, arenaBytes: layout.plan.arenaBytes,
                  lowerBound: layout.lowerBound, inputCount: input.count, outputCount: g.nodes[g.output].shape.count,
                  summary: "\(g.nodes.count - 1) layers, \(grouped(g.totalParameters)) parameters, \(grouped(g.totalMACs)) MACs; arena \(grouped(layout.plan.arenaBytes)) bytes;\n * weights: \(grouped(weights.count)) floats, FNV-1a 0x\(String(repeating: "0", count: 16 - hex.count) + hex)")
    }

    /// A row-major [rows][columns] matrix as [ceil(rows/block)][columns][block], zeros past
    /// the last row: the order the 1x1 kernels read their weights in.
    static func packRowBlocks(_ w: [Float], rows: Int, columns: Int, block: Int = 4) -> [Float] {
        var packed: [Float] = []
        packed.reserveCapacity((rows + block - 1) / block * block * columns)
        for first in stride(from: 0, to: rows, by: block) {
            for k in 0..<columns {
                for r in first..<(first + block) { packed.append(r < rows ? w[r * columns + k] : 0) }
            }
        }
        return packed
    }

    /// `stage3.2.branch2.pw2: conv+bias+relu 116->116 at 14x14; writes planes 58..115 of stage3.0.branch1.pw`
    static func comment(_ g: Graph, _ i: Int) -> String {
        let node = g.nodes[i]
        let inC = node.inputs.isEmpty ? 0 : g.inputPlanes(i, 0).count
        var text = "\(node.name): \(describeOp(node.op)) \(inC)->\(node.shape.c) at \(node.shape.h)x\(node.shape.w)"
        if let layout = describeLayout(g, i) { text += "; " + layout }
        return text.replacingOccurrences(of: "*/", with: "* /")
    }
}

/// The static channel tables of a program, each map stored once: an operand whose planes are
/// one contiguous run needs none, others share the table of an equal map.
struct ChannelTables {
    private(set) var tables: [[Int32]] = []
    private var index: [[Int32]: Int] = [:]

    mutating func operand(_ base: LayerProgram.Operand.Base, planes: [Int], planeSize: Int) -> LayerProgram.Operand {
        if let first = planes.first, planes.elementsEqual(first..<(first + planes.count)) {
            return LayerProgram.Operand(base: base, offset: first * planeSize, table: nil)
        }
        let t = planes.map { Int32($0) }
        if let k = index[t] { return LayerProgram.Operand(base: base, offset: 0, table: k) }
        index[t] = tables.count
        tables.append(t)
        return LayerProgram.Operand(base: base, offset: 0, table: tables.count - 1)
    }
}
