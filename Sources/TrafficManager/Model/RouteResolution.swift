/// A resolve's answer with where it came from: ``TrafficManager/TrafficManager/resolution(_:timeout:)``.
public struct RouteResolution: Hashable, Sendable {
    /// Where an answer came from. Sources are static properties rather than enum cases, so a
    /// release can add one (the coming in-process near cache, an answer served stale) without
    /// breaking an exhaustive `switch`.
    public struct Source: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }

        /// The shared cache (Redis) held the route.
        public static let sharedCache = Source("shared")
        /// The store was read: the cache had no usable entry.
        public static let store = Source("store")

        /// `shared` or `store`.
        public var description: String { name }
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
