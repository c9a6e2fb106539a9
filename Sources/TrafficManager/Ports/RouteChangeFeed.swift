/// Every route change, delivered to this process as it is published, with proof of how far
/// behind the delivery is: what the near cache and watches follow.
///
/// Unlike ``RouteEventSource`` it has no consumer group and keeps no position: each process
/// reads every change itself (for Kafka, every partition of the topic), from about when it
/// started following. Deliveries are not acknowledged.
public protocol RouteChangeFeed: Sendable {
    /// Calls `observe` with each change published from about now on, and with a
    /// ``RouteChangeFeedElement/caughtUp(lag:)`` mark each time it can prove it delivered
    /// everything published up to some instant, until the calling task is cancelled or the
    /// feed fails (it then throws; following again starts afresh).
    ///
    /// `observe` runs on the feed's own thread or task and must return quickly: copy, do not
    /// wait.
    func follow(_ observe: @escaping @Sendable (RouteChangeFeedElement) -> Void) async throws
}

/// What a ``RouteChangeFeed`` delivers.
public enum RouteChangeFeedElement: Sendable, Hashable {
    /// A published change.
    case change(RouteEvent)
    /// Every change published more than `lag` ago has been delivered.
    case caughtUp(lag: Duration)
}
