import Foundation
import MetricsTestKit
import Testing
@testable import TrafficManager
import TrafficManagerTestKit

/// Two instances over one store, one shared cache and one bus, each with a near cache fed by
/// the bus; interleavings driven step by step.
private struct Instances {
    let time = ManualTimeSource()
    let store: InMemoryRouteStore
    let cache: InMemoryRouteCache
    let bus = InMemoryEventBus(redeliveryDelay: .milliseconds(1), heartbeatInterval: .milliseconds(5))
    let metrics = TestMetrics()
    let a: TrafficManager
    let b: TrafficManager

    init(configuration: TrafficManagerConfiguration = .init(), cacheB: (any RouteCache)? = nil) {
        store = InMemoryRouteStore(time: time)
        cache = InMemoryRouteCache(time: time)
        a = TrafficManager(store: store, cache: cache, publisher: bus, changeFeed: bus, configuration: configuration, time: time)
        b = TrafficManager(
            store: store, cache: cacheB ?? cache, publisher: bus, changeFeed: bus, configuration: configuration,
            metricsFactory: metrics, time: time)
    }

    /// Runs both feeds while `body` runs.
    func following(_ body: () async throws -> Void) async throws {
        let feeds = [a, b].map { manager in Task { try await manager.changeFeedService!.run() } }
        defer { for feed in feeds { feed.cancel() } }
        #expect(try await eventually { a.near!.isProven(at: time.now) && b.near!.isProven(at: time.now) })
        try await body()
    }

    func nearEntry(_ manager: TrafficManager, _ route: RouteID) -> NearCache.Entry? {
        switch manager.near!.lookup(route, now: time.now) {
        case .fresh(let entry), .held(let entry): return entry
        case .absent: return nil
        }
    }

    func nearRevision(_ manager: TrafficManager, _ route: RouteID) -> UInt64? {
        switch manager.near!.lookup(route, now: time.now) {
        case .fresh(let entry), .held(let entry): return entry.revision
        case .absent: return nil
        }
    }
}

extension ManualTimeSource {
    fileprivate var now: Int64 { monotonicNanoseconds() }
}

/// A shared cache whose `get` can be held after it read, before it answers: a late reply.
private final class LateReplyCache: RouteCache {
    let inner: InMemoryRouteCache
    let held = Locked<Gate?>(nil)
    let gets = Locked(0)
    init(_ inner: InMemoryRouteCache) { self.inner = inner }

    func get(_ route: RouteID) async throws -> CachedRoute? {
        gets.withLock { $0 += 1 }
        let entry = try await inner.get(route)
        if let gate = held.withLock({ $0 }) { await gate.wait() }
        return entry
    }
    func fill(_ route: RouteID, with value: CachedRoute, ttl: Duration) async throws -> Bool {
        try await inner.fill(route, with: value, ttl: ttl)
    }
    func invalidate(_ route: RouteID, revision: UInt64, ttl: Duration) async throws {
        try await inner.invalidate(route, revision: revision, ttl: ttl)
    }
}

@Suite struct NearCacheTests {
    @Test func aRepeatedResolveIsAnsweredFromMemoryWithItsRevisionAndAge() async throws {
        let i = Instances()
        try await i.following {
            try await i.a.createRoute(chatProd, url: "http://chat:4002")
            // The change's event put the route in b's memory already.
            #expect(try await eventually { i.nearRevision(i.b, chatProd) == 1 })
            let first = try await i.b.resolution(chatProd)
            #expect(first.source == .nearCache && first.age < .seconds(1))
            i.time.advance(by: .seconds(3))
            #expect(try await eventually { i.b.near!.isProven(at: i.time.now) })
            let second = try await i.b.resolution(chatProd)
            #expect(second == RouteResolution(url: "http://chat:4002", revision: 1, source: .nearCache, age: second.age))
            #expect(second.age >= .seconds(3))
            #expect(i.metrics.counterTotal(label: "trafficmanager_near_cache_hit_total") == 2)
            #expect(i.b.nearCacheCount == 1)
        }
    }

