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
/// event went through Kafka and its invalidation consumer wrote the tombstone.
enum PropagationWorkload {
    static func run(
        store: PostgresRouteStore, redisHost: String, redisPort: Int, changes: Int, logger: Logger, quiet: Bool
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
        let reader = TrafficManager(store: store, cache: readerCache, publisher: InMemoryEventBus(), logger: logger)
        let consumer = EventConsumerService(
            source: KafkaEventSource(configuration: kafka, logger: logger), group: "reader-cache",
            handler: CacheInvalidationConsumer(cache: readerCache), logger: logger)
        let services = ServiceGroup(
            services: [consumer, publisher, writerCache, readerCache], gracefulShutdownSignals: [], cancellationSignals: [],
            logger: logger)

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
                while try await reader.resolve(route) != url {
                    try await Task.sleep(for: .microseconds(200))
                }
                _ = delays.record(UInt64(began.duration(to: .now).components.attoseconds / 1_000_000_000))
                _ = writes.record(UInt64(began.duration(to: written).components.attoseconds / 1_000_000_000))
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
}
