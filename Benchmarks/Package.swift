// swift-tools-version:6.1
// Benchmarks and load tools. A package of its own, so that users of TrafficManager never
// fetch or build the benchmarking dependencies.
import PackageDescription

let package = Package(
    name: "TrafficManagerBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "TrafficManager", path: ".."),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.1.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.5.0"),
        .package(url: "https://github.com/ordo-one/benchmark.git", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "tm-load",
            dependencies: [
                .product(name: "TrafficManager", package: "TrafficManager"),
                .product(name: "TrafficManagerRedis", package: "TrafficManager"),
                .product(name: "TrafficManagerPostgres", package: "TrafficManager"),
                .product(name: "TrafficManagerKafka", package: "TrafficManager"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "Metrics", package: "swift-metrics"),
                "RawKafka",
            ],
            path: "Tools/LoadTool"
        ),
        // librdkafka called directly, the baseline the event-volume workload compares with.
        .target(name: "RawKafka", path: "Tools/RawKafka", linkerSettings: [.linkedLibrary("rdkafka")]),
        .executableTarget(
            name: "tm-faults",
            dependencies: [
                .product(name: "TrafficManager", package: "TrafficManager"),
                .product(name: "TrafficManagerTestKit", package: "TrafficManager"),
                .product(name: "TrafficManagerRedis", package: "TrafficManager"),
                .product(name: "TrafficManagerPostgres", package: "TrafficManager"),
                .product(name: "TrafficManagerKafka", package: "TrafficManager"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Tools/FaultTool"
        ),
        .executableTarget(
            name: "TrafficManagerBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "TrafficManager", package: "TrafficManager"),
                .product(name: "TrafficManagerRedis", package: "TrafficManager"),
                .product(name: "TrafficManagerPostgres", package: "TrafficManager"),
                .product(name: "TrafficManagerKafka", package: "TrafficManager"),
            ],
            path: "TrafficManagerBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
