import Testing
import TrafficManager
import TrafficManagerTestKit

/// A user's own store that implements only the original three methods keeps compiling, and the
/// defaults behave as documented.
@Suite struct StorePortDefaultsTests {
    /// Lookups and single writes only, forwarded to an in-memory store.
    private struct MinimalStore: RouteStore {
        let inner = InMemoryRouteStore()
        func lookup(_ route: RouteID) async throws -> RouteLookup { try await inner.lookup(route) }
        func endpoint(_ route: RouteID) async throws -> RouteEndpoint? { try await inner.endpoint(route) }
        func apply(_ command: RouteCommand, idempotencyKey: IdempotencyKey?) async throws -> RouteWriteResult {
            try await inner.apply(command, idempotencyKey: idempotencyKey)
        }
    }

    @Test func listingSaysTheStoreCannotList() async throws {
        let error = await managerError { try await MinimalStore().routes(matching: RouteFilter(), after: nil, limit: 10) }
        #expect(error?.code == .storeUnavailable && error?.message.contains("MinimalStore") == true)
    }

    @Test func aBatchIsAppliedOneCommandAtATimeAndStopsAtTheFirstFailure() async throws {
        let store = MinimalStore()
        let other = try RouteID(tenant: "chat-app", service: "user", environment: "prod", version: "v1")
        let results = try await store.applyBatch([
            try RouteCommand(route: chatProd, operation: .upsert(url: "http://a:1")),
            try RouteCommand(route: chatProd, operation: .upsert(url: "http://a:1")),
        ])
        #expect(results.map { $0.event?.action } == [.created, nil])
        let error = await managerError {
            try await store.applyBatch([
                try RouteCommand(route: other, operation: .upsert(url: "http://u:1")),
                try RouteCommand(route: authStaging, operation: .activate),
            ])
        }
        #expect(error?.code == .routeNotFound && error?.message.hasPrefix("command 2 of 2: ") == true)
        // Not atomic: the first command stays, as documented.
        #expect(try await store.lookup(other).url == "http://u:1")
    }
}
