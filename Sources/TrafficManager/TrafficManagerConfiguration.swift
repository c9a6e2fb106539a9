/// Settings shared by the read and write paths.
public struct TrafficManagerConfiguration: Sendable, Hashable {
    /// How long a resolved URL stays cached. Default 60 s.
    public var positiveTTL: Duration
    /// How long a not-found answer stays cached. Default 10 s.
    public var negativeTTL: Duration
    /// How long an invalidation tombstone stays cached. Default 30 s. The writer and every
    /// ``CacheInvalidationConsumer`` made by ``TrafficManager/cacheInvalidationConsumer(logger:)``
    /// use this one value.
    public var tombstoneTTL: Duration
    /// How long after its store read began a fill may still land in the cache. A fill sent
    /// later is not sent; a fill that reaches the cache later (a slow or frozen network path)
    /// is refused there, by the cache's own clock. Default 10 s; at most half of
    /// ``tombstoneTTL`` is used (see ``effectiveFillWindow``).
    ///
    /// A fill that read the store before a write can only land while the write's tombstone is
    /// still there to refuse it: the tombstone outlives every fill the guard lets through by
    /// `tombstoneTTL − effectiveFillWindow` (20 s by default), less the clock difference
    /// between this process and the cache server.
    public var fillWindow: Duration
    /// How long a resolve may take in all: the cache, a load it starts or joins, and the one
    /// reload after a load that answered from before a known write. Past it the caller gets
    /// ``TrafficManagerError/Code/deadlineExceeded`` while a shared load runs on for the
    /// others. Default 10 s; the adapters' own call timeouts are usually shorter.
    public var resolveTimeout: Duration
    /// When to stop waiting on a failing cache.
    public var cacheBreaker: CircuitBreaker.Configuration
    /// The in-process near cache, used when the manager is given a ``RouteChangeFeed``;
    /// `nil` turns it off. Default ``NearCacheConfiguration/init(capacity:maxLag:unprovenTTL:shards:earlyRefresh:)``.
    public var nearCache: NearCacheConfiguration?
    /// How long past its TTL an entry the near cache still holds may be served when the shared
    /// cache and the store both fail (stale-if-error, RFC 5861). Never an entry a write
    /// invalidated: that one is gone. Answers served so are marked
    /// ``RouteResolution/Source-swift.struct/stale`` and counted. Default zero: off.
    public var maxStale: Duration
    /// Each fill's TTL is shortened by a random part of up to this fraction, so that entries
    /// filled together do not expire together. Default 0.1.
    public var ttlJitter: Double
    /// How eagerly a shared-cache hit refreshes its entry before it expires: XFetch's β
    /// (Vattani et al., VLDB 2015). A hit whose entry is `age` old refreshes it in the
    /// background when `age + β·δ·(−ln u) ≥ TTL·(1 − ttlJitter)` — δ the store read's cost,
    /// measured by this process, u uniform in (0, 1] — once per route at a time. The entry's
    /// age comes from the read time the shared cache keeps (``RouteCache/entry(_:)``); a cache
    /// that keeps none gets no early refresh. Default 1; 0 turns it off. The near cache has its
    /// own (``NearCacheConfiguration/earlyRefresh``).
    public var sharedCacheEarlyRefresh: Double
    /// Put before every metric name. Default ``TrafficManagerMetrics/defaultPrefix``,
    /// `trafficmanager_`; the adapters' configurations have the same setting.
    public var metricsPrefix: String
    /// The URL schemes a write may point a route at, lowercase. Default `http` and `https`;
    /// add others (`wss`, `grpc`, `postgres`, …) for topologies that route to such endpoints.
    /// Only writes check it: a URL already stored resolves whatever its scheme.
    public var allowedURLSchemes: Set<String> {
        get { schemes }
        set { schemes = Set(newValue.map { $0.lowercased() }) }
    }
    private var schemes: Set<String>

    /// Creates a configuration; every default follows the specification.
    public init(
        positiveTTL: Duration = .seconds(60),
        negativeTTL: Duration = .seconds(10),
        tombstoneTTL: Duration = .seconds(30),
        fillWindow: Duration = .seconds(10),
        resolveTimeout: Duration = .seconds(10),
        cacheBreaker: CircuitBreaker.Configuration = .init(),
        nearCache: NearCacheConfiguration? = .init(),
        maxStale: Duration = .zero,
        ttlJitter: Double = 0.1,
        sharedCacheEarlyRefresh: Double = 1,
        metricsPrefix: String = TrafficManagerMetrics.defaultPrefix,
        allowedURLSchemes: Set<String> = EndpointURL.defaultSchemes
    ) {
        self.schemes = []
        self.positiveTTL = positiveTTL
        self.negativeTTL = negativeTTL
        self.tombstoneTTL = tombstoneTTL
        self.fillWindow = fillWindow
        self.resolveTimeout = resolveTimeout
        self.cacheBreaker = cacheBreaker
        self.nearCache = nearCache
        self.maxStale = maxStale
        self.ttlJitter = min(max(ttlJitter, 0), 0.5)
        self.sharedCacheEarlyRefresh = max(0, sharedCacheEarlyRefresh.isFinite ? sharedCacheEarlyRefresh : 0)
        self.metricsPrefix = metricsPrefix
        self.allowedURLSchemes = allowedURLSchemes
    }

    /// The fill window in force: ``fillWindow``, at most half of ``tombstoneTTL``, so that a
    /// tombstone always outlives the fills it must refuse.
    public var effectiveFillWindow: Duration { min(fillWindow, tombstoneTTL / 2) }

    /// `ttl` less a random part of up to ``ttlJitter`` of it.
    func jittered(_ ttl: Duration) -> Duration {
        guard ttlJitter > 0 else { return ttl }
        return ttl * (1 - Double.random(in: 0..<ttlJitter))
    }
}
