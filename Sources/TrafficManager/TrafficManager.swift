import CoreMetrics
import Logging
import Tracing

/// Resolves (tenant, service, environment, version) to the URL that serves it, and changes
/// routes safely.
///
/// ```swift
/// let manager = TrafficManager(store: InMemoryRouteStore(), cache: InMemoryRouteCache(),
///                              publisher: InMemoryEventBus())
/// try await manager.createRoute(tenant: "acme", service: "chat", environment: "prod",
///                               version: "v1", url: "http://chat.prod:4002")
/// let url = try await manager.resolve(tenant: "acme", service: "chat", environment: "prod", version: "v1")
/// ```
///
/// The read path is ``RouteResolver``, the write path ``RouteWriter``; both share one
/// ``CircuitBreaker`` for the cache and one set of ``TrafficManagerMetrics``.
///
/// Every call throws ``TrafficManagerError`` — switch on its ``TrafficManagerError/code`` — or,
/// when the calling task is cancelled, `CancellationError`.
public final class TrafficManager: Sendable {
    /// The read path.
    public let resolver: RouteResolver
    /// The write path.
    public let writer: RouteWriter
    /// The store, for reading full records.
    public let store: any RouteStore
    /// The metrics both paths record.
    public let metrics: TrafficManagerMetrics
    /// The settings both paths follow.
    public let configuration: TrafficManagerConfiguration

    /// Creates a manager over the given backends.
    ///
    /// - Parameters:
    ///   - store: the source of truth.
    ///   - cache: the shared cache.
    ///   - publisher: where change events go; wrap it in ``OutboxPublisher`` to mark them in the outbox.
    ///   - configuration: TTLs, deadlines and input rules.
    ///   - logger: where both paths log.
    ///   - metricsFactory: where metrics go; the bootstrapped swift-metrics factory by default.
    ///   - time: the clock for TTL bookkeeping and the cache breaker.
    ///   - tracer: where spans go (resolve, write, and each store and cache call); `nil`: the
    ///     tracer bootstrapped through swift-distributed-tracing, or bound with `withTracer`,
    ///     when the manager is created. With the default no-op tracer no span is created at all.
    ///   - changeFeed: every route change, as published (``InMemoryEventBus``, or
    ///     `KafkaChangeFeed` reading every partition of the topic). With one, and
    ///     ``TrafficManagerConfiguration/nearCache`` set (the default), resolves are answered
    ///     from an in-process near cache while the feed proves it is caught up; run
    ///     ``changeFeedService`` in the program's `ServiceGroup`.
    public init(
        store: any RouteStore,
        cache: any RouteCache,
        publisher: any EventPublisher,
        changeFeed: (any RouteChangeFeed)? = nil,
        configuration: TrafficManagerConfiguration = .init(),
        logger: Logger = Logger(label: "TrafficManager"),
        metricsFactory: any MetricsFactory = MetricsSystem.factory,
        time: any TimeSource = SystemTimeSource(),
        tracer: (any Tracer)? = nil
    ) {
        let tracer = TrafficManagerTracing.activeTracer(tracer)
        let tracedStore: any RouteStore = tracer.map { TracingRouteStore(inner: store, tracer: $0) } ?? store
        let tracedCache: any RouteCache = tracer.map { TracingRouteCache(inner: cache, tracer: $0) } ?? cache
        let metrics = TrafficManagerMetrics(prefix: configuration.metricsPrefix, factory: metricsFactory)
        let breaker = CircuitBreaker(configuration: configuration.cacheBreaker, time: time)
        self.store = store
        self.metrics = metrics
        self.configuration = configuration
        let storeHealth = DependencyHealth(name: "route store", logger: logger, time: time)
        let cacheHealth = DependencyHealth(name: "route cache", logger: logger, time: time)
        let near = changeFeed != nil ? configuration.nearCache.map { NearCache(configuration: $0) } : nil
        self.near = near
        if let changeFeed, let near {
            changeFeedService = ChangeFeedService(
                feed: changeFeed, near: near, fanOut: fanOut, configuration: configuration, metrics: metrics, time: time,
                logger: Logger(label: logger.label + ".ChangeFeed"))
        } else {
            changeFeedService = nil
        }
        self.cache = cache
        self.logger = logger
        if store.maximumReadLag >= configuration.effectiveFillWindow {
            // Safe, but a read that may lag that much can never fill: the fill could outlive
            // the tombstone of a write it read before.
            logger.warning(
                "the store's read lag is not under the fill window: answers read from its replicas will not be cached",
                metadata: ["maximumReadLag": "\(store.maximumReadLag)", "fillWindow": "\(configuration.effectiveFillWindow)"])
        }
        self.resolver = RouteResolver(
            store: tracedStore, cache: tracedCache, configuration: configuration, breaker: breaker, metrics: metrics,
            storeHealth: storeHealth, cacheHealth: cacheHealth, time: time, tracer: tracer, near: near, logger: logger)
        self.writer = RouteWriter(
            store: tracedStore, cache: tracedCache, publisher: publisher, configuration: configuration, breaker: breaker,
            metrics: metrics, storeHealth: storeHealth, cacheHealth: cacheHealth, time: time, tracer: tracer, near: near,
            logger: logger)
    }

