/// Lowering of a quantized graph: the int8 kernels beside their fp32 namesakes, with the
/// multipliers the interpreter computes (`requantizeMultiplier`) stored as float constants,
/// so the emitted C rounds exactly where the reference kernels do.
extension LayerProgram {
    static func lowerQuantized(_ g: Graph) throws -> LayerProgram {
        let layout = ArenaLayout(g)
        try validate(layout.plan)
        var floats: [Float] = [], s8: [Int8] = [], s32: [Int32] = []
        var tables = ChannelTables()
        func appendFloats(_ v: [Float]) -> Int { defer { floats += v }; return floats.count }
        func appendS8(_ v: [Int32]) -> Int { defer { s8 += v.map { Int8($0) } }; return s8.count }
        func appendS32(_ v: [Int32]) -> Int { defer { s32 += v }; return s32.count }
        func operand(_ buffer: Int, _ planes: [Int]) -> Operand {
            let owner = g.nodes[buffer]
            let plane = owner.shape.h * owner.shape.w
            let base: Operand.Base = buffer == 0 ? .input : (buffer == g.output ? .logits : .arenaBytes(layout.offset(of: .buffer(buffer))!))
            return tables.operand(base, planes: planes, planeSize: plane)
        }

        var layers: [Layer] = []
        for i in g.nodes.indices where i > 0 {
            let node = g.nodes[i]
            let q = node.quantization!.storedAsUInt8
            let unsupported = { (what: String) in
                ShuffleNetError("layer \(node.name): int8 C is not emitted for \(what) yet (the interpreted engine runs it)")
            }
            func input(_ k: Int) -> Operand { operand(node.inputs[k], g.inputPlanes(i, k)) }
            let out = { operand(node.outputBuffer(self: i), node.outputPlanes) }
            let inShape = g.nodes[node.inputs[0]].shape
            let s = node.shape
            var kernels: [Kernel] = []
            switch node.op {
            case .conv(let c):
                let w = g.quantizedParameters[c.weight]!
                let bias = c.bias.map { g.quantizedParameters[$0]!.values }
                let output = q.output!, own = q.intermediate ?? output
                let e = Int8Epilogue(zeroPoint: own.zeroPoint, min: c.relu ? max(own.zeroPoint, own.type.min) : own.type.min, max: own.type.max,
                                     rescale: q.intermediate.map { ($0, output) })
                let m = (0..<c.outChannels).map { requantizeMultiplier(input: q.inputs[0].scale, weight: w.scale($0), output: own.scale) }
                if let pool = c.maxPool, let cs = c.convShape, c.groups == 1, node.inputChannels[0] == nil {
                    let ring = Operand(base: .arenaBytes(layout.offset(of: .scratch(i))!), offset: 0, table: nil)
                    // Each conv row is a 1x1 conv over its C*K*K tap strips: packed and folded as one.
                    let taps = c.inChannels * c.kernel * c.kernel
                    kernels.append(.convMaxPoolU8(input: input(0), c: c.inChannels, h: inShape.h, w: inShape.w, image: q.inputs[0],
                                                  weights: appendS8(Self.packGranules(w.values, rows: c.outChannels, columns: taps)),
                                                  bias: appendS32(try Self.foldZeroPoint(bias, w.values, rows: c.outChannels, columns: taps,
                                                                                         zeroPoint: q.inputs[0].zeroPoint, layer: node.name)),
                                                  multipliers: appendFloats(m),
                                                  o: c.outChannels, k: c.kernel, stride: c.stride, pad: c.padding, ch: cs.h, cw: cs.w,
                                                  pool: pool, output: out(), oh: s.h, ow: s.w, ring: ring, epilogue: e))
                } else if c.isDepthwise && c.kernel == 3 && c.padding == 1 && c.maxPool == nil {
                    kernels.append(.depthwise3x3U8(input: input(0), c: c.inChannels, h: inShape.h, w: inShape.w, stride: c.stride,
                                                   inputZeroPoint: q.inputs[0].zeroPoint, weights: appendS8(w.values),
                                                   bias: appendS32(try Self.foldZeroPoint(bias, w.values, rows: c.outChannels, columns: 9,
                                                                                          zeroPoint: q.inputs[0].zeroPoint, layer: node.name)),
                                                   multipliers: appendFloats(m), output: out(), oh: s.h, ow: s.w, epilogue: e))
                } else if c.kernel == 1 && c.stride == 1 && c.padding == 0 && !c.isDepthwise && c.maxPool == nil {
                    // One call per group; v1's `relu(x + main)` adds the shortcut it reads from
                    // the planes it writes.
                    if c.residual, q.intermediate != nil { throw unsupported("a residual conv rounding twice") }
                    let kg = c.inChannels / c.groups, og = c.outChannels / c.groups
                    let inPlanes = g.inputPlanes(i, 0), outPlanes = node.outputPlanes
                    for group in 0..<c.groups {
                        let rows = (group * og)..<((group + 1) * og)
                        let input = operand(node.inputs[0], Array(inPlanes[(group * kg)..<((group + 1) * kg)]))
                        let groupWeights = Array(w.values[(group * og * kg)..<((group + 1) * og * kg)])
                        let weights = appendS8(Self.packGranules(groupWeights, rows: og, columns: kg))
                        let groupBias = appendS32(try Self.foldZeroPoint(bias.map { Array($0[rows]) }, groupWeights, rows: og, columns: kg,
                                                                         zeroPoint: q.inputs[0].zeroPoint, layer: node.name))
                        let multipliers = appendFloats(Array(m[rows]))
                        let destination = operand(node.outputBuffer(self: i), Array(outPlanes[rows]))
                        kernels.append(c.residual
                            ? .pointwiseResidualU8(input: input, k: kg, pixels: s.h * s.w,
                                                   weights: weights, bias: groupBias, multipliers: multipliers, o: og, output: destination,
                                                   shortcutZeroPoint: q.inputs[1].zeroPoint, shortcutMultiplier: q.inputs[1].scale / output.scale,
                                                   epilogue: e)
                            : .pointwiseU8(input: input, k: kg, pixels: s.h * s.w,
                                           weights: weights, bias: groupBias, multipliers: multipliers, o: og, output: destination, epilogue: e))
                    }
                } else {
                    throw unsupported("this convolution (\(describeOp(node.op)))")
                }
            case .avgPool(let p):
                kernels.append(.avgPoolU8(input: input(0), c: s.c, h: inShape.h, w: inShape.w, pool: p, from: q.inputs[0], to: q.output!,
                                          output: out(), oh: s.h, ow: s.w))
            case .requantize:
                kernels.append(.requantizePlanesU8(input: input(0), c: s.c, pixels: s.h * s.w, from: q.inputs[0], to: q.output!, output: out()))
            case .globalAvgPool:
                kernels.append(.globalAvgPoolU8(input: input(0), c: s.c, pixels: inShape.h * inShape.w, from: q.inputs[0], to: q.output!, output: out()))
            case .linear(let l):
                let w = g.quantizedParameters[l.weight]!
                let intBias = l.bias.flatMap { g.quantizedParameters[$0] }
                let floatBias = intBias == nil ? l.bias.map { g.parameters[$0]!.data } : nil
                let m = (0..<l.outFeatures).map { o in
                    q.intermediate.map { requantizeMultiplier(input: q.inputs[0].scale, weight: w.scale(o), output: $0.scale) }
                        ?? q.inputs[0].scale * w.scale(o)
                }
                kernels.append(.linearU8(input: input(0), k: l.inFeatures,
                                         weights: appendS8(Self.packGranules(w.values, rows: l.outFeatures, columns: l.inFeatures)),
                                         bias: appendS32(try Self.foldZeroPoint(intBias?.values, w.values, rows: l.outFeatures, columns: l.inFeatures,
                                                                                zeroPoint: q.inputs[0].zeroPoint, layer: node.name)),
                                         multipliers: appendFloats(m), o: l.outFeatures,
                                         intermediate: q.intermediate, floatBias: floatBias.map(appendFloats), output: out()))
            default:
                throw unsupported(node.op.kind)
            }
            layers.append(Layer(comment: Self.comment(g, i) + "; int8", kernels: kernels))
        }
        var digest: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in s8.map({ UInt8(bitPattern: $0) }) + s32.flatMap({ v in (0..<4).map { UInt8(truncatingIfNeeded: UInt32(bitPattern: v) >> (8 * $0)) } })
            + floats.flatMap({ v in (0..<4).map { UInt8(truncatingIfNeeded: v.bitPattern >> (8 * $0)) } }) {
            digest = (digest ^ UInt64(b)) &* 0x0000_0100_0000_01B3
        }
        let hex = String(digest, radix: 16)
        var program = LayerProgram(
            spec: g.spec, layers: layers, weights: floats, tables: tables.tables, zeroRow: 0, arenaBytes: layout.plan.arenaBytes,
            lowerBound: layout.lowerBound, inputCount: g.nodes[0].shape.count, outputCount: g.nodes[g.output].shape.count,
            summary: "int8: \(g.nodes.count - 1) layers, \(grouped(g.totalParameters)) parameters, \(grouped(g.totalMACs)) MACs; arena \(grouped(layout.plan.arenaBytes)) bytes;\n"
                + " * weights: \(grouped(s8.count)) int8, \(grouped(s32.count)) int32, \(grouped(floats.count)) floats, FNV-1a 0x\(String(repeating: "0", count: 16 - hex.count) + hex)")
        program.weightsS8 = s8
        program.weightsS32 = s32
        program.inputQuantization = g.nodes[0].quantization!.output!.storedAsUInt8
        return program
    }
}

