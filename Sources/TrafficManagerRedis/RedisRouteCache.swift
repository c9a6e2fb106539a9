import CoreMetrics
import Foundation
import Logging
import ServiceLifecycle
import TrafficManager
import TrafficManagerConnectionRuntime

/// A `RouteCache` in Redis, over hiredis.
///
/// - Hits are a plain `GET`; fills and invalidations are one server-side script (`EVALSHA`,
///   loaded once and again after `NOSCRIPT`) that compares revisions and sets the entry with its
///   TTL atomically.
/// - Each of ``Configuration-swift.struct/connectionCount`` connections is owned by a thread of
///   its own that pipelines whatever commands are queued when it wakes.
/// - An unreachable Redis fails calls at once with `TrafficManagerError/Code/cacheUnavailable`
///   (the resolver then answers from the store); connections come back by themselves.
///
/// It is a swift-service-lifecycle `Service`: ``run()`` hosts the connection threads until
/// shutdown. Run it in a `ServiceGroup`, or as `Task { try await cache.run() }` and call
/// ``shutdown()`` when done. Calls made before `run()` wait for it within their deadline;
/// calls after shutdown fail with `TrafficManagerError/Code/notRunning`.
public final class RedisRouteCache: RouteCache, Service {
    private let configuration: Configuration
    private let connections: [ConnectionThread<RedisConnection>]
    private let threads: ConnectionThreadGroup
    private let next = Locked(0)
    private let scriptSHA = Locked<String?>(nil)
    private let logger: Logger
    /// With a cluster endpoint, what routes each command to its slot's master (and this cache
    /// has no connections of its own).
    private let cluster: RedisClusterClient?

    /// Creates the cache; ``run()`` starts its connection threads. Connections are made on
    /// first use.
    ///
    /// - Parameters:
    ///   - configuration: the server, connections and deadlines.
    ///   - logger: where the cache logs.
    ///   - metricsFactory: where each connection's `ConnectionMetrics` go
    ///     (`backend` = `redis`): queue depth, wait, deadline misses, connects, up.
    public convenience init(
        configuration: Configuration, logger: Logger = Logger(label: "TrafficManager.Redis"),
        metricsFactory: any MetricsFactory = MetricsSystem.factory
    ) {
        self.init(configuration: configuration, logger: logger, metricsFactory: metricsFactory, connectionIndexBase: 0)
    }

    /// As the public initializer; a cluster's node numbers its connections' metrics from
    /// `connectionIndexBase`.
    init(configuration: Configuration, logger: Logger, metricsFactory: any MetricsFactory, connectionIndexBase: Int) {
        self.configuration = configuration
        self.logger = logger
        if case .cluster(let seeds) = configuration.endpoint {
            let nodes = seeds.compactMap { seed -> RedisClusterMap.Node? in
                if case .tcp(let host, let port) = seed { return RedisClusterMap.Node(host: host, port: port) }
                return nil
            }
            cluster = RedisClusterClient(configuration: configuration, seeds: nodes, logger: logger, metricsFactory: metricsFactory)
            connections = []
            threads = ConnectionThreadGroup(name: "the Redis route cache at \(configuration.endpointDescription)", members: [])
            return
        }
        cluster = nil
        let endpoint = configuration.endpointDescription
        let timeout = configuration.commandTimeout
        let depth = configuration.maximumQueueDepth
        let connections = (0..<max(1, configuration.connectionCount)).map { index in
            let runtime = ConnectionThread<RedisConnection>(
                configuration: .init(
                    maximumQueueDepth: depth, maximumBatchSize: 1024,
                    initialBackOff: configuration.reconnectBackOff.initial, maximumBackOff: configuration.reconnectBackOff.maximum),
                connectTimeout: configuration.connectTimeout,
                metrics: ConnectionMetrics(backend: "redis", index: connectionIndexBase + index, prefix: configuration.metricsPrefix, factory: metricsFactory),
                makeError: { failure, _ in
                    switch failure {
                    case .deadlineExceeded, .timedOutInFlight:
                        return TrafficManagerError.deadlineExceeded("a Redis call to \(endpoint)", deadline: timeout)
                    case .unavailable(let reason): return TrafficManagerError.cacheUnavailable(reason)
                    case .notRunning: return TrafficManagerError.notRunning("the Redis route cache")
                    case .overloaded: return TrafficManagerError.overloaded("the Redis connection to \(endpoint)", queueDepth: depth)
                    case .cancelled: return CancellationError()
                    }
                })
            return runtime
        }
        self.connections = connections
        threads = ConnectionThreadGroup(
            name: "the Redis route cache at \(endpoint)",
            members: connections.enumerated().map { index, runtime in
                .thread(runtime, name: "tm-redis-\(index)") { RedisConnection(configuration: configuration, logger: logger) }
            })
    }

