import Testing
import TrafficManager
import TrafficManagerTestKit

/// The stale-fill race of plain cache-aside, driven step by step, and shown closed.
@Suite struct CoherenceTests {
    /// Makes the next resolve stop after its store read, just before it fills the cache.
    private func pauseFills(_ h: Harness) -> Gate {
        let gate = Gate()
        h.cache.faults.setHook { operation in if operation == "fill" { await gate.wait() } }
        return gate
    }

    @Test func aReaderThatReadTheOldRowCannotCacheItAfterAWriteInvalidated() async throws {
        let h = Harness()
        try await h.manager.createRoute(chatProd, url: "http://old:1")
        let fillGate = pauseFills(h)

        // The reader misses, reads the old row (revision 1), and stops before filling.
        let reader = Task { try await h.manager.resolve(chatProd) }
        #expect(try await eventually { h.store.lookupCount == 1 })

        // The writer commits revision 2 and invalidates: a tombstone at revision 2.
        try await h.manager.createRoute(chatProd, url: "http://new:2")
        #expect(try await h.cache.get(chatProd) == .tombstone(revision: 2))

        // The reader now fills with what it read; the fill is refused.
        fillGate.open()
        #expect(try await reader.value == "http://old:1")
        #expect(try await h.cache.get(chatProd) == .tombstone(revision: 2))
        #expect(try await h.manager.resolve(chatProd) == "http://new:2")
        #expect(try await h.cache.get(chatProd) == .endpoint(url: "http://new:2", revision: 2))
    }

    @Test func aReaderThatFoundNoRouteCannotCacheNotFoundAfterTheRouteIsCreated() async throws {
        let h = Harness()
        let fillGate = pauseFills(h)

        let reader = Task { try await h.manager.resolve(chatProd) }
        #expect(try await eventually { h.store.lookupCount == 1 })
        try await h.manager.createRoute(chatProd, url: "http://chat:4002")

        fillGate.open()
        #expect(await managerError { try await reader.value } == .routeNotFound(chatProd))
        #expect(try await h.cache.get(chatProd) == .tombstone(revision: 1))
        #expect(try await h.manager.resolve(chatProd) == "http://chat:4002")
    }

    @Test func theSameRaceWithADeactivationCannotResurrectTheURL() async throws {
        let h = Harness()
        try await h.manager.createRoute(chatProd, url: "http://chat:4002")
        let fillGate = pauseFills(h)
        let reader = Task { try await h.manager.resolve(chatProd) }
        #expect(try await eventually { h.store.lookupCount == 1 })
        try await h.manager.deactivateRoute(chatProd)
        fillGate.open()
        _ = try await reader.value
        #expect(await managerError { try await h.manager.resolve(chatProd) } == .routeNotFound(chatProd))
    }

    @Test func aStoreReadSlowerThanTheTombstoneLifetimeIsNotCached() async throws {
        let h = Harness(configuration: .init(tombstoneTTL: .seconds(30)))
        try await h.manager.createRoute(chatProd, url: "http://chat:4002")
        h.store.faults.setHook { _ in h.time.advance(by: .seconds(31)) }
        #expect(try await h.manager.resolve(chatProd) == "http://chat:4002")
        // The write's tombstone has expired meanwhile, and the slow read did not fill.
        #expect(try await h.cache.get(chatProd) == nil)
        #expect(h.store.lookupCount == 1)
    }

    @Test func aLateEventCannotUndoANewerCachedState() async throws {
        let h = Harness()
        let created = try await h.manager.createRoute(chatProd, url: "http://a:1")
        try await h.manager.createRoute(chatProd, url: "http://b:2")
        #expect(try await h.manager.resolve(chatProd) == "http://b:2")
        let consumer = CacheInvalidationConsumer(cache: h.cache)
        try await consumer.handle(try #require(created.event))
        #expect(try await h.cache.get(chatProd) == .endpoint(url: "http://b:2", revision: 2))
    }
}
