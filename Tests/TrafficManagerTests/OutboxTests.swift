import Testing
import TrafficManager
import TrafficManagerTestKit

/// Spec §4 and §7: committed events reach the bus even when publishing failed at write time.
@Suite struct OutboxTests {
    /// A manager whose publisher marks events in the store's outbox.
    private func harness() -> (Harness, TrafficManager) {
        let h = Harness()
        let manager = TrafficManager(
            store: h.store, cache: h.cache, publisher: OutboxPublisher(publisher: h.bus, outbox: h.store),
            logger: h.logs.logger(), metricsFactory: h.metrics, time: h.time)
        return (h, manager)
    }

    @Test func aPublishedEventIsMarkedAndNotRelayed() async throws {
        let (h, manager) = harness()
        try await manager.createRoute(chatProd, url: "http://chat:4002")
        #expect(h.store.eventRows.allSatisfy { $0.processedAt != nil })
        h.time.advance(by: .seconds(60))
        let relay = OutboxRelay(outbox: h.store, publisher: h.bus, configuration: .init(gracePeriod: .seconds(5)))
        #expect(await relay.relayOnce() == 0)
        #expect(h.bus.publishedEvents.count == 1)
    }

    @Test func anEventThatFailedToPublishIsRelayedAfterTheGracePeriodOldestFirst() async throws {
        let (h, manager) = harness()
        h.bus.faults.failNext(2, with: TrafficManagerError.eventsUnavailable("broker down"))
        let created = try await manager.createRoute(chatProd, url: "http://a:1")
        let updated = try await manager.createRoute(chatProd, url: "http://b:2")
        #expect(h.bus.publishedEvents.isEmpty)
        #expect(h.counter(TrafficManagerMetrics.Name.publishFailures) == 2)

        let relay = OutboxRelay(outbox: h.store, publisher: h.bus, configuration: .init(gracePeriod: .seconds(5)))
        #expect(await relay.relayOnce() == 0)  // still within the grace period
        h.time.advance(by: .seconds(5))
        #expect(await relay.relayOnce() == 2)
        #expect(h.bus.publishedEvents == [try #require(created.event), try #require(updated.event)])
        #expect(await relay.relayOnce() == 0)
    }

    @Test func aRelayRoundStopsAtTheFirstFailureAndResumesInOrder() async throws {
        let (h, manager) = harness()
        h.bus.faults.failNext(3, with: TrafficManagerError.eventsUnavailable("broker down"))
        for port in 1...3 { try await manager.createRoute(chatProd, url: "http://a:\(port)") }
        h.time.advance(by: .seconds(10))
        let relay = OutboxRelay(outbox: h.store, publisher: h.bus, configuration: .init(gracePeriod: .seconds(5)))
        h.bus.faults.failNext(1, with: TrafficManagerError.eventsUnavailable("still down"))
        #expect(await relay.relayOnce() == 0)
        #expect(await relay.relayOnce() == 3)
        #expect(h.bus.publishedEvents.map(\.revision) == [1, 2, 3])
    }

    @Test func theRelayRecordsHowOldTheOldestUnpublishedEventIs() async throws {
        let (h, manager) = harness()
        h.bus.faults.failNext(1, with: TrafficManagerError.eventsUnavailable("broker down"))
        try await manager.createRoute(chatProd, url: "http://a:1")
        h.time.advance(by: .seconds(42))
        let relay = OutboxRelay(
            outbox: h.store, publisher: h.bus, configuration: .init(gracePeriod: .seconds(5)), time: h.time, metricsFactory: h.metrics)
        h.bus.faults.failNext(1, with: TrafficManagerError.eventsUnavailable("still down"))
        #expect(await relay.relayOnce() == 0)
        let gauge = try h.metrics.expectGauge(TrafficManagerMetrics.defaultPrefix + OutboxRelay.backlogAgeMetric)
        #expect(gauge.lastValue == 42)
        h.time.advance(by: .seconds(3))
        #expect(await relay.relayOnce() == 1)
        #expect(gauge.lastValue == 45)  // as the round began
        #expect(await relay.relayOnce() == 0)
        #expect(gauge.lastValue == 0)
    }

    @Test func theRelayRunsAsAServiceUntilCancelled() async throws {
        let h = Harness()
        h.bus.faults.failNext(1, with: TrafficManagerError.eventsUnavailable("broker down"))
        try await h.manager.createRoute(chatProd, url: "http://a:1")
        let relay = OutboxRelay(outbox: h.store, publisher: h.bus, configuration: .init(gracePeriod: .zero, interval: .milliseconds(5)))
        let task = Task { try await relay.run() }
        #expect(try await eventually { h.bus.publishedEvents.count == 1 })
        task.cancel()
        try await task.value
    }
}

/// Time-bound: runs with the fault suites, apart from the rest (see `scripts/test.sh`).
@Suite struct PublishWaitFaultTests {
    @Test func aWriteWaitsForItsEventAtMostPublishWaitAndTheLateAcknowledgementStillMarksIt() async throws {
        let h = Harness()
        let publisher = OutboxPublisher(publisher: h.bus, outbox: h.store, publishWait: .milliseconds(50))
        let manager = TrafficManager(store: h.store, cache: h.cache, publisher: publisher)
        h.bus.faults.addLatency(.milliseconds(400))
        let start = ContinuousClock.now
        try await manager.createRoute(chatProd, url: "http://chat:4002")
        #expect(start.duration(to: .now) < .milliseconds(350), "the write waited \(start.duration(to: .now))")
        #expect(try await h.store.unpublishedEvents(olderThan: .zero, limit: 10).count == 1)
        // The publish ran on; its acknowledgement marks the event.
        #expect(try await eventually(timeout: .seconds(5)) { h.bus.publishedEvents.count == 1 })
        var marked = false
        for _ in 0..<250 where !marked {
            marked = try await h.store.unpublishedEvents(olderThan: .zero, limit: 10).isEmpty
            if !marked { try await Task.sleep(for: .milliseconds(20)) }
        }
        #expect(marked)
    }
}
