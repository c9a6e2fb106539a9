// package-benchmark suites: one benchmark per workload, with wall clock, throughput and mallocs.
// Run: swift package --package-path Benchmarks benchmark   (servers from scripts/start-*.sh;
// the Redis and PostgreSQL benchmarks are left out when their server does not answer).
import Benchmark
import Foundation
import Metrics
import TrafficManager
import TrafficManagerKafka
import TrafficManagerPostgres
import TrafficManagerRedis

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal, .cpuTotal],
        maxDuration: .seconds(3), maxIterations: 1_000_000)

    // MARK: In memory

    // A thousand operations per sample, so per-sample harness costs vanish from the figures
    // (metrics marked * are per operation).
    let perThousand = Benchmark.Configuration(
        metrics: [.wallClock, .throughput, .mallocCountTotal, .cpuTotal], scalingFactor: .kilo,
        maxDuration: .seconds(3), maxIterations: 100_000)
    let memory = Fixture.inMemory()
    Benchmark("resolve: in-memory cache hit", configuration: perThousand) { benchmark in
        for _ in benchmark.scaledIterations { blackHole(try await memory.manager.resolve(Fixture.found)) }
    }
    // The near cache, with names over 15 bytes (not inline strings) and metrics recorded by a
    // real (atomic) backend.
    let near = Fixture.nearCache()
    Benchmark("resolve: near-cache hit (long names, metrics recorded)", configuration: perThousand) { benchmark in
        for _ in benchmark.scaledIterations { blackHole(try await near.resolve(Fixture.longNamed)) }
    }
    let sharedOnly = Fixture.inMemory(metrics: RecordingMetrics())
    Benchmark("resolve: in-memory shared-cache hit (long names, metrics recorded)", configuration: perThousand) { benchmark in
        for _ in benchmark.scaledIterations { blackHole(try await sharedOnly.manager.resolve(Fixture.longNamed)) }
    }
    Benchmark("resolve: in-memory negative hit", configuration: perThousand) { benchmark in
        for _ in benchmark.scaledIterations { blackHole(try? await memory.manager.resolve(Fixture.missing)) }
    }
    Benchmark("resolve: in-memory store miss", configuration: perThousand) { benchmark in
        for _ in benchmark.scaledIterations { blackHole(try await memory.uncached.resolve(Fixture.found)) }
    }
    Benchmark("create-route: in memory (URL changes each time)", configuration: perThousand) { benchmark in
        var port = 0
        for _ in benchmark.scaledIterations {
            port += 1
            blackHole(try await memory.manager.createRoute(Fixture.written, url: "http://chat:\(port % 60000 + 1)"))
        }
    }

    // MARK: Servers

    if let redis = Fixture.redis() {
        Benchmark("resolve: Redis cache hit") { benchmark in
            for _ in benchmark.scaledIterations { blackHole(try await redis.resolve(Fixture.found)) }
        }
    }
    if let postgres = Fixture.postgres() {
        Benchmark("resolve: PostgreSQL store miss (no cache)") { benchmark in
            for _ in benchmark.scaledIterations { blackHole(try await postgres.uncached.resolve(Fixture.found)) }
        }
        Benchmark("create-route: PostgreSQL (URL changes each time)") { benchmark in
            var port = 0
            for _ in benchmark.scaledIterations {
                port += 1
                blackHole(try await postgres.store.apply(
                    try RouteCommand(route: Fixture.written, operation: .upsert(url: "http://chat:\(port % 60000 + 1)")),
                    idempotencyKey: nil))
            }
        }
    }
    if let kafka = Fixture.kafka() {
        Benchmark("publish: mock Kafka cluster, one at a time") { benchmark in
            for _ in benchmark.scaledIterations { try await kafka.publish(Fixture.event()) }
        }
    }
}

/// The backends the benchmarks run on, set up once per process.
enum Fixture {
    static let found = try! RouteID(tenant: "bench", service: "chat", environment: "prod", version: "v1")
    static let missing = try! RouteID(tenant: "bench", service: "chat", environment: "prod", version: "v404")
    static let written = try! RouteID(tenant: "bench", service: "writes", environment: "prod", version: "v1")

    struct Managers {
        let manager: TrafficManager
        let uncached: TrafficManager
    }

    /// A route whose names are all over 15 bytes, so none is stored inline in its string.
    static let longNamed = try! RouteID(
        tenant: "acme-corporation-eu", service: "chat-service-backend", environment: "production-eu-west",
        version: "2026.11.30-build.4471")

