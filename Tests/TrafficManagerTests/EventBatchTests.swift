import Foundation
import Testing
import TrafficManager
import TrafficManagerTestKit

/// `publish(contentsOf:)`: the default stops at the first failure so order holds, and the
/// outbox publisher marks what its inner publisher acknowledged.
@Suite struct EventBatchTests {
    func events(_ count: Int) throws -> [RouteEvent] {
        try (1...count).map { revision in
            RouteEvent(
                eventID: UUID(), action: .updated, route: try RouteID(tenant: "chat-app", service: "chat", environment: "prod", version: "v1"),
                url: "http://chat:\(revision)", revision: UInt64(revision), occurredAt: Date())
        }
    }

    @Test func theDefaultBatchPublishesInOrderAndStopsAtTheFirstFailure() async throws {
        let bus = InMemoryEventBus()
        let batch = try events(3)
        bus.faults.failNext(1, with: TrafficManagerError.eventsUnavailable("broker down"))
        let failed = await bus.publish(contentsOf: batch)
        #expect(failed.count == 3)
        for result in failed {
            let error = #expect(throws: TrafficManagerError.self) { try result.get() }
            #expect(error?.code == .eventsUnavailable)
        }
        #expect(bus.publishedEvents.isEmpty, "events after the failure went out before it")
        let published = await bus.publish(contentsOf: batch)
        #expect(published.allSatisfy { if case .success = $0 { true } else { false } })
        #expect(bus.publishedEvents.map(\.revision) == [1, 2, 3])
    }

    @Test func theOutboxPublisherMarksWhatABatchPublished() async throws {
        let h = Harness()
        let manager = TrafficManager(store: h.store, cache: h.cache, publisher: OutboxPublisher(publisher: h.bus, outbox: h.store), time: h.time)
        h.bus.faults.failNext(3, with: TrafficManagerError.eventsUnavailable("broker down"))
        for index in 1...3 { try await manager.createRoute(chatProd, url: "http://a:\(index)") }
        let due = try await h.store.unpublishedEvents(olderThan: .zero, limit: 10)
        #expect(due.count == 3)
        let results = await OutboxPublisher(publisher: h.bus, outbox: h.store).publish(contentsOf: due)
        #expect(results.allSatisfy { if case .success = $0 { true } else { false } })
        #expect(try await h.store.unpublishedEvents(olderThan: .zero, limit: 10).isEmpty)
        #expect(h.bus.publishedEvents.map(\.url) == ["http://a:1", "http://a:2", "http://a:3"])
    }
}
