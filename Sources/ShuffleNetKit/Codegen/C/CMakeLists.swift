/// `CMakeLists.txt` beside the emitted C (with `--target`): one static library target, so
/// the files drop into a CMake-based firmware build (Zephyr, ESP-IDF, Pico SDK) as they are.
public func cmakeLists(prefix: String, spec: String, target: Target) throws -> (name: String, text: String) {
    // Only the unfolded BatchNorm kernel (--no-fold-bn) calls libm; bare metal has none to link.
    let libm = target.board == nil ? "target_link_libraries(\(prefix) PUBLIC m)\n" : ""
    let text = try fillTemplate("c/CMakeLists.txt.in", [
        "PREFIX": prefix, "SPEC": spec, "TARGET": target.name,
        "FLAGS": (target.optimizationFlags + target.architectureFlags).joined(separator: " "), "LIBM": libm,
    ])
    return ("CMakeLists.txt", text)
}
