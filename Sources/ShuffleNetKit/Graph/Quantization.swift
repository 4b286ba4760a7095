/// Integer types an activation can be stored in.
public enum QuantizedType: String, Equatable, Hashable, Sendable {
    case uint8, int8

    public var min: Int32 { self == .uint8 ? 0 : -128 }
    public var max: Int32 { self == .uint8 ? 255 : 127 }
}

/// How one activation tensor is stored: `real = (q - zeroPoint) * scale`, per tensor.
public struct ActivationQuantization: Equatable, Hashable, Sendable, CustomStringConvertible {
    public var scale: Float
    public var zeroPoint: Int32
    public var type: QuantizedType

    public init(scale: Float, zeroPoint: Int32, type: QuantizedType) {
        self.scale = scale
        self.zeroPoint = zeroPoint
        self.type = type
    }

    public var description: String { "\(type.rawValue) scale \(scale) zero point \(zeroPoint)" }

    /// Nil when the parameters can be used; else what is wrong with them, for an error line.
    public var problem: String? {
        if !scale.isFinite || scale <= 0 { return "scale \(scale) (must be finite and > 0)" }
        if zeroPoint < type.min || zeroPoint > type.max {
            return "zero point \(zeroPoint) outside \(type.rawValue) [\(type.min), \(type.max)]"
        }
        return nil
    }
}

/// A stored integer tensor: int8 weights (symmetric, zero point 0) or int32 biases, with
/// one scale per tensor or one per output channel (axis 0), `real = value * scale`.
public struct QuantizedTensor: Equatable, Sendable {
    public var shape: [Int]
    public var values: [Int32]
    public var scales: [Float]

    public init(shape: [Int], values: [Int32], scales: [Float]) {
        precondition(shape.reduce(1, *) == values.count, "shape \(shape) does not hold \(values.count) values")
        precondition(scales.count == 1 || scales.count == shape.first, "\(scales.count) scales for shape \(shape)")
        self.shape = shape
        self.values = values
        self.scales = scales
    }

    /// Scale of output channel `c`.
    public func scale(_ c: Int) -> Float { scales.count == 1 ? scales[0] : scales[c] }
}

/// What `quantize` attaches to a computing node: the parameters of every input as the node
/// reads it and of its output as stored.
public struct NodeQuantization: Equatable, Sendable {
    public var inputs: [ActivationQuantization]
    /// Nil when the output is float (the classifier's logits).
    public var output: ActivationQuantization?
    /// A conv writing into a concat whose parameters differ from its own rounds to its own
    /// parameters first, then rescales to `output` (ONNX Runtime's QLinearConv followed by
    /// QLinearConcat). The classifier with this set rounds to it before the float bias.
    public var intermediate: ActivationQuantization?
}
