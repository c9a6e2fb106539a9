import Foundation
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
    let arrivals = Locked<[(revision: UInt64, at: ContinuousClock.Instant)]>([])
    init(_ inner: any RouteChangeFeed) { self.inner = inner }

    func follow(_ observe: @escaping @Sendable (RouteChangeFeedElement) -> Void) async throws {
        try await inner.follow { [arrivals] element in
            observe(element)
            if case .change(let event) = element { arrivals.withLock { $0.append((event.revision, .now)) } }
        }
    }

    func newestApplied(before instant: ContinuousClock.Instant) -> UInt64 {
        arrivals.withLock { $0.filter { $0.at < instant }.map(\.revision).max() ?? 0 }
    }
}

/// Two processes: `tmctl` writes (PostgreSQL, Redis, and Kafka through the mock cluster of this
/// process, over loopback); this process reads with a near cache fed from every partition.
@Suite(.enabled(if: servicesRun && mockCluster != nil, "needs PostgreSQL, Redis and librdkafka's mock cluster"), .timeLimit(.minutes(3)))
struct TwoProcessNearCacheTests {
    @Test func onceAChangeFromTheWritingProcessArrivedNoLaterResolveHereAnswersAnOlderURL() async throws {
        let cluster = try #require(mockCluster)
        let topic = "route-events-\(UUID().uuidString.prefix(8).lowercased())"
        try cluster.createTopic(topic, partitions: 3)
        var tool = Tmctl()
        tool.environment["TM_KAFKA_TOPIC"] = topic
        try await tool.migrate()

        let environment = tool.environment
        let store = PostgresRouteStore(
            configuration: .init(
                endpoint: .tcp(host: TestServices.postgres.host, port: TestServices.postgres.port), user: environment["TM_PG_USER"] ?? "tm",
                password: environment["TM_PG_PASSWORD"] ?? "tm", database: environment["TM_PG_DATABASE"] ?? "trafficmanager_test",
                schema: tool.schema, sslMode: .disable, poolSize: 2))
        let cache = RedisRouteCache(configuration: .init(endpoint: .tcp(host: TestServices.redis.host, port: TestServices.redis.port)))
        let feed = ArrivalRecordingFeed(
            KafkaChangeFeed(configuration: .init(bootstrapServers: cluster.bootstrapServers, topic: topic), probeInterval: .milliseconds(50)))
        let reader = TrafficManager(store: store, cache: cache, publisher: InMemoryEventBus(), changeFeed: feed)
        let services = [Task { try await store.run() }, Task { try await cache.run() }, Task { try await reader.changeFeedService!.run() }]
        defer { for service in services { service.cancel() } }

        let name = "\(UniqueNames.tenant())/chat/prod@v1"
        let route = try RouteID(tenant: String(name.prefix { $0 != "/" }), service: "chat", environment: "prod", version: "v1")
        let kafka = ["--kafka-bootstrap", cluster.bootstrapServers]
        #expect(try await tool.run(["routes", "create", name, "http://chat:1000"] + kafka).status == 0)
        #expect(try await eventually(timeout: .seconds(30)) { feed.newestApplied(before: .now) == 1 })

        let answers = Locked<[(started: ContinuousClock.Instant, revision: UInt64)]>([])
        let reading = Locked(true)
        let readers = (0..<4).map { _ in
            Task {
                while reading.withLock({ $0 }) {
                    let started = ContinuousClock.now
                    if let answer = try? await reader.resolution(route) { answers.withLock { $0.append((started, answer.revision)) } }
                    await Task.yield()
                }
            }
        }
        for change in 1...12 {
            let written = try await tool.run(["routes", "create", name, "http://chat:\(1000 + change)"] + kafka)
            #expect(written.status == 0, "\(written)")
        }
        #expect(try await eventually(timeout: .seconds(30)) { feed.newestApplied(before: .now) == 13 }, "not every change reached this process")
        try await Task.sleep(for: .milliseconds(300))
        reading.withLock { $0 = false }
        for task in readers { await task.value }

        let all = answers.withLock { $0 }
        let older = all.filter { $0.revision < feed.newestApplied(before: $0.started) }.count
        #expect(older == 0, "\(older) of \(all.count) resolves answered older than a change already here")
        #expect(all.count > 100)
        let final = try await reader.resolution(route)
        #expect(final.url == "http://chat:1012" && final.revision == 13)
    }
}
