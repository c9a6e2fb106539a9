import Testing
import TrafficManager
import TrafficManagerTestKit

/// The in-memory backends pass the same contracts the real adapters must pass.
@Suite struct InMemoryContractTests {
    @Test func theInMemoryStorePassesTheStoreContract() async throws {
        try await RouteStoreContract { InMemoryRouteStore() }.run()
    }

    @Test func theInMemoryStorePassesTheLeaseContract() async throws {
        let store = InMemoryRouteStore()
        try await LeaseStoreContract { store }.run()
    }

    @Test func theInMemoryCachePassesTheCacheContract() async throws {
        let time = ManualTimeSource()
        try await RouteCacheContract(makeCache: { InMemoryRouteCache(time: time) }, letTimePass: { time.advance(by: $0) }).run()
    }

    @Test func theInMemoryBusPassesTheEventContract() async throws {
        try await EventBusContract {
            let bus = InMemoryEventBus(redeliveryDelay: .milliseconds(1))
            return (bus, bus)
        }.run()
    }
}