extension LayerProgram {
    /// A row-major [rows][columns] int8 matrix as granules of 4 rows x 4 columns,
    /// [ceil(rows/4)][ceil(columns/4)][4][4], zeros past the last row and column: the order
    /// the int8 1x1 and classifier kernels read (`SN_GRANULE` in templates/c/kernels.c.in):
    /// one row's 4 bytes are one 32-bit broadcast (AVX2, SMLAD), a granule one 16-byte
    /// load (dot-product instructions).
    static func packGranules(_ w: [Int32], rows: Int, columns: Int) -> [Int32] {
        precondition(w.count == rows * columns)
        let rowBlocks = (rows + 3) / 4, columnBlocks = (columns + 3) / 4
        var packed = [Int32](repeating: 0, count: rowBlocks * columnBlocks * 16)
        for r in 0..<rows {
            for k in 0..<columns {
                packed[((r / 4) * columnBlocks + k / 4) * 16 + (r % 4) * 4 + k % 4] = w[r * columns + k]
            }
        }
        return packed
    }

    /// `bias[o] - zeroPoint * sum_k w[o][k]` (bias 0 when there is none): with it a kernel
    /// sums `x * w` over the stored bytes and gets the reference's `bias + sum (x - zp) * w`,
    /// the same int32. Fails (naming the layer) if a value leaves int32.
    static func foldZeroPoint(_ bias: [Int32]?, _ w: [Int32], rows: Int, columns: Int, zeroPoint: Int32, layer: String) throws -> [Int32] {
        try (0..<rows).map { r in
            let sum = w[(r * columns)..<((r + 1) * columns)].reduce(Int64(0)) { $0 + Int64($1) }
            let folded = Int64(bias?[r] ?? 0) - Int64(zeroPoint) * sum
            guard let value = Int32(exactly: folded) else {
                throw ShuffleNetError("layer \(layer): bias \(bias?[r] ?? 0) minus the input zero point's share leaves int32")
            }
            return value
        }
    }
}

extension NodeQuantization {
    /// The same parameters with every signed tensor stored as uint8, so the C needs only
    /// uint8 kernels. A signed tensor holding q in [-128, 127] with zero point z holds the
    /// same real values as q + 128 in [0, 255] with zero point z + 128, and every kernel
    /// computes from (q - zero point) and rounds into [min, max] around the zero point:
    /// shifting both by 128 changes no intermediate value, so the logits stay bit-identical
    /// to the interpreter's signed run (`Int8CBackendTests`). The quantized entry point's
    /// image is then uint8 too, with the shifted zero point (`PREFIX_INPUT_ZERO_POINT`).
    var storedAsUInt8: NodeQuantization {
        NodeQuantization(inputs: inputs.map(\.storedAsUInt8), output: output?.storedAsUInt8, intermediate: intermediate?.storedAsUInt8)
    }
}

extension ActivationQuantization {
    var storedAsUInt8: ActivationQuantization {
        type == .uint8 ? self : ActivationQuantization(scale: scale, zeroPoint: zeroPoint + 128, type: .uint8)
    }
}
