import Foundation
import Logging
import MetricsTestKit
import ServiceLifecycle
import Testing
@testable import TrafficManager
import TrafficManagerKafka
@testable import TrafficManagerPostgres
import TrafficManagerRedis
import TrafficManagerTestKit
import TrafficManagerTestSupport

/// PostgreSQL, Redis and Kafka together: a write in one instance reaches another instance's
/// cache only through the event and its invalidation consumer.
@Suite(
    .enabled(if: sharedCluster != nil && TestServices.postgres.shouldRun && TestServices.redis.shouldRun,
             "needs PostgreSQL, Redis and librdkafka's mock cluster"))
struct EndToEndTests {
    @Test func aChangedURLReachesAnotherInstanceThroughItsInvalidationConsumer() async throws {
        let cluster = try #require(sharedCluster)
        let schema = "tm_e2e_\(UInt32.random(in: 0...UInt32.max))"
        // Run by the service group below; migrate() waits for it.
        let store = testStore(schema: schema, poolSize: 4)
        func cache(_ name: String) -> RedisRouteCache {
            RedisRouteCache(
                configuration: .init(
                    endpoint: .tcp(host: TestServices.redis.host, port: TestServices.redis.port), commandTimeout: .seconds(2),
                    keyPrefix: "tm:e2e:\(schema):\(name):"))
        }
        let (writerCache, readerCache) = (cache("writer"), cache("reader"))
        var configuration = try kafkaConfiguration(cluster)
        configuration.properties["fetch.wait.max.ms"] = "10"
        let publisher = try KafkaEventPublisher(configuration: configuration)
        let writer = TrafficManager(store: store, cache: writerCache, publisher: OutboxPublisher(publisher: publisher, outbox: store))
        let reader = TrafficManager(store: store, cache: readerCache, publisher: InMemoryEventBus())
        let consumer = EventConsumerService(
            source: KafkaEventSource(configuration: configuration), group: "reader-cache",
            handler: CacheInvalidationConsumer(cache: readerCache))
        let services = ServiceGroup(
            services: [consumer, publisher, writerCache, readerCache, store], gracefulShutdownSignals: [], cancellationSignals: [],
            logger: Logger(label: "e2e"))

        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await services.run() }
            try await store.migrate()
            let route = try UniqueNames.route()
            try await writer.createRoute(route, url: "http://chat:4000")
            #expect(try await reader.resolve(route) == "http://chat:4000")
            for change in 1...20 {
                let url = "http://chat:\(4000 + change)"
                let result = try await writer.createRoute(route, url: url)
                #expect(result.event?.revision == UInt64(change + 1))
                var seen = ""
                for _ in 0..<2000 where seen != url {
                    seen = try await reader.resolve(route)
                    if seen != url { try await Task.sleep(for: .milliseconds(5)) }
                }
                #expect(seen == url, "change \(change) did not reach the reader within 10 s")
            }
            // Every event was published by the writer itself and marked in the outbox.
            #expect(try await store.unpublishedEvents(olderThan: .zero, limit: 100).isEmpty)
            _ = try await store.execute("DROP SCHEMA \(schema) CASCADE")
            await services.triggerGracefulShutdown()
            try await group.waitForAll()
        }
    }
}

@Suite(.enabled(if: sharedCluster != nil && TestServices.postgres.shouldRun, "needs PostgreSQL and librdkafka's mock cluster"))
struct OutboxRelayEndToEndTests {
    @Test func anEventCommittedByAProcessThatDiedBeforePublishingIsRelayedToKafka() async throws {
        let cluster = try #require(sharedCluster)
        let schema = "tm_relay_\(UInt32.random(in: 0...UInt32.max))"
        let store = running(testStore(schema: schema, poolSize: 1))
        try await store.migrate()
        // The "dead" process: its write committed, and nothing published the event.
        let route = try UniqueNames.route()
        let committed = try await store.apply(try RouteCommand(route: route, operation: .upsert(url: "http://a:1")), idempotencyKey: nil)
        let event = try #require(committed.event)

        // A process that starts later runs the relay.
        var configuration = try kafkaConfiguration(cluster)
        configuration.properties["fetch.wait.max.ms"] = "10"
        let publisher = try KafkaEventPublisher(configuration: configuration)
        let relay = OutboxRelay(outbox: store, publisher: publisher, configuration: .init(gracePeriod: .zero))
        #expect(await relay.relayOnce() == 1)
        #expect(await relay.relayOnce() == 0)
        await publisher.shutdown()

        var received: [RouteEvent] = []
        for try await delivery in KafkaEventSource(configuration: configuration).deliveries(group: "relay-check") {
            received.append(delivery.event)
            delivery.acknowledge()
            break
        }
        #expect(received == [event])
        _ = try await store.execute("DROP SCHEMA \(schema) CASCADE")
        await store.shutdown()
    }
}

/// A store on the test PostgreSQL (from `scripts/env.sh`) in `schema`.
func testStore(schema: String, poolSize: Int) -> PostgresRouteStore {
    PostgresRouteStore(configuration: testConfiguration(port: TestServices.postgres.port, schema: schema, poolSize: poolSize))
}

/// The test PostgreSQL's settings, on `port` (the server's, or a proxy's in front of it).
func testConfiguration(port: Int, schema: String, poolSize: Int) -> PostgresRouteStore.Configuration {
    let environment = ProcessInfo.processInfo.environment
    return .init(
        endpoint: .tcp(host: TestServices.postgres.host, port: port),
        user: environment["TM_PG_USER"] ?? "tm", password: environment["TM_PG_PASSWORD"] ?? "tm",
        database: environment["TM_PG_DATABASE"] ?? "trafficmanager_test", schema: schema, sslMode: .disable,
        poolSize: poolSize, reconnectBackOff: .init(initial: .milliseconds(20), maximum: .milliseconds(200)))
}