    @Test func aChangeWrittenByAnotherInstanceIsServedFromTheOthersMemory() async throws {
        let i = Instances()
        try await i.following {
            try await i.a.createRoute(chatProd, url: "http://old:1")
            #expect(try await i.b.resolve(chatProd) == "http://old:1")
            let lookups = i.store.lookupCount
            try await i.a.createRoute(chatProd, url: "http://new:2")
            // The event reached b's near cache: the next resolve is answered from memory.
            #expect(i.nearRevision(i.b, chatProd) == 2)
            #expect(try await i.b.resolution(chatProd) == RouteResolution(url: "http://new:2", revision: 2, source: .nearCache, age: .zero))
            #expect(i.store.lookupCount == lookups)
            try await i.a.deactivateRoute(chatProd)
            #expect(await managerError { try await i.b.resolve(chatProd) } == .routeNotFound(chatProd))
        }
    }

    @Test func anInstancesOwnWriteIsAppliedAtOnceEvenWithTheFeedCut() async throws {
        let i = Instances()
        try await i.following {
            try await i.a.createRoute(chatProd, url: "http://old:1")
            #expect(try await i.a.resolve(chatProd) == "http://old:1")
            i.bus.cutFeed()
            try await i.a.createRoute(chatProd, url: "http://new:2")
            #expect(try await i.a.resolution(chatProd).source == .nearCache)
            #expect(try await i.a.resolve(chatProd) == "http://new:2")
        }
    }

    @Test func aLateSharedCacheReplyCannotPutAnOlderURLInMemoryAfterTheChangeArrived() async throws {
        let inner = InMemoryRouteCache()
        let late = LateReplyCache(inner)
        let i = Instances(cacheB: late)
        try await i.following {
            try await i.a.createRoute(chatProd, url: "http://old:1")
            #expect(try await i.a.resolve(chatProd) == "http://old:1")  // cached in a's shared cache
            try await inner.fill(chatProd, with: .endpoint(url: "http://old:1", revision: 1), ttl: .seconds(60))
            let gate = Gate()
            late.held.withLock { $0 = gate }
            // b reads the old entry from its shared cache; the reply is held.
            let reader = Task { try await i.b.resolve(chatProd) }
            try await Task.sleep(for: .milliseconds(20))
            // The change reaches b's near cache while the reply is in flight.
            try await i.a.createRoute(chatProd, url: "http://new:2")
            #expect(try await eventually { i.nearRevision(i.b, chatProd) == 2 })
            late.held.withLock { $0 = nil }
            gate.open()
            // The resolve began before the change arrived and may answer the old URL — but
            // it cannot leave it in memory.
            #expect(try await reader.value == "http://old:1")
            #expect(i.nearRevision(i.b, chatProd) == 2)
            #expect(try await i.b.resolve(chatProd) == "http://new:2")
        }
    }

