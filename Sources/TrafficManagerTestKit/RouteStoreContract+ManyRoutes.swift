import Foundation
import TrafficManager

extension RouteStoreContract {
    /// The checks of calls over many routes: batch lookups, the change history, listings and
    /// batch writes.
    var manyRouteChecks: [ContractCheck] {
        [
            check("a batch lookup answers each route as a single lookup would, in order") { store, name in
                let (active, inactive, unknown) = try (UniqueNames.route(), UniqueNames.route(), UniqueNames.route())
                try await store.apply(.upsert(active, "http://a:1"), idempotencyKey: nil)
                try await store.apply(.upsert(inactive, "http://b:1"), idempotencyKey: nil)
                try await store.apply(try RouteCommand(route: inactive, operation: .deactivate), idempotencyKey: nil)
                let routes = [inactive, unknown, active, active]
                let batch = try await store.lookup(routes)
                var singles: [RouteLookup] = []
                for route in routes { singles.append(try await store.lookup(route)) }
                try expect(batch == singles, "batch gave \(batch), single lookups \(singles)", check: name)
                try expect(batch[2] == RouteLookup(url: "http://a:1", revision: 1), "batch gave \(batch)", check: name)
                let none = try await store.lookup([RouteID]())
                try expect(none.isEmpty, "an empty batch gave \(none)", check: name)
            },
            check("a lookup at least a written revision answers it, singly and in a batch, and the read lag is not negative") { store, name in
                let (route, unknown) = try (UniqueNames.route(), UniqueNames.route())
                try await store.apply(.upsert(route, "http://a:1"), idempotencyKey: nil)
                let written = try await store.apply(.upsert(route, "http://a:2"), idempotencyKey: nil).endpoint.revision
                let single = try await store.lookup(route, atLeast: written)
                try expect(single == RouteLookup(url: "http://a:2", revision: written), "lookup(atLeast: \(written)) gave \(single)", check: name)
                let batch = try await store.lookup([unknown, route], atLeast: [0, written])
                try expect(
                    batch == [.neverExisted, RouteLookup(url: "http://a:2", revision: written)], "the batch form gave \(batch)", check: name)
                let none = try await store.lookup([RouteID](), atLeast: [])
                try expect(none.isEmpty, "an empty batch gave \(none)", check: name)
                try expect(store.maximumReadLag >= .zero, "maximumReadLag is \(store.maximumReadLag)", check: name)
            },
            check("the change history lists each change in order and resumes after any position") { store, name in
                // Where the history ends now (other checks' changes come before).
                let start = try await store.changes(after: nil, limit: 1).head
                let (a, b) = try (UniqueNames.route(), UniqueNames.route())
                try await store.apply(.upsert(a, "http://a:1"), idempotencyKey: nil)
                try await store.apply(.upsert(b, "http://b:1"), idempotencyKey: nil)
                try await store.apply(.upsert(a, "http://a:2"), idempotencyKey: nil)
                // A store may hold changes back while an older transaction is still running
                // (PostgreSQL does, so that none lands behind a position handed out): wait.
                // Other writers may add changes meanwhile: page through.
                var ours: [PositionedChange] = []
                var cursor = start
                let deadline = ContinuousClock.now + .seconds(15)
                while ours.count < 3 && ContinuousClock.now < deadline {
                    let page = try await store.changes(after: cursor, limit: 500)
                    try expect(!page.resync, "a fresh position asked for a resync", check: name)
                    ours += page.changes.filter { [a, b].contains($0.event.route) }
                    if let last = page.changes.last { cursor = last.position } else { try await Task.sleep(for: .milliseconds(50)) }
                }
                let seen = ours.map { "\($0.event.route == a ? "a" : "b")\($0.event.revision)" }
                try expect(seen == ["a1", "b1", "a2"], "history gave \(seen)", check: name)
                guard ours.count == 3 else { return }
                let resumed = try await store.changes(after: ours[0].position, limit: 500)
                let next = resumed.changes.filter { [a, b].contains($0.event.route) }.map(\.event.revision)
                try expect(next.prefix(2) == [1, 2] && resumed.changes.first { [a, b].contains($0.event.route) }?.event.route == b,
                    "resuming after a1 gave \(next)", check: name)
                let one = try await store.changes(after: start, limit: 1)
                try expect(one.changes.count == 1, "a limit of 1 gave \(one.changes.count)", check: name)
                let last = try await store.changes(after: ours[2].position, limit: 500)
                try expect(!last.changes.contains { [a, b].contains($0.event.route) }, "after the last, \(last.changes)", check: name)
            },
            check("a listing pages through a tenant's routes in order, filtered, without repeats") { store, name in
                let tenant = UniqueNames.tenant()
                var routes: [RouteID] = []
                for service in ["auth", "chat", "gateway"] {
                    for environment in ["dev", "prod"] {
                        let route = try RouteID(tenant: tenant, service: service, environment: environment, version: "v1")
                        _ = try await store.apply(.upsert(route, "http://\(service).\(environment):1"), idempotencyKey: nil)
                        routes.append(route)
                    }
                }
                _ = try await store.apply(.command(routes[1], .deactivate), idempotencyKey: nil)
                var listed: [RouteEndpoint] = []
                var cursor: RouteID?
                var pages = 0
                repeat {
                    let page = try await store.routes(matching: RouteFilter(tenant: tenant), after: cursor, limit: 4)
                    try expect(page.routes.count <= 4, "a page of \(page.routes.count) over a limit of 4", check: name)
                    listed += page.routes
                    cursor = page.nextCursor
                    pages += 1
                } while cursor != nil && pages < 10
                try expect(listed.map(\.route) == routes, "listed \(listed.map(\.route)), expected \(routes)", check: name)
                try expect(pages == 2, "\(pages) pages of at most 4 for 6 routes", check: name)
                try expect(listed[1].isActive == false && listed[1].revision == 2, "the record \(listed[1])", check: name)
                let prod = try await store.routes(
                    matching: RouteFilter(tenant: tenant, environment: "prod", includeInactive: false), after: nil, limit: 100)
                try expect(
                    prod.routes.map(\.route) == [routes[3], routes[5]] && prod.nextCursor == nil,
                    "the active prod routes were \(prod.routes.map(\.route))", check: name)
                let chat = try await store.routes(matching: RouteFilter(tenant: tenant, service: "chat"), after: nil, limit: 100)
                try expect(chat.routes.map(\.route) == [routes[2], routes[3]], "chat gave \(chat.routes.map(\.route))", check: name)
            },
            check("a batch applies in one transaction with one event per change") { store, name in
                let tenant = UniqueNames.tenant()
                let a = try RouteID(tenant: tenant, service: "a", environment: "prod", version: "v1")
                let b = try RouteID(tenant: tenant, service: "b", environment: "prod", version: "v1")
                _ = try await store.apply(.upsert(a, "http://a:1"), idempotencyKey: nil)
                let results = try await store.applyBatch([
                    .upsert(a, "http://a:1"), .upsert(b, "http://b:1"), .upsert(a, "http://a:2"), .command(b, .deactivate),
                ])
                try expect(results.map { $0.event?.action } == [nil, .created, .updated, .deactivated], "events \(results.map { $0.event?.action })", check: name)
                try expect(results.map(\.endpoint.revision) == [1, 1, 2, 2], "revisions \(results.map(\.endpoint.revision))", check: name)
                let lookups = (try await store.lookup(a), try await store.lookup(b))
                try expect(lookups.0 == RouteLookup(url: "http://a:2", revision: 2) && lookups.1 == RouteLookup(url: nil, revision: 2), "lookups \(lookups)", check: name)
            },
            check("a batch with a failing command writes nothing and names the command") { store, name in
                let tenant = UniqueNames.tenant()
                let a = try RouteID(tenant: tenant, service: "a", environment: "prod", version: "v1")
                let missing = try RouteID(tenant: tenant, service: "missing", environment: "prod", version: "v1")
                let error = try await expectError(check: name) {
                    try await store.applyBatch([.upsert(a, "http://a:1"), .command(missing, .activate), .upsert(a, "http://a:2")])
                }
                let failure = error as? TrafficManagerError
                try expect(
                    failure?.code == .routeNotFound && failure?.message.hasPrefix("command 2 of 3: ") == true, "threw \(error)", check: name)
                let lookup = try await store.lookup(a)
                try expect(lookup == .neverExisted, "the batch's first command stayed: \(lookup)", check: name)
                let conflict = try await expectError(check: name) {
                    try await store.applyBatch([.upsert(a, "http://a:1"), .upsert(a, "http://a:2", expecting: 5)])
                }
                try expect(
                    (conflict as? TrafficManagerError)?.currentRevision == 1 && (conflict as? TrafficManagerError)?.code == .revisionConflict,
                    "threw \(conflict)", check: name)
                let after = try await store.lookup(a)
                try expect(after == .neverExisted, "a conflicting batch wrote: \(after)", check: name)
            },
        ]
    }
}
