import TrafficManager
import TrafficManagerTopology

/// What an import changes: each file row compared with the stored route.
struct ImportPlan {
    /// One route's change.
    struct Change {
        enum Kind: String {
            case create, update, activate, deactivate
        }

        var kind: Kind
        var route: RouteID
        /// The stored record, `nil` when the route does not exist.
        var current: RouteEndpoint?
        /// The file's URL (the current one for a deactivation).
        var url: String
        /// Whether the route ends up inactive.
        var endsInactive: Bool
        /// A deactivation of a route the file does not name (`--prune`).
        var pruned: Bool

        /// The commands, in one transaction. The first checks the revision read when planning,
        /// so a route changed since then fails the batch instead of being overwritten.
        func commands() throws -> [RouteCommand] {
            let expected = current?.revision ?? 0
            switch kind {
            case .create, .update:
                let upsert = try RouteCommand(route: route, operation: .upsert(url: url), expectedRevision: expected)
                return endsInactive ? [upsert, try RouteCommand(route: route, operation: .deactivate)] : [upsert]
            case .activate:
                return [try RouteCommand(route: route, operation: .activate, expectedRevision: expected)]
            case .deactivate:
                return [try RouteCommand(route: route, operation: .deactivate, expectedRevision: expected)]
            }
        }

        /// The line `--dry-run` prints.
        var line: String {
            let name = kind.rawValue.padding(toLength: 10, withPad: " ", startingAt: 0)
            switch kind {
            case .create: return "\(name)  \(route)  \(url)\(endsInactive ? " (inactive)" : "")"
            case .update:
                return "\(name)  \(route)  \(current?.url ?? "") -> \(url)\(endsInactive ? " (inactive)" : current?.isActive == false ? " (activates)" : "")"
            case .activate: return "\(name)  \(route)  \(url)"
            case .deactivate: return "\(name)  \(route)  \(url)\(pruned ? " (not in the file; --prune)" : "")"
            }
        }
    }

    var changes: [Change]
    var unchanged: Int

    /// Compares `topology` with `stored`, the current routes of the file's tenants.
    init(topology: Topology, stored: [RouteEndpoint], prune: Bool) {
        var byRoute: [RouteID: RouteEndpoint] = [:]
        for endpoint in stored { byRoute[endpoint.route] = endpoint }
        var changes: [Change] = []
        var unchanged = 0
        var named = Set<RouteID>()
        for row in topology.routes {
            named.insert(row.route)
            let current = byRoute[row.route]
            let kind: Change.Kind?
            switch (current, row.isActive) {
            case (nil, _): kind = .create
            case (let current?, _) where current.url != row.url: kind = .update
            case (let current?, true): kind = current.isActive ? nil : .activate
            case (let current?, false): kind = current.isActive ? .deactivate : nil
            }
            guard let kind else {
                unchanged += 1
                continue
            }
            changes.append(Change(kind: kind, route: row.route, current: current, url: row.url, endsInactive: !row.isActive, pruned: false))
        }
        if prune {
            for endpoint in stored where endpoint.isActive && !named.contains(endpoint.route) {
                changes.append(
                    Change(kind: .deactivate, route: endpoint.route, current: endpoint, url: endpoint.url, endsInactive: true, pruned: true))
            }
        }
        self.changes = changes
        self.unchanged = unchanged
    }

    func count(_ kind: Change.Kind) -> Int { changes.count { $0.kind == kind } }

    /// What an applied plan did.
    var doneSummary: String {
        "created \(count(.create)), updated \(count(.update)), activated \(count(.activate)), deactivated \(count(.deactivate)), unchanged \(unchanged)"
    }

    var summary: String {
        "\(count(.create)) to create, \(count(.update)) to update, \(count(.activate)) to activate, \(count(.deactivate)) to deactivate, \(unchanged) unchanged"
    }
}
