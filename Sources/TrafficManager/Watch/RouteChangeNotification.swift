/// What ``TrafficManager/changes(bufferSize:)`` delivers.
public enum RouteChangeNotification: Sendable, Hashable {
    /// A route changed (delivered by the change feed, in order per route).
    case changed(RouteEvent)
    /// A route changed, read from the store's history with the position to resume after
    /// (``TrafficManager/changes(after:pageSize:)``).
    case stored(PositionedChange)
    /// Changes were not delivered to this watcher — it fell behind by more than its buffer, or
    /// the change feed started over — so whatever it derived from them may be stale: read again
    /// what it tracks (``TrafficManager/resolution(_:consistency:timeout:)``), then go on with the
    /// changes that follow.
    case resync
}
