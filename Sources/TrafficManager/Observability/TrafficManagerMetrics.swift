import CoreMetrics

/// The metrics TrafficManager records, created once through a swift-metrics factory.
///
/// Names are fixed, behind a configurable prefix (``defaultPrefix``, `trafficmanager_`, then
/// `cache_hit_total`). No metric carries per-tenant or per-route dimensions, so cardinality
/// stays fixed.
public struct TrafficManagerMetrics: Sendable {
    /// The prefix every TrafficManager metric has unless configured otherwise: `trafficmanager_`.
    public static let defaultPrefix = "trafficmanager_"

    /// Every resolve call.
    public let resolveRequests: Counter
    /// Resolves answered by a positive cache entry.
    public let cacheHits: Counter
    /// Resolves answered by a negative cache entry.
    public let negativeCacheHits: Counter
    /// Resolves that went to the store (no entry, a tombstone, or the cache unusable).
    public let cacheMisses: Counter
    /// Time to answer a resolve, success or error.
    public let resolveLatency: Timer
    /// Every write call.
    public let writeRequests: Counter
    /// Writes that committed (replays of an idempotency key included).
    public let writeSuccesses: Counter
    /// Writes that failed: invalid input, an unreachable store, a rolled-back transaction.
    public let writeFailures: Counter
    /// Time to answer a write, success or error.
    public let writeLatency: Timer
    /// Cache calls that failed (the read path then answered from the store).
    public let cacheErrors: Counter
    /// Events that could not be published after their write committed.
    public let publishFailures: Counter
    /// Resolves answered from the in-process near cache.
    public let nearCacheHits: Counter
    /// Routes the near cache holds (updated about once a second).
    public let nearCacheEntries: Gauge
    /// Entries the near cache evicted to make room.
    public let nearCacheEvictions: Counter
    /// How old the change feed's latest proof of being caught up is, in seconds (updated about
    /// once a second; the near cache serves only while it is under its `maxLag`).
    public let changeFeedLag: Gauge
    /// Answers served stale: expired entries served because the shared cache and the store
    /// both failed (``TrafficManagerConfiguration/maxStale``).
    public let staleAnswers: Counter
    /// Background refreshes started before an entry expired (XFetch), in the near cache and
    /// the shared cache (``TrafficManagerConfiguration/sharedCacheEarlyRefresh``).
    public let earlyRefreshes: Counter

    /// The metric names without prefix, as exported.
    public enum Name {
        public static let resolveRequests = "resolve_requests_total"
        public static let cacheHits = "cache_hit_total"
        public static let negativeCacheHits = "negative_cache_hit_total"
        public static let cacheMisses = "cache_miss_total"
        public static let resolveLatency = "resolve_latency_seconds"
        public static let writeRequests = "write_requests_total"
        public static let writeSuccesses = "write_success_total"
        public static let writeFailures = "write_failure_total"
        public static let writeLatency = "write_latency_seconds"
        public static let cacheErrors = "cache_errors_total"
        public static let publishFailures = "event_publish_failures_total"
        public static let nearCacheHits = "near_cache_hit_total"
        public static let nearCacheEntries = "near_cache_entries"
        public static let nearCacheEvictions = "near_cache_evictions_total"
        public static let changeFeedLag = "change_feed_lag_seconds"
        public static let staleAnswers = "stale_answer_total"
        public static let earlyRefreshes = "early_refresh_total"
    }

    /// Creates the metrics with `prefix` through `factory` (the bootstrapped one by default).
    public init(prefix: String = "", factory: any MetricsFactory = MetricsSystem.factory) {
        func counter(_ name: String) -> Counter { Counter(label: prefix + name, dimensions: [], factory: factory) }
        func timer(_ name: String) -> Timer { Timer(label: prefix + name, dimensions: [], factory: factory) }
        resolveRequests = counter(Name.resolveRequests)
        cacheHits = counter(Name.cacheHits)
        negativeCacheHits = counter(Name.negativeCacheHits)
        cacheMisses = counter(Name.cacheMisses)
        resolveLatency = timer(Name.resolveLatency)
        writeRequests = counter(Name.writeRequests)
        writeSuccesses = counter(Name.writeSuccesses)
        writeFailures = counter(Name.writeFailures)
        writeLatency = timer(Name.writeLatency)
        cacheErrors = counter(Name.cacheErrors)
        publishFailures = counter(Name.publishFailures)
        nearCacheHits = counter(Name.nearCacheHits)
        nearCacheEntries = Gauge(label: prefix + Name.nearCacheEntries, dimensions: [], factory: factory)
        nearCacheEvictions = counter(Name.nearCacheEvictions)
        changeFeedLag = Gauge(label: prefix + Name.changeFeedLag, dimensions: [], factory: factory)
        staleAnswers = counter(Name.staleAnswers)
        earlyRefreshes = counter(Name.earlyRefreshes)
    }
}
