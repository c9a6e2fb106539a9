import Foundation
#if canImport(Glibc)
import Glibc
#endif
import TrafficManager

/// Resident memory per near-cache entry: `count` distinct routes with realistic names (each over
/// 15 bytes, tenants shared by 100 routes each, as in a multi-tenant table, versions all
/// different) and a URL each (a string of its own, as decoded from a reply) are resolved once each through a near cache large enough for all. The store makes each
/// answer afresh and keeps nothing, and the shared cache keeps nothing, so what stays resident is
/// what the near cache holds: its nodes, index, names and URLs.
enum NearMemoryWorkload {
    /// Answers every lookup with a URL made on the spot; keeps nothing.
    struct SyntheticStore: RouteStore {
        func lookup(_ route: RouteID) async throws -> RouteLookup {
            // 61 bytes for the longest service name, as a service-mesh address would be.
            RouteLookup(url: exact("https://\(route.service).\(route.environment).internal:4002"), revision: 1)
        }
        func endpoint(_ route: RouteID) async throws -> RouteEndpoint? { nil }
        func apply(_ command: RouteCommand, idempotencyKey: IdempotencyKey?) async throws -> RouteWriteResult {
            throw TrafficManagerError.writeFailed("the synthetic store takes no writes")
        }
    }

    struct NoCache: RouteCache {
        func get(_ route: RouteID) async throws -> CachedRoute? { nil }
        func fill(_ route: RouteID, with value: CachedRoute, ttl: Duration) async throws -> Bool { false }
        func invalidate(_ route: RouteID, revision: UInt64, ttl: Duration) async throws {}
    }

    static let services = [
        "chat-service-backend", "user-profile-service", "authentication-api", "notification-worker", "file-upload-gateway",
        "image-processing-svc", "metadata-indexer-api", "permission-evaluator", "session-store-service", "analytics-collector",
    ]
    static let environments = ["production-eu-west", "production-us-east", "staging-eu-central", "development-shared"]

    static func route(_ index: Int) throws -> RouteID {
        // 100 routes per tenant: 10 services × 4 environments × versions.
        let tenant = exact("tenant-\(String(index / 100 + 100_000))-corp")
        let rest = index % 100
        return try RouteID(
            tenant: tenant, service: services[rest % 10], environment: environments[(rest / 10) % 4],
            version: exact("2026.11.\(rest / 40)-build.\(index)"))
    }

    /// A copy of `text` with no spare capacity, as a string decoded from a reply is; string
    /// interpolation leaves up to twice the length reserved.
    static func exact(_ text: String) -> String { String(decoding: Array(text.utf8), as: UTF8.self) }

    /// glibc's `malloc_trim(0)`, looked up at run time (its header is not in the Glibc module):
    /// returns free pages inside the heap to the system, so resident memory shows what is live.
    static func trimAllocator() {
        #if os(Linux)
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim") else { return }
        let trim = unsafeBitCast(symbol, to: (@convention(c) (Int) -> Int32).self)
        _ = trim(0)
        #endif
    }

    static func residentBytes() -> Int {
        guard let statm = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = statm.split(separator: " ")
        return (Int(fields.count > 1 ? fields[1] : "0") ?? 0) * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    /// The typical shape: tenants, services and environments over 15 bytes and shared, versions
    /// short (`v1`, `v2`: stored inline in their strings). 50 routes per tenant.
    static func typicalRoute(_ index: Int) throws -> RouteID {
        let tenant = exact("tenant-\(String(index / 80 + 100_000))-corp")
        let rest = index % 80
        return try RouteID(
            tenant: tenant, service: services[rest % 10], environment: environments[(rest / 10) % 4], version: "v\(rest / 40 + 1)")
    }

    /// One shape per process: a second run would reuse the first one's freed memory.
    static func run(count: Int, shortVersions: Bool, quiet: Bool) async throws {
        if shortVersions {
            try await run(count: count, quiet: quiet, label: "versions short (v1, v2)", route: typicalRoute)
        } else {
            try await run(count: count, quiet: quiet, label: "versions all different, over 15 bytes", route: route)
        }
    }

    static func run(count: Int, quiet: Bool, label: String, route: (Int) throws -> RouteID) async throws {
        let bus = InMemoryEventBus()
        let manager = TrafficManager(
            store: SyntheticStore(), cache: NoCache(), publisher: bus, changeFeed: bus,
            // A short resolve timeout: each miss's deadline timer lives that long, and a million
            // of them alive at once would fragment the heap the entries are measured in.
            configuration: .init(resolveTimeout: .milliseconds(100), nearCache: .init(capacity: count)))
        let feed = Task { try await manager.changeFeedService?.run() }
        defer { feed.cancel() }
        try await Task.sleep(for: .milliseconds(200))
        _ = try await manager.resolve(try route(count))  // warm every code path first
        trimAllocator()
        let before = residentBytes()
        for index in 0..<count { _ = try await manager.resolve(try route(index)) }
        // Each miss leaves a deadline timer until its resolve timeout would have passed, and
        // freed memory stays in the allocator: wait them out and hand free pages back, so
        // what is measured is what the near cache keeps.
        try await Task.sleep(for: .seconds(1))
        trimAllocator()
        let after = residentBytes()
        let perEntry = Double(after - before) / Double(count)
        if quiet {
            print(String(format: "%d %.1f", manager.nearCacheCount, perEntry))
            _ = label
        } else {
            print(
                String(
                    format: "near cache, %@: %d entries; resident memory grew %.1f MB: %.1f bytes per entry", label, manager.nearCacheCount,
                    Double(after - before) / 1e6, perEntry))
        }
    }
}
