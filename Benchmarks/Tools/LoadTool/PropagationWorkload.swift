import Foundation
import Histogram
import Logging
import ServiceLifecycle
import TrafficManager
import TrafficManagerKafka
import TrafficManagerPostgres
import TrafficManagerRedis

/// How long a URL change takes to reach another instance: a writer and a reader share the
/// PostgreSQL store but have caches of their own, so the reader sees a change only after the
/// event went through Kafka and its invalidation consumer wrote the tombstone — or, with
/// `nearCache`, once the reader's change feed (every partition, by manual assignment) put the new
/// URL in its near cache, which then answers.
enum PropagationWorkload {
    static func run(
        store: PostgresRouteStore, redisHost: String, redisPort: Int, changes: Int, nearCache: Bool, logger: Logger, quiet: Bool
    ) async throws {
        let cluster = try KafkaMockCluster(brokers: 1)
        try cluster.createTopic("route-events", partitions: 4)
        let kafka = KafkaConfiguration(
            bootstrapServers: cluster.bootstrapServers, properties: ["fetch.wait.max.ms": "5", "linger.ms": "0"])
        func cache(_ name: String) -> RedisRouteCache {
            RedisRouteCache(
                configuration: .init(endpoint: .tcp(host: redisHost, port: redisPort), keyPrefix: "tm:propagation:\(name):"),
                logger: logger)
        }
        let (writerCache, readerCache) = (cache("writer"), cache("reader"))
        let publisher = try KafkaEventPublisher(configuration: kafka, logger: logger)
        let writer = TrafficManager(
            store: store, cache: writerCache, publisher: OutboxPublisher(publisher: publisher, outbox: store, logger: logger), logger: logger)
        let reader = TrafficManager(
            store: store, cache: readerCache, publisher: InMemoryEventBus(),
            changeFeed: nearCache ? KafkaChangeFeed(configuration: kafka, logger: logger) : nil, logger: logger)
        let consumer = EventConsumerService(
            source: KafkaEventSource(configuration: kafka, logger: logger), group: "reader-cache",
            handler: reader.cacheInvalidationConsumer(logger: logger), logger: logger)
        var members: [any Service] = [consumer, publisher, writerCache, readerCache]
        if let feed = reader.changeFeedService { members.append(feed) }
        let services = ServiceGroup(services: members, gracefulShutdownSignals: [], cancellationSignals: [], logger: logger)

        var delays = Workload.histogram()
        var writes = Workload.histogram()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await services.run() }
            let route = try RouteID(tenant: "load", service: "propagation", environment: "prod", version: "v\(UInt32.random(in: 0...UInt32.max))")
            try await writer.createRoute(route, url: "http://propagation:1")
            _ = try await reader.resolve(route)
            // Let the consumer join its group before timing.
            try await Task.sleep(for: .seconds(2))
            for change in 1...changes {
                let url = "http://propagation:\(1 + change)"
                let began = ContinuousClock.now
                try await writer.createRoute(route, url: url)
                let written = ContinuousClock.now
                while true {
                    let answer = try await reader.resolution(route)
                    if answer.url == url && (!nearCache || answer.source == .nearCache) { break }
                    try await Task.sleep(for: .microseconds(200))
                }
                _ = delays.record(nanoseconds(began.duration(to: .now)))
                _ = writes.record(nanoseconds(began.duration(to: written)))
            }
            await services.triggerGracefulShutdown()
            try await group.waitForAll()
        }
        cluster.shutdown()
        let ms = { (value: UInt64) in Double(value) / 1_000_000 }
        if quiet {
            print(String(format: "%.2f %.2f %.2f", ms(delays.valueAtPercentile(50)), ms(delays.valueAtPercentile(99)), ms(delays.max)))
        } else {
            print(
                String(
                    format: "propagation over %d changes (ms): p50 %.2f p90 %.2f p99 %.2f max %.2f; the write itself: p50 %.2f p99 %.2f",
                    changes, ms(delays.valueAtPercentile(50)), ms(delays.valueAtPercentile(90)), ms(delays.valueAtPercentile(99)),
                    ms(delays.max), ms(writes.valueAtPercentile(50)), ms(writes.valueAtPercentile(99))))
        }
    }

    static func nanoseconds(_ duration: Duration) -> UInt64 {
        UInt64(duration.components.seconds) * 1_000_000_000 + UInt64(duration.components.attoseconds / 1_000_000_000)
    }
}
