import Testing
import TrafficManager
import TrafficManagerTestKit

/// Batches through the manager: one transaction, then every route invalidated and every change
/// published, as single writes are.
@Suite struct BatchWriteTests {
    let other = try! RouteID(tenant: "chat-app", service: "user", environment: "prod", version: "v1")

    @Test func aBatchInvalidatesEveryRouteAndPublishesEachChangeInOrder() async throws {
        let h = Harness()
        try await h.manager.createRoute(chatProd, url: "http://old:1")
        #expect(try await h.manager.resolve(chatProd) == "http://old:1")
        let published = h.bus.publishedEvents.count

        let results = try await h.manager.applyBatch([
            try RouteCommand(route: chatProd, operation: .upsert(url: "http://new:2")),
            try RouteCommand(route: other, operation: .upsert(url: "http://user:4001")),
            try RouteCommand(route: other, operation: .upsert(url: "http://user:4001")),
        ])
        #expect(results.map { $0.event?.action } == [.updated, .created, nil])
        #expect(try await h.cache.get(chatProd) == .tombstone(revision: 2))
        #expect(try await h.cache.get(other) == .tombstone(revision: 1))
        #expect(try await h.manager.resolve(chatProd) == "http://new:2")
        #expect(h.bus.publishedEvents.dropFirst(published).map(\.route) == [chatProd, other])
        #expect(h.writeCounters == [4, 4, 0])
    }

    @Test func aFailingBatchWritesPublishesAndInvalidatesNothing() async throws {
        let h = Harness()
        try await h.manager.createRoute(chatProd, url: "http://old:1")
        #expect(try await h.manager.resolve(chatProd) == "http://old:1")
        let error = await managerError {
            try await h.manager.applyBatch([
                try RouteCommand(route: chatProd, operation: .upsert(url: "http://new:2")),
                try RouteCommand(route: authStaging, operation: .activate),
            ])
        }
        #expect(error?.code == .routeNotFound && error?.message.hasPrefix("command 2 of 2: ") == true)
        #expect(try await h.store.lookup(chatProd) == RouteLookup(url: "http://old:1", revision: 1))
        #expect(try await h.cache.get(chatProd) == .endpoint(url: "http://old:1", revision: 1))
        #expect(h.bus.publishedEvents.count == 1)
        #expect(h.writeCounters == [3, 1, 2])
    }

    @Test func aURLWithASchemeTheManagerDoesNotAllowRejectsTheWholeBatch() async throws {
        let h = Harness()
        // Valid by the default rules of RouteCommand, refused by this manager's allow-list.
        let commands = [
            try RouteCommand(route: chatProd, operation: .upsert(url: "http://a:1")),
            try RouteCommand(route: other, operation: .upsert(url: "wss://user:4001"), allowedURLSchemes: ["wss"]),
        ]
        let error = await managerError { try await h.manager.applyBatch(commands) }
        #expect(error?.code == .invalidInput && error?.message.hasPrefix("command 2 of 2: ") == true)
        #expect(h.store.rowCounts.endpoints == 0)
    }
}
