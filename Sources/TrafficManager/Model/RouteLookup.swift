/// What the store knows about a route, as the read path needs it.
public struct RouteLookup: Hashable, Sendable {
    /// The URL when the route exists and is active; `nil` otherwise.
    public var url: String?
    /// The route's revision at the time of the read; 0 when the route has never existed.
    public var revision: UInt64

    /// Creates a lookup result.
    public init(url: String?, revision: UInt64) {
        self.url = url
        self.revision = revision
    }

    /// The answer for a route that has never existed.
    public static let neverExisted = RouteLookup(url: nil, revision: 0)
}
