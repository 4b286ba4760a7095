/// Builds the graph of a spec exactly as the reference implementations define it: every
/// conv followed by its BatchNorm, the ReLUs where the reference has them, channel split,
/// concat and shuffle as explicit ops, and names that follow the state_dict.
///
/// `batchNormFolded`: the checkpoint already has BatchNorm folded into the convs (ONNX
/// exports, ConvBnFusion): each conv is a first-class conv with a bias `<conv>.bias` and
/// no BatchNorm node follows it.
public func buildGraph(_ spec: NetworkSpec, batchNormFolded: Bool = false) throws -> Graph {
    try spec.validate()
    var b = GraphBuilder(spec: spec, batchNormFolded: batchNormFolded)
    switch spec.family {
    case .v2: b.buildV2()
    case .v1: b.buildV1()
    }
    return Graph(spec: spec, nodes: b.nodes, parameters: [:])
}

struct GraphBuilder {
    let spec: NetworkSpec
    let batchNormFolded: Bool
    var nodes: [Node] = []

    init(spec: NetworkSpec, batchNormFolded: Bool) {
        self.spec = spec
        self.batchNormFolded = batchNormFolded
        nodes.append(Node(name: "input", op: .input, inputs: [],
                          shape: Shape(c: 3, h: spec.inputSize, w: spec.inputSize)))
    }

    mutating func add(_ name: String, _ op: Op, _ inputs: [Int], _ shape: Shape) -> Int {
        nodes.append(Node(name: name, op: op, inputs: inputs, shape: shape))
        return nodes.count - 1
    }

    func shape(_ v: Int) -> Shape { nodes[v].shape }

    /// Conv (bias-free, as in both references) followed by its BatchNorm. `convKey` and
    /// `bnKey` are the state_dict prefixes; `name` is the node name for reports.
    mutating func convBN(_ name: String, _ x: Int, out: Int, kernel: Int, stride: Int,
                         groups: Int, convKey: String, bnKey: String) -> Int {
        let s = shape(x)
        let pad = kernel / 2
        let size = { NetworkSpec.convOut($0, kernel: kernel, stride: stride, pad: pad) }
        let conv = Conv(inChannels: s.c, outChannels: out, kernel: kernel, stride: stride, padding: pad,
                        groups: groups, weight: convKey + ".weight", bias: batchNormFolded ? convKey + ".bias" : nil)
        let y = add(name, .conv(conv), [x], Shape(c: out, h: size(s.h), w: size(s.w)))
        if batchNormFolded { return y }
        return add(name + ".bn", .batchNorm(BatchNorm(prefix: bnKey, channels: out)), [y], shape(y))
    }

    mutating func relu(_ name: String, _ x: Int) -> Int { add(name, .relu, [x], shape(x)) }

    mutating func pool3x3s2(_ name: String, _ x: Int, max: Bool) -> Int {
        let s = shape(x)
        let p = Pool(kernel: 3, stride: 2, padding: 1)
        let size = { NetworkSpec.convOut($0, kernel: 3, stride: 2, pad: 1) }
        return add(name, max ? .maxPool(p) : .avgPool(p), [x], Shape(c: s.c, h: size(s.h), w: size(s.w)))
    }

    mutating func concat(_ name: String, _ a: Int, _ b: Int) -> Int {
        let s = shape(a)
        return add(name, .concat, [a, b], Shape(c: s.c + shape(b).c, h: s.h, w: s.w))
    }

    mutating func head(_ x: Int, classifier: String, bias: Bool) -> Int {
        let c = shape(x).c
        let pooled = add("globalpool", .globalAvgPool, [x], Shape(c: c, h: 1, w: 1))
        let fc = Linear(inFeatures: c, outFeatures: spec.numClasses, weight: classifier + ".weight",
                        bias: bias ? classifier + ".bias" : nil)
        return add(classifier.hasPrefix("classifier") ? "classifier" : classifier, .linear(fc), [pooled],
                   Shape(c: spec.numClasses, h: 1, w: 1))
    }

