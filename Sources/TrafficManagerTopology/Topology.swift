import TrafficManager

/// Routes grouped by tenant, as a topology file holds them — the format `tmctl import` reads
/// and `tmctl export` writes, in YAML or JSON (Docs/tmctl.md):
///
/// ```yaml
/// tenant: chat-app            # or  tenants: [{tenant: chat-app, routes: [...]}, ...]
/// routes:
///   - service: gateway
///     environment: prod
///     version: v1
///     url: http://gateway-service.prod.svc.cluster.local:4000
///     active: true            # optional, default true
/// ```
///
/// ```swift
/// let topology = try Topology(contentsOfFile: "Examples/Topologies/chat-application.yaml")
/// try await manager.applyBatch(topology.commands())
/// ```
public struct Topology: Hashable, Sendable {
    /// One route of the file.
    public struct Route: Hashable, Sendable {
        /// The route.
        public var route: RouteID
        /// The URL it resolves to.
        public var url: String
        /// Whether it resolves; `active: false` in the file.
        public var isActive: Bool
        /// The line of the file it starts on (0 when not read from a file).
        public var line: Int

        /// Creates a route entry.
        public init(route: RouteID, url: String, isActive: Bool = true, line: Int = 0) {
            self.route = route
            self.url = url
            self.isActive = isActive
            self.line = line
        }
    }

    /// The routes, in file order.
    public var routes: [Route]
    /// Every tenant the file names, in file order, even one with no routes.
    public var tenants: [String]

    /// Creates a topology.
    public init(routes: [Route], tenants: [String]) {
        self.routes = routes
        self.tenants = tenants
    }

    /// The commands that make each route of the topology exist as the file says: an upsert of
    /// its URL, followed by a deactivation for an inactive one. Apply them in one batch
    /// (`TrafficManager/TrafficManager/applyBatch(_:)`) to load the topology into a store.
    public func commands() throws -> [RouteCommand] {
        try routes.flatMap { route -> [RouteCommand] in
            let upsert = try RouteCommand(route: route.route, operation: .upsert(url: route.url))
            return route.isActive ? [upsert] : [upsert, try RouteCommand(route: route.route, operation: .deactivate)]
        }
    }
}
