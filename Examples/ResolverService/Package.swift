// swift-tools-version:6.1
// An HTTP resolver in front of TrafficManager, on Hummingbird 2. A package of its own, so that
// users of the library never fetch an HTTP server.
import PackageDescription

let package = Package(
    name: "ResolverService",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "TrafficManager", path: "../.."),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.5.0"),
    ],
    targets: [
        .target(
            name: "ResolverServiceCore",
            dependencies: [
                .product(name: "TrafficManager", package: "TrafficManager"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        .executableTarget(
            name: "ResolverService",
            dependencies: [
                "ResolverServiceCore",
                .product(name: "TrafficManager", package: "TrafficManager"),
                .product(name: "TrafficManagerPostgres", package: "TrafficManager"),
                .product(name: "TrafficManagerRedis", package: "TrafficManager"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        .testTarget(
            name: "ResolverServiceTests",
            dependencies: [
                "ResolverServiceCore",
                .product(name: "TrafficManager", package: "TrafficManager"),
                .product(name: "TrafficManagerTestKit", package: "TrafficManager"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
