// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "shufflenet-gen",
    products: [
        .library(name: "ShuffleNetKit", targets: ["ShuffleNetKit"]),
        .executable(name: "shufflenet-gen", targets: ["shufflenet-gen"]),
    ],
    targets: [
        .target(name: "ShuffleNetTemplates", path: "templates", exclude: ["README.md"], resources: [.copy("c"), .copy("swift"), .copy("harness")]),
        .target(name: "ShuffleNetKit", dependencies: ["ShuffleNetTemplates"]),
        .executableTarget(name: "shufflenet-gen", dependencies: ["ShuffleNetKit"]),
        .testTarget(
            name: "ShuffleNetKitTests",
            dependencies: ["ShuffleNetKit"],
            resources: [.copy("Fixtures")]
        ),
    ]
)
