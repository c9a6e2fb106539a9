import CoreMetrics
import Logging

/// The read path (spec §2, §8, §11): resolves a route to its URL through the cache, falling
/// back to the store.
///
/// - A positive cache entry answers with its URL; a negative one throws
///   ``TrafficManagerError/Code/routeNotFound``.
/// - On a miss (no entry, a tombstone, or a cache that failed) the store is read — once for
///   all concurrent misses of the same route — and the answer is cached with the revision it
///   was read at: the URL for ``TrafficManagerConfiguration/positiveTTL``, a not-found entry for
///   ``TrafficManagerConfiguration/negativeTTL``.
/// - A failing cache is skipped (``CircuitBreaker``); a failing store on a miss throws
///   ``TrafficManagerError/Code/storeUnavailable``.
public final class RouteResolver: Sendable {
    private let store: any RouteStore
    private let cache: any RouteCache
    private let configuration: TrafficManagerConfiguration
    private let breaker: CircuitBreaker
    private let metrics: TrafficManagerMetrics
    private let time: any TimeSource
    private let logger: Logger
    let loads = SingleFlight<RouteID, RouteLookup>()

    /// Creates a resolver.
    ///
    /// - Parameter breaker: shared with the ``RouteWriter`` of the same cache, so both see its
    ///   health.
    public init(
        store: any RouteStore,
        cache: any RouteCache,
        configuration: TrafficManagerConfiguration,
        breaker: CircuitBreaker,
        metrics: TrafficManagerMetrics,
        time: any TimeSource = SystemTimeSource(),
        logger: Logger
    ) {
        self.store = store
        self.cache = cache
        self.configuration = configuration
        self.breaker = breaker
        self.metrics = metrics
        self.time = time
        self.logger = logger
    }

    /// Where the cache's breaker stands: closed while the cache answers.
    public var cacheBreakerState: CircuitBreaker.State { breaker.currentState }

    /// The URL `route` resolves to.
    ///
    /// - Throws: ``TrafficManagerError`` with code `routeNotFound` when the route does not exist
    ///   or is inactive; when the answer is not cached and the store cannot answer,
    ///   `storeUnavailable` (with the SQLSTATE when the server sent one), `deadlineExceeded`
    ///   (the store's call timed out), `overloaded` (its queue is full) or `notRunning` (the
    ///   store was shut down or never run); `CancellationError` when the calling task is
    ///   cancelled before the call or while it waits. Nothing else.
    public func resolve(_ route: RouteID) async throws -> String {
        metrics.resolveRequests.increment()
        let start = ContinuousClock.now
        defer { metrics.resolveLatency.recordInterval(since: start) }
        try Task.checkCancellation()

        switch await cachedEntry(route) {
        case .endpoint(let url, _)?:
            metrics.cacheHits.increment()
            return url
        case .notFound?:
            metrics.negativeCacheHits.increment()
            throw TrafficManagerError.routeNotFound(route)
        case .tombstone?, nil:
            try Task.checkCancellation()
            metrics.cacheMisses.increment()
        }

        let lookup = try await loads.run(route) { [self] in try await load(route) }
        guard let url = lookup.url else { throw TrafficManagerError.routeNotFound(route) }
        return url
    }

    /// The cache's entry, or `nil` when there is none or the cache is unusable.
    private func cachedEntry(_ route: RouteID) async -> CachedRoute? {
        guard breaker.allowsRequest() else { return nil }
        do {
            let entry = try await cache.get(route)
            breaker.recordSuccess()
            return entry
        } catch is CancellationError {
            // The caller left: says nothing about the cache's health.
            return nil
        } catch {
            cacheFailed(error, operation: "get", route: route)
            return nil
        }
    }

    /// Reads the store and caches the answer unless a newer one is cached already.
    private func load(_ route: RouteID) async throws -> RouteLookup {
        let started = time.monotonicNow()
        let lookup: RouteLookup
        do {
            lookup = try await store.lookup(route)
        } catch {
            let failure = Self.storeError(error)
            logger.error("route store read failed", metadata: ["route": "\(route)", "error": "\(failure)"])
            throw failure
        }

        // A fill after a read older than a tombstone's lifetime could outlive the tombstone
        // that should refuse it; such a read is answered but not cached.
        guard time.monotonicNow() - started < configuration.tombstoneTTL, breaker.allowsRequest() else {
            return lookup
        }
        let entry: CachedRoute
        let ttl: Duration
        if let url = lookup.url {
            (entry, ttl) = (.endpoint(url: url, revision: lookup.revision), configuration.positiveTTL)
        } else {
            (entry, ttl) = (.notFound(revision: lookup.revision), configuration.negativeTTL)
        }
        do {
            let stored = try await cache.fill(route, with: entry, ttl: ttl)
            breaker.recordSuccess()
            if !stored {
                logger.debug("cache fill refused: a newer revision is cached", metadata: ["route": "\(route)"])
            }
        } catch {
            cacheFailed(error, operation: "fill", route: route)
        }
        return lookup
    }

    private func cacheFailed(_ error: any Error, operation: String, route: RouteID) {
        breaker.recordFailure()
        metrics.cacheErrors.increment()
        logger.warning(
            "route cache \(operation) failed; answering from the store",
            metadata: ["route": "\(route)", "error": "\(error)"])
    }

    /// A store failure as a read error: whatever the store threw, a failed read is
    /// `storeUnavailable` (`deadlineExceeded`, `overloaded` and `notRunning` pass as they are).
    /// The load runs in a task of its own, so a `CancellationError` from the store is not the
    /// caller's cancellation.
    static func storeError(_ error: any Error) -> TrafficManagerError {
        if let error = error as? TrafficManagerError {
            switch error.code {
            case .storeUnavailable, .deadlineExceeded, .notRunning, .overloaded: return error
            default: return .storeUnavailable("the store failed a read: \(error.message)", sqlState: error.sqlState, underlying: error)
            }
        }
        if error is CancellationError { return .storeUnavailable("the store read was cancelled", underlying: error) }
        return .storeUnavailable("the store threw \(String(describing: error))", underlying: error)
    }
}

extension Timer {
    /// Records the time elapsed since `start`.
    func recordInterval(since start: ContinuousClock.Instant) {
        recordNanoseconds(start.duration(to: .now).wholeNanoseconds)
    }
}
