import Foundation
import Testing
import TrafficManager
import TrafficManagerKafka
import TrafficManagerTestKit

/// Several consumers of one group over more partitions than consumers, through rebalances —
/// one joining, one stalled out of the group and back — with the library's invalidation
/// handler on one shared cache: no route's cached revision ever goes back, every route ends
/// at its last revision, and the stalled consumer's late, older event is refused.
@Suite(.serialized) struct KafkaRebalanceTests {
    let cluster: KafkaMockCluster

    init() throws {
        cluster = try #require(sharedCluster, "librdkafka's mock cluster did not start")
    }

    /// What the handlers saw, and what a single reader of the cache saw over time.
    final class Observations: Sendable {
        struct State {
            var deliveries: [String: Int] = [:]
            /// Deliveries of an event older than the revision the cache held when it arrived.
            var older = 0
            var wentBack: [String] = []
        }

        let state = Locked(State())
        /// Each route's revision as the reader last saw it.
        let latest = Locked<[RouteID: UInt64]>([:])
    }

    @Test func throughRebalancesNoRouteGoesBackToAnOlderRevision() async throws {
        let topic = "rebalance-\(UUID().uuidString.prefix(8))"
        try cluster.createTopic(topic, partitions: 8)
        let base = KafkaConfiguration(
            bootstrapServers: cluster.bootstrapServers, topic: topic, deliveryTimeout: .seconds(5),
            properties: [
                "reconnect.backoff.ms": "20", "reconnect.backoff.max.ms": "200", "topic.metadata.refresh.interval.ms": "500",
                "session.timeout.ms": "1500", "heartbeat.interval.ms": "300", "fetch.wait.max.ms": "10",
                // A rebalance waits for every member up to the largest max.poll.interval.ms in
                // the group (300 s by default): kept short, so the stalled member is dropped soon.
                "max.poll.interval.ms": "3000",
            ])
        let routes = try (0..<16).map { try RouteID(tenant: "rebalance", service: "svc\($0)", environment: "prod", version: "v1") }
        let cache = InMemoryRouteCache()
        // Tombstones outlive the test, so an entry's revision can only change by an event.
        let invalidation = CacheInvalidationConsumer(cache: cache, tombstoneTTL: .seconds(3600))
        let seen = Observations()
        let group = "rebalance-\(UUID().uuidString.prefix(8))"

        /// The library's handler, with a look at the cache before it, to count older deliveries.
        @Sendable func handle(_ event: RouteEvent, by consumer: String) async throws {
            let held = try await cache.entry(event.route)?.value.revision ?? 0
            seen.state.withLock { state in
                state.deliveries[consumer, default: 0] += 1
                if event.revision < held { state.older += 1 }
            }
            try await invalidation.handle(event)
        }

        // Once armed, consumer A stalls on its next event until released: it stops polling, so
        // the group drops it after max.poll.interval.ms and hands its partitions on.
        let armed = Locked(false)
        let gate = Gate()
        var stalling = base
        stalling.properties["max.poll.interval.ms"] = "1500"
        let stalled = Locked<RouteEvent?>(nil)
        let a = Task {
            try await KafkaEventSource(configuration: stalling, redeliveryDelay: .milliseconds(20), shutdownTimeout: .seconds(2)).consume(group: group) { event in
                let stall = stalled.withLock { stalled -> Bool in
                    guard stalled == nil, armed.withLock({ $0 }) else { return false }
                    stalled = event
                    return true
                }
                if stall { await gate.wait() }
                try await handle(event, by: "a")
            }
        }
        let b = Task {
            try await KafkaEventSource(configuration: base, redeliveryDelay: .milliseconds(20), shutdownTimeout: .seconds(2)).consume(group: group) { event in
                try await handle(event, by: "b")
            }
        }

        // One reader of the cache, so its observations are ordered in time.
        let watcher = Task {
            var last: [RouteID: UInt64] = [:]
            while !Task.isCancelled {
                for (route, entry) in zip(routes, (try? await cache.entries(routes)) ?? []) {
                    let revision = entry?.value.revision ?? 0
                    if revision < last[route, default: 0] {
                        seen.state.withLock { $0.wentBack.append("\(route): \(last[route, default: 0]) then \(revision)") }
                    }
                    last[route] = max(last[route, default: 0], revision)
                }
                seen.latest.withLock { [last] in $0 = last }
                try? await Task.sleep(for: .milliseconds(5))
            }
        }

        // Every route's revisions in order, a round every 40 ms, through three steps: A and B
        // both consuming; C joined and consuming; A stalled. Then ten rounds more.
        let publisher = try KafkaEventPublisher(configuration: base)
        var lastRevision: UInt64 = 0
        func publishRounds(until done: () -> Bool) async throws {
            let deadline = ContinuousClock.now + .seconds(60)
            repeat {
                lastRevision += 1
                let revision = lastRevision
                let events = routes.map { route in
                    RouteEvent(eventID: UUID(), action: .updated, route: route, url: "http://\(route.service):\(revision)", revision: revision, occurredAt: Date())
                }
                for result in await publisher.publish(contentsOf: events) { try result.get() }
                try await Task.sleep(for: .milliseconds(40))
            } while !done() && ContinuousClock.now < deadline
        }
        let delivered = { (consumer: String) in seen.state.withLock { $0.deliveries[consumer, default: 0] > 0 } }
        try await publishRounds { delivered("a") && delivered("b") }
        let c = Task {
            try await KafkaEventSource(configuration: base, redeliveryDelay: .milliseconds(20), shutdownTimeout: .seconds(2)).consume(group: group) { event in
                try await handle(event, by: "c")
            }
        }
        try await publishRounds { delivered("c") }
        armed.withLock { $0 = true }
        try await publishRounds { stalled.withLock { $0 != nil } }
        var rounds = 0
        try await publishRounds {
            rounds += 1
            return rounds == 10
        }
        await publisher.shutdown()
        let final = lastRevision

        // A's partitions moved on: every route reaches its last revision while A still holds
        // its old event.
        let reachedEnd = try await eventually(timeout: .seconds(60)) {
            stalled.withLock { $0 != nil } && seen.latest.withLock { latest in routes.allSatisfy { latest[$0] == final } }
        }
        #expect(reachedEnd, "routes did not all reach revision \(final) while consumer a was stalled")
        // A hands its older event to the handler now, and goes on with the rest of its batch.
        gate.open()
        try await Task.sleep(for: .seconds(2))
        watcher.cancel()
        _ = await watcher.result
        for task in [a, b, c] { task.cancel() }
        for task in [a, b, c] { _ = await task.result }

        let state = seen.state.withLock { $0 }
        #expect(state.wentBack.isEmpty, "cached revisions went back \(state.wentBack.count) times: \(state.wentBack.prefix(5))")
        for route in routes {
            #expect(try await cache.entry(route)?.value.revision == final, "\(route) did not end at revision \(final)")
        }
        // The stalled event, at least, arrived after newer ones were applied.
        #expect(state.older >= 1, "no older event was delivered after a newer one: the rebalance did not happen as planned")
        #expect(state.deliveries["b", default: 0] > 0 && state.deliveries["c", default: 0] > 0, "deliveries \(state.deliveries)")
    }
}
