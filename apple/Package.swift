// swift-tools-version:5.9
//
// Ferrotun for iOS and macOS: the generated Swift bindings over the Rust core
// (shipped as Ferrotun.xcframework, built by ./build-xcframework.sh), plus a
// NEPacketTunnelProvider adapter.
//
// Add it as a local package (`.package(path: "path/to/ferrotun/apple")`):
// Package.swift is not at the repository root, so SwiftPM cannot fetch it by URL.

import PackageDescription

let package = Package(
    name: "Ferrotun",
    platforms: [.iOS(.v15), .macOS(.v12)],
    products: [
        .library(name: "Ferrotun", targets: ["Ferrotun"]),
        .library(name: "FerrotunNetworkExtension", targets: ["FerrotunNetworkExtension"]),
    ],
    targets: [
        // Static libferrotun.a for each platform + FerrotunFFI.h and its module map.
        .binaryTarget(name: "FerrotunFFI", path: "Ferrotun.xcframework"),
        // Sources/Ferrotun/Ferrotun.swift links to bindings/swift/Ferrotun.swift (generated).
        .target(
            name: "Ferrotun",
            dependencies: ["FerrotunFFI"],
            path: "Sources/Ferrotun"
        ),
        .target(
            name: "FerrotunNetworkExtension",
            dependencies: ["Ferrotun"],
            path: "Sources/FerrotunNetworkExtension",
            linkerSettings: [.linkedFramework("NetworkExtension")]
        ),
        .testTarget(
            name: "FerrotunTests",
            dependencies: ["Ferrotun"],
            path: "Tests/FerrotunTests"
        ),
    ]
)
