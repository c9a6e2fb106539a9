import Foundation

/// The stored record of a route: where it points, whether it is active, and its revision.
public struct RouteEndpoint: Hashable, Sendable {
    /// The route this record belongs to.
    public var route: RouteID
    /// The URL the route resolves to while active.
    public var url: String
    /// Whether the route resolves. An inactive route resolves to ``TrafficManagerError/Code/routeNotFound``.
    public var isActive: Bool
    /// When the route was first created.
    public var createdAt: Date
    /// When the route last changed.
    public var updatedAt: Date
    /// The route's revision: 1 after creation, one more after each change. It never goes down.
    public var revision: UInt64

    /// Creates a record.
    public init(route: RouteID, url: String, isActive: Bool, createdAt: Date, updatedAt: Date, revision: UInt64) {
        self.route = route
        self.url = url
        self.isActive = isActive
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.revision = revision
    }
}
