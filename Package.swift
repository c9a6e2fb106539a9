// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "TrafficManager",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "TrafficManager", targets: ["TrafficManager"]),
        .library(name: "TrafficManagerTestKit", targets: ["TrafficManagerTestKit"]),
        .library(name: "TrafficManagerRedis", targets: ["TrafficManagerRedis"]),
        .library(name: "TrafficManagerPostgres", targets: ["TrafficManagerPostgres"]),
        .library(name: "TrafficManagerKafka", targets: ["TrafficManagerKafka"]),
        .library(name: "TrafficManagerTopology", targets: ["TrafficManagerTopology"]),
        .executable(name: "tmctl", targets: ["tmctl"]),
        .executable(name: "tm-dev-kafka", targets: ["tm-dev-kafka"]),
        .executable(name: "QuickStart", targets: ["QuickStart"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.6.0"),
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.1"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.0.0"),
        .package(url: "https://github.com/swiftlang/swift-docc-plugin.git", from: "1.4.0"),
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", from: "1.3.0"),
    ],
    targets: [
        .target(
            name: "TrafficManager",
            dependencies: [
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "TrafficManagerConnectionRuntime",
            dependencies: [
                "TrafficManager", .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "TrafficManagerTestKit",
            dependencies: [
                "TrafficManager",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // Repository plumbing for this package's own tests (local servers, scripts); not a product.
        .target(name: "TrafficManagerTestSupport"),
        .systemLibrary(
            name: "CHiredis",
            pkgConfig: "hiredis",
            providers: [.apt(["libhiredis-dev"]), .brew(["hiredis"])]
        ),
        .target(
            name: "TrafficManagerRedis",
            dependencies: [
                "TrafficManager",
                "TrafficManagerConnectionRuntime",
                .product(name: "Metrics", package: "swift-metrics"),
                "CHiredis",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .systemLibrary(
            name: "CLibPQ",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"]), .brew(["libpq"])]
        ),
        .target(
            name: "TrafficManagerPostgres",
            dependencies: [
                "TrafficManager",
                "TrafficManagerConnectionRuntime",
                .product(name: "Metrics", package: "swift-metrics"),
                "CLibPQ",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .systemLibrary(
            name: "CRdKafka",
            pkgConfig: "rdkafka",
            providers: [.apt(["librdkafka-dev"]), .brew(["librdkafka"])]
        ),
        .target(
            name: "TrafficManagerKafka",
            dependencies: [
                "TrafficManager",
                "CRdKafka",
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "TrafficManagerTopology",
            dependencies: ["TrafficManager", .product(name: "Yams", package: "Yams")]
        ),
        .executableTarget(
            name: "tmctl",
            dependencies: [
                "TrafficManager", "TrafficManagerPostgres", "TrafficManagerRedis", "TrafficManagerKafka", "TrafficManagerTopology",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "tm-dev-kafka",
            dependencies: ["TrafficManagerKafka"],
            path: "Examples/tm-dev-kafka"
        ),
        .executableTarget(
            name: "FullStack",
            dependencies: [
                "TrafficManager", "TrafficManagerPostgres", "TrafficManagerRedis", "TrafficManagerKafka",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Examples/FullStack"
        ),
        .executableTarget(
            name: "QuickStart",
            dependencies: [
                "TrafficManager", "TrafficManagerTopology",
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ],
            path: "Examples/QuickStart"
        ),
        .testTarget(
            name: "TrafficManagerTests",
            dependencies: [
                "TrafficManager",
                "TrafficManagerTestKit",
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "InMemoryTracing", package: "swift-distributed-tracing"),
                .product(name: "PropertyBased", package: "swift-property-based"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "TrafficManagerRedisTests",
            dependencies: [
                "TrafficManager",
                "TrafficManagerRedis",
                "TrafficManagerTestKit", "TrafficManagerTestSupport",
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "TrafficManagerPostgresTests",
            dependencies: [
                "TrafficManager",
                "TrafficManagerPostgres",
                "TrafficManagerTestKit", "TrafficManagerTestSupport",
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "TrafficManagerKafkaTests",
            dependencies: [
                "CRdKafka",
                "TrafficManager",
                "TrafficManagerKafka",
                "TrafficManagerPostgres",
                "TrafficManagerRedis",
                "TrafficManagerTestKit", "TrafficManagerTestSupport",
                .product(name: "InMemoryTracing", package: "swift-distributed-tracing"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(
            name: "TrafficManagerConnectionRuntimeTests",
            dependencies: [
                "TrafficManagerConnectionRuntime",
                "TrafficManager",
                "TrafficManagerTestKit",
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "PropertyBased", package: "swift-property-based"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "TrafficManagerTopologyTests",
            dependencies: ["TrafficManager", "TrafficManagerTopology", "TrafficManagerTestKit", "TrafficManagerTestSupport"]
        ),
        .testTarget(
            name: "TmctlTests",
            dependencies: [
                "TrafficManager", "TrafficManagerKafka", "TrafficManagerPostgres", "TrafficManagerRedis", "TrafficManagerTestKit",
                "TrafficManagerTestSupport",
            ]
        ),
        .testTarget(
            name: "TrafficManagerTestKitTests",
            dependencies: ["TrafficManager", "TrafficManagerTestKit", .product(name: "MetricsTestKit", package: "swift-metrics")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
