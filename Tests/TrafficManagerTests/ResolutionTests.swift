import Testing
import TrafficManager
import TrafficManagerTestKit

/// A resolution says which revision it answers and where it came from.
@Suite struct ResolutionTests {
    @Test func aMissComesFromTheStoreAndTheNextFromTheSharedCacheAtTheSameRevision() async throws {
        let h = Harness()
        try await h.manager.createRoute(chatProd, url: "http://a:1")
        try await h.manager.createRoute(chatProd, url: "http://a:2")
        #expect(try await h.manager.resolution(chatProd) == RouteResolution(url: "http://a:2", revision: 2, source: .store))
        #expect(try await h.manager.resolution(chatProd) == RouteResolution(url: "http://a:2", revision: 2, source: .sharedCache))
        #expect(RouteResolution.Source.sharedCache.description == "shared" && RouteResolution.Source.store.description == "store")
        try await h.manager.deactivateRoute(chatProd)
        let error = await managerError { try await h.manager.resolution(chatProd) }
        #expect(error?.code == .routeNotFound)
    }

    @Test func aSharedCacheAnswerIsAsOldAsTheStoreReadItCameFrom() async throws {
        let h = Harness()
        try await h.manager.createRoute(chatProd, url: "http://chat:4002")
        #expect(try await h.manager.resolution(chatProd).source == .store)
        h.time.advance(by: .seconds(5))
        let cached = try await h.manager.resolution(chatProd)
        #expect(cached.source == .sharedCache && cached.age == .seconds(5))
        let entry = try await h.cache.entry(chatProd)
        #expect(entry?.readAt != nil)
    }
}
