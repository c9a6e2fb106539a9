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
    /// When set, the write applies only if the route is at this revision (0: it does not
    /// exist yet), as etcd's and Consul's compare-and-set do; otherwise it fails with
    /// ``TrafficManagerError/Code/revisionConflict`` carrying the current revision. A write
    /// that finds the route at the expected revision and already in the requested state
    /// changes nothing. Retry a compare-and-set write with an idempotency key: a retry after a
    /// lost reply then gets the first result instead of a conflict with itself.
    public var expectedRevision: UInt64?

    /// Creates a command. The URL of an upsert is validated here (see ``EndpointURL``).
    ///
    /// - Parameters:
    ///   - route: the route written.
    ///   - operation: what to do to it.
    ///   - expectedRevision: see ``expectedRevision``; `nil` writes whatever the revision.
    ///   - allowedURLSchemes: the schemes an upsert's URL may use, lowercase.
    /// - Throws: ``ValidationError`` when the URL is not acceptable, or the expected revision
    ///   is past the largest PostgreSQL `bigint`.
    public init(
        route: RouteID, operation: Operation, expectedRevision: UInt64? = nil,
        allowedURLSchemes: Set<String> = EndpointURL.defaultSchemes
    ) throws(ValidationError) {
        if let expectedRevision, expectedRevision > UInt64(Int64.max) {
            throw ValidationError(field: .expectedRevision, rule: .outOfRange(maximum: UInt64(Int64.max)))
        }
        self.expectedRevision = expectedRevision
        if case .upsert(let url) = operation {
            try EndpointURL.validate(url, allowedSchemes: allowedURLSchemes)
        }
        self.route = route
        self.operation = operation
    }

    /// A canonical text of the request (operation, route, URL, expected revision), used to tell whether a reused idempotency key comes with
    /// the same request. Names cannot contain `|`, so the text is unambiguous.
    public var fingerprint: String {
        let target = "\(route.tenant)|\(route.service)|\(route.environment)|\(route.version)"
        let text: String
        switch operation {
        case .upsert(let url): text = "upsert|\(target)|\(url)"
        case .activate: text = "activate|\(target)"
        case .deactivate: text = "deactivate|\(target)"
        }
        // A compare-and-set is a different request from a plain write; the suffix cannot be
        // mistaken for part of a URL, which never holds a space.
        return expectedRevision.map { "\(text) expect=\($0)" } ?? text
    }
}
