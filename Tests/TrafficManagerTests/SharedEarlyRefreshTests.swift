import Testing
@testable import TrafficManager
import TrafficManagerTestKit

/// XFetch for the shared cache, with no near cache: a hit close to its entry's expiry refreshes
/// it in the background, once per route at a time, through the revision check.
@Suite struct SharedEarlyRefreshTests {
    /// β so large that a hit in the last seconds of the TTL always refreshes; no jitter, so the
    /// TTL is exactly 60 s.
    private static let eager = TrafficManagerConfiguration(positiveTTL: .seconds(60), ttlJitter: 0, sharedCacheEarlyRefresh: 1_000)

    private var refreshes: (Harness) -> Int64 { { $0.counter(TrafficManagerMetrics.Name.earlyRefreshes) } }

    /// Runs `hit` until one starts a refresh: XFetch fires at random, so one hit may not.
    private func hitUntilARefreshStarts(_ h: Harness, _ hit: () async throws -> Void) async throws {
        for _ in 0..<1_000 where refreshes(h) == 0 { try await hit() }
        #expect(refreshes(h) == 1)
    }

    @Test func aHitNearExpiryRefreshesTheEntrySoItNeverMisses() async throws {
        let h = Harness(configuration: Self.eager)
        try await h.manager.createRoute(chatProd, url: "http://chat:4002")
        #expect(try await h.manager.resolve(chatProd) == "http://chat:4002")
        #expect(h.store.lookupCount == 1 && h.cache.timeToLive(chatProd) == .seconds(60))
        h.time.advance(by: .seconds(59))
        // Hits, answered from the shared cache, until one starts a refresh (here almost the
        // first: each does unless −ln u < 1/(β·δ) of a second).
        try await hitUntilARefreshStarts(h) {
            let source = try await h.manager.resolution(chatProd).source
            #expect(source == .sharedCache)
        }
        #expect(try await eventually { h.cache.timeToLive(chatProd) == .seconds(60) })
        #expect(h.store.lookupCount == 2 && refreshes(h) == 1)
        // Past the first fill's expiry the route is still a hit: no resolve waited on the store.
        h.time.advance(by: .seconds(2))
        #expect(try await h.manager.resolution(chatProd).source == .sharedCache)
        #expect(h.readCounters[3] == 1, "only the first resolve missed")
    }

    @Test func aHitFarFromExpiryRefreshesNothing() async throws {
        let h = Harness(configuration: .init(positiveTTL: .seconds(60), ttlJitter: 0.1))
        try await h.manager.createRoute(chatProd, url: "http://chat:4002")
        _ = try await h.manager.resolve(chatProd)
        h.time.advance(by: .seconds(30))
        for _ in 0..<200 { _ = try await h.manager.resolve(chatProd) }
        try await Task.sleep(for: .milliseconds(20))
        #expect(h.store.lookupCount == 1 && refreshes(h) == 0)
    }

    @Test func aNotFoundEntryIsRefreshedByItsOwnTTL() async throws {
        let h = Harness(configuration: Self.eager)
        #expect(await managerError { try await h.manager.resolve(chatProd) } == .routeNotFound(chatProd))
        #expect(h.cache.timeToLive(chatProd) == .seconds(10))
        h.time.advance(by: .seconds(9))
        try await hitUntilARefreshStarts(h) { #expect(await managerError { try await h.manager.resolve(chatProd) } == .routeNotFound(chatProd)) }
        #expect(try await eventually { h.cache.timeToLive(chatProd) == .seconds(10) })
        #expect(h.store.lookupCount == 2)
    }

    @Test func manyHitsNearExpiryStartOneRefresh() async throws {
        let h = Harness(configuration: Self.eager)
        try await h.manager.createRoute(chatProd, url: "http://chat:4002")
        _ = try await h.manager.resolve(chatProd)
        let gate = Gate()
        h.store.faults.setHook { operation in if operation == "lookup" { await gate.wait() } }
        h.time.advance(by: .seconds(59))
        try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<100 { group.addTask { try await h.manager.resolve(chatProd) } }
            for try await url in group { #expect(url == "http://chat:4002") }
        }
        // Every hit answered at once; one refresh waits on the store.
        #expect(try await eventually { h.store.lookupCount == 2 })
        #expect(h.manager.resolver.sharedRefreshes.count == 1 && refreshes(h) == 1)
        gate.open()
        #expect(try await eventually { h.manager.resolver.sharedRefreshes.count == 0 })
        #expect(h.store.lookupCount == 2 && h.cache.timeToLive(chatProd) == .seconds(60))
    }

    @Test func aRefreshThatReadBeforeAWriteCannotUndoIt() async throws {
        let h = Harness(configuration: Self.eager)
        try await h.manager.createRoute(chatProd, url: "http://old:1")
        _ = try await h.manager.resolve(chatProd)
        // The refresh reads revision 1; its fill is held until the write has finished.
        let gate = Gate()
        h.cache.faults.setHook { operation in if operation == "fill" { await gate.wait() } }
        h.time.advance(by: .seconds(59))
        try await hitUntilARefreshStarts(h) {
            let url = try await h.manager.resolve(chatProd)
            #expect(url == "http://old:1")
        }
        #expect(try await eventually { h.store.lookupCount == 2 })
        h.cache.faults.setHook(nil)
        try await h.manager.createRoute(chatProd, url: "http://new:2")
        gate.open()
        #expect(try await eventually { h.manager.resolver.sharedRefreshes.count == 0 })
        // The late fill of revision 1 met the write's tombstone and was refused.
        #expect(try await h.cache.get(chatProd) != .endpoint(url: "http://old:1", revision: 1))
        #expect(try await h.manager.resolve(chatProd) == "http://new:2")
    }

    @Test func withEarlyRefreshOffAHitNearExpiryRefreshesNothing() async throws {
        let h = Harness(configuration: .init(positiveTTL: .seconds(60), ttlJitter: 0, sharedCacheEarlyRefresh: 0))
        try await h.manager.createRoute(chatProd, url: "http://chat:4002")
        _ = try await h.manager.resolve(chatProd)
        h.time.advance(by: .seconds(59))
        for _ in 0..<100 { _ = try await h.manager.resolve(chatProd) }
        try await Task.sleep(for: .milliseconds(20))
        #expect(h.store.lookupCount == 1 && refreshes(h) == 0)
    }

    @Test func aCacheThatKeepsNoReadTimeGetsNoEarlyRefresh() async throws {
        let h = Harness(configuration: Self.eager)
        // A format 1 entry, as an older writer leaves it: no read time, so no age.
        try await h.cache.fill(chatProd, with: .endpoint(url: "http://chat:4002", revision: 1), ttl: .seconds(2))
        for _ in 0..<100 { _ = try await h.manager.resolve(chatProd) }
        try await Task.sleep(for: .milliseconds(20))
        #expect(h.store.lookupCount == 0 && refreshes(h) == 0)
    }
}
