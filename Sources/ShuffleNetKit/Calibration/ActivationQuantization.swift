/// Post-training calibration, step two: from a calibrated range to the scale and zero
/// point of an asymmetric per-tensor quantization, real = scale x (q - zeroPoint).
extension ActivationQuantization {
    /// The quantization onnxruntime's static quantizer picks for a calibrated range: the
    /// range is widened to hold 0 (so zero padding and the ReLU clamp are exact), split into
    /// 255 equal steps, and 0 lands on the integer nearest to it (half to even). A range of
    /// one value (a dead tensor) gets scale 1, so no step is ever 0.
    public init(range r: ActivationRange, type: QuantizedType = .uint8) {
        let lo = Swift.min(r.min, 0), hi = Swift.max(r.max, 0)
        let steps = Float(type.max - type.min)
        let scale = hi > lo ? (hi - lo) / steps : 1
        let zero = (Float(type.min) - lo / scale).rounded(.toNearestOrEven)
        self.init(scale: scale, zeroPoint: Swift.min(type.max, Swift.max(type.min, Int32(zero))), type: type)
    }
}

extension QuantizedType: Codable {}