    /// An executor that runs tasks on the thread of the cache's first connection.
    ///
    /// Tasks that prefer it (`Task(executorPreference:)`, `withTaskExecutorPreference`) run
    /// between that connection's I/O rounds, and their cache calls go to that connection, so
    /// a round trip to Redis resumes them without waking another thread: the fastest way to
    /// serve many concurrent resolves. Such tasks must not block; while one runs, the
    /// connection waits.
    ///
    /// With a cluster endpoint, whose nodes are found at run time: the global concurrent executor.
    public var taskExecutor: any TaskExecutor { connections.first ?? globalConcurrentExecutor }

    /// One executor per connection, each as ``taskExecutor`` describes; spread tasks over them
    /// to use every connection's thread. Empty with a cluster endpoint.
    public var taskExecutors: [any TaskExecutor] { connections }

    public func get(_ route: RouteID) async throws -> CachedRoute? {
        try await entry(route)?.value
    }

    /// The entry with its read time (format 2 and 3 values carry it). A value of a newer format
    /// than this version reads is a miss.
    public func entry(_ route: RouteID) async throws -> CachedEntry? {
        let deadline = ContinuousClock.now + configuration.commandTimeout
        if let cluster {
            let reply = try await cluster.routed(route, deadline: deadline) { node, asking in
                try await node.entryReply(route, asking: asking, deadline: deadline)
            }
            return try entry(from: reply, of: route)
        }
        return try entry(from: try await entryReply(route, asking: false, deadline: deadline), of: route)
    }

    /// The reply to `GET` of `route`'s key, after `ASKING` when `asking` (a cluster's `ASK`
    /// redirect), within `deadline`.
    func entryReply(_ route: RouteID, asking: Bool, deadline: ContinuousClock.Instant) async throws -> RedisReply {
        let command = RedisCommand.getEntry(route, prefix: configuration.keyPrefix)
        return try await connection().send(asking ? .asking(command) : command, deadline: deadline)
    }

    /// Every route's entry in one round trip: the gets go out as one pipeline, on one
    /// connection, in one request of its batch (not a cross-slot `MGET`).
    public func entries(_ routes: [RouteID]) async throws -> [CachedEntry?] {
        guard !routes.isEmpty else { return [] }
        let deadline = ContinuousClock.now + configuration.commandTimeout
        if let cluster {
            return try await cluster.entries(routes, deadline: deadline) { [self] reply, route in try entry(from: reply, of: route) }
        }
        let replies = try await entriesReply(routes, deadline: deadline)
        var entries: [CachedEntry?] = []
        entries.reserveCapacity(routes.count)
        for (route, reply) in zip(routes, replies) { entries.append(try entry(from: reply, of: route)) }
        return entries
    }

    /// The replies to one `GET` per route, in order, sent as one pipeline; `routes` not empty.
    func entriesReply(_ routes: [RouteID], deadline: ContinuousClock.Instant) async throws -> [RedisReply] {
        let reply = try await connection().send(.getEntries(routes, prefix: configuration.keyPrefix), deadline: deadline)
        guard case .array(let replies) = reply, replies.count == routes.count else { throw Self.unexpected(reply, to: "GET") }
        return replies
    }

    /// As ``entries(_:)``, without read times.
    public func get(_ routes: [RouteID]) async throws -> [CachedRoute?] {
        try await entries(routes).map { $0?.value }
    }

