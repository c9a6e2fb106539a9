import ArgumentParser
import Foundation
import Histogram
import Logging
import TrafficManager
import TrafficManagerPostgres
import TrafficManagerRedis

/// `tm-load`: drives TrafficManager with concurrent callers for a fixed time and prints
/// throughput and latency percentiles.
@main
struct LoadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tm-load",
        abstract: "Drive TrafficManager with concurrent callers and report throughput and latency.")

    enum Backend: String, ExpressibleByArgument, CaseIterable {
        case memory, redis, postgres
        case redisPostgres = "redis+postgres"
    }

    enum Kind: String, ExpressibleByArgument, CaseIterable {
        case resolve, lookup, create, publish, propagation, events
        case nearMemory = "near-memory"
        case loadRoutes = "load-routes"
    }

    @Option(help: "Backends: memory, redis (Redis cache, in-memory store), postgres (in-memory cache, PostgreSQL store), redis+postgres.")
    var backend: Backend = .memory

    @Option(help: "What each operation is: resolve (the read path), lookup (the store's read alone), create (the store's write alone: an upsert that changes the URL about half the time), publish (events to an in-process mock Kafka cluster), propagation (with redis+postgres: --changes URL changes, each timed until another instance's resolve sees it through Kafka and its invalidation consumer), events (--events events published by a raw librdkafka producer and by the publisher, batched and singly, alternating, --rounds times; then read back by every event id through KafkaEventSource), load-routes (--keys routes written through the store's batch path, with a progress bar; then exits), near-memory (near-cache bytes per entry at --keys entries).")
    var workload: Kind = .resolve

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

    @Option(help: "Redis connections (per node with --redis-cluster).")
    var redisConnections = 1

    @Option(help: "Redis database number (one node only).")
    var redisDatabase = 0

    @Flag(help: "Use the Redis Cluster whose seed nodes TM_REDIS_CLUSTER_SEEDS names (host:port,…) instead of --redis-host and --redis-port.")
    var redisCluster = false

    @Flag(help: "Print, to standard error, each second's operations, errors and p99 as the run goes.")
    var timeline = false

    @Option(help: "URL changes the propagation workload times.")
    var changes = 200

    @Option(help: "events: events per round and producer.")
    var events = 200_000

    @Option(help: "events: rounds (the figures are their medians).")
    var rounds = 3

    @Option(help: "events: the topic's partitions.")
    var partitions = 8

    @Option(help: "events: mock cluster brokers (each partition is kept on every one).")
    var brokers = 3

    @Option(help: "events: concurrent single publishes.")
    var publishers = 1024

    @Option(help: "events: callers of the batch publish in the second batch step, each with its own routes (1: no such step).")
    var batchCallers = 2

    @Option(help: "events: the producers' linger.ms.")
    var lingerMs = 5

    @Option(help: "PostgreSQL connections.")
    var pgConnections = 4

    @Option(help: "The PostgreSQL schema the routes live in.")
    var schema = "tm_load"

    @Option(help: "load-routes: commands per transaction; events: events per batch publish.")
    var batchSize = 1000

    @Option(help: "Each caller yields every this many operations (0: never), as a server's request handlers would suspend: near-cache hits never do, and a caller that never yields starves the change feed's tasks.")
    var yieldEvery = 0

    @Flag(help: "The routes exist in the store already (load-routes wrote them): only warm the caches, by batch resolves.")
    var preloaded = false

    @Flag(help: "Put a near cache, fed by an in-memory change feed, in front of the cache.")
    var nearCache = false

    @Flag(help: "Route names over 15 bytes each (not stored inline in their strings).")
    var longNames = false

    @Flag(help: "URLs of 34 bytes at any route count (http://r0000042.load.internal:8080) rather than one digit longer from the 100,000th route on.")
    var fixedUrlLength = false

    @Flag(help: "near-memory: versions short (v1, v2) rather than each different and over 15 bytes.")
    var shortVersions = false

    @Flag(help: "Run the callers on the Redis cache's task executors (its connection threads).")
    var onCacheExecutor = false

    @Flag(help: "Run the callers on the PostgreSQL store's task executors (its connection threads).")
    var onStoreExecutor = false

    @Flag(help: "Print one machine-readable line: ops/s p50 p90 p99 p99.9 (microseconds) errors.")
    var quiet = false

    func run() async throws {
        var logger = Logger(label: "tm-load")
        logger.logLevel = .error
        if workload == .nearMemory {
            try await NearMemoryWorkload.run(count: keys, shortVersions: shortVersions, quiet: quiet)
            return
        }
        if workload == .events {
            try await EventsWorkload.run(
                .init(
                    events: events, rounds: max(1, rounds), partitions: partitions, brokers: brokers, publishers: publishers,
                    lingerMilliseconds: lingerMs, batchSize: max(1, batchSize), batchCallers: max(1, batchCallers), quiet: quiet))
            return
        }
        if workload == .publish {
            try await PublishWorkload.run(concurrency: concurrency, duration: .seconds(duration), quiet: quiet)
            return
        }
        var postgres: PostgresRouteStore?
        let store: any RouteStore
        if backend == .postgres || backend == .redisPostgres {
            let environment = ProcessInfo.processInfo.environment
            let made = PostgresRouteStore(
                configuration: .init(
                    endpoint: .tcp(host: environment["TM_PG_HOST"] ?? "127.0.0.1", port: Int(environment["TM_PG_PORT"] ?? "") ?? 55432),
                    user: environment["TM_PG_USER"] ?? "tm", password: environment["TM_PG_PASSWORD"] ?? "tm",
                    database: environment["TM_PG_DATABASE"] ?? "trafficmanager_test", schema: schema, sslMode: .disable,
                    poolSize: pgConnections),
                logger: logger)
            Task { try await made.run() }
            try await made.migrate()
            postgres = made
            store = made
        } else {
            store = InMemoryRouteStore()
        }
        let cache: any RouteCache
        var redis: RedisRouteCache?
        if backend == .redis || backend == .redisPostgres {
            let made = RedisRouteCache(
                configuration: .init(
                    endpoint: redisCluster ? .cluster(seeds: try Self.clusterSeeds()) : .tcp(host: redisHost, port: redisPort),
                    database: redisCluster ? 0 : redisDatabase, connectionCount: redisConnections, keyPrefix: "tm:load:"),
                logger: logger)
            Task { try await made.run() }
            redis = made
            cache = made
        } else {
            cache = InMemoryRouteCache()
        }
        let bus = InMemoryEventBus()
        let manager = TrafficManager(
            store: store, cache: cache, publisher: bus, changeFeed: nearCache ? bus : nil,
            // An eighth more than the routes: shards fill unevenly, and a cache sized at exactly the
            // route count evicts from its fullest shards.
            configuration: .init(nearCache: .init(capacity: max(keys + keys / 8, 100_000))), logger: logger)
        let feed = Task { try await manager.changeFeedService?.run() }
        defer { feed.cancel() }
        if workload == .propagation {
            guard let postgres, redis != nil else { throw ValidationError("the propagation workload needs --backend redis+postgres") }
            try await PropagationWorkload.run(
                store: postgres, redisHost: redisHost, redisPort: redisPort, changes: changes, nearCache: nearCache, logger: logger,
                quiet: quiet)
            await redis?.shutdown()
            await postgres.shutdown()
            return
        }
        // The names the pgbench scripts in compare.sh use too.
        let routes = try (0..<keys).map {
            longNames
                ? try NearMemoryWorkload.route($0)
                : try RouteID(tenant: "load", service: "svc\($0 % 97)", environment: "prod", version: "v\($0)")
        }
        if workload == .loadRoutes {
            try await LoadRoutesWorkload.run(
                store: store, routes: routes, batchSize: max(1, batchSize), url: fixedUrlLength ? Self.fixedLengthURL : Self.url, quiet: quiet)
            await redis?.shutdown()
            await postgres?.shutdown()
            return
        }
        if preloaded {
            // Warm the caches: one batch resolve per thousand routes.
            if workload == .resolve {
                for start in stride(from: 0, to: routes.count, by: 1000) {
                    let batch = Array(routes[start..<min(start + 1000, routes.count)])
                    for (offset, result) in try await manager.resolutions(batch).enumerated() {
                        guard case .success = result else {
                            throw ValidationError("route \(batch[offset]) did not resolve: run --workload load-routes with --keys \(keys) first")
                        }
                    }
                }
            }
        } else {
            for (index, route) in routes.enumerated() {
                try await manager.createRoute(route, url: fixedUrlLength ? Self.fixedLengthURL(index) : Self.url(index))
                _ = try await manager.resolve(route)
            }
        }

        let load = Workload(
            manager: manager, cache: cache, store: store, routes: routes, kind: workload, hitRatio: hitRatio,
            writeRatio: writeRatio, yieldEvery: yieldEvery)
        let executors = onCacheExecutor ? redis?.taskExecutors ?? [] : onStoreExecutor ? postgres?.taskExecutors ?? [] : []
        let result = try await load.run(
            concurrency: concurrency, duration: .seconds(duration), executors: executors, progress: !quiet && !timeline,
            timeline: timeline)
        await redis?.shutdown()
        await postgres?.shutdown()
        result.print(quiet: quiet, label: "\(workload.rawValue) on \(backend.rawValue)\(redisCluster ? " (cluster)" : "")\(nearCache ? " with a near cache" : "") c=\(concurrency)\(executors.isEmpty ? "" : " on the connection executors")")
    }

    /// The seed nodes `TM_REDIS_CLUSTER_SEEDS` names.
    static func clusterSeeds() throws -> [RedisRouteCache.Configuration.Endpoint] {
        let list = ProcessInfo.processInfo.environment["TM_REDIS_CLUSTER_SEEDS"] ?? "127.0.0.1:47001,127.0.0.1:47002,127.0.0.1:47003"
        let seeds = try list.split(separator: ",").map { seed -> RedisRouteCache.Configuration.Endpoint in
            guard let colon = seed.lastIndex(of: ":"), let port = Int(seed[seed.index(after: colon)...]) else {
                throw ValidationError("TM_REDIS_CLUSTER_SEEDS: '\(seed)' is not host:port")
            }
            return .tcp(host: String(seed[..<colon]), port: port)
        }
        guard !seeds.isEmpty else { throw ValidationError("TM_REDIS_CLUSTER_SEEDS names no seed node") }
        return seeds
    }

    /// The URL route `index` points at.
    static func url(_ index: Int) -> String { "http://svc\(index).load.internal:8080" }

    /// A 34-byte URL for route `index` (below 10,000,000): a cached value of format 3 with a
    /// one-digit revision is then 44 bytes, the most Redis keeps inside the string's object.
    static func fixedLengthURL(_ index: Int) -> String {
        let digits = String(index)
        return "http://r" + String(repeating: "0", count: max(0, 7 - digits.count)) + digits + ".load.internal:8080"
    }
}
