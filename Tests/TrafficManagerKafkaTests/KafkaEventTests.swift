import Foundation
import InMemoryTracing
import MetricsTestKit
import Testing
import Tracing
@testable import TrafficManager
import TrafficManagerKafka
import TrafficManagerTestKit

@Suite(.enabled(if: sharedCluster != nil, "librdkafka's mock cluster could not start"))
struct KafkaEventTests {
    let cluster = sharedCluster!

    private func consumerConfiguration(_ configuration: KafkaConfiguration) -> KafkaConfiguration {
        var consumer = configuration
        consumer.properties["fetch.wait.max.ms"] = "10"
        return consumer
    }

    /// Publishes one event of a fresh route and closes the publisher.
    private func publishOneEvent(_ configuration: KafkaConfiguration) async throws -> RouteEvent {
        let publisher = try KafkaEventPublisher(configuration: configuration)
        let event = RouteEvent(
            eventID: UUID(), action: .created, route: try UniqueNames.route(), url: "http://a:1", revision: 1,
            occurredAt: Date(unixMilliseconds: 0))
        try await publisher.publish(event)
        await publisher.shutdown()
        return event
    }

    @Test func thePublisherAndSourcePassTheEventContract() async throws {
        let publishers = Locked<[KafkaEventPublisher]>([])
        // Group joins on the mock cluster take 1–3 s, and a rebalance after a member left up to
        // a session timeout more; in a full parallel run one check has needed over 30 s.
        try await EventBusContract(timeout: .seconds(90)) {
            let configuration = try kafkaConfiguration(cluster)
            let publisher = try KafkaEventPublisher(configuration: configuration)
            publishers.withLock { $0.append(publisher) }
            return (publisher, KafkaEventSource(configuration: consumerConfiguration(configuration), redeliveryDelay: .milliseconds(20)))
        }.run()
        for publisher in publishers.withLock({ $0 }) { await publisher.shutdown() }
    }

    @Test func messagesAreKeyedByRouteCarryTheEventIDHeaderAndLandWhereAJavaClientWouldPutThem() async throws {
        let configuration = try kafkaConfiguration(cluster)
        let publisher = try KafkaEventPublisher(configuration: configuration)
        var events: [RouteEvent] = []
        for index in 0..<8 {
            let route = try RouteID(tenant: "chat-app", service: "svc\(index)", environment: "prod", version: "v1")
            let event = RouteEvent(
                eventID: UUID(), action: .created, route: route, url: "http://svc\(index):1", revision: 1,
                occurredAt: Date(unixMilliseconds: 1_767_225_600_000))
            try await publisher.publish(event)
            events.append(event)
        }
        await publisher.shutdown()
        let messages = await RawKafka.read(8, topic: configuration.topic, bootstrap: cluster.bootstrapServers)
        #expect(messages.count == 8)
        for message in messages {
            let event = try RouteEvent.decode(message.value)
            #expect(events.contains(event))
            #expect(message.key == event.route.description)
            #expect(message.headers["event_id"] == event.eventID.uuidString)
            #expect(message.partition == RawKafka.javaPartition(of: message.key, partitions: 4))
        }
        #expect(Set(messages.map(\.partition)).count > 1)
    }

