import Foundation
import Logging
import ServiceLifecycle
import TrafficManager
import TrafficManagerKafka
import TrafficManagerPostgres
import TrafficManagerRedis

/// The adapters one command uses, running for the length of the command.
struct Backends {
    let store: PostgresRouteStore
    let cache: (any RouteCache)?
    let publisher: KafkaEventPublisher?
    let logger: Logger

    /// The store, plus the cache when `cache` gives one and a Kafka publisher when `kafka`
    /// names servers.
    init(store: StoreOptions, cache: CacheOptions? = nil, kafka: KafkaOptions? = nil, logger: Logger) throws {
        self.store = PostgresRouteStore(configuration: try store.configuration(), logger: logger)
        self.cache = try cache?.configuration().map { RedisRouteCache(configuration: $0, logger: logger) }
        if let kafka, let servers = kafka.bootstrapServers {
            publisher = try KafkaEventPublisher(configuration: .init(bootstrapServers: servers, topic: kafka.topicName), logger: logger)
        } else {
            publisher = nil
        }
        self.logger = logger
    }

    /// Runs `body` while the adapters run, then shuts them down gracefully.
    func run<T: Sendable>(_ body: @Sendable (Backends) async throws -> T) async throws -> T {
        var services: [any Service] = [store]
        if let cache = cache as? RedisRouteCache { services.append(cache) }
        if let publisher { services.append(publisher) }
        let group = ServiceGroup(services: services, gracefulShutdownSignals: [], logger: logger)
        let running = Task { try await group.run() }
        let outcome: Result<T, any Error>
        do {
            outcome = .success(try await body(self))
        } catch {
            outcome = .failure(error)
        }
        await group.triggerGracefulShutdown()
        _ = await running.result
        return try outcome.get()
    }

    /// A manager on these adapters. Its writes invalidate the cache (their failures are
    /// recorded in `invalidations`) and leave each event in the outbox: published at once when
    /// Kafka is configured, else by the next `tmctl relay` or ``OutboxRelay``.
    func manager(invalidations: InvalidationRecord) -> TrafficManager {
        let eventPublisher: any EventPublisher =
            publisher.map { OutboxPublisher(publisher: $0, outbox: store) } ?? LeaveInOutbox()
        let watched = RecordingCache(inner: cache ?? InMemoryRouteCache(), record: invalidations)
        return TrafficManager(store: store, cache: watched, publisher: eventPublisher, logger: logger)
    }
}

/// Every stored route `filter` passes, page by page, in listing order.
func allRoutes(matching filter: RouteFilter, in store: any RouteStore) async throws -> [RouteEndpoint] {
    var routes: [RouteEndpoint] = []
    var cursor: RouteID?
    repeat {
        let page = try await store.routes(matching: filter, after: cursor, limit: RoutePage.maximumLimit)
        routes += page.routes
        cursor = page.nextCursor
    } while cursor != nil
    return routes
}

/// A publisher that publishes nothing, so each event stays unmarked in the outbox for a relay.
struct LeaveInOutbox: EventPublisher {
    func publish(_ event: RouteEvent) async throws {}
}

/// The routes whose cache invalidation failed during this command.
final class InvalidationRecord: Sendable {
    private let failed = Locked<[RouteID: String]>([:])

    func record(_ route: RouteID, _ error: any Error) { failed.withLock { $0[route] = "\(error)" } }

    var failures: [RouteID: String] { failed.withLock { $0 } }

    /// Fails the command when an invalidation failed: the write stands, but until the cache
    /// entry expires a resolve elsewhere may still answer the old URL.
    func check(positiveTTL: Duration) throws {
        let failures = failures
        guard let (route, error) = failures.first else { return }
        throw CommandFailure(
            .unavailable,
            "written, but the Redis entry of \(failures.count == 1 ? "\(route)" : "\(failures.count) routes (\(route) first)") could not be invalidated (\(error)); "
                + "the old URL may be served until it expires (up to \(positiveTTL.formatted())) or an event reaches the consumers. Run the same command again to invalidate again")
    }
}

/// A cache that records failed invalidations.
struct RecordingCache: RouteCache {
    let inner: any RouteCache
    let record: InvalidationRecord

    func get(_ route: RouteID) async throws -> CachedRoute? { try await inner.get(route) }

    func fill(_ route: RouteID, with value: CachedRoute, ttl: Duration) async throws -> Bool {
        try await inner.fill(route, with: value, ttl: ttl)
    }

    func fill(_ route: RouteID, with value: CachedRoute, ttl: Duration, notAfter: Date) async throws -> Bool {
        try await inner.fill(route, with: value, ttl: ttl, notAfter: notAfter)
    }

    func invalidate(_ route: RouteID, revision: UInt64, ttl: Duration) async throws {
        do {
            try await inner.invalidate(route, revision: revision, ttl: ttl)
        } catch {
            record.record(route, error)
            throw error
        }
    }
}

extension Duration {
    /// `250 ms`, `30 s`, `5 min`: the largest unit that shows it whole.
    func formatted() -> String {
        let milliseconds = wholeMilliseconds
        if milliseconds % 60_000 == 0 && milliseconds > 0 { return "\(milliseconds / 60_000) min" }
        if milliseconds % 1_000 == 0 { return "\(milliseconds / 1_000) s" }
        return "\(milliseconds) ms"
    }
}
