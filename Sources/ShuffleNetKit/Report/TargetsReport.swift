import ShuffleNetTemplates

/// `shufflenet-gen targets`: every target's toolchain, flags and how a program runs there,
/// so a user (or Benchmarks/profile_board.py) can build the emitted C the same way.
public struct TargetsReport: Encodable, Sendable {
    public struct Row: Encodable, Sendable {
        public var name: String
        public var summary: String
        public var compiler: String
        public var packages: [String]
        public var architectureFlags: [String]
        public var optimizationFlags: [String]
        public var floatLanes: Int?
        public var dotProduct: String
        public var runner: String
        public var board: BoardRow?
    }

    public struct BoardRow: Encodable, Sendable {
        public var machine: String
        public var linkerScript: String
        public var weightsMemory: String
        public var clockHz: Int
        /// The folder of the harness sources and linker scripts in this build.
        public var harness: String
    }

    public var targets: [Row]

    public init() throws {
        let harness = try TemplateFiles.path("harness")
        targets = Target.all.map { t in
            let runner: String
            switch t.runner {
            case .native: runner = "this machine"
            case .userEmulator(let program, _): runner = program
            case .board(let b): runner = "qemu-system-arm -M \(b.machine)"
            }
            return Row(name: t.name, summary: t.summary, compiler: t.compiler, packages: t.packages,
                       architectureFlags: t.architectureFlags, optimizationFlags: t.optimizationFlags,
                       floatLanes: t.floatLanes, dotProduct: t.dotProduct.rawValue, runner: runner,
                       board: t.board.map { BoardRow(machine: $0.machine, linkerScript: $0.linkerScript,
                                                     weightsMemory: $0.weightsMemory, clockHz: $0.clockHz, harness: harness) })
        }
    }

    public var text: String {
        renderTable(header: ["target", "compiler", "flags", "runs on", "weights"],
                    rows: targets.map { [$0.name, $0.compiler, ($0.optimizationFlags + $0.architectureFlags).joined(separator: " "),
                                         $0.runner, $0.board?.weightsMemory ?? "-"] })
    }
}
