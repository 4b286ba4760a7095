/// Working memory of the kernels beyond their inputs and outputs: the planner gives each
/// such block its own span in the arena (`ArenaBlock.scratch`), live during its one op.
extension Graph {
    /// Working memory node `i` needs besides its inputs and output, in bytes.
    ///
    /// A 1x1 conv (fp32) that gets `pointwiseChannelBlocked` (`LayerProgram.isChannelBlocked`)
    /// copies one group's input there, in the order its tiles read it.
    ///
    /// A conv streamed into a max pool: enough for both ways the kernels stream it. The plain
    /// kernels (int8, Swift, C without vectors) keep a ring of `pool.kernel` conv rows and
    /// one strip of input columns per tap (in int8, stored integers: the strips the image
    /// quantized); the C vector kernel keeps the weights as [taps][O'], the bias, one conv
    /// row [w][O'] and a ring of rows pooled across [pool.kernel][pooled w][O'], O' being O
    /// rounded up to 16 channels, the widest vector.
    public func scratchBytes(_ i: Int) -> Int {
        guard case .conv(let c) = nodes[i].op else { return 0 }
        if !isQuantized && c.kernel == 1 && !c.isDepthwise && c.stride == 1 && c.padding == 0 {
            let pixels = nodes[i].shape.h * nodes[i].shape.w, k = c.inChannels / c.groups
            return LayerProgram.isChannelBlocked(pixels: pixels, k: k) ? k * pixels * MemoryLayout<Float>.size : 0
        }
        guard let pool = c.maxPool, let s = c.convShape else { return 0 }
        let taps = c.inChannels * c.kernel * c.kernel
        let strips = (pool.kernel * s.c + taps) * s.w
        if isQuantized { return strips }
        let padded = (s.c + 15) / 16 * 16
        let channelVectors = padded * (taps + 1 + s.w + pool.kernel * nodes[i].shape.w)
        return max(strips, channelVectors) * MemoryLayout<Float>.size
    }
}
