import Foundation
import Testing
import TrafficManager
import TrafficManagerKafka
import TrafficManagerTestKit

/// `publish(contentsOf:)` on Kafka: every event out, keyed and in order per route; and a batch
/// that cannot go out fails, whole, within its bounds.
@Suite(.timeLimit(.minutes(2))) struct KafkaBatchPublishTests {
    static func events(routes: Int, revisions: Int) throws -> [RouteEvent] {
        let names = try (0..<routes).map { try RouteID(tenant: "batch", service: "svc\($0)", environment: "prod", version: "v1") }
        return (1...revisions).flatMap { revision in
            names.map { route in
                RouteEvent(eventID: UUID(), action: .updated, route: route, url: "http://\(route.service):\(revision)", revision: UInt64(revision), occurredAt: Date())
            }
        }
    }

    @Test func everyEventOfABatchArrivesKeyedWithItsIDAndInOrderPerRoute() async throws {
        let cluster = try #require(sharedCluster)
        let configuration = try kafkaConfiguration(cluster)
        let publisher = try KafkaEventPublisher(configuration: configuration)
        let events = try Self.events(routes: 5, revisions: 20)
        let results = await publisher.publish(contentsOf: events)
        await publisher.shutdown()
        #expect(results.count == events.count)
        #expect(results.allSatisfy { if case .success = $0 { true } else { false } })
        let messages = await RawKafka.read(events.count, topic: configuration.topic, bootstrap: cluster.bootstrapServers)
        #expect(messages.count == events.count)
        var revisions: [String: [UInt64]] = [:]
        for message in messages {
            let event = try RouteEvent.decode(message.value)
            #expect(message.key == event.route.description)
            #expect(message.headers["event_id"] == event.eventID.uuidString)
            revisions[message.key, default: []].append(event.revision)
        }
        #expect(Set(try messages.map { try RouteEvent.decode($0.value).eventID }) == Set(events.map(\.eventID)))
        for (route, seen) in revisions {
            #expect(seen == Array(1...20).map(UInt64.init), "\(route) arrived as \(seen)")
        }
    }

    @Test func aBatchAfterShutdownFailsWhole() async throws {
        let cluster = try #require(sharedCluster)
        let publisher = try KafkaEventPublisher(configuration: try kafkaConfiguration(cluster))
        await publisher.shutdown()
        let results = await publisher.publish(contentsOf: try Self.events(routes: 3, revisions: 2))
        #expect(results.count == 6)
        for result in results {
            #expect(throws: TrafficManagerError.self) { try result.get() }
        }
    }

    @Test func aBatchToAFrozenClusterFailsWithinTheDeliveryTimeout() async throws {
        let cluster = try KafkaMockCluster(brokers: 1)
        defer { cluster.shutdown() }
        var configuration = try kafkaConfiguration(cluster)
        configuration.deliveryTimeout = .seconds(1)
        let publisher = try KafkaEventPublisher(configuration: configuration, flushTimeout: .milliseconds(200))
        // Connected first, then frozen: requests go out and nothing comes back.
        try await publisher.publish(try Self.events(routes: 1, revisions: 1)[0])
        cluster.setResponseDelay(.seconds(60))
        let start = ContinuousClock.now
        let results = await publisher.publish(contentsOf: try Self.events(routes: 4, revisions: 5))
        let took = start.duration(to: .now)
        #expect(took < .seconds(3), "the batch took \(took)")
        #expect(results.count == 20)
        for result in results {
            let error = #expect(throws: TrafficManagerError.self) { try result.get() }
            #expect(error?.code == .eventsUnavailable)
        }
        cluster.setResponseDelay(.zero)
        await publisher.shutdown()
    }
}

/// Background commits keep at least once and do not hold back what was handled.
@Suite(.timeLimit(.minutes(2))) struct KafkaBackgroundCommitTests {
    @Test func anEventWhoseHandlerKeepsFailingHoldsBackNoEventHandledBeforeIt() async throws {
        let cluster = try #require(sharedCluster)
        let configuration = try kafkaConfiguration(cluster)
        let publisher = try KafkaEventPublisher(configuration: configuration)
        // One route: one partition, in order; the third event's handler always fails.
        let events = try KafkaBatchPublishTests.events(routes: 1, revisions: 3)
        for result in await publisher.publish(contentsOf: events) { try result.get() }
        await publisher.shutdown()
        var consumerConfiguration = configuration
        consumerConfiguration.properties["fetch.wait.max.ms"] = "10"
        let source = KafkaEventSource(configuration: consumerConfiguration, redeliveryDelay: .milliseconds(20), commitInterval: .milliseconds(100))
        let attempts = ConcurrentCount()
        let handled = ConcurrentCount()
        let group = "held-\(UUID().uuidString.prefix(8))"
        let consumer = Task {
            try await source.consume(group: group) { event in
                if event.revision == 3 {
                    attempts.bump()
                    throw TrafficManagerError.eventsUnavailable("planned handler failure")
                }
                handled.bump()
            }
        }
        #expect(try await eventually { handled.current == 2 && attempts.current >= 3 })
        // While the third still fails, the first two are committed: the group resumes after them.
        var committed: [Int64] = []
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            committed = await RawKafka.committed(group: group, topic: configuration.topic, partitions: 4, bootstrap: cluster.bootstrapServers)
            if committed.contains(2) { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(committed.contains(2), "committed offsets \(committed)")
        #expect(!committed.contains { $0 > 2 }, "the failing event was committed: \(committed)")
        consumer.cancel()
        _ = await consumer.result
    }
}