    /// What a `GET` reply says of `route`'s entry.
    func entry(from reply: RedisReply, of route: RouteID) throws -> CachedEntry? {
        switch reply {
        case .cacheEntry(let entry, let readAt):
            return CachedEntry(value: entry, readAt: readAt.map { Date(unixMilliseconds: $0) })
        case .newerCacheEntry:
            return nil
        case .null:
            return nil
        case .string:
            let key = RedisCacheEncoding.key(route, prefix: configuration.keyPrefix)
            throw TrafficManagerError.cacheUnavailable("Redis key \(key) holds a value TrafficManager did not write")
        case let reply:
            throw Self.unexpected(reply, to: "GET")
        }
    }

    @discardableResult
    public func fill(_ route: RouteID, with value: CachedRoute, ttl: Duration) async throws -> Bool {
        precondition(!Self.isTombstone(value), "fill takes an endpoint or a not-found entry")
        return try await conditionalSet(route, value, ttl: ttl, invalidation: false, notAfter: nil)
    }

    /// Redis checks `notAfter` against its own clock (`TIME`) when the script runs.
    @discardableResult
    public func fill(_ route: RouteID, with value: CachedRoute, ttl: Duration, notAfter: Date) async throws -> Bool {
        precondition(!Self.isTombstone(value), "fill takes an endpoint or a not-found entry")
        return try await conditionalSet(route, value, ttl: ttl, invalidation: false, notAfter: notAfter)
    }

    /// As ``fill(_:with:ttl:notAfter:)``, in format 3 with `readAt`.
    @discardableResult
    public func fill(_ route: RouteID, with value: CachedRoute, ttl: Duration, notAfter: Date, readAt: Date) async throws -> Bool {
        precondition(!Self.isTombstone(value), "fill takes an endpoint or a not-found entry")
        return try await conditionalSet(route, value, ttl: ttl, invalidation: false, notAfter: notAfter, readAt: readAt)
    }

    public func invalidate(_ route: RouteID, revision: UInt64, ttl: Duration) async throws {
        _ = try await conditionalSet(route, .tombstone(revision: revision), ttl: ttl, invalidation: true, notAfter: nil)
    }

    /// Starts the connection threads and hosts them until graceful shutdown, cancellation or
    /// ``shutdown()``; returns when every thread has stopped.
    ///
    /// - Throws: `TrafficManagerError/Code/notRunning` when the cache was shut down already.
    public func run() async throws {
        if let cluster { return try await cluster.run() }
        try await threads.run()
    }

    /// Closes every connection after the commands already queued (each within its deadline)
    /// and returns when every thread has stopped; ``run()`` returns too. Later calls fail with
    /// `TrafficManagerError/Code/notRunning`.
    public func shutdown() async {
        if let cluster { return await cluster.shutdown() }
        await threads.shutdown()
    }

    /// Connection threads running now; for tests.
    var runningThreadCount: Int { threads.runningThreadCount }

    private func conditionalSet(
        _ route: RouteID, _ value: CachedRoute, ttl: Duration, invalidation: Bool, notAfter: Date?, readAt: Date? = nil
    ) async throws -> Bool {
        let deadline = ContinuousClock.now + configuration.commandTimeout
        if let cluster {
            // An invalidation must survive a failover: Redis replicates asynchronously, so it
            // waits for a replica to have it.
            let replicas = invalidation ? configuration.invalidationReplicas : 0
            let reply = try await cluster.routed(route, deadline: deadline) { node, asking in
                try await node.conditionalSetReply(
                    route, value, ttl: ttl, invalidation: invalidation, notAfter: notAfter, readAt: readAt, asking: asking, deadline: deadline,
                    replicas: replicas)
            }
            return try Self.setOutcome(reply)
        }
        let reply = try await conditionalSetReply(
            route, value, ttl: ttl, invalidation: invalidation, notAfter: notAfter, readAt: readAt, asking: false, deadline: deadline)
        return try Self.setOutcome(reply)
    }

