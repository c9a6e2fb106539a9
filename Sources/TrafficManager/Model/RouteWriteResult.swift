/// The outcome of a write.
public struct RouteWriteResult: Hashable, Sendable {
    /// The route's record after the write.
    public var endpoint: RouteEndpoint
    /// The change the write made, or `nil` when the route already was in the requested state
    /// (a retried write changes nothing and publishes nothing).
    public var event: RouteEvent?
    /// `true` when this is the stored result of an earlier write with the same idempotency key.
    public var replayed: Bool

    /// Creates a result.
    public init(endpoint: RouteEndpoint, event: RouteEvent?, replayed: Bool = false) {
        self.endpoint = endpoint
        self.event = event
        self.replayed = replayed
    }

    /// Whether the write changed the route.
    public var changed: Bool { event != nil }
}
