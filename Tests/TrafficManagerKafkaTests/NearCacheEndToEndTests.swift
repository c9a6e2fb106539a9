import Foundation
import Logging
import ServiceLifecycle
import Testing
import TrafficManager
import TrafficManagerKafka
import TrafficManagerPostgres
import TrafficManagerRedis
import TrafficManagerTestKit
import TrafficManagerTestSupport

/// A feed that records when each change was applied by the follower it wraps.
private final class ArrivalRecordingFeed: RouteChangeFeed {
    let inner: any RouteChangeFeed
    let arrivals = Locked<[RouteID: [(revision: UInt64, at: ContinuousClock.Instant)]]>([:])
    init(_ inner: any RouteChangeFeed) { self.inner = inner }

    func follow(_ observe: @escaping @Sendable (RouteChangeFeedElement) -> Void) async throws {
        try await inner.follow { [arrivals] element in
            observe(element)
            if case .change(let event) = element {
                let now = ContinuousClock.now
                arrivals.withLock { $0[event.route, default: []].append((event.revision, now)) }
            }
        }
    }

    /// The newest revision of `route` applied before `instant`.
    func newestApplied(_ route: RouteID, before instant: ContinuousClock.Instant) -> UInt64 {
        arrivals.withLock { ($0[route] ?? []).filter { $0.at < instant }.map(\.revision).max() ?? 0 }
    }
}

/// One writer, one reader with a near cache fed from every partition of the mock cluster, over
/// real PostgreSQL and Redis.
@Suite(
    .enabled(if: sharedCluster != nil && TestServices.postgres.shouldRun && TestServices.redis.shouldRun,
             "needs PostgreSQL, Redis and librdkafka's mock cluster"),
    .timeLimit(.minutes(3)))
struct NearCacheEndToEndTests {
    @Test func onceAChangeReachedTheReaderNoLaterResolveThereAnswersAnOlderURL() async throws {
        let cluster = try #require(sharedCluster)
        let schema = "tm_near_\(UInt32.random(in: 0...UInt32.max))"
        let store = testStore(schema: schema, poolSize: 4)
        func cache() -> RedisRouteCache {
            RedisRouteCache(
                configuration: .init(
                    endpoint: .tcp(host: TestServices.redis.host, port: TestServices.redis.port), commandTimeout: .seconds(2),
                    keyPrefix: "tm:near:\(schema):"))
        }
        let (writerCache, readerCache) = (cache(), cache())
        var configuration = try kafkaConfiguration(cluster)  // 4 partitions
        configuration.properties["linger.ms"] = "0"
        let publisher = try KafkaEventPublisher(configuration: configuration)
        let writer = TrafficManager(store: store, cache: writerCache, publisher: publisher)
        let feed = ArrivalRecordingFeed(KafkaChangeFeed(configuration: configuration, probeInterval: .milliseconds(50)))
        let reader = TrafficManager(store: store, cache: readerCache, publisher: InMemoryEventBus(), changeFeed: feed)
        let services = ServiceGroup(
            services: [publisher, writerCache, readerCache, store, try #require(reader.changeFeedService)],
            gracefulShutdownSignals: [], cancellationSignals: [], logger: Logger(label: "near-e2e"))

        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await services.run() }
            try await store.migrate()
            let routes = try (0..<10).map { try RouteID(tenant: "near-e2e", service: "service-\($0)", environment: "prod", version: "v1") }
            for route in routes { try await writer.createRoute(route, url: "http://\(route.service):1000") }
            for route in routes { _ = try await reader.resolve(route) }

            // Readers resolve without pause while one writer makes 200 changes.
            let answers = Locked<[(route: RouteID, started: ContinuousClock.Instant, revision: UInt64)]>([])
            let writing = Locked(true)
            let readers = (0..<8).map { index in
                Task {
                    var turn = index
                    while writing.withLock({ $0 }) {
                        let route = routes[turn % routes.count]
                        turn += 1
                        let started = ContinuousClock.now
                        let answer = try await reader.resolution(route)
                        answers.withLock { $0.append((route, started, answer.revision)) }
                        // A near-cache hit never suspends: let the writer and the feed run.
                        await Task.yield()
                    }
                }
            }
            var written: [(route: RouteID, revision: UInt64, at: ContinuousClock.Instant)] = []
            for change in 1...200 {
                let route = routes[change % routes.count]
                let result = try await writer.createRoute(route, url: "http://\(route.service):\(1000 + change)")
                written.append((route, result.endpoint.revision, .now))
                try await Task.sleep(for: .milliseconds(5))
            }
            try await Task.sleep(for: .milliseconds(500))
            writing.withLock { $0 = false }
            for reader in readers { try await reader.value }

            // Every change reached the reader, and no resolve that started after a change was
            // applied there answered an older revision.
            var delays: [Duration] = []
            for write in written {
                let arrival = try #require(
                    feed.arrivals.withLock { $0[write.route]?.first { $0.revision == write.revision }?.at },
                    "revision \(write.revision) of \(write.route) never reached the reader")
                delays.append(write.at < arrival ? write.at.duration(to: arrival) : .zero)
            }
            let all = answers.withLock { $0 }
            var violations = 0
            for answer in all where answer.revision < feed.newestApplied(answer.route, before: answer.started) { violations += 1 }
            #expect(violations == 0, "\(violations) of \(all.count) resolves answered an older revision than one already applied")
            #expect(all.count > 1000)
            let sorted = delays.sorted()
            let p99 = sorted[sorted.count * 99 / 100]
            print("near-cache propagation over \(sorted.count) changes: p50 \(sorted[sorted.count / 2]), p99 \(p99); \(all.count) resolves checked")
            #expect(p99 < .seconds(1))
            await services.triggerGracefulShutdown()
            try await group.waitForAll()
        }
    }
}
