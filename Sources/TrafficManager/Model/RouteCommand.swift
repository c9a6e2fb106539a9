/// One write to a route, as the store applies it in a single transaction.
public struct RouteCommand: Hashable, Sendable {
    /// What to do to the route.
    public enum Operation: Hashable, Sendable {
        /// Create the route, or point it at `url`; either way it ends up active.
        case upsert(url: String)
        /// Make an existing route resolve again.
        case activate
        /// Stop an existing route from resolving; its record stays.
        case deactivate
    }

    /// The route written.
    public var route: RouteID
    /// The operation.
    public var operation: Operation

    /// Creates a command. The URL of an upsert is validated here (see ``EndpointURL``).
    ///
    /// - Parameter allowedURLSchemes: the schemes an upsert's URL may use, lowercase.
    /// - Throws: ``ValidationError`` when the URL is not acceptable.
    public init(
        route: RouteID, operation: Operation, allowedURLSchemes: Set<String> = EndpointURL.defaultSchemes
    ) throws(ValidationError) {
        if case .upsert(let url) = operation {
            try EndpointURL.validate(url, allowedSchemes: allowedURLSchemes)
        }
        self.route = route
        self.operation = operation
    }

    /// A canonical text of the request, used to tell whether a reused idempotency key comes with
    /// the same request. Names cannot contain `|`, so the text is unambiguous.
    public var fingerprint: String {
        let target = "\(route.tenant)|\(route.service)|\(route.environment)|\(route.version)"
        switch operation {
        case .upsert(let url): return "upsert|\(target)|\(url)"
        case .activate: return "activate|\(target)"
        case .deactivate: return "deactivate|\(target)"
        }
    }
}
