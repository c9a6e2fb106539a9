/// What a write did to a route.
public enum RouteAction: String, Hashable, Sendable, Codable, CaseIterable {
    /// The route did not exist and now does, active.
    case created
    /// The route's URL changed; it is active.
    case updated
    /// The route was inactive and is active again, with the same URL.
    case activated
    /// The route was active and is now inactive.
    case deactivated
}
