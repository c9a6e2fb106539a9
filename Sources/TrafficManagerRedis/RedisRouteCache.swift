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

    /// Creates the cache; ``run()`` starts its connection threads. Connections are made on
    /// first use.
    ///
    /// - Parameters:
    ///   - configuration: the server, connections and deadlines.
    ///   - logger: where the cache logs.
    ///   - metricsFactory: where each connection's `ConnectionMetrics` go
    ///     (`backend` = `redis`): queue depth, wait, deadline misses, connects, up.
    public init(
        configuration: Configuration, logger: Logger = Logger(label: "TrafficManager.Redis"),
        metricsFactory: any MetricsFactory = MetricsSystem.factory
    ) {
        self.configuration = configuration
        self.logger = logger
        let endpoint = configuration.endpointDescription
        let timeout = configuration.commandTimeout
        let depth = configuration.maximumQueueDepth
        let connections = (0..<max(1, configuration.connectionCount)).map { index in
            let runtime = ConnectionThread<RedisConnection>(
                configuration: .init(
                    maximumQueueDepth: depth, maximumBatchSize: 1024,
                    initialBackOff: configuration.reconnectBackOff.initial, maximumBackOff: configuration.reconnectBackOff.maximum),
                connectTimeout: configuration.connectTimeout,
                metrics: ConnectionMetrics(backend: "redis", index: index, prefix: configuration.metricsPrefix, factory: metricsFactory),
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
    public var taskExecutor: any TaskExecutor { connections[0] }

    /// One executor per connection, each as ``taskExecutor`` describes; spread tasks over them
    /// to use every connection's thread.
    public var taskExecutors: [any TaskExecutor] { connections }

    public func get(_ route: RouteID) async throws -> CachedRoute? {
        try await entry(route)?.value
    }

    /// The entry with its read time (format 2 and 3 values carry it). A value of a newer format
    /// than this version reads is a miss.
    public func entry(_ route: RouteID) async throws -> CachedEntry? {
        let reply = try await connection().send(.getEntry(route, prefix: configuration.keyPrefix), deadline: .now + configuration.commandTimeout)
        return try entry(from: reply, of: route)
    }

    /// Every route's entry in one round trip: the gets go out as one pipeline, on one
    /// connection, in one request of its batch (not a cross-slot `MGET`).
    public func entries(_ routes: [RouteID]) async throws -> [CachedEntry?] {
        guard !routes.isEmpty else { return [] }
        let reply = try await connection().send(
            .getEntries(routes, prefix: configuration.keyPrefix), deadline: .now + configuration.commandTimeout)
        guard case .array(let replies) = reply, replies.count == routes.count else { throw Self.unexpected(reply, to: "GET") }
        var entries: [CachedEntry?] = []
        entries.reserveCapacity(routes.count)
        for (route, reply) in zip(routes, replies) { entries.append(try entry(from: reply, of: route)) }
        return entries
    }

    /// As ``entries(_:)``, without read times.
    public func get(_ routes: [RouteID]) async throws -> [CachedRoute?] {
        try await entries(routes).map { $0?.value }
    }

    private func entry(from reply: RedisReply, of route: RouteID) throws -> CachedEntry? {
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
        try await threads.run()
    }

    /// Closes every connection after the commands already queued (each within its deadline)
    /// and returns when every thread has stopped; ``run()`` returns too. Later calls fail with
    /// `TrafficManagerError/Code/notRunning`.
    public func shutdown() async {
        await threads.shutdown()
    }

    /// Connection threads running now; for tests.
    var runningThreadCount: Int { threads.runningThreadCount }

    private func conditionalSet(
        _ route: RouteID, _ value: CachedRoute, ttl: Duration, invalidation: Bool, notAfter: Date?, readAt: Date? = nil
    ) async throws -> Bool {
        let key = RedisCacheEncoding.key(route, prefix: configuration.keyPrefix)
        let milliseconds = max(1, ttl.wholeMilliseconds)
        let bound = notAfter.map { String(max(1, $0.unixMilliseconds)) } ?? "0"
        let arguments = [
            "1", key, RedisCacheEncoding.encode(value, readAt: readAt?.unixMilliseconds), String(value.revision), String(milliseconds),
            invalidation ? "1" : "0", bound,
        ]
        let deadline = ContinuousClock.now + configuration.commandTimeout
        var reply = try await send(["EVALSHA", try await loadScript(deadline)] + arguments, deadline: deadline)
        if case .error(let message) = reply, message.hasPrefix("NOSCRIPT") {
            scriptSHA.withLock { $0 = nil }
            reply = try await send(["EVALSHA", try await loadScript(deadline)] + arguments, deadline: deadline)
        }
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
        try await connection().send(.arguments(arguments), deadline: deadline)
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

    private static func unexpected(_ reply: RedisReply, to command: String) -> TrafficManagerError {
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