    @Test func aBrokerOutageNeverFailsAWriteAndTheRelayDeliversTheEventOnceItIsBack() async throws {
        // A cluster of its own: an outage of the shared one would fail the other suites'
        // publishes, and rebalance their consumers, while they run beside this one. The outage
        // is a broker that stops answering (responses delayed past the delivery timeout), not
        // one taken down: bringing a mock broker back up rebinds its old port, and librdkafka
        // aborts the process when another socket took that port meanwhile.
        let cluster = try KafkaMockCluster(brokers: 1)
        defer { cluster.shutdown() }
        var configuration = try kafkaConfiguration(cluster)
        configuration.deliveryTimeout = .milliseconds(800)
        let publisher = try KafkaEventPublisher(configuration: configuration)
        let store = InMemoryRouteStore()
        let metrics = TestMetrics()
        let logs = LogRecorder()
        let manager = TrafficManager(
            store: store, cache: InMemoryRouteCache(), publisher: OutboxPublisher(publisher: publisher, outbox: store),
            logger: logs.logger(), metricsFactory: metrics)
        let route = try UniqueNames.route()

        cluster.setResponseDelay(.seconds(5))
        let result = try await manager.createRoute(route, url: "http://chat:4002")
        // The broker stays silent past the delivery timeout, so the message has failed for
        // good; restored sooner, a retried produce request could still deliver it (and a late
        // acknowledgement would mark it).
        try await Task.sleep(for: configuration.deliveryTimeout + .milliseconds(500))
        let event = try #require(result.event)
        #expect(metrics.counterTotal(label: "trafficmanager_event_publish_failures_total") == 1)
        #expect(logs.messages(at: .error).contains { $0.hasPrefix("event publisher is failing") })
        #expect(logs.messages(at: .debug).contains { $0.contains("not published") })
        #expect(store.eventRows.first?.processedAt == nil)
        cluster.setResponseDelay(.zero)
        #expect(try await manager.resolve(route) == "http://chat:4002")

        let relay = OutboxRelay(outbox: store, publisher: OutboxPublisher(publisher: publisher, outbox: store), configuration: .init(gracePeriod: .zero))
        // The producer reconnects on its own schedule, slower when the whole suite runs at
        // once: relay until the event is marked published (a late acknowledgement marks it too).
        let relayStart = ContinuousClock.now
        while store.eventRows.first?.processedAt == nil && relayStart.duration(to: .now) < .seconds(60) {
            if await relay.relayOnce() == 0 { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(store.eventRows.first?.processedAt != nil, "the relay did not deliver the event within 60 s")
        await publisher.shutdown()
        let messages = await RawKafka.read(1, topic: configuration.topic, bootstrap: cluster.bootstrapServers)
        #expect(try messages.map { try RouteEvent.decode($0.value) } == [event])
    }

    @Test func aVersionTwoEventStillInvalidatesAndAnUnreadableOneGoesToTheDeadLetterHandler() async throws {
        let configuration = try kafkaConfiguration(cluster)
        let route = try UniqueNames.route()
        let newer = """
            {"schema_version": 2, "event_id": "\(UUID().uuidString)", "tenant": "\(route.tenant)", "service": "\(route.service)",
             "env": "\(route.environment)", "version": "\(route.version)", "revision": 5, "action": "weights_changed",
             "weights": {"v1": 90, "v2": 10}, "occurred_at": 1767225600000}
            """
        await RawKafka.produce(["not json at all", newer], topic: configuration.topic, bootstrap: cluster.bootstrapServers)

        let letters = Locked<[UndecodableEvent]>([])
        let source = KafkaEventSource(
            configuration: consumerConfiguration(configuration),
            deadLetters: { letter in letters.withLock { $0.append(letter) } })
        let cache = InMemoryRouteCache()
        try await cache.fill(route, with: .endpoint(url: "http://old:1", revision: 4), ttl: .seconds(60))
        let invalidation = CacheInvalidationConsumer(cache: cache)
        let consumer = Task { try await source.consume(group: "cache") { try await invalidation.handle($0) } }
        var seen = false
        for _ in 0..<600 where !seen {
            seen = try await cache.get(route) == .tombstone(revision: 5) && letters.withLock { $0.count } == 1
            if !seen { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(seen, "the version-2 event did not invalidate, or the dead letter did not arrive")
        consumer.cancel()
        _ = await consumer.result
        let letter = try #require(letters.withLock { $0.first })
        #expect(letter.error.kind == "not a JSON object" && letter.payload == Data("not json at all".utf8))
        #expect(letter.origin.hasPrefix(configuration.topic + "["))
    }

    @Test func aConsumedEventIsHandledInASpanOfTheTraceThatPublishedIt() async throws {
        let configuration = try kafkaConfiguration(cluster)
        let tracer = InMemoryTracer()
        let route = try UniqueNames.route()
        try await withTracer(tracer) {
            let publisher = try KafkaEventPublisher(configuration: configuration)
            try await tracer.withSpan("deploy") { _ in
                try await publisher.publish(
                    RouteEvent(eventID: UUID(), action: .created, route: route, url: "http://a:1", revision: 1, occurredAt: Date()))
            }
            await publisher.shutdown()
            let source = KafkaEventSource(configuration: consumerConfiguration(configuration))
            let handled = ConcurrentCount()
            let consumer = Task { try await source.consume(group: "traced") { _ in handled.bump() } }
            #expect(try await eventually { handled.current == 1 })
            consumer.cancel()
            _ = await consumer.result
        }
        let deploy = try #require(tracer.finishedSpans.first { $0.operationName == "deploy" })
        let handle = try #require(tracer.finishedSpans.first { $0.operationName == TrafficManagerTracing.handleEventSpan })
        #expect(handle.traceID == deploy.traceID && handle.spanContext.parentSpanID == deploy.spanID)
        #expect(handle.kind == .consumer)
        #expect(tracer.performedContextInjections.count == 1)
    }

    @Test func theConsumerLagGaugeCountsWhatIsLeftAndReachesZero() async throws {
        let configuration = try kafkaConfiguration(cluster)
        let publisher = try KafkaEventPublisher(configuration: configuration)
        let route = try UniqueNames.route()  // one route: one partition, in order
        for revision in 1...5 {
            try await publisher.publish(
                RouteEvent(eventID: UUID(), action: .updated, route: route, url: "http://a:\(revision)", revision: UInt64(revision), occurredAt: Date()))
        }
        await publisher.shutdown()
        let metrics = TestMetrics()
        let source = KafkaEventSource(configuration: consumerConfiguration(configuration), metricsFactory: metrics)
        let handled = ConcurrentCount()
        let consumer = Task { try await source.consume(group: "lag") { _ in handled.bump() } }
        #expect(try await eventually { handled.current == 5 })
        let label = TrafficManagerMetrics.defaultPrefix + KafkaEventSource.consumerLagMetric
        #expect(try await eventually { (try? metrics.expectGauge(label, [("group", "lag")]).lastValue) == 0 })
        let values = try metrics.expectGauge(label, [("group", "lag")]).values
        consumer.cancel()
        _ = await consumer.result
        // After the first of the five was handled, four were left.
        #expect(values.contains(4), "lag values \(values)")
    }

    @Test func aMessageThatIsNotARouteEventIsSkippedCountedAndCommitted() async throws {
        let configuration = try kafkaConfiguration(cluster)
        await RawKafka.produce(
            ["{\"not\": \"an event\"}", "{\"still\": \"not one\"}"], topic: configuration.topic, bootstrap: cluster.bootstrapServers)
        let event = try await publishOneEvent(configuration)

        let metrics = TestMetrics()
        let logs = LogRecorder()
        let source = KafkaEventSource(
            configuration: consumerConfiguration(configuration), logger: logs.logger(), metricsFactory: metrics)
        let audit = InMemoryAuditLog()
        let consumer = Task { try await source.consume(group: "audit") { try await AuditConsumer(log: audit).handle($0) } }
        // The messages may sit on different partitions: wait for all three.
        #expect(try await eventually { audit.entries.count == 1 && metrics.counterTotal(label: "trafficmanager_event_undecodable_total") == 2 })
        consumer.cancel()
        _ = await consumer.result
        #expect(audit.entries == [event])
        #expect(metrics.counterTotal(label: "trafficmanager_event_undecodable_total") == 2)
        // The default dead-letter handler logs a kind once.
        let skipped = logs.entries.filter { $0.message.hasPrefix("skipping a message") }
        #expect(skipped.count == 1 && skipped.first?.metadata["kind"] == "missing schema_version")

        // Both offsets were committed: a new consumer of the group sees nothing more.
        let again = InMemoryAuditLog()
        let second = Task { try await source.consume(group: "audit") { try await AuditConsumer(log: again).handle($0) } }
        try await Task.sleep(for: .seconds(2))
        second.cancel()
        _ = await second.result
        #expect(again.entries.isEmpty)
    }

    @Test func anUnreadableMessageDoesNotHoldBackTheNextOneOnItsPartition() async throws {
        let configuration = try kafkaConfiguration(cluster)
        let event = RouteEvent(
            eventID: UUID(), action: .updated, route: try UniqueNames.route(), url: "http://b:2", revision: 2,
            occurredAt: Date(unixMilliseconds: 1_767_225_600_000))
        let good = String(decoding: try event.encoded(), as: UTF8.self)
        // Both on partition 2, the unreadable one first: the good one is behind it in the log.
        await RawKafka.produce(["not json at all", good], topic: configuration.topic, bootstrap: cluster.bootstrapServers, partition: 2)
        let letters = Locked<[UndecodableEvent]>([])
        let source = KafkaEventSource(
            configuration: consumerConfiguration(configuration), deadLetters: { letter in letters.withLock { $0.append(letter) } })
        let handled = Locked<[RouteEvent]>([])
        let consumer = Task { try await source.consume(group: "same-partition") { event in handled.withLock { $0.append(event) } } }
        #expect(try await eventually { handled.withLock { $0.count } == 1 })
        consumer.cancel()
        _ = await consumer.result
        #expect(handled.withLock { $0 } == [event])
        let origins = letters.withLock { $0.map(\.origin) }
        #expect(origins.count == 1 && origins.first?.hasPrefix("\(configuration.topic)[2]@") == true)
    }

    @Test func aConsumerStoppedBeforeItsCommitLeavesTheEventToTheNextOneWhichHandlesItOnce() async throws {
        let configuration = try kafkaConfiguration(cluster)
        let event = try await publishOneEvent(configuration)

        let audit = InMemoryAuditLog()
        let source = KafkaEventSource(configuration: consumerConfiguration(configuration))
        let first = Task {
            try await source.consume(group: "audit") { event in
                try await AuditConsumer(log: audit).handle(event)
                try await Task.sleep(for: .seconds(3600))  // dies before it commits
            }
        }
        #expect(try await eventually { audit.entries.count == 1 })
        first.cancel()
        _ = await first.result

        let handled = ConcurrentCount()
        let second = Task {
            try await source.consume(group: "audit") { event in
                handled.bump()
                try await AuditConsumer(log: audit).handle(event)
            }
        }
        #expect(try await eventually { handled.current == 1 })
        second.cancel()
        _ = await second.result
        #expect(audit.entries == [event])
    }
}

@Suite(.enabled(if: sharedCluster != nil, "librdkafka's mock cluster could not start"))
struct KafkaDeliveriesTests {
    @Test func kafkaEventsCanBeReadAsAnAsyncSequence() async throws {
        let cluster = try #require(sharedCluster)
        var configuration = try kafkaConfiguration(cluster)
        configuration.properties["fetch.wait.max.ms"] = "10"
        let publisher = try KafkaEventPublisher(configuration: configuration)
        let route = try UniqueNames.route()
        let events = (1...3).map {
            RouteEvent(eventID: UUID(), action: .updated, route: route, url: "http://a:\($0)", revision: UInt64($0), occurredAt: Date(unixMilliseconds: 0))
        }
        for event in events { try await publisher.publish(event) }
        await publisher.shutdown()
        // At least once: a rebalance while an event is handled (the group settling on the new
        // topic's partitions) can fail its commit and deliver it again. Order and completeness
        // are what the sequence promises; a repeat is only ever of an event already seen.
        var seen: [RouteEvent] = []
        for try await delivery in KafkaEventSource(configuration: configuration).deliveries(group: "seq") {
            if !seen.contains(delivery.event) {
                #expect(delivery.event == events[seen.count], "events arrive in publication order")
                seen.append(delivery.event)
            }
            delivery.acknowledge()
            if seen.count == events.count { break }
        }
        #expect(seen == events)
    }
}