    /// Follows the change feed into the near cache; `nil` without a feed (or with the near
    /// cache turned off). Run it in the program's `ServiceGroup`.
    public let changeFeedService: ChangeFeedService?
    let near: NearCache?
    /// Where ``changes(bufferSize:)`` and ``watch(_:)`` subscribe.
    let fanOut = ChangeFanOut()

    /// How many routes the near cache holds now (0 without one).
    public var nearCacheCount: Int { near?.count ?? 0 }

    private let cache: any RouteCache
    private let logger: Logger

    /// A consumer that invalidates this manager's cache when a route event arrives, with the
    /// manager's own tombstone TTL — so the writer and every consumer agree on it.
    public func cacheInvalidationConsumer(
        logger: Logger? = nil
    ) -> CacheInvalidationConsumer {
        CacheInvalidationConsumer(
            cache: cache, tombstoneTTL: configuration.tombstoneTTL,
            logger: logger ?? Logger(label: self.logger.label + ".CacheInvalidation"))
    }

    /// The URL `route` resolves to. See ``RouteResolver/resolve(_:consistency:timeout:)``.
    @inlinable
    public func resolve(_ route: RouteID, consistency: ReadConsistency = .default, timeout: Duration? = nil) async throws -> String {
        if let hit = try resolver.nearHit(route, consistency: consistency) { return hit.url }
        return try await resolver.resolutionPastNearHit(route, consistency: consistency, timeout: timeout).url
    }

    /// The URL `route` resolves to, with its revision, source (near cache, shared cache, store
    /// or stale) and age. See ``RouteResolver/resolution(_:consistency:timeout:)``.
    @inlinable
    public func resolution(
        _ route: RouteID, consistency: ReadConsistency = .default, timeout: Duration? = nil
    ) async throws -> RouteResolution {
        if let hit = try resolver.nearHit(route, consistency: consistency) { return hit }
        return try await resolver.resolutionPastNearHit(route, consistency: consistency, timeout: timeout)
    }

    /// Resolves every route of `routes`: a result per route, in order, with one near-cache pass,
    /// one shared-cache call and one store call for the misses. See
    /// ``RouteResolver/resolutions(_:consistency:timeout:)``.
    public func resolutions(
        _ routes: [RouteID], consistency: ReadConsistency = .default, timeout: Duration? = nil
    ) async throws -> [Result<RouteResolution, TrafficManagerError>] {
        try await resolver.resolutions(routes, consistency: consistency, timeout: timeout)
    }

