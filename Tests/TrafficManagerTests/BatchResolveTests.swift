import Foundation
import Testing
@testable import TrafficManager
import TrafficManagerTestKit

/// `resolutions(_:)`: a result per route, one near pass, one shared-cache call, one store call.
@Suite struct BatchResolveTests {
    private func route(_ name: String) throws -> RouteID {
        try RouteID(tenant: "chat-app", service: name, environment: "prod", version: "v1")
    }

    /// A shared cache that counts its calls.
    private final class CountingCache: RouteCache {
        let inner = InMemoryRouteCache()
        let singleGets = Locked(0)
        let batchGets = Locked(0)
        func get(_ route: RouteID) async throws -> CachedRoute? {
            singleGets.withLock { $0 += 1 }
            return try await inner.get(route)
        }
        func get(_ routes: [RouteID]) async throws -> [CachedRoute?] {
            batchGets.withLock { $0 += 1 }
            var entries: [CachedRoute?] = []
            for route in routes { entries.append(try await inner.get(route)) }
            return entries
        }
        func fill(_ route: RouteID, with value: CachedRoute, ttl: Duration) async throws -> Bool {
            try await inner.fill(route, with: value, ttl: ttl)
        }
        func invalidate(_ route: RouteID, revision: UInt64, ttl: Duration) async throws {
            try await inner.invalidate(route, revision: revision, ttl: ttl)
        }
    }

    @Test func eachRouteGetsItsAnswerFromWhereItIsWithOneCallPerLayer() async throws {
        let store = InMemoryRouteStore()
        let cache = CountingCache()
        let bus = InMemoryEventBus(heartbeatInterval: .milliseconds(5))
        let manager = TrafficManager(store: store, cache: cache, publisher: bus, changeFeed: bus)
        let feed = Task { try await manager.changeFeedService!.run() }
        defer { feed.cancel() }
        try await Task.sleep(for: .milliseconds(30))

        let (near, shared, stored, inactive, absent) = try (route("near"), route("shared"), route("stored"), route("inactive"), route("absent"))
        try await manager.createRoute(near, url: "http://near:1")  // its own write: in memory at once
        let sharedWrite = try await store.apply(try RouteCommand(route: shared, operation: .upsert(url: "http://shared:1")), idempotencyKey: nil)
        try await cache.inner.fill(shared, with: .endpoint(url: "http://shared:1", revision: sharedWrite.endpoint.revision), ttl: .seconds(60))
        _ = try await store.apply(try RouteCommand(route: stored, operation: .upsert(url: "http://stored:1")), idempotencyKey: nil)
        _ = try await store.apply(try RouteCommand(route: inactive, operation: .upsert(url: "http://inactive:1")), idempotencyKey: nil)
        _ = try await store.apply(try RouteCommand(route: inactive, operation: .deactivate), idempotencyKey: nil)
        let lookupsBefore = store.lookupCount

        let results = try await manager.resolutions([near, shared, stored, inactive, absent])
        #expect(try results[0].get() == RouteResolution(url: "http://near:1", revision: 1, source: .nearCache, age: try results[0].get().age))
        #expect(try results[1].get().source == .sharedCache && results[1].get().url == "http://shared:1")
        #expect(try results[2].get().source == .store && results[2].get().url == "http://stored:1")
        #expect(results[3].failureCode == .routeNotFound && results[4].failureCode == .routeNotFound)
        #expect(cache.batchGets.withLock { $0 } == 1 && cache.singleGets.withLock { $0 } == 0)
        #expect(store.batchLookupCount == 1 && store.lookupCount == lookupsBefore)
        // The store's answers filled both caches: asked again, memory answers.
        #expect(try await cache.inner.get(stored) == .endpoint(url: "http://stored:1", revision: 1))
        let again = try await manager.resolutions([stored])
        #expect(try again[0].get().source == .nearCache)
    }