    static func inMemory(metrics: any MetricsFactory = MetricsSystem.factory) -> Managers {
        let store = InMemoryRouteStore()
        let manager = TrafficManager(store: store, cache: InMemoryRouteCache(), publisher: InMemoryEventBus(), metricsFactory: metrics)
        blocking {
            try await manager.createRoute(found, url: "http://chat.prod:4002")
            try await manager.createRoute(longNamed, url: "https://chat-service-backend.production-eu-west.acme.internal:4002")
            _ = try await manager.resolve(found)
            _ = try await manager.resolve(longNamed)
            _ = try? await manager.resolve(missing)
        }
        return Managers(manager: manager, uncached: TrafficManager(store: store, cache: NoCache(), publisher: InMemoryEventBus()))
    }

    /// A manager with a near cache fed by an in-memory bus, its feed running, the route cached.
    static func nearCache() -> TrafficManager {
        let bus = InMemoryEventBus()
        let manager = TrafficManager(
            store: InMemoryRouteStore(), cache: InMemoryRouteCache(), publisher: bus, changeFeed: bus,
            metricsFactory: RecordingMetrics())
        Task { try await manager.changeFeedService?.run() }
        blocking {
            try await manager.createRoute(longNamed, url: "https://chat-service-backend.production-eu-west.acme.internal:4002")
            while try await manager.resolution(longNamed).source != .nearCache { try await Task.sleep(for: .milliseconds(10)) }
        }
        return manager
    }

    static func redis() -> TrafficManager? {
        let environment = ProcessInfo.processInfo.environment
        let cache = RedisRouteCache(configuration: .init(
            endpoint: .tcp(host: environment["TM_REDIS_HOST"] ?? "127.0.0.1", port: Int(environment["TM_REDIS_PORT"] ?? "") ?? 56379),
            keyPrefix: "tm:bench:"))
        Task { try await cache.run() }
        let manager = TrafficManager(store: InMemoryRouteStore(), cache: cache, publisher: InMemoryEventBus())
        let ready = blocking {
            try await manager.createRoute(found, url: "http://chat.prod:4002")
            _ = try await manager.resolve(found)
            return try await cache.get(found) != nil
        }
        return ready == true ? manager : nil
    }

    struct Postgres {
        let store: PostgresRouteStore
        let uncached: TrafficManager
    }

    static func postgres() -> Postgres? {
        let environment = ProcessInfo.processInfo.environment
        let store = PostgresRouteStore(configuration: .init(
            endpoint: .tcp(host: environment["TM_PG_HOST"] ?? "127.0.0.1", port: Int(environment["TM_PG_PORT"] ?? "") ?? 55432),
            user: environment["TM_PG_USER"] ?? "tm", password: environment["TM_PG_PASSWORD"] ?? "tm",
            database: environment["TM_PG_DATABASE"] ?? "trafficmanager_test", schema: "tm_bench", sslMode: .disable,
            poolSize: 1))
        Task { try await store.run() }
        let manager = TrafficManager(store: store, cache: NoCache(), publisher: InMemoryEventBus())
        let ready = blocking {
            try await store.migrate()
            try await manager.createRoute(found, url: "http://chat.prod:4002")
            return true
        }
        return ready == true ? Postgres(store: store, uncached: manager) : nil
    }

    static func kafka() -> KafkaEventPublisher? {
        guard let cluster = try? KafkaMockCluster(brokers: 1), (try? cluster.createTopic("route-events")) != nil else { return nil }
        clusters.append(cluster)
        return try? KafkaEventPublisher(configuration: .init(bootstrapServers: cluster.bootstrapServers, properties: ["linger.ms": "0"]))
    }

    nonisolated(unsafe) static var clusters: [KafkaMockCluster] = []

    static func event() -> RouteEvent {
        RouteEvent(eventID: UUID(), action: .updated, route: found, url: "http://chat.prod:4002", revision: 1, occurredAt: Date())
    }

    /// Runs async setup from the synchronous registration closure; `nil` when it threw.
    static func blocking<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) -> T? {
        let box = Box<T>()
        let done = DispatchSemaphore(value: 0)
        Task {
            box.value = try? await body()
            done.signal()
        }
        done.wait()
        return box.value
    }

    final class Box<T>: @unchecked Sendable {
        // Written once by the setup task before the semaphore is signalled, read after.
        var value: T?
    }
}

/// A cache that never holds anything: every resolve goes to the store.
struct NoCache: RouteCache {
    func get(_ route: RouteID) async throws -> CachedRoute? { nil }
    func fill(_ route: RouteID, with value: CachedRoute, ttl: Duration) async throws -> Bool { false }
    func invalidate(_ route: RouteID, revision: UInt64, ttl: Duration) async throws {}
}