    /// The URL the route resolves to, validating the names first.
    ///
    /// - Throws: ``TrafficManagerError`` with code ``TrafficManagerError/Code/invalidInput``
    ///   for a malformed name, else as ``RouteResolver/resolve(_:consistency:timeout:)``.
    public func resolve(
        tenant: String, service: String, environment: String, version: String, timeout: Duration? = nil
    ) async throws -> String {
        let route: RouteID
        do {
            route = try RouteID(tenant: tenant, service: service, environment: environment, version: version)
        } catch {
            throw TrafficManagerError.invalidInput(error)
        }
        return try await resolver.resolve(route, timeout: timeout)
    }

    /// Creates the route, or points it at `url`; either way it ends up active.
    ///
    /// With `expectedRevision`, only when the route is at that revision (0: when it does not
    /// exist); see ``RouteCommand/expectedRevision``.
    ///
    /// - Throws: ``TrafficManagerError`` or `CancellationError`, as ``RouteWriter/write(idempotencyKey:_:)``.
    @discardableResult
    public func createRoute(
        _ route: RouteID, url: String, idempotencyKey: String? = nil, expectedRevision: UInt64? = nil
    ) async throws -> RouteWriteResult {
        try await writer.write(idempotencyKey: idempotencyKey) { () throws(ValidationError) in
            try RouteCommand(
                route: route, operation: .upsert(url: url), expectedRevision: expectedRevision,
                allowedURLSchemes: configuration.allowedURLSchemes)
        }
    }

    /// Creates the route, or points it at `url`, validating every input first.
    ///
    /// - Throws: ``TrafficManagerError`` or `CancellationError`, as ``RouteWriter/write(idempotencyKey:_:)``.
    @discardableResult
    public func createRoute(
        tenant: String, service: String, environment: String, version: String, url: String,
        idempotencyKey: String? = nil, expectedRevision: UInt64? = nil
    ) async throws -> RouteWriteResult {
        try await writer.write(idempotencyKey: idempotencyKey) { () throws(ValidationError) in
            try RouteCommand(
                route: RouteID(tenant: tenant, service: service, environment: environment, version: version),
                operation: .upsert(url: url), expectedRevision: expectedRevision,
                allowedURLSchemes: configuration.allowedURLSchemes)
        }
    }

    /// Applies `commands` in one transaction — all or none — then invalidates each route and
    /// publishes each change's event, in order. See ``RouteWriter/writeBatch(_:allowedURLSchemes:)``.
    @discardableResult
    public func applyBatch(_ commands: [RouteCommand]) async throws -> [RouteWriteResult] {
        try await writer.writeBatch(commands, allowedURLSchemes: configuration.allowedURLSchemes)
    }

    /// Makes an existing route resolve again.
    ///
    /// - Throws: ``TrafficManagerError`` or `CancellationError`, as ``RouteWriter/write(idempotencyKey:_:)``.
    @discardableResult
    public func activateRoute(
        _ route: RouteID, idempotencyKey: String? = nil, expectedRevision: UInt64? = nil
    ) async throws -> RouteWriteResult {
        try await writer.write(idempotencyKey: idempotencyKey) { () throws(ValidationError) in
            try RouteCommand(route: route, operation: .activate, expectedRevision: expectedRevision)
        }
    }

    /// Stops an existing route from resolving; its record stays.
    ///
    /// - Throws: ``TrafficManagerError`` or `CancellationError`, as ``RouteWriter/write(idempotencyKey:_:)``.
    @discardableResult
    public func deactivateRoute(
        _ route: RouteID, idempotencyKey: String? = nil, expectedRevision: UInt64? = nil
    ) async throws -> RouteWriteResult {
        try await writer.write(idempotencyKey: idempotencyKey) { () throws(ValidationError) in
            try RouteCommand(route: route, operation: .deactivate, expectedRevision: expectedRevision)
        }
    }
}
