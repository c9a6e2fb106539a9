import Foundation
import Testing
import TrafficManager
import TrafficManagerTestKit
import TrafficManagerTestSupport
@testable import TrafficManagerRedis

/// `run()` hosts the cache's threads: calls before it wait for it, none run after shutdown.
@Suite(.enabled(if: TestServices.redis.shouldRun, redisSkip))
struct RedisLifecycleTests {
    static func cache(connections: Int = 1, timeout: Duration = functionalTestTimeout) -> RedisRouteCache {
        RedisRouteCache(
            configuration: .init(
                endpoint: .tcp(host: TestServices.redis.host, port: TestServices.redis.port), connectionCount: connections,
                commandTimeout: timeout, keyPrefix: "tm:test:\(UniqueNames.tenant()):"))
    }

    @Test func aCallMadeBeforeRunIsAnsweredOnceRunStarts() async throws {
        let cache = Self.cache()
        let route = try UniqueNames.route()
        let early = Task { try await cache.fill(route, with: .notFound(revision: 3), ttl: .seconds(10)) }
        try await Task.sleep(for: .milliseconds(100))
        #expect(cache.runningThreadCount == 0)
        let run = Task { try await cache.run() }
        #expect(try await early.value)
        #expect(try await cache.get(route) == .notFound(revision: 3))
        await cache.shutdown()
        try await run.value
    }

    @Test func aCacheNeverRunFailsCallsAsNotRunningAtTheirDeadline() async throws {
        let cache = Self.cache(timeout: .milliseconds(300))
        let start = ContinuousClock.now
        let error = await #expect(throws: TrafficManagerError.self) { try await cache.get(try UniqueNames.route()) }
        #expect(error?.code == .notRunning)
        #expect(start.duration(to: .now) >= .milliseconds(300))
        await cache.shutdown()
    }

    @Test func noThreadOutlivesShutdownAndLaterCallsAreNotRunning() async throws {
        let cache = Self.cache(connections: 3)
        let run = Task { try await cache.run() }
        for _ in 0..<6 { _ = try await cache.get(try UniqueNames.route()) }
        #expect(cache.runningThreadCount == 3)
        await cache.shutdown()
        #expect(cache.runningThreadCount == 0)
        try await run.value
        let error = await #expect(throws: TrafficManagerError.self) { try await cache.get(try UniqueNames.route()) }
        #expect(error?.code == .notRunning)
        await #expect(throws: TrafficManagerError.self) { try await cache.run() }
    }
}
