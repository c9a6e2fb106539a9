/// A resolve's answer with where it came from: ``TrafficManager/TrafficManager/resolution(_:timeout:)``.
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

        /// `shared` or `store`.
        public var description: String { raw == 1 ? "shared" : "store" }
    }

    /// The URL the route resolves to.
    public var url: String
    /// The route's revision the answer is at.
    public var revision: UInt64
    /// Where the answer came from.
    public var source: Source

    /// Creates a resolution.
    public init(url: String, revision: UInt64, source: Source) {
        self.url = url
        self.revision = revision
        self.source = source
    }
}
