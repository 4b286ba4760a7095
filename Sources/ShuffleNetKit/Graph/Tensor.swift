/// A dense float32 tensor in row-major (C) order. The only tensor type the compiler
/// handles: weights, activations and fixtures are all widened to Float on load.
public struct Tensor: Equatable, Sendable {
    public var shape: [Int]
    public var data: [Float]

    public init(shape: [Int], data: [Float]) {
        precondition(shape.reduce(1, *) == data.count, "shape \(shape) does not hold \(data.count) values")
        self.shape = shape
        self.data = data
    }

    public init(zeros shape: [Int]) {
        self.init(shape: shape, data: [Float](repeating: 0, count: shape.reduce(1, *)))
    }

    public var count: Int { data.count }
}

/// Renders a shape the way error messages and reports print it: `[116,58,1,1]`.
public func describe(shape: [Int]) -> String {
    "[" + shape.map(String.init).joined(separator: ",") + "]"
}
