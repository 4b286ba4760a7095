import ShuffleNetKit

/// A usage mistake: printed with the usage text, exit code 2.
struct UsageError: Error { var message: String }

/// `--name value` options and `--flag` switches after the subcommand. Every option a
/// command does not declare is a usage error, so typos never pass silently.
struct Arguments {
    private var values: [String: String] = [:]
    private var flags: Set<String> = []
    /// Arguments that are neither options nor switches, in order (only where the command
    /// takes them: `positionals: true`).
    private(set) var positionals: [String] = []

    /// `--name a b c` options: every argument up to the next one starting with `-`.
    private var lists: [String: [String]] = [:]

    init(_ args: ArraySlice<String>, options: Set<String>, switches: Set<String>, lists listOptions: Set<String> = [],
         positionals allowPositionals: Bool = false) throws {
        var i = args.startIndex
        while i < args.endIndex {
            let arg = args[i]
            if listOptions.contains(arg) {
                var items: [String] = []
                while i + 1 < args.endIndex && !args[i + 1].hasPrefix("-") { items.append(args[i + 1]); i += 1 }
                guard !items.isEmpty else { throw UsageError(message: "\(arg) needs at least one value") }
                lists[arg, default: []] += items
            } else if switches.contains(arg) {
                flags.insert(arg)
            } else if options.contains(arg) {
                guard i + 1 < args.endIndex else { throw UsageError(message: "\(arg) needs a value") }
                values[arg] = args[i + 1]
                i += 1
            } else if allowPositionals && !arg.hasPrefix("-") {
                positionals.append(arg)
            } else {
                let known = (options.union(switches).union(listOptions)).sorted().joined(separator: " ")
                throw UsageError(message: "unknown argument '\(arg)' (this command takes: \(known))")
            }
            i += 1
        }
    }

    func value(_ name: String) -> String? { values[name] }

    func list(_ name: String) -> [String]? { lists[name] }

    func required(_ name: String) throws -> String {
        guard let v = values[name] else { throw UsageError(message: "missing \(name)") }
        return v
    }

    func flag(_ name: String) -> Bool { flags.contains(name) }

    func seed() throws -> UInt64 {
        guard let s = values["--seed"] else { return SeededWeights.defaultSeed }
        guard let n = UInt64(s) else { throw UsageError(message: "--seed takes a non-negative integer, got '\(s)'") }
        return n
    }
}
