/// Which routes a listing returns: every field set narrows it.
public struct RouteFilter: Hashable, Sendable {
    /// Only routes of this tenant.
    public var tenant: String?
    /// Only routes of this service.
    public var service: String?
    /// Only routes in this environment.
    public var environment: String?
    /// Whether deactivated routes are listed too. Default `true`.
    public var includeInactive: Bool

    /// Creates a filter; with no arguments it matches every route.
    public init(tenant: String? = nil, service: String? = nil, environment: String? = nil, includeInactive: Bool = true) {
        self.tenant = tenant
        self.service = service
        self.environment = environment
        self.includeInactive = includeInactive
    }

    /// Whether `endpoint` passes the filter.
    public func matches(_ endpoint: RouteEndpoint) -> Bool {
        let route = endpoint.route
        return (tenant.map { $0 == route.tenant } ?? true) && (service.map { $0 == route.service } ?? true)
            && (environment.map { $0 == route.environment } ?? true) && (includeInactive || endpoint.isActive)
    }
}

/// One page of a route listing.
///
/// Routes come in a fixed order — by tenant, service, environment and version, comparing the
/// names' bytes — so a listing resumed after ``nextCursor`` neither repeats nor skips a route
/// that existed throughout.
public struct RoutePage: Hashable, Sendable {
    /// The routes of this page, in order.
    public var routes: [RouteEndpoint]
    /// The last route of this page, to pass as `after` for the next one; `nil` on the last page.
    public var nextCursor: RouteID?

    /// Creates a page.
    public init(routes: [RouteEndpoint], nextCursor: RouteID?) {
        self.routes = routes
        self.nextCursor = nextCursor
    }

    /// The most routes one page holds.
    public static let maximumLimit = 1_000
}

extension RouteID {
    /// The listing order: tenant, service, environment, version, each by its UTF-8 bytes.
    public static func listingOrder(_ lhs: RouteID, _ rhs: RouteID) -> Bool {
        let left = [lhs.tenant, lhs.service, lhs.environment, lhs.version]
        let right = [rhs.tenant, rhs.service, rhs.environment, rhs.version]
        for (a, b) in zip(left, right) where a != b {
            return a.utf8.lexicographicallyPrecedes(b.utf8)
        }
        return false
    }
}