    @Test func aLateOrRedeliveredEventCannotUndoAnOwnWrite() async throws {
        let i = Instances()
        try await i.following {
            let first = try await i.a.createRoute(chatProd, url: "http://old:1")
            try await i.a.createRoute(chatProd, url: "http://new:2")
            try await i.bus.publish(try #require(first.event))
            #expect(try await eventually { i.bus.publishedEvents.count == 3 })
            #expect(i.nearRevision(i.a, chatProd) == 2)
            #expect(try await i.a.resolve(chatProd) == "http://new:2")
            #expect(try await i.b.resolve(chatProd) == "http://new:2")
        }
    }

    @Test func aChangeKnownToTheNearCacheRefusesAnOlderSharedCacheEntry() async throws {
        let i = Instances()
        try await i.following {
            try await i.a.createRoute(chatProd, url: "http://old:1")
            try await i.cache.fill(chatProd, with: .endpoint(url: "http://old:1", revision: 1), ttl: .seconds(60))
            #expect(try await i.b.resolve(chatProd) == "http://old:1")
            // The change's invalidation of the shared cache is lost; only its event arrives.
            i.cache.faults.failNext(1, with: TrafficManagerError.cacheUnavailable("lost"))
            try await i.a.createRoute(chatProd, url: "http://new:2")
            #expect(try await i.cache.get(chatProd) == .endpoint(url: "http://old:1", revision: 1))
            // b's near entry is at revision 2; even with its proof lapsed, a resolve there
            // refuses the shared cache's revision 1 and reads the store.
            i.bus.cutFeed()
            i.time.advance(by: .seconds(2))
            #expect(try await i.b.resolution(chatProd) == RouteResolution(url: "http://new:2", revision: 2, source: .store, age: .zero))
        }
    }

    @Test func withTheStreamCutEntriesAreServedOnlyWithinTheBound() async throws {
        let configuration = TrafficManagerConfiguration(nearCache: .init(maxLag: .seconds(1), unprovenTTL: .milliseconds(250)))
        let i = Instances(configuration: configuration)
        try await i.following {
            try await i.a.createRoute(chatProd, url: "http://old:1")
            #expect(try await i.b.resolve(chatProd) == "http://old:1")
            i.bus.cutFeed()
            try await i.a.createRoute(chatProd, url: "http://new:2")  // b does not hear of it
            // Within maxLag of the last proof, b may still answer from memory (the stated bound)…
            i.time.advance(by: .milliseconds(900))
            #expect(try await i.b.resolution(chatProd).source == .nearCache)
            // …never past it: the shared cache answers, coherent with the write.
            i.time.advance(by: .milliseconds(200))
            let past = try await i.b.resolution(chatProd)
            #expect(past.url == "http://new:2" && past.source != .nearCache)
            // What it just stored is young, so it is served for unprovenTTL, then not.
            #expect(try await i.b.resolution(chatProd).source == .nearCache)
            i.time.advance(by: .milliseconds(300))
            #expect(try await i.b.resolution(chatProd).source == .sharedCache)
            // Restored, the stream proves itself again and memory answers.
            i.bus.restoreFeed()
            #expect(try await eventually { i.b.near!.isProven(at: i.time.now) })
            #expect(try await i.b.resolution(chatProd).source == .nearCache)
        }
    }

    @Test func strongConsistencyBypassesTheNearCache() async throws {
        let i = Instances()
        try await i.following {
            try await i.a.createRoute(chatProd, url: "http://chat:4002")
            _ = try await i.b.resolve(chatProd)
            #expect(try await i.b.resolution(chatProd).source == .nearCache)
            let strong = try await i.b.resolution(chatProd, consistency: .strong)
            #expect(strong.source != .nearCache && strong.url == "http://chat:4002")
        }
    }

    @Test func withoutItsServiceRunningTheNearCacheServesOnlyYoungEntries() async throws {
        let i = Instances()
        try await i.a.createRoute(chatProd, url: "http://chat:4002")
        #expect(try await i.b.resolution(chatProd).source != .nearCache)
        #expect(try await i.b.resolution(chatProd).source == .nearCache)
        i.time.advance(by: .milliseconds(300))
        #expect(try await i.b.resolution(chatProd).source == .sharedCache)
    }

    @Test func anExpiredEntryIsServedStaleOnlyWhenBothBackendsFailAndOnlyWithinMaxStale() async throws {
        let configuration = TrafficManagerConfiguration(positiveTTL: .seconds(60), maxStale: .seconds(30), ttlJitter: 0)
        let i = Instances(configuration: configuration)
        try await i.following {
            try await i.a.createRoute(chatProd, url: "http://chat:4002")
            try await i.a.createRoute(authStaging, url: "http://auth:4003")
            _ = try await i.b.resolve(chatProd)
            _ = try await i.b.resolve(authStaging)
            // authStaging is changed, so its entries are gone; then both backends go down.
            try await i.a.deactivateRoute(authStaging)
            i.time.advance(by: .seconds(70))
            i.cache.faults.failNext(100, with: TrafficManagerError.cacheUnavailable("down"))
            i.store.faults.failNext(100, with: TrafficManagerError.storeUnavailable("down"))
            let stale = try await i.b.resolution(chatProd)
            #expect(stale.source == .stale && stale.url == "http://chat:4002" && stale.age >= .seconds(70))
            #expect(i.metrics.counterTotal(label: "trafficmanager_stale_answer_total") == 1)
            // Never an entry a write changed: the old URL is gone (only URLs are served stale).
            #expect(await managerError { try await i.b.resolve(authStaging) }?.code == .storeUnavailable)
            // Not past maxStale.
            i.time.advance(by: .seconds(25))
            #expect(await managerError { try await i.b.resolve(chatProd) }?.code == .storeUnavailable)
        }
    }

    @Test func withoutMaxStaleBothBackendsDownIsAnError() async throws {
        let i = Instances(configuration: .init(ttlJitter: 0))
        try await i.following {
            try await i.a.createRoute(chatProd, url: "http://chat:4002")
            _ = try await i.b.resolve(chatProd)
            i.time.advance(by: .seconds(61))
            i.cache.faults.failNext(100, with: TrafficManagerError.cacheUnavailable("down"))
            i.store.faults.failNext(100, with: TrafficManagerError.storeUnavailable("down"))
            #expect(await managerError { try await i.b.resolve(chatProd) }?.code == .storeUnavailable)
        }
    }

    @Test func aWriteWithAnUnknownOutcomeDropsTheRouteFromMemory() async throws {
        let i = Instances()
        try await i.following {
            try await i.a.createRoute(chatProd, url: "http://old:1")
            _ = try await i.a.resolve(chatProd)
            #expect(i.nearRevision(i.a, chatProd) == 1)
            i.store.faults.failNext(1, with: TrafficManagerError.outcomeUnknown("lost reply"))
            _ = await managerError { try await i.a.createRoute(chatProd, url: "http://new:2") }
            // Reconciled in the background: read again, nothing older than the store is served.
            #expect(try await eventually { i.a.near!.count == 1 || i.nearRevision(i.a, chatProd) == nil })
            #expect(try await i.a.resolve(chatProd) == "http://old:1")
        }
    }

    @Test func entriesAreBoundedAndEvictedBySieve() async throws {
        let i = Instances(configuration: .init(nearCache: .init(capacity: 64, shards: 4)))
        try await i.following {
            var routes: [RouteID] = []
            for index in 0..<200 {
                let route = try RouteID(tenant: "tenant-\(index)", service: "chat", environment: "prod", version: "v1")
                routes.append(route)
                try await i.a.createRoute(route, url: "http://chat-\(index):4002")
            }
            for route in routes { _ = try await i.b.resolve(route) }
            #expect(i.b.nearCacheCount <= 64)
            #expect(i.b.near!.evictions >= 136)
        }
    }

    // MARK: Early refresh (XFetch)

    /// Waits for `b`'s near cache to hold the route (from its event), fills the shared cache at
    /// revision 1 with `url`, and returns the near entry.
    private func nearEntryOfB(_ i: Instances, _ inner: InMemoryRouteCache, url: String) async throws -> NearCache.Entry {
        try await inner.fill(chatProd, with: .endpoint(url: url, revision: 1), ttl: .seconds(600))
        #expect(try await eventually { i.nearRevision(i.b, chatProd) == 1 })
        return try #require(i.nearEntry(i.b, chatProd))
    }

    /// Moves the clock to 1 ms before `entry` expires, and waits for a proof at that time.
    private func justBeforeExpiry(_ i: Instances, _ entry: NearCache.Entry) async throws {
        i.time.advance(by: .nanoseconds(entry.expiresAt - i.time.now) - .milliseconds(1))
        #expect(try await eventually { i.b.near!.isProven(at: i.time.now) })
    }

    private static let eager = TrafficManagerConfiguration(
        positiveTTL: .seconds(60), nearCache: .init(earlyRefresh: 1_000), ttlJitter: 0)

    @Test func aHotEntryIsRefreshedInTheBackgroundBeforeItExpires() async throws {
        let inner = InMemoryRouteCache()
        let shared = LateReplyCache(inner)
        let i = Instances(configuration: Self.eager, cacheB: shared)
        try await i.following {
            try await i.a.createRoute(chatProd, url: "http://chat:4002")
            let first = try await nearEntryOfB(i, inner, url: "http://chat:4002")
            // Just before expiry: a hit answers from memory and starts one refresh.
            try await justBeforeExpiry(i, first)
            #expect(try await i.b.resolution(chatProd).source == .nearCache)
            #expect(try await eventually { (i.nearEntry(i.b, chatProd)?.expiresAt ?? 0) > first.expiresAt })
            #expect(shared.gets.withLock { $0 } == 1)
            // Past the old expiry the route is still answered from memory: it never missed.
            i.time.advance(by: .seconds(1))
            #expect(try await eventually { i.b.near!.isProven(at: i.time.now) })
            #expect(try await i.b.resolution(chatProd).source == .nearCache)
        }
    }

    @Test func manyHitsNearExpiryStartOneRefresh() async throws {
        let inner = InMemoryRouteCache()
        let shared = LateReplyCache(inner)
        let i = Instances(configuration: Self.eager, cacheB: shared)
        try await i.following {
            try await i.a.createRoute(chatProd, url: "http://chat:4002")
            let first = try await nearEntryOfB(i, inner, url: "http://chat:4002")
            let gate = Gate()
            shared.held.withLock { $0 = gate }
            try await justBeforeExpiry(i, first)
            for _ in 0..<100 { #expect(try await i.b.resolution(chatProd).source == .nearCache) }
            #expect(try await eventually { shared.gets.withLock { $0 } == 1 })
            shared.held.withLock { $0 = nil }
            gate.open()
            #expect(try await eventually { (i.nearEntry(i.b, chatProd)?.expiresAt ?? 0) > first.expiresAt })
            #expect(shared.gets.withLock { $0 } == 1)
        }
    }

    @Test func anEarlyRefreshThatReadBeforeAChangeCannotUndoIt() async throws {
        let inner = InMemoryRouteCache()
        let shared = LateReplyCache(inner)
        let i = Instances(configuration: Self.eager, cacheB: shared)
        try await i.following {
            try await i.a.createRoute(chatProd, url: "http://old:1")
            let first = try await nearEntryOfB(i, inner, url: "http://old:1")
            // The refresh reads revision 1 from the shared cache; its reply is held.
            let gate = Gate()
            shared.held.withLock { $0 = gate }
            try await justBeforeExpiry(i, first)
            #expect(try await i.b.resolve(chatProd) == "http://old:1")
            #expect(try await eventually { shared.gets.withLock { $0 } == 1 })
            // The change arrives meanwhile.
            try await i.a.createRoute(chatProd, url: "http://new:2")
            #expect(try await eventually { i.nearRevision(i.b, chatProd) == 2 })
            shared.held.withLock { $0 = nil }
            gate.open()
            try await Task.sleep(for: .milliseconds(50))
            // The late refresh is refused: revision 2 stays, and is what b answers.
            #expect(i.nearRevision(i.b, chatProd) == 2)
            #expect(try await i.b.resolve(chatProd) == "http://new:2")
        }
    }

    @Test func withEarlyRefreshOffAnEntryExpiresAndTheNextResolveMisses() async throws {
        let configuration = TrafficManagerConfiguration(positiveTTL: .seconds(60), nearCache: .init(earlyRefresh: 0), ttlJitter: 0)
        let inner = InMemoryRouteCache()
        let shared = LateReplyCache(inner)
        let i = Instances(configuration: configuration, cacheB: shared)
        try await i.following {
            try await i.a.createRoute(chatProd, url: "http://chat:4002")
            #expect(try await eventually { i.nearRevision(i.b, chatProd) == 1 })
            let first = try #require(i.nearEntry(i.b, chatProd))
            try await justBeforeExpiry(i, first)
            for _ in 0..<100 { _ = try await i.b.resolve(chatProd) }
            try await Task.sleep(for: .milliseconds(20))
            #expect(shared.gets.withLock { $0 } == 0)
        }
    }
}
