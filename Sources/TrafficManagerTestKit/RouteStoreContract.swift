import Foundation
import TrafficManager

/// The behaviour every `RouteStore` must show. Run it against each implementation:
///
/// ```swift
/// try await RouteStoreContract { InMemoryRouteStore() }.run()
/// ```
///
/// Each check uses routes under a fresh tenant, so a store shared between checks (a real
/// database) works as well as a new one per check.
public struct RouteStoreContract: Sendable {
    private let makeStore: @Sendable () async throws -> any RouteStore

    /// Creates the contract for stores made by `makeStore`.
    public init(makeStore: @escaping @Sendable () async throws -> any RouteStore) {
        self.makeStore = makeStore
    }

    /// Runs every check; throws ``ContractViolations`` listing each one that failed.
    public func run() async throws {
        try await runChecks(checks, contract: "RouteStore contract")
    }

    /// The checks, by name.
    public var checks: [ContractCheck] { singleRouteChecks + manyRouteChecks }

    /// The checks of one route's reads and writes.
    var singleRouteChecks: [ContractCheck] {
        [
            check("an unknown route has revision 0 and no URL") { store, name in
                let route = try UniqueNames.route()
                let lookup = try await store.lookup(route)
                try expect(lookup == .neverExisted, "lookup gave \(lookup)", check: name)
                let record = try await store.endpoint(route)
                try expect(record == nil, "endpoint gave \(String(describing: record))", check: name)
            },
            check("creating a route returns a created event at revision 1 and makes it resolvable") { store, name in
                let route = try UniqueNames.route()
                let result = try await store.apply(.upsert(route, "http://chat.prod:4002"), idempotencyKey: nil)
                try expect(result.endpoint.revision == 1 && result.endpoint.isActive, "endpoint \(result.endpoint)", check: name)
                try expect(result.endpoint.url == "http://chat.prod:4002" && result.endpoint.route == route, "endpoint \(result.endpoint)", check: name)
                try expect(result.event?.action == .created && result.event?.revision == 1, "event \(String(describing: result.event))", check: name)
                try expect(result.event?.route == route && result.event?.url == "http://chat.prod:4002", "event \(String(describing: result.event))", check: name)
                try expect(!result.replayed, "a first write is not a replay", check: name)
                let lookup = try await store.lookup(route)
                try expect(lookup == RouteLookup(url: "http://chat.prod:4002", revision: 1), "lookup gave \(lookup)", check: name)
                let record = try await store.endpoint(route)
                try expect(record == result.endpoint, "endpoint gave \(String(describing: record)), write gave \(result.endpoint)", check: name)
            },
            check("repeating a create changes nothing and returns the same record") { store, name in
                let route = try UniqueNames.route()
                let first = try await store.apply(.upsert(route, "http://a:1"), idempotencyKey: nil)
                let second = try await store.apply(.upsert(route, "http://a:1"), idempotencyKey: nil)
                try expect(second.endpoint == first.endpoint, "\(second.endpoint) != \(first.endpoint)", check: name)
                try expect(second.event == nil, "a no-op write published \(String(describing: second.event))", check: name)
                let lookup = try await store.lookup(route)
                try expect(lookup.revision == 1, "revision moved to \(lookup.revision)", check: name)
            },
            check("a new URL updates the route and bumps its revision") { store, name in
                let route = try UniqueNames.route()
                let created = try await store.apply(.upsert(route, "http://a:1"), idempotencyKey: nil)
                let updated = try await store.apply(.upsert(route, "http://b:2/x?y=1"), idempotencyKey: nil)
                try expect(updated.event?.action == .updated && updated.endpoint.revision == 2, "got \(updated)", check: name)
                try expect(updated.endpoint.createdAt == created.endpoint.createdAt, "createdAt changed", check: name)
                try expect(updated.endpoint.updatedAt >= created.endpoint.updatedAt, "updatedAt went back", check: name)
                let lookup = try await store.lookup(route)
                try expect(lookup == RouteLookup(url: "http://b:2/x?y=1", revision: 2), "lookup gave \(lookup)", check: name)
            },
            check("deactivating hides the route but keeps its record and revision") { store, name in
                let route = try UniqueNames.route()
                _ = try await store.apply(.upsert(route, "http://a:1"), idempotencyKey: nil)
                let off = try await store.apply(.command(route, .deactivate), idempotencyKey: nil)
                try expect(off.event?.action == .deactivated && off.endpoint.revision == 2 && !off.endpoint.isActive, "got \(off)", check: name)
                let lookup = try await store.lookup(route)
                try expect(lookup == RouteLookup(url: nil, revision: 2), "lookup gave \(lookup)", check: name)
                let again = try await store.apply(.command(route, .deactivate), idempotencyKey: nil)
                try expect(again.event == nil && again.endpoint == off.endpoint, "second deactivate gave \(again)", check: name)
            },
            check("activating restores a deactivated route; creating it again does too") { store, name in
                let route = try UniqueNames.route()
                _ = try await store.apply(.upsert(route, "http://a:1"), idempotencyKey: nil)
                _ = try await store.apply(.command(route, .deactivate), idempotencyKey: nil)
                let on = try await store.apply(.command(route, .activate), idempotencyKey: nil)
                try expect(on.event?.action == .activated && on.endpoint.revision == 3 && on.endpoint.isActive, "got \(on)", check: name)
                let again = try await store.apply(.command(route, .activate), idempotencyKey: nil)
                try expect(again.event == nil && again.endpoint == on.endpoint, "second activate gave \(again)", check: name)
                _ = try await store.apply(.command(route, .deactivate), idempotencyKey: nil)
                let recreated = try await store.apply(.upsert(route, "http://a:1"), idempotencyKey: nil)
                try expect(recreated.event?.action == .activated && recreated.endpoint.revision == 5, "re-create gave \(recreated)", check: name)
                let lookup = try await store.lookup(route)
                try expect(lookup == RouteLookup(url: "http://a:1", revision: 5), "lookup gave \(lookup)", check: name)
            },
            check("activating or deactivating an unknown route throws routeNotFound and writes nothing") { store, name in
                let route = try UniqueNames.route()
                for operation in [RouteCommand.Operation.activate, .deactivate] {
                    let error = try await expectError(check: name) { try await store.apply(.command(route, operation), idempotencyKey: nil) }
                    let failure = error as? TrafficManagerError
                    try expect(failure?.code == .routeNotFound && failure?.route == route, "threw \(error)", check: name)
                }
                let lookup = try await store.lookup(route)
                try expect(lookup == .neverExisted, "lookup gave \(lookup)", check: name)
            },
            check("an idempotency key replays the first result without writing again") { store, name in
                let route = try UniqueNames.route()
                let key = try IdempotencyKey("req-\(UUID().uuidString)")
                let first = try await store.apply(.upsert(route, "http://a:1"), idempotencyKey: key)
                let replay = try await store.apply(.upsert(route, "http://a:1"), idempotencyKey: key)
                try expect(replay.replayed, "second call was not marked replayed", check: name)
                try expect(replay.endpoint == first.endpoint && replay.event == first.event, "replay \(replay) != first \(first)", check: name)
                // Even after the route moved on, the key still answers with the first result.
                _ = try await store.apply(.upsert(route, "http://b:2"), idempotencyKey: nil)
                let later = try await store.apply(.upsert(route, "http://a:1"), idempotencyKey: key)
                try expect(later.replayed && later.endpoint == first.endpoint, "later replay gave \(later)", check: name)
                let lookup = try await store.lookup(route)
                try expect(lookup == RouteLookup(url: "http://b:2", revision: 2), "the replay wrote: lookup gave \(lookup)", check: name)
            },
            check("an idempotency key reused for a different request throws a conflict and writes nothing") { store, name in
                let route = try UniqueNames.route()
                let key = try IdempotencyKey("req-\(UUID().uuidString)")
                _ = try await store.apply(.upsert(route, "http://a:1"), idempotencyKey: key)
                let error = try await expectError(check: name) { try await store.apply(.upsert(route, "http://b:2"), idempotencyKey: key) }
                let failure = error as? TrafficManagerError
                try expect(
                    failure?.code == .idempotencyConflict && failure?.idempotencyKey == key.value, "threw \(error)", check: name)
                let lookup = try await store.lookup(route)
                try expect(lookup == RouteLookup(url: "http://a:1", revision: 1), "lookup gave \(lookup)", check: name)
            },
            check("concurrent creates of one route make one record and one created event") { store, name in
                let route = try UniqueNames.route()
                let results = try await withThrowingTaskGroup(of: RouteWriteResult.self) { group in
                    for _ in 0..<8 {
                        group.addTask { try await store.apply(.upsert(route, "http://a:1"), idempotencyKey: nil) }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                let created = results.filter { $0.event?.action == .created }
                try expect(created.count == 1, "\(created.count) created events", check: name)
                try expect(results.allSatisfy { $0.endpoint == results[0].endpoint }, "results differ: \(results.map(\.endpoint))", check: name)
                let lookup = try await store.lookup(route)
                try expect(lookup == RouteLookup(url: "http://a:1", revision: 1), "lookup gave \(lookup)", check: name)
            },
            check("a compare-and-set write applies at the expected revision and conflicts at any other") { store, name in
                let route = try UniqueNames.route()
                let created = try await store.apply(.upsert(route, "http://a:1", expecting: 0), idempotencyKey: nil)
                try expect(created.endpoint.revision == 1 && created.event?.action == .created, "create at 0 gave \(created)", check: name)
                let updated = try await store.apply(.upsert(route, "http://b:2", expecting: 1), idempotencyKey: nil)
                try expect(updated.endpoint.revision == 2, "update at 1 gave \(updated)", check: name)
                for (command, expected) in [
                    (try RouteCommand.upsert(route, "http://c:3", expecting: 1), UInt64(1)),
                    (try RouteCommand.upsert(route, "http://c:3", expecting: 0), 0),
                    (try RouteCommand(route: route, operation: .deactivate, expectedRevision: 7), 7),
                ] {
                    let error = try await expectError(check: name) { try await store.apply(command, idempotencyKey: nil) }
                    let failure = error as? TrafficManagerError
                    try expect(
                        failure?.code == .revisionConflict && failure?.currentRevision == 2 && failure?.route == route,
                        "expecting \(expected) threw \(error)", check: name)
                }
                let lookup = try await store.lookup(route)
                try expect(lookup == RouteLookup(url: "http://b:2", revision: 2), "a conflict wrote: lookup gave \(lookup)", check: name)
                let unknown = try UniqueNames.route()
                let error = try await expectError(check: name) {
                    try await store.apply(.upsert(unknown, "http://a:1", expecting: 3), idempotencyKey: nil)
                }
                try expect(
                    (error as? TrafficManagerError)?.currentRevision == 0, "an absent route conflicted with \(error)", check: name)
                let absent = try await store.lookup(unknown)
                try expect(absent == .neverExisted, "a conflict created the route: \(absent)", check: name)
            },
            check("concurrent compare-and-set writes at one revision: exactly one applies") { store, name in
                let route = try UniqueNames.route()
                _ = try await store.apply(.upsert(route, "http://a:1"), idempotencyKey: nil)
                let outcomes = try await withThrowingTaskGroup(of: Bool.self) { group in
                    for index in 0..<8 {
                        group.addTask {
                            do {
                                _ = try await store.apply(.upsert(route, "http://w\(index):1", expecting: 1), idempotencyKey: nil)
                                return true
                            } catch let error as TrafficManagerError where error.code == .revisionConflict {
                                return false
                            }
                        }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                try expect(outcomes.filter { $0 }.count == 1, "\(outcomes.filter { $0 }.count) writes applied", check: name)
                let lookup = try await store.lookup(route)
                try expect(lookup.revision == 2, "revision is \(lookup.revision)", check: name)
            },
            check("concurrent requests under one idempotency key apply once; the others replay or are told the key is in use") { store, name in
                let route = try UniqueNames.route()
                let key = try IdempotencyKey("same-\(UUID().uuidString)")
                let outcomes = try await withThrowingTaskGroup(of: String.self) { group in
                    for _ in 0..<8 {
                        group.addTask {
                            do {
                                return try await store.apply(.upsert(route, "http://a:1"), idempotencyKey: key).replayed ? "replayed" : "applied"
                            } catch let error as TrafficManagerError where error.code == .idempotencyKeyInUse {
                                return "in use"
                            }
                        }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                try expect(outcomes.filter { $0 == "applied" }.count == 1, "outcomes \(outcomes)", check: name)
                let lookup = try await store.lookup(route)
                try expect(lookup.revision == 1, "revision is \(lookup.revision)", check: name)
                let retry = try await store.apply(.upsert(route, "http://a:1"), idempotencyKey: key)
                try expect(retry.replayed, "a retry after the first committed did not replay: \(retry)", check: name)
            },
            check("idempotency keys are scoped per tenant") { store, name in
                let first = try UniqueNames.route()
                let second = try UniqueNames.route()
                let key = try IdempotencyKey("req-\(UUID().uuidString)")
                let a = try await store.apply(.upsert(first, "http://a:1"), idempotencyKey: key)
                let b = try await store.apply(.upsert(second, "http://b:2"), idempotencyKey: key)
                try expect(!a.replayed && !b.replayed, "one tenant's key replayed for another: \(b)", check: name)
                try expect(b.endpoint.route == second && b.endpoint.url == "http://b:2", "second tenant got \(b)", check: name)
                let lookup = try await store.lookup(second)
                try expect(lookup == RouteLookup(url: "http://b:2", revision: 1), "lookup gave \(lookup)", check: name)
            },
            check("routes that share a tenant, service or environment stay separate") { store, name in
                let tenant = UniqueNames.tenant()
                let v1 = try RouteID(tenant: tenant, service: "chat", environment: "prod", version: "v1")
                let v2 = try RouteID(tenant: tenant, service: "chat", environment: "prod", version: "v2")
                let staging = try RouteID(tenant: tenant, service: "chat", environment: "staging", version: "v1")
                _ = try await store.apply(.upsert(v1, "http://v1:1"), idempotencyKey: nil)
                _ = try await store.apply(.upsert(v2, "http://v2:2"), idempotencyKey: nil)
                _ = try await store.apply(.command(v1, .deactivate), idempotencyKey: nil)
                let lookups = try await (store.lookup(v1), store.lookup(v2), store.lookup(staging))
                try expect(lookups.0 == RouteLookup(url: nil, revision: 2), "v1 gave \(lookups.0)", check: name)
                try expect(lookups.1 == RouteLookup(url: "http://v2:2", revision: 1), "v2 gave \(lookups.1)", check: name)
                try expect(lookups.2 == .neverExisted, "staging gave \(lookups.2)", check: name)
            },
        ]
    }

    func check(
        _ name: String, _ body: @escaping @Sendable (any RouteStore, String) async throws -> Void
    ) -> ContractCheck {
        let makeStore = makeStore
        return ContractCheck(name: name) { try await body(makeStore(), name) }
    }
}

extension RouteCommand {
    /// An upsert of `route` to `url`; the contract's URLs are valid.
    static func upsert(_ route: RouteID, _ url: String) throws -> RouteCommand {
        try RouteCommand(route: route, operation: .upsert(url: url))
    }

    /// A compare-and-set upsert.
    static func upsert(_ route: RouteID, _ url: String, expecting revision: UInt64) throws -> RouteCommand {
        try RouteCommand(route: route, operation: .upsert(url: url), expectedRevision: revision)
    }

    static func command(_ route: RouteID, _ operation: Operation) throws -> RouteCommand {
        try RouteCommand(route: route, operation: operation)
    }
}
