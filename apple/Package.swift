// swift-tools-version:6.0
//
// Ferrotun for iOS and macOS: the generated Swift bindings over the Rust core
// (Ferrotun.xcframework, built by ./build-xcframework.sh) and a
// NEPacketTunnelProvider adapter, in Swift 6 language mode.
//
// Add it as a local package (`.package(path: "path/to/ferrotun/apple")`):
// Package.swift is not at the repository root, so SwiftPM cannot fetch it by URL.
//
// FerrotunAdapterCore holds every piece of adapter logic that does not need
// NetworkExtension and imports only Foundation. On Linux the package is only
// that target and its tests (`swift test` runs them with no xcframework and
// no Rust); on Apple platforms it is everything.

import PackageDescription

let portableTargets: [Target] = [
    .target(
        name: "FerrotunAdapterCore",
        path: "Sources/FerrotunAdapterCore"
    ),
    .testTarget(
        name: "FerrotunAdapterCoreTests",
        dependencies: ["FerrotunAdapterCore"],
        path: "Tests/FerrotunAdapterCoreTests"
    ),
]

#if canImport(Darwin)
let appleTargets: [Target] = [
    // Static libferrotun.a for each platform; headers in Headers/FerrotunFFI/.
    .binaryTarget(name: "FerrotunFFI", path: "Ferrotun.xcframework"),
    // Sources/Ferrotun/Ferrotun.swift links to bindings/swift/Ferrotun.swift (generated).
    .target(
        name: "Ferrotun",
        dependencies: ["FerrotunFFI"],
        path: "Sources/Ferrotun"
    ),
    .target(
        name: "FerrotunNetworkExtension",
        dependencies: ["Ferrotun", "FerrotunAdapterCore"],
        path: "Sources/FerrotunNetworkExtension",
        linkerSettings: [.linkedFramework("NetworkExtension"), .linkedFramework("Security")]
    ),
    .testTarget(
        name: "FerrotunTests",
        dependencies: ["Ferrotun", "FerrotunAdapterCore", "FerrotunNetworkExtension"],
        path: "Tests/FerrotunTests"
    ),
]
let appleProducts: [Product] = [
    .library(name: "Ferrotun", targets: ["Ferrotun"]),
    .library(name: "FerrotunNetworkExtension", targets: ["FerrotunNetworkExtension", "FerrotunAdapterCore"]),
]
#else
let appleTargets: [Target] = []
let appleProducts: [Product] = []
#endif

let package = Package(
    name: "Ferrotun",
    platforms: [.iOS(.v15), .macOS(.v12)],
    products: appleProducts + [
        .library(name: "FerrotunAdapterCore", targets: ["FerrotunAdapterCore"]),
    ],
    targets: portableTargets + appleTargets,
    swiftLanguageModes: [.v6]
)