    /// The reply to the revision-checked script for `route` (loading it first, and again after
    /// `NOSCRIPT`), after `ASKING` when `asking`, within `deadline`. With `replicas` above zero,
    /// `WAIT` follows on the same connection, and a write fewer replicas acknowledged in time
    /// throws `cacheUnavailable`: the caller then treats it as not made.
    func conditionalSetReply(
        _ route: RouteID, _ value: CachedRoute, ttl: Duration, invalidation: Bool, notAfter: Date?, readAt: Date?, asking: Bool,
        deadline: ContinuousClock.Instant, replicas: Int = 0
    ) async throws -> RedisReply {
        let key = RedisCacheEncoding.key(route, prefix: configuration.keyPrefix)
        let milliseconds = max(1, ttl.wholeMilliseconds)
        let bound = notAfter.map { String(max(1, $0.unixMilliseconds)) } ?? "0"
        let arguments = [
            "1", key, RedisCacheEncoding.encode(value, readAt: readAt?.unixMilliseconds), String(value.revision), String(milliseconds),
            invalidation ? "1" : "0", bound,
        ]
        let wait = max(1, configuration.invalidationReplicaTimeout.wholeMilliseconds)
        func evaluate() async throws -> RedisReply {
            let script = ["EVALSHA", try await loadScript(deadline)] + arguments
            guard replicas > 0 else {
                let command = RedisCommand.arguments(script)
                return try await connection().send(asking ? .asking(command) : command, deadline: deadline)
            }
            // The write, then WAIT on the same connection: how many replicas have it.
            let commands = (asking ? [["ASKING"]] : []) + [script, ["WAIT", String(replicas), String(wait)]]
            let reply = try await connection().send(.pipeline(commands), deadline: deadline)
            guard case .array(let replies) = reply, replies.count == commands.count else { throw Self.unexpected(reply, to: "EVALSHA and WAIT") }
            let written = replies[replies.count - 2]
            if case .integer(1) = written {
                guard case .integer(let acknowledged) = replies[replies.count - 1] else {
                    throw Self.unexpected(replies[replies.count - 1], to: "WAIT")
                }
                guard acknowledged >= replicas else {
                    throw TrafficManagerError.cacheUnavailable(
                        "Redis at \(configuration.endpointDescription) kept the write of \(key) but \(acknowledged) of \(replicas) replica(s) acknowledged it within \(wait) ms: a failover now could lose it")
                }
            }
            return written
        }
        var reply = try await evaluate()
        if case .error(let message) = reply, message.hasPrefix("NOSCRIPT") {
            scriptSHA.withLock { $0 = nil }
            reply = try await evaluate()
        }
        return reply
    }

    /// What the script's reply says: `true` when the entry was set.
    static func setOutcome(_ reply: RedisReply) throws -> Bool {
        switch reply {
        case .integer(1): return true
        case .integer(0): return false
        case let reply: throw Self.unexpected(reply, to: "EVALSHA")
        }
    }

    private func loadScript(_ deadline: ContinuousClock.Instant) async throws -> String {
        if let sha = scriptSHA.withLock({ $0 }) { return sha }
        switch try await send(["SCRIPT", "LOAD", RedisCacheEncoding.conditionalSetScript], deadline: deadline) {
        case .string(let sha):
            scriptSHA.withLock { $0 = sha }
            return sha
        case let reply:
            throw Self.unexpected(reply, to: "SCRIPT LOAD")
        }
    }

    func send(_ arguments: [String], deadline: ContinuousClock.Instant = .now + .seconds(5)) async throws -> RedisReply {
        guard cluster == nil else {
            throw TrafficManagerError.cacheUnavailable("a command without a route key has no node to go to in a Redis Cluster")
        }
        return try await connection().send(.arguments(arguments), deadline: deadline)
    }

    /// The connection whose thread runs this call, else the next one, round robin.
    private func connection() -> ConnectionThread<RedisConnection> {
        if connections.count == 1 { return connections[0] }
        if let current = ConnectionThread<RedisConnection>.current, connections.contains(where: { $0 === current }) { return current }
        let index = next.withLock { next in
            defer { next = (next + 1) % connections.count }
            return next
        }
        return connections[index]
    }

    /// The configuration, for tests.
    var configurationForTests: Configuration { configuration }

    static func unexpected(_ reply: RedisReply, to command: String) -> TrafficManagerError {
        if case .error(let message) = reply {
            return .cacheUnavailable("Redis answered \(command) with an error: \(message)")
        }
        return .cacheUnavailable("Redis answered \(command) with an unexpected reply: \(reply)")
    }

    private static func isTombstone(_ value: CachedRoute) -> Bool {
        if case .tombstone = value { return true }
        return false
    }
}

extension RedisRouteCache {
    /// The cluster client, with a cluster endpoint; for tests.
    var clusterForTests: RedisClusterClient? { cluster }
}
