/// The one rounding step every int8 kernel ends with (its C twin is `sn_saturate_round` in
/// templates/c): clamp `value` to `[min - zeroPoint, max - zeroPoint]`, round half to
/// even, add the zero point. The same order as ONNX Runtime's MLAS (clamp in float, then
/// convert with round-to-nearest-even); NaN clamps to the minimum, as MAXPS does.
///
/// Rounding adds and subtracts 1.5 x 2^23: after the clamp |value| < 2^22, so the sum's
/// last mantissa bit is the unit and IEEE addition rounds half to even; no libm needed.
func saturateRound(_ value: Float, zeroPoint: Int32, min: Int32, max: Int32) -> Int32 {
    let lo = Float(min - zeroPoint), hi = Float(max - zeroPoint)
    let clamped = value > lo ? (value < hi ? value : hi) : lo
    let magic: Float = 12_582_912
    return Int32((clamped + magic) - magic) + zeroPoint
}

/// Stores a real value with `p`: `x / scale` (a division, as ONNX Runtime's
/// QuantizeLinear), then `saturateRound`.
func quantizeLinear(_ x: Float, _ p: ActivationQuantization, clampMin: Int32? = nil) -> Int32 {
    saturateRound(x / p.scale, zeroPoint: p.zeroPoint, min: clampMin ?? p.type.min, max: p.type.max)
}

/// An int32 accumulator to the output's integers: `float(acc) * multiplier`, then
/// `saturateRound` (ONNX Runtime's MlasRequantizeOutput). `relu` raises the floor to the
/// zero point.
func requantize(_ acc: Int32, multiplier: Float, _ p: ActivationQuantization, relu: Bool = false) -> Int32 {
    saturateRound(Float(acc) * multiplier, zeroPoint: p.zeroPoint, min: relu ? Swift.max(p.zeroPoint, p.type.min) : p.type.min, max: p.type.max)
}

/// One stored value moved from `from` to `to`: `((q - zp) * scale) / to.scale` (ONNX
/// Runtime's QLinearConcat lookup table).
func rescale(_ q: Int32, from: ActivationQuantization, to: ActivationQuantization) -> Int32 {
    quantizeLinear(Float(q - from.zeroPoint) * from.scale, to)
}

/// `x_scale * w_scale / y_scale` in float32, in ONNX Runtime's order (QLinearConv).
func requantizeMultiplier(input: Float, weight: Float, output: Float) -> Float {
    input * weight / output
}
