import MetricsTestKit
import Testing
import TrafficManager
import TrafficManagerTestKit

/// The one-call harness shares one clock across store, cache and manager.
@Suite struct InMemoryTrafficManagerTests {
    @Test func oneClockDrivesTheCacheTTLAndTheStoresTimestamps() async throws {
        let metrics = TestMetrics()
        let routes = InMemoryTrafficManager(metricsFactory: metrics)
        let route = try RouteID(tenant: "chat-app", service: "chat", environment: "prod", version: "v1")
        let created = try await routes.manager.createRoute(route, url: "http://chat:4002")
        #expect(created.endpoint.createdAt == routes.time.wallNow())
        #expect(try await routes.manager.resolve(route) == "http://chat:4002")  // miss, then cached
        #expect(try await routes.manager.resolve(route) == "http://chat:4002")
        #expect(metrics.counterTotal(label: TrafficManagerMetrics.defaultPrefix + TrafficManagerMetrics.Name.cacheHits) == 1)
        routes.advance(by: .seconds(61))  // past the 60 s TTL: the next resolve reads the store again
        #expect(try await routes.cache.get(route) == nil)
        #expect(try await routes.manager.resolve(route) == "http://chat:4002")
        #expect(metrics.counterTotal(label: TrafficManagerMetrics.defaultPrefix + TrafficManagerMetrics.Name.cacheMisses) == 2)
        #expect(routes.bus.publishedEvents.map(\.route) == [route])
    }
}
