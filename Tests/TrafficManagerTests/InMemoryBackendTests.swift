import Testing
import TrafficManager
import TrafficManagerTestKit

/// Behaviour of the in-memory backends beyond the contracts: sweeping and fault injection.
@Suite struct InMemoryBackendTests {
    @Test func expiredEntriesAreSweptOnceTheTableDoubles() async throws {
        let time = ManualTimeSource()
        let cache = InMemoryRouteCache(time: time)
        for index in 0..<1000 {
            try await cache.fill(try UniqueNames.route(version: "v\(index)"), with: .notFound(revision: 0), ttl: .seconds(1))
        }
        time.advance(by: .seconds(2))
        for index in 0..<100 {
            try await cache.fill(try UniqueNames.route(version: "w\(index)"), with: .notFound(revision: 0), ttl: .seconds(60))
        }
        #expect(cache.count < 200)
    }

    @Test func injectedFailuresStopAfterTheirCount() async throws {
        let store = InMemoryRouteStore()
        store.faults.failNext(2, with: TrafficManagerError.storeUnavailable("x"))
        await #expect(throws: TrafficManagerError.self) { try await store.lookup(chatProd) }
        await #expect(throws: TrafficManagerError.self) { try await store.lookup(chatProd) }
        #expect(try await store.lookup(chatProd) == .neverExisted)
    }

    @Test func injectedLatencyDelaysCalls() async throws {
        let store = InMemoryRouteStore()
        store.faults.addLatency(.milliseconds(20))
        let start = ContinuousClock.now
        _ = try await store.lookup(chatProd)
        #expect(ContinuousClock.now - start >= .milliseconds(20))
    }

    @Test func publishedEventsAreMarkedProcessed() async throws {
        let time = ManualTimeSource()
        let store = InMemoryRouteStore(time: time)
        let result = try await store.apply(try RouteCommand(route: chatProd, operation: .upsert(url: "http://a:1")), idempotencyKey: nil)
        let event = try #require(result.event)
        #expect(store.eventRows.map(\.processedAt) == [nil])
        try await store.markPublished([event.eventID])
        #expect(store.eventRows.map(\.processedAt) == [time.wallNow()])
    }
}
