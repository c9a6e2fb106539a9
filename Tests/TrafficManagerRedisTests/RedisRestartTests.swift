import Foundation
import MetricsTestKit
import Testing
import TrafficManager
import TrafficManagerTestKit
import TrafficManagerTestSupport
@testable import TrafficManagerRedis

/// Redis killed and started again under a stream of resolves, on a Redis of this test's own.
/// The tests share one server, which each stops or pauses: they run one at a time. Their time
/// bounds run with the fault suites, outside the sanitizer.
@Suite(.serialized, .enabled(if: TestServices.redis.shouldRun, redisSkip))
struct RedisRestartFaultTests {
    // A port and directory of this run's own, so concurrent runs on one machine never meet.
    // Below the kernel's ephemeral range (32768–60999), where client sockets could hold it.
    private static let port = Int.random(in: 22000..<23000)
    private let environment = ["TM_REDIS_PORT": "\(Self.port)", "TM_REDIS_DIR": "/tmp/tm-redis-restart-\(Self.port)"]

    /// Starts this suite's Redis and returns a cache on it with short timeouts and back-off.
    private func startOwnRedis() async throws -> RedisRouteCache {
        #expect(try runScript("scripts/start-redis.sh", environment: environment) == 0)
        return try await started(RedisRouteCache(
            configuration: .init(
                endpoint: .tcp(host: "127.0.0.1", port: Self.port), commandTimeout: .milliseconds(200),
                reconnectBackOff: .init(initial: .milliseconds(20), maximum: .milliseconds(200)))))
    }

    private func stopOwnRedis(_ cache: RedisRouteCache) {
        Task { await cache.shutdown() }
        _ = try? runScript("scripts/stop-redis.sh", environment: environment)
        try? FileManager.default.removeItem(atPath: "/tmp/tm-redis-restart-\(Self.port)")
    }

    @Test func everyResolveIsAnsweredWhileRedisIsDownAndTheCacheIsUsedAgainAfterRestart() async throws {
        let cache = try await startOwnRedis()
        defer { stopOwnRedis(cache) }
        let metrics = TestMetrics()
        let store = InMemoryRouteStore()
        let manager = TrafficManager(
            store: store, cache: cache, publisher: InMemoryEventBus(),
            configuration: .init(cacheBreaker: .init(failureThreshold: 3, coolDown: .milliseconds(100))),
            metricsFactory: metrics)
        let tenant = UniqueNames.tenant()
        let routes = try (0..<20).map { try RouteID(tenant: tenant, service: "svc\($0)", environment: "prod", version: "v1") }
        for (index, route) in routes.enumerated() { try await manager.createRoute(route, url: "http://svc\(index):1") }

        var slowest = Duration.zero
        /// Resolves every route `rounds` times; returns how many answers were wrong or failed,
        /// and keeps the slowest call in `slowest`.
        func resolveAll(rounds: Int) async -> Int {
            var wrong = 0
            for _ in 0..<rounds {
                for (index, route) in routes.enumerated() {
                    let start = ContinuousClock.now
                    let url = try? await manager.resolve(route)
                    slowest = max(slowest, start.duration(to: .now))
                    if url != "http://svc\(index):1" { wrong += 1 }
                }
            }
            return wrong
        }

        #expect(await resolveAll(rounds: 5) == 0)
        let hitsBefore = metrics.counterTotal(label: "trafficmanager_cache_hit_total")
        #expect(hitsBefore >= 20)

        #expect(try runScript("scripts/stop-redis.sh", environment: environment) == 0)
        let lookupsBefore = store.lookupCount
        slowest = .zero
        #expect(await resolveAll(rounds: 10) == 0)
        // With the server gone every call fails over fast: a refused connect, never a deadline.
        #expect(slowest < .milliseconds(150), "a resolve took \(slowest) while Redis was down")
        #expect(store.lookupCount - lookupsBefore >= 150)
        #expect(metrics.counterTotal(label: "trafficmanager_cache_errors_total") >= 1)

        #expect(try runScript("scripts/start-redis.sh", environment: environment) == 0)
        let back = ContinuousClock.now
        let hitsWhileDown = metrics.counterTotal(label: "trafficmanager_cache_hit_total")
        var recovered = false
        for _ in 0..<200 where !recovered {
            #expect(await resolveAll(rounds: 1) == 0)
            recovered = metrics.counterTotal(label: "trafficmanager_cache_hit_total") > hitsWhileDown + 20
            if !recovered { try await Task.sleep(for: .milliseconds(10)) }
        }
        let recovery = back.duration(to: .now)
        #expect(recovered, "the cache was not used again within 2 s of Redis coming back")
        // Back-off is capped (200 ms here, 500 ms by default): service returns within a second.
        #expect(recovery < .seconds(1), "the cache was used again \(recovery) after Redis came back")
    }

    @Test func aCommandThatOutlivesItsTimeoutFailsAndTheCacheRecovers() async throws {
        let cache = try await startOwnRedis()
        defer { stopOwnRedis(cache) }
        let route = try UniqueNames.route()
        // Setup, not under test: on a busy machine the first fill (connect, SCRIPT LOAD,
        // EVALSHA) can outlive the 200 ms deadline, so it may take a few tries.
        var filled = false
        for _ in 0..<50 where !filled {
            filled = (try? await cache.fill(route, with: .notFound(revision: 0), ttl: .seconds(60))) != nil
            if !filled { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(filled)

        // Another client pauses every client for 3 s. Without the 200 ms command timeout our
        // GET would simply wait and then succeed; with it, it fails.
        let pauser = try await started(RedisRouteCache(configuration: .init(endpoint: .tcp(host: "127.0.0.1", port: Self.port))))
        defer { Task { await pauser.shutdown() } }
        #expect(try await pauser.send(["CLIENT", "PAUSE", "3000", "ALL"]) == .status("OK"))
        await #expect(throws: TrafficManagerError.self) { try await cache.get(route) }

        var entry: CachedRoute?
        for _ in 0..<300 where entry == nil {
            entry = try? await cache.get(route)
            if entry == nil { try await Task.sleep(for: .milliseconds(20)) }
        }
        #expect(entry == .notFound(revision: 0))
    }
}
