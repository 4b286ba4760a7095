#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes `bytes` to `path` so that readers only ever see the old file or the complete new
/// one: the bytes go to a hidden temporary file in the same directory (rename is only
/// atomic within one file system), which is fsynced and then renamed over `path`.
/// On any failure the temporary file is removed and whatever was at `path` is untouched.
public func writeFileAtomically(_ bytes: [UInt8], to path: String) throws {
    let slash = path.lastIndex(of: "/")
    let dirPrefix = slash.map { String(path[...$0]) } ?? ""  // keeps the trailing "/"
    let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
    guard !name.isEmpty, name != ".", name != ".." else {
        throw ShuffleNetError("cannot write \(path): not a file path")
    }
    let tmp = dirPrefix + ".\(name).tmp-\(getpid())-\(String(UInt32.random(in: 0 ... .max), radix: 16))"

    // O_EXCL: never clobber a file that happens to have the temp name.
    let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw ShuffleNetError("cannot write \(path): \(errnoText())") }
    var closed = false
    do {
        defer { if !closed { close(fd) } }
        try bytes.withUnsafeBytes { buf in
            var done = 0
            while done < buf.count {
                let n = write(fd, buf.baseAddress! + done, buf.count - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw ShuffleNetError("cannot write \(path): \(errnoText()) after \(done) of \(buf.count) bytes")
                }
                done += n
            }
        }
        // Without fsync a crash after rename could leave an empty file under the real name.
        guard fsync(fd) == 0 else { throw ShuffleNetError("cannot write \(path): fsync failed: \(errnoText())") }
        closed = true
        guard close(fd) == 0 else { throw ShuffleNetError("cannot write \(path): close failed: \(errnoText())") }
        guard rename(tmp, path) == 0 else { throw ShuffleNetError("cannot write \(path): \(errnoText())") }
    } catch {
        unlink(tmp)
        throw error
    }
}

/// Reads a whole file. Reads until EOF rather than trusting the size from fstat, so it also
/// works for pipes and /proc files.
public func readFileBytes(_ path: String) throws -> [UInt8] {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw ShuffleNetError("cannot read \(path): \(errnoText())") }
    defer { close(fd) }
    var st = stat()
    if fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR {
        throw ShuffleNetError("cannot read \(path): is a directory")
    }
    var out: [UInt8] = []
    out.reserveCapacity(max(0, Int(st.st_size)) + 1)
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
        if n < 0 {
            if errno == EINTR { continue }
            throw ShuffleNetError("cannot read \(path): \(errnoText()) after \(out.count) bytes")
        }
        if n == 0 { return out }
        out.append(contentsOf: chunk[0 ..< n])
    }
}

/// errno as a short lower-case phrase ("no such file", "permission denied").
private func errnoText() -> String {
    switch errno {
    case ENOENT: return "no such file or directory"
    case EACCES, EPERM: return "permission denied"
    case EISDIR: return "is a directory"
    case ENOTDIR: return "a parent path is not a directory"
    case ENOSPC: return "no space left on device"
    default: return String(cString: strerror(errno)).lowercased()
    }
}
