/// Post-training calibration, step two: from a range to the scale and zero point of an
/// asymmetric per-tensor quantization, real = scale x (q - zeroPoint).
public enum QuantizedType: String, Codable, Sendable, CaseIterable {
    case uint8, int8

    public var range: ClosedRange<Int32> { self == .uint8 ? 0...255 : -128...127 }
}

public struct ActivationQuantization: Equatable, Codable, Sendable {
    public var type: QuantizedType
    public var scale: Float
    public var zeroPoint: Int32

    public init(type: QuantizedType, scale: Float, zeroPoint: Int32) {
        self.type = type
        self.scale = scale
        self.zeroPoint = zeroPoint
    }

    /// The quantization onnxruntime's static quantizer picks for a calibrated range: the
    /// range is widened to hold 0 (so zero padding and the ReLU clamp are exact), split into
    /// 255 equal steps, and 0 lands on the integer nearest to it (half to even). A range of
    /// one value (a dead channel set) gets scale 1, so no step is ever 0.
    public init(range r: ActivationRange, type: QuantizedType = .uint8) {
        let lo = Swift.min(r.min, 0), hi = Swift.max(r.max, 0)
        let q = type.range
        let steps = Float(q.upperBound - q.lowerBound)
        let scale = hi > lo ? (hi - lo) / steps : 1
        let zero = (Float(q.lowerBound) - lo / scale).rounded(.toNearestOrEven)
        self.init(type: type, scale: scale, zeroPoint: Swift.min(q.upperBound, Swift.max(q.lowerBound, Int32(zero))))
    }

    /// Why these parameters cannot be used (`nil` when they can), for error messages.
    public var problem: String? {
        if !scale.isFinite || scale <= 0 { return "scale \(scale) is not a positive finite number" }
        if !type.range.contains(zeroPoint) { return "zero point \(zeroPoint) is outside \(type.rawValue)'s range \(type.range.lowerBound)...\(type.range.upperBound)" }
        return nil
    }
}
