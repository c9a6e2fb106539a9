/// Settings shared by the read and write paths.
public struct TrafficManagerConfiguration: Sendable, Hashable {
    /// How long a resolved URL stays cached. Default 60 s (spec §2).
    public var positiveTTL: Duration
    /// How long a not-found answer stays cached. Default 10 s (spec §2).
    public var negativeTTL: Duration
    /// How long an invalidation tombstone stays cached. It must outlast the slowest store read
    /// of a resolve: a fill whose store read took longer than this is not written to the cache.
    /// Default 30 s.
    public var tombstoneTTL: Duration
    /// When to stop waiting on a failing cache.
    public var cacheBreaker: CircuitBreaker.Configuration
    /// Put before every metric name, e.g. `"trafficmanager_"`. Default none.
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
        cacheBreaker: CircuitBreaker.Configuration = .init(),
        metricsPrefix: String = "",
        allowedURLSchemes: Set<String> = EndpointURL.defaultSchemes
    ) {
        self.schemes = []
        self.positiveTTL = positiveTTL
        self.negativeTTL = negativeTTL
        self.tombstoneTTL = tombstoneTTL
        self.cacheBreaker = cacheBreaker
        self.metricsPrefix = metricsPrefix
        self.allowedURLSchemes = allowedURLSchemes
    }
}
