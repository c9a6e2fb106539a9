import Foundation

/// The rules every ``RouteStore`` applies to a route's record, in one place.
public enum RouteTransition {
    /// What a command does to a route's record.
    public enum Outcome: Hashable, Sendable {
        /// The route already is in the requested state: the record as it stands.
        case unchanged(RouteEndpoint)
        /// The record after the change, and what changed.
        case changed(RouteEndpoint, RouteAction)
    }

    /// The outcome of applying `command` to `existing`.
    ///
    /// - upsert: a new route is `created` at revision 1; a different URL is `updated` (and
    ///   active); the same URL on an inactive route is `activated`.
    /// - activate / deactivate: flip `isActive` when it differs.
    ///
    /// - Throws: ``TrafficManagerError/Code/revisionConflict`` when the command expects another
    ///   revision than the record's (0 for no record); ``TrafficManagerError/Code/routeNotFound``
    ///   when activating or deactivating a route that does not exist.
    public static func next(
        from existing: RouteEndpoint?, command: RouteCommand, now: Date
    ) throws(TrafficManagerError) -> Outcome {
        if let expected = command.expectedRevision, expected != (existing?.revision ?? 0) {
            throw .revisionConflict(command.route, expected: expected, current: existing?.revision ?? 0)
        }
        switch (command.operation, existing) {
        case (.upsert(let url), nil):
            let endpoint = RouteEndpoint(
                route: command.route, url: url, isActive: true, createdAt: now, updatedAt: now, revision: 1)
            return .changed(endpoint, .created)
        case (.upsert(let url), var endpoint?):
            let action: RouteAction
            if endpoint.url != url {
                action = .updated
            } else if !endpoint.isActive {
                action = .activated
            } else {
                return .unchanged(endpoint)
            }
            endpoint.url = url
            endpoint.isActive = true
            return .changed(endpoint.bumped(at: now), action)
        case (.activate, nil), (.deactivate, nil):
            throw .routeNotFound(command.route)
        case (.activate, var endpoint?):
            guard !endpoint.isActive else { return .unchanged(endpoint) }
            endpoint.isActive = true
            return .changed(endpoint.bumped(at: now), .activated)
        case (.deactivate, var endpoint?):
            guard endpoint.isActive else { return .unchanged(endpoint) }
            endpoint.isActive = false
            return .changed(endpoint.bumped(at: now), .deactivated)
        }
    }
}

extension RouteEndpoint {
    fileprivate func bumped(at now: Date) -> RouteEndpoint {
        var copy = self
        copy.revision += 1
        copy.updatedAt = now
        return copy
    }
}