    // torchvision.models.ShuffleNetV2
    mutating func buildV2() {
        let ch = spec.channels
        var x = convBN("conv1", 0, out: ch[0], kernel: 3, stride: 2, groups: 1, convKey: "conv1.0", bnKey: "conv1.1")
        x = relu("conv1.relu", x)
        x = pool3x3s2("maxpool", x, max: true)
        for (s, repeats) in spec.stageRepeats.enumerated() {
            let out = ch[s + 1]
            let bf = out / 2
            for i in 0..<repeats {
                let unit = "stage\(s + 2).\(i)"
                let stride = i == 0 ? 2 : 1
                let inC = shape(x).c
                var left: Int, right: Int
                if stride == 2 {
                    left = convBN(unit + ".branch1.dw", x, out: inC, kernel: 3, stride: 2, groups: inC,
                                  convKey: unit + ".branch1.0", bnKey: unit + ".branch1.1")
                    left = convBN(unit + ".branch1.pw", left, out: bf, kernel: 1, stride: 1, groups: 1,
                                  convKey: unit + ".branch1.2", bnKey: unit + ".branch1.3")
                    left = relu(unit + ".branch1.relu", left)
                    right = x
                } else {
                    left = add(unit + ".split.0", .slice(start: 0, count: inC / 2), [x], Shape(c: inC / 2, h: shape(x).h, w: shape(x).w))
                    right = add(unit + ".split.1", .slice(start: inC / 2, count: inC - inC / 2), [x], Shape(c: inC - inC / 2, h: shape(x).h, w: shape(x).w))
                }
                right = convBN(unit + ".branch2.pw1", right, out: bf, kernel: 1, stride: 1, groups: 1,
                               convKey: unit + ".branch2.0", bnKey: unit + ".branch2.1")
                right = relu(unit + ".branch2.relu1", right)
                right = convBN(unit + ".branch2.dw", right, out: bf, kernel: 3, stride: stride, groups: bf,
                               convKey: unit + ".branch2.3", bnKey: unit + ".branch2.4")
                right = convBN(unit + ".branch2.pw2", right, out: bf, kernel: 1, stride: 1, groups: 1,
                               convKey: unit + ".branch2.5", bnKey: unit + ".branch2.6")
                right = relu(unit + ".branch2.relu2", right)
                x = concat(unit + ".concat", left, right)
                x = add(unit + ".shuffle", .shuffle(groups: 2, order: spec.shuffleOrder), [x], shape(x))
            }
        }
        x = convBN("conv5", x, out: ch[ch.count - 1], kernel: 1, stride: 1, groups: 1, convKey: "conv5.0", bnKey: "conv5.1")
        x = relu("conv5.relu", x)
        _ = head(x, classifier: "fc", bias: true)
    }

    // Megvii ShuffleNet-Series ShuffleNetV1
    mutating func buildV1() {
        let ch = spec.channels
        let g = spec.groups
        var x = convBN("first_conv", 0, out: ch[0], kernel: 3, stride: 2, groups: 1,
                       convKey: "first_conv.0", bnKey: "first_conv.1")
        x = relu("first_conv.relu", x)
        x = pool3x3s2("maxpool", x, max: true)
        var index = 0
        for (s, repeats) in spec.stageRepeats.enumerated() {
            let out = ch[s + 1]
            let mid = out / 4
            for i in 0..<repeats {
                let key = "features.\(index)"
                let unit = "stage\(s + 2).\(i)"
                let stride = i == 0 ? 2 : 1
                let inC = shape(x).c
                let firstGroups = (s == 0 && i == 0) ? 1 : g
                var m = convBN(unit + ".pw1", x, out: mid, kernel: 1, stride: 1, groups: firstGroups,
                               convKey: key + ".branch_main_1.0", bnKey: key + ".branch_main_1.1")
                m = relu(unit + ".relu1", m)
                m = convBN(unit + ".dw", m, out: mid, kernel: 3, stride: stride, groups: mid,
                           convKey: key + ".branch_main_1.3", bnKey: key + ".branch_main_1.4")
                if g > 1 {
                    m = add(unit + ".shuffle", .shuffle(groups: g, order: spec.shuffleOrder), [m], shape(m))
                }
                let outputs = stride == 2 ? out - inC : out
                m = convBN(unit + ".pw2", m, out: outputs, kernel: 1, stride: 1, groups: g,
                           convKey: key + ".branch_main_2.0", bnKey: key + ".branch_main_2.1")
                if stride == 1 {
                    x = add(unit + ".add", .add, [x, m], shape(m))
                    x = relu(unit + ".relu", x)
                } else {
                    let proj = pool3x3s2(unit + ".proj", x, max: false)
                    m = relu(unit + ".relu", m)
                    x = concat(unit + ".concat", proj, m)
                }
                index += 1
            }
        }
        _ = head(x, classifier: "classifier.0", bias: false)
    }
}
