/// The routes being refreshed early now, so that each has at most one refresh at a time.
final class RefreshClaims: Sendable {
    private let claimed = Locked<Set<RouteID>>([])

    /// Claims `route`; `false` when a refresh of it runs already.
    func begin(_ route: RouteID) -> Bool { claimed.withLock { $0.insert(route).inserted } }

    /// Gives `route` back.
    func end(_ route: RouteID) { _ = claimed.withLock { $0.remove(route) } }

    /// How many routes are being refreshed now.
    var count: Int { claimed.withLock { $0.count } }
}
