/// A resolve's answer with where it came from: ``TrafficManager/TrafficManager/resolution(_:consistency:timeout:)``.
public struct RouteResolution: Hashable, Sendable {
    /// Where an answer came from. Sources are static properties rather than enum cases, so a
    /// release can add one (the coming in-process near cache, an answer served stale) without
    /// breaking an exhaustive `switch`.
    public struct Source: Hashable, Sendable, CustomStringConvertible {
        // A byte, not a name: a resolution is made on every resolve, and a string would cost
        // a retain and a release there.
        private let raw: UInt8
        private init(_ raw: UInt8) { self.raw = raw }

        /// The shared cache (Redis) held the route.
        public static var sharedCache: Source { Source(1) }
        /// The store was read: the cache had no usable entry.
        public static var store: Source { Source(2) }
        /// The in-process near cache held the route (``NearCacheConfiguration``).
        public static var nearCache: Source { Source(3) }
        /// An expired entry, served because the shared cache and the store both failed
        /// (``TrafficManagerConfiguration/maxStale``).
        public static var stale: Source { Source(4) }

        /// `shared`, `store`, `near` or `stale`.
        public var description: String {
            switch raw {
            case 1: return "shared"
            case 2: return "store"
            case 3: return "near"
            default: return "stale"
            }
        }
    }

    /// The URL the route resolves to.
    public var url: String
    /// The route's revision the answer is at.
    public var revision: UInt64
    /// Where the answer came from.
    public var source: Source
    /// How long ago the answer was read from the store (or written), as far as this process
    /// knows: since it was filled into the shared cache, or, for an entry whose shared-cache
    /// value does not say, since this process received it.
    public var age: Duration {
        get { .nanoseconds(ageNanoseconds) }
        set { ageNanoseconds = newValue.wholeNanoseconds }
    }
    // Nanoseconds, not a Duration: the hit path makes one on every resolve, and converting
    // costs 128-bit arithmetic there.
    private var ageNanoseconds: Int64

    /// Creates a resolution.
    public init(url: String, revision: UInt64, source: Source, age: Duration = .zero) {
        self.init(url: url, revision: revision, source: source, ageNanoseconds: age.wholeNanoseconds)
    }

    init(url: String, revision: UInt64, source: Source, ageNanoseconds: Int64) {
        self.url = url
        self.revision = revision
        self.source = source
        self.ageNanoseconds = max(0, ageNanoseconds)
    }
}
