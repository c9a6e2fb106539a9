import Testing
import TrafficManager
import TrafficManagerTestKit

/// Relays of several processes share one lease: only its holder publishes.
@Suite struct RelayLeaseTests {
    /// A harness whose events all failed to publish at write time, so the relay has `count` to send.
    private func unpublished(_ count: Int) async throws -> Harness {
        let h = Harness()
        let manager = TrafficManager(
            store: h.store, cache: h.cache, publisher: OutboxPublisher(publisher: h.bus, outbox: h.store),
            logger: h.logs.logger(), metricsFactory: h.metrics, time: h.time)
        h.bus.faults.failNext(count, with: TrafficManagerError.eventsUnavailable("broker down"))
        for index in 1...count { try await manager.createRoute(chatProd, url: "http://a:\(index)") }
        h.time.advance(by: .seconds(60))
        return h
    }

    private func relay(_ h: Harness, holder: String, duration: Duration = .seconds(30)) -> OutboxRelay {
        OutboxRelay(
            outbox: h.store, publisher: h.bus, configuration: .init(gracePeriod: .seconds(5)),
            lease: .init(store: h.store, holder: holder, duration: duration, publishBound: .seconds(10)), time: h.time,
            logger: h.logs.logger())
    }

    @Test func onlyTheLeaseHolderPublishesAndAStandbyTakesOverOnRelease() async throws {
        let h = try await unpublished(2)
        let first = relay(h, holder: "relay-a")
        let second = relay(h, holder: "relay-b")
        h.bus.faults.failNext(1, with: TrafficManagerError.eventsUnavailable("broker down"))
        #expect(await first.relayOnce() == 0)  // holds the lease now; its publish failed
        #expect(await second.relayOnce() == 0)  // stands by
        #expect(h.bus.publishedEvents.isEmpty)
        await first.releaseLease()
        #expect(await second.relayOnce() == 2)
        #expect(await first.relayOnce() == 0)
        #expect(h.bus.publishedEvents.map(\.url) == ["http://a:1", "http://a:2"])
        #expect(h.logs.entries.map(\.message).contains("another relay holds the lease; standing by"))
    }

    @Test func aHolderThatStopsRenewingLosesTheLeaseWhenItEnds() async throws {
        let h = try await unpublished(1)
        let crashed = relay(h, holder: "relay-a")
        let standby = relay(h, holder: "relay-b")
        h.bus.faults.failNext(1, with: TrafficManagerError.eventsUnavailable("broker down"))
        #expect(await crashed.relayOnce() == 0)
        h.time.advance(by: .seconds(29))
        #expect(await standby.relayOnce() == 0)  // one second of the lease is left
        h.time.advance(by: .seconds(1))
        #expect(await standby.relayOnce() == 1)
    }

    @Test func aHolderStartsNoPublishOnceLessThanThePublishBoundIsLeft() async throws {
        let h = try await unpublished(3)
        // Each publish takes 10 s of the holder's clock: with a 30 s lease and a 10 s bound,
        // two publishes start (at 0 s and 10 s), the third would start at 20 s and does not.
        h.bus.faults.setHook { _ in h.time.advance(by: .seconds(10)) }
        let holder = relay(h, holder: "relay-a")
        #expect(await holder.relayOnce() == 2)
        #expect(h.logs.entries.map(\.message).contains("the relay lease is running out; the rest waits for the next round"))
        h.bus.faults.setHook(nil)
        #expect(await holder.relayOnce() == 1)  // renewed
    }

    @Test func aRelayThatCannotReachTheLeasePublishesNothing() async throws {
        let h = try await unpublished(1)
        let holder = relay(h, holder: "relay-a")
        h.store.faults.failNext(1, with: TrafficManagerError.storeUnavailable("store down"))
        #expect(await holder.relayOnce() == 0)
        #expect(h.bus.publishedEvents.isEmpty)
        #expect(h.logs.entries.map(\.message).contains("could not take the relay lease; not publishing this round"))
        #expect(await holder.relayOnce() == 1)
    }
}
