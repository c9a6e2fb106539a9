import Foundation
import TrafficManager

/// The behaviour every `RouteCache` must show.
///
/// ```swift
/// let time = ManualTimeSource()
/// try await RouteCacheContract(makeCache: { InMemoryRouteCache(time: time) },
///                              letTimePass: { time.advance(by: $0) }).run()
/// ```
///
/// `letTimePass` must make at least the given time pass for the cache: advance a manual clock,
/// or sleep for a cache on a real server. The TTLs the checks use are a fraction of a second.
public struct RouteCacheContract: Sendable {
    private let makeCache: @Sendable () async throws -> any RouteCache
    private let letTimePass: @Sendable (Duration) async throws -> Void

    /// Creates the contract for caches made by `makeCache`.
    public init(
        makeCache: @escaping @Sendable () async throws -> any RouteCache,
        letTimePass: @escaping @Sendable (Duration) async throws -> Void
    ) {
        self.makeCache = makeCache
        self.letTimePass = letTimePass
    }

    /// Runs every check; throws ``ContractViolations`` listing each one that failed.
    public func run() async throws {
        try await runChecks(checks, contract: "RouteCache contract")
    }

    private static let ttl = Duration.seconds(60)

    /// The checks, by name.
    public var checks: [ContractCheck] {
        let ttl = Self.ttl
        let letTimePass = letTimePass
        return [
            check("a route never filled reads as nil") { cache, name in
                let entry = try await cache.get(UniqueNames.route())
                try expect(entry == nil, "got \(String(describing: entry))", check: name)
            },
            check("filled endpoints and not-found entries read back with their revisions") { cache, name in
                let (a, b) = try (UniqueNames.route(), UniqueNames.route())
                let url = "https://chat.prod.example:8443/api/v1?x=1&y=%20{z}|é"
                let storedA = try await cache.fill(a, with: .endpoint(url: url, revision: 7), ttl: ttl)
                let storedB = try await cache.fill(b, with: .notFound(revision: 0), ttl: ttl)
                try expect(storedA && storedB, "fills into an empty cache were refused", check: name)
                let entryA = try await cache.get(a)
                let entryB = try await cache.get(b)
                try expect(entryA == .endpoint(url: url, revision: 7), "got \(String(describing: entryA))", check: name)
                try expect(entryB == .notFound(revision: 0), "got \(String(describing: entryB))", check: name)
            },
            check("an entry filled with its read time reads back with it (rounded down by at most a tenth of a second) or with none") { cache, name in
                let route = try UniqueNames.route()
                let readAt = Date(unixMilliseconds: 1_796_212_345_678)
                try await cache.fill(route, with: .endpoint(url: "http://a:1", revision: 2), ttl: ttl, notAfter: .distantFuture, readAt: readAt)
                let entry = try await cache.entry(route)
                try expect(entry?.value == .endpoint(url: "http://a:1", revision: 2), "got \(String(describing: entry))", check: name)
                let kept = entry?.readAt.map { readAt.unixMilliseconds - $0.unixMilliseconds }
                try expect(kept == nil || (0..<100).contains(kept!), "read time \(String(describing: entry?.readAt)), filled \(readAt)", check: name)
                let plain = try await cache.get(route)
                try expect(plain == entry?.value, "get gave \(String(describing: plain)), entry \(String(describing: entry))", check: name)
            },
            check("a batch get answers each route as a single get would, in order") { cache, name in
                let (a, b, c) = try (UniqueNames.route(), UniqueNames.route(), UniqueNames.route())
                try await cache.fill(a, with: .endpoint(url: "http://a:1", revision: 3), ttl: ttl)
                try await cache.invalidate(b, revision: 2, ttl: ttl)
                let batch = try await cache.get([c, a, b, a])
                let expected: [CachedRoute?] = [nil, .endpoint(url: "http://a:1", revision: 3), .tombstone(revision: 2), .endpoint(url: "http://a:1", revision: 3)]
                try expect(batch == expected, "batch gave \(batch)", check: name)
            },
            check("a batch of entries answers each route as a single entry would, in order, read times included") { cache, name in
                let (a, b, c) = try (UniqueNames.route(), UniqueNames.route(), UniqueNames.route())
                let readAt = Date(unixMilliseconds: 1_796_212_345_600)
                try await cache.fill(a, with: .endpoint(url: "http://a:1", revision: 3), ttl: ttl, notAfter: .distantFuture, readAt: readAt)
                try await cache.invalidate(b, revision: 2, ttl: ttl)
                let batch = try await cache.entries([c, a, b, a])
                var singles: [CachedEntry?] = []
                for route in [c, a, b, a] { singles.append(try await cache.entry(route)) }
                try expect(batch == singles, "batch gave \(batch), single entries \(singles)", check: name)
                try expect(batch.map { $0?.value } == [nil, .endpoint(url: "http://a:1", revision: 3), .tombstone(revision: 2), .endpoint(url: "http://a:1", revision: 3)], "batch gave \(batch)", check: name)
                let empty = try await cache.entries([])
                try expect(empty.isEmpty, "an empty batch gave \(empty)", check: name)
            },
            check("a fill older than the cached revision is refused; same or newer is stored") { cache, name in
                let route = try UniqueNames.route()
                try await cache.fill(route, with: .endpoint(url: "http://new:1", revision: 5), ttl: ttl)
                let older = try await cache.fill(route, with: .endpoint(url: "http://old:1", revision: 4), ttl: ttl)
                try expect(!older, "an older fill was stored", check: name)
                let entry = try await cache.get(route)
                try expect(entry == .endpoint(url: "http://new:1", revision: 5), "got \(String(describing: entry))", check: name)
                let same = try await cache.fill(route, with: .endpoint(url: "http://new:1", revision: 5), ttl: ttl)
                let newer = try await cache.fill(route, with: .notFound(revision: 6), ttl: ttl)
                try expect(same && newer, "same (\(same)) or newer (\(newer)) fill refused", check: name)
                let after = try await cache.get(route)
                try expect(after == .notFound(revision: 6), "got \(String(describing: after))", check: name)
            },
            check("invalidation leaves a tombstone that refuses older fills") { cache, name in
                let route = try UniqueNames.route()
                try await cache.fill(route, with: .endpoint(url: "http://a:1", revision: 1), ttl: ttl)
                try await cache.invalidate(route, revision: 2, ttl: ttl)
                let entry = try await cache.get(route)
                try expect(entry == .tombstone(revision: 2), "got \(String(describing: entry))", check: name)
                let stale = try await cache.fill(route, with: .endpoint(url: "http://a:1", revision: 1), ttl: ttl)
                try expect(!stale, "a fill read before the write was stored over its tombstone", check: name)
                let fresh = try await cache.fill(route, with: .endpoint(url: "http://b:2", revision: 2), ttl: ttl)
                try expect(fresh, "a fill at the tombstone's revision was refused", check: name)
            },
            check("invalidation removes negative entries and works on an empty key") { cache, name in
                let (cached, empty) = try (UniqueNames.route(), UniqueNames.route())
                try await cache.fill(cached, with: .notFound(revision: 0), ttl: ttl)
                try await cache.invalidate(cached, revision: 1, ttl: ttl)
                try await cache.invalidate(empty, revision: 3, ttl: ttl)
                let entries = (try await cache.get(cached), try await cache.get(empty))
                try expect(entries.0 == .tombstone(revision: 1), "negative entry became \(String(describing: entries.0))", check: name)
                try expect(entries.1 == .tombstone(revision: 3), "empty key became \(String(describing: entries.1))", check: name)
                let stale = try await cache.fill(cached, with: .notFound(revision: 0), ttl: ttl)
                try expect(!stale, "a stale not-found was stored over the tombstone", check: name)
            },
            check("an old or repeated invalidation never undoes a newer state") { cache, name in
                let route = try UniqueNames.route()
                try await cache.fill(route, with: .endpoint(url: "http://c:3", revision: 3), ttl: ttl)
                try await cache.invalidate(route, revision: 2, ttl: ttl)
                try await cache.invalidate(route, revision: 3, ttl: ttl)
                let kept = try await cache.get(route)
                try expect(kept == .endpoint(url: "http://c:3", revision: 3), "got \(String(describing: kept))", check: name)
                try await cache.invalidate(route, revision: 4, ttl: ttl)
                try await cache.invalidate(route, revision: 4, ttl: ttl)
                try await cache.invalidate(route, revision: 3, ttl: ttl)
                let tomb = try await cache.get(route)
                try expect(tomb == .tombstone(revision: 4), "got \(String(describing: tomb))", check: name)
            },
            check("entries and tombstones expire after their TTL") { cache, name in
                let (a, b, c) = try (UniqueNames.route(), UniqueNames.route(), UniqueNames.route())
                // Long enough that a busy machine reads the entries before they expire.
                let short = Duration.seconds(1)
                try await cache.fill(a, with: .endpoint(url: "http://a:1", revision: 1), ttl: short)
                try await cache.fill(b, with: .notFound(revision: 0), ttl: short)
                try await cache.invalidate(c, revision: 2, ttl: short)
                try await cache.fill(UniqueNames.route(), with: .notFound(revision: 0), ttl: ttl)
                let before = try await cache.get(a)
                try expect(before != nil, "expired before its TTL", check: name)
                try await letTimePass(.milliseconds(1300))
                let after = (try await cache.get(a), try await cache.get(b), try await cache.get(c))
                try expect(after.0 == nil && after.1 == nil && after.2 == nil, "still there: \(after)", check: name)
                let refill = try await cache.fill(c, with: .endpoint(url: "http://c:1", revision: 1), ttl: ttl)
                try expect(refill, "an expired tombstone still refused a fill", check: name)
            },
            check("a fill that arrives after its deadline is refused; one within it is stored") { cache, name in
                let route = try UniqueNames.route()
                let late = try await cache.fill(
                    route, with: .endpoint(url: "http://late:1", revision: 1), ttl: ttl,
                    notAfter: Date(timeIntervalSince1970: 1_000_000_000))
                try expect(!late, "a fill past its deadline was stored", check: name)
                let entry = try await cache.get(route)
                try expect(entry == nil, "a late fill left \(String(describing: entry))", check: name)
                let onTime = try await cache.fill(
                    route, with: .endpoint(url: "http://a:1", revision: 1), ttl: ttl, notAfter: .distantFuture)
                try expect(onTime, "a fill within its deadline was refused", check: name)
                let stored = try await cache.get(route)
                try expect(stored == .endpoint(url: "http://a:1", revision: 1), "got \(String(describing: stored))", check: name)
            },
            check("routes whose parts could run together never share an entry") { cache, name in
                let tenant = UniqueNames.tenant()
                let a = try RouteID(tenant: tenant, service: "a.b", environment: "c", version: "1.0")
                let b = try RouteID(tenant: tenant, service: "a", environment: "b.c", version: "1.0")
                let c = try RouteID(tenant: tenant, service: "a", environment: "b", version: "c.1.0")
                try await cache.fill(a, with: .endpoint(url: "http://a:1", revision: 1), ttl: ttl)
                let others = (try await cache.get(b), try await cache.get(c))
                try expect(others.0 == nil && others.1 == nil, "another route read \(others)", check: name)
            },
        ]
    }

    private func check(
        _ name: String, _ body: @escaping @Sendable (any RouteCache, String) async throws -> Void
    ) -> ContractCheck {
        let makeCache = makeCache
        return ContractCheck(name: name) { try await body(makeCache(), name) }
    }
}