    @Test func anOlderSharedCacheEntryThanTheNearCacheKnowsIsNotAccepted() async throws {
        let h = Harness()
        let near = try route("chat")
        try await h.manager.createRoute(near, url: "http://old:1")
        try await h.cache.fill(near, with: .endpoint(url: "http://old:1", revision: 1), ttl: .seconds(60))
        // A write whose invalidation failed: this process knows revision 2.
        h.cache.faults.failNext(1, with: TrafficManagerError.cacheUnavailable("lost"))
        try await h.manager.createRoute(near, url: "http://new:2")
        let results = try await h.manager.resolutions([near])
        #expect(try results[0].get().url == "http://new:2")
    }

    @Test func withTheStoreDownTheMissesFailAndTheCachedAnswerStill() async throws {
        let h = Harness()
        let (cached, missing) = try (route("cached"), route("missing"))
        try await h.manager.createRoute(cached, url: "http://cached:1")
        try await h.manager.createRoute(missing, url: "http://missing:1")
        _ = try await h.manager.resolve(cached)
        h.store.faults.failNext(5, with: TrafficManagerError.storeUnavailable("down"))
        let results = try await h.manager.resolutions([cached, missing])
        #expect(try results[0].get().url == "http://cached:1")
        #expect(results[1].failureCode == .storeUnavailable)
    }

    @Test func aStoreSlowerThanTheDeadlineGivesDeadlineExceededForItsRoutesOnly() async throws {
        let h = Harness()
        let (cached, slow) = try (route("cached"), route("slow"))
        try await h.manager.createRoute(cached, url: "http://cached:1")
        try await h.manager.createRoute(slow, url: "http://slow:1")
        _ = try await h.manager.resolve(cached)
        h.store.faults.addLatency(.seconds(5))
        let started = ContinuousClock.now
        let results = try await h.manager.resolutions([cached, slow], timeout: .milliseconds(200))
        #expect(started.duration(to: .now) < .seconds(2))
        #expect(results[1].failureCode == .deadlineExceeded)
        // The cached one keeps the shared cache's answer.
        #expect(try results[0].get().url == "http://cached:1")
    }

    @Test func anEmptyBatchIsAnEmptyAnswer() async throws {
        let h = Harness()
        #expect(try await h.manager.resolutions([]).isEmpty)
    }

    @Test func aSharedAnswerInABatchCarriesItsAgeAndAnUndatedOneIsNotTakenForYoung() async throws {
        let store = InMemoryRouteStore()
        let cache = InMemoryRouteCache()
        // A feed that never proves itself: the near cache serves only entries younger than
        // unprovenTTL, measured from the store read.
        let bus = InMemoryEventBus(heartbeatInterval: .seconds(3_600))
        let manager = TrafficManager(store: store, cache: cache, publisher: bus, changeFeed: bus)
        let (dated, undated) = (try route("dated"), try route("undated"))
        let readAt = Date(unixMilliseconds: Date().unixMilliseconds - 5_000)
        try await cache.fill(dated, with: .endpoint(url: "http://dated:1", revision: 1), ttl: .seconds(60), notAfter: .distantFuture, readAt: readAt)
        try await cache.fill(undated, with: .endpoint(url: "http://undated:1", revision: 1), ttl: .seconds(60))
        let results = try await manager.resolutions([dated, undated])
        let first = try results[0].get()
        #expect(first.source == .sharedCache && first.age >= .milliseconds(4_900) && first.age < .seconds(30))
        #expect(try results[1].get().source == .sharedCache)
        // Neither is young enough for the unproven near cache: the next resolves go past it.
        #expect(try await manager.resolution(dated).source == .sharedCache)
        #expect(try await manager.resolution(undated).source == .sharedCache)
    }
}

extension Result where Failure == TrafficManagerError {
    fileprivate var failureCode: TrafficManagerError.Code? {
        if case .failure(let error) = self { return error.code }
        return nil
    }
}
