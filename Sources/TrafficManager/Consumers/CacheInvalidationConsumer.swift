import Logging

/// Invalidates a route's cache entry when its event arrives.
///
/// It writes a tombstone at the event's revision, which removes positive and negative entries
/// alike, and never replaces an entry at the same or a newer revision — so a redelivered or
/// late event cannot undo a newer state.
public struct CacheInvalidationConsumer: RouteEventHandler {
    private let cache: any RouteCache
    private let tombstoneTTL: Duration
    private let logger: Logger

    /// Creates a consumer for `cache`; use the same tombstone TTL as the read path.
    public init(
        cache: any RouteCache, tombstoneTTL: Duration = TrafficManagerConfiguration().tombstoneTTL,
        logger: Logger = Logger(label: "TrafficManager.CacheInvalidation")
    ) {
        self.cache = cache
        self.tombstoneTTL = tombstoneTTL
        self.logger = logger
    }

    public func handle(_ event: RouteEvent) async throws {
        try await cache.invalidate(event.route, revision: event.revision, ttl: tombstoneTTL)
        logger.debug("invalidated", metadata: ["route": "\(event.route)", "revision": "\(event.revision)"])
    }
}
