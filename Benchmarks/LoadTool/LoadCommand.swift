import ArgumentParser
import Foundation
import Histogram
import Logging
import TrafficManager
import TrafficManagerRedis

/// `tm-load`: drives TrafficManager with concurrent callers for a fixed time and prints
/// throughput and latency percentiles.
@main
struct LoadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tm-load",
        abstract: "Drive TrafficManager with concurrent callers and report throughput and latency.")

    enum Backend: String, ExpressibleByArgument, CaseIterable {
        case memory, redis
    }

    @Option(help: "Backends: memory (in-memory cache and store) or redis (Redis cache, in-memory store).")
    var backend: Backend = .memory

    @Option(help: "Concurrent callers (tasks).")
    var concurrency = 16

    @Option(help: "How long to run, in seconds.")
    var duration = 5.0

    @Option(help: "Distinct routes.")
    var keys = 1000

    @Option(help: "Share of resolves answered by the cache (the rest have their entry invalidated first).")
    var hitRatio = 1.0

    @Option(help: "Share of operations that are writes (createRoute with a changed URL).")
    var writeRatio = 0.0

    @Option(help: "Redis host.")
    var redisHost = ProcessInfo.processInfo.environment["TM_REDIS_HOST"] ?? "127.0.0.1"

    @Option(help: "Redis port.")
    var redisPort = Int(ProcessInfo.processInfo.environment["TM_REDIS_PORT"] ?? "") ?? 56379

    @Option(help: "Redis connections.")
    var redisConnections = 1

    @Flag(help: "Run the callers on the Redis cache's task executor (its connection thread).")
    var onCacheExecutor = false

    @Flag(help: "Print one machine-readable line: ops/s p50 p90 p99 p99.9 (microseconds).")
    var quiet = false

    func run() async throws {
        var logger = Logger(label: "tm-load")
        logger.logLevel = .error
        let store = InMemoryRouteStore()
        let cache: any RouteCache
        var redis: RedisRouteCache?
        switch backend {
        case .memory:
            cache = InMemoryRouteCache()
        case .redis:
            let made = RedisRouteCache(
                configuration: .init(
                    endpoint: .tcp(host: redisHost, port: redisPort), connectionCount: redisConnections,
                    keyPrefix: "tm:load:"),
                logger: logger)
            redis = made
            cache = made
        }
        let manager = TrafficManager(store: store, cache: cache, publisher: InMemoryEventBus(), logger: logger)
        let routes = try (0..<keys).map {
            try RouteID(tenant: "load", service: "svc\($0 % 97)", environment: "prod", version: "v\($0)")
        }
        for (index, route) in routes.enumerated() {
            try await manager.createRoute(route, url: "http://svc\(index).load.internal:8080")
            _ = try await manager.resolve(route)
        }

        let workload = Workload(
            manager: manager, cache: cache, store: store, routes: routes, hitRatio: hitRatio, writeRatio: writeRatio)
        let executors = onCacheExecutor ? redis?.taskExecutors ?? [] : []
        let result = try await workload.run(
            concurrency: concurrency, duration: .seconds(duration), executors: executors, progress: !quiet)
        await redis?.shutdown()
        result.print(quiet: quiet, label: "\(backend.rawValue) c=\(concurrency)\(executors.isEmpty ? "" : " on the cache executors")")
    }
}
