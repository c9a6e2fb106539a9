import Foundation
import Testing
import TrafficManager
import TrafficManagerTestKit
import TrafficManagerTestSupport
@testable import TrafficManagerRedis

/// The Redis cache behind a fault proxy: a path that freezes with its sockets open, resets,
/// and slows down. Every call returns within its deadline plus max(10 %, 250 ms).
@Suite(.serialized, .enabled(if: TestServices.redis.shouldRun, redisSkip))
struct RedisFaultTests {
    static let timeout = Duration.milliseconds(250)
    static let slack = Duration.milliseconds(250)

    private func cache(through proxy: FaultProxy) async throws -> RedisRouteCache {
        try await started(RedisRouteCache(
            configuration: .init(
                endpoint: .tcp(host: "127.0.0.1", port: proxy.port), commandTimeout: Self.timeout,
                keyPrefix: "tm:fault:\(UUID().uuidString.prefix(8)):",
                reconnectBackOff: .init(initial: .milliseconds(20), maximum: .milliseconds(500)))))
    }

    /// Calls `get` from `callers` tasks while `during` runs and for `duration` after.
    private func load(_ cache: RedisRouteCache, callers: Int, for duration: Duration, during: @Sendable () async throws -> Void)
        async throws -> (longest: Duration, failed: Int, succeeded: Int)
    {
        let route = try UniqueNames.route()
        let result = try await LoadRun.run(
            callers: callers, for: duration, classify: { _ in 0 }, operation: { _ = try await cache.get(route) }, during: during)
        return (result.longest, result.failures, result.succeeded)
    }

    /// Time until a `get` succeeds, polling every 10 ms.
    private func timeToService(_ cache: RedisRouteCache, limit: Duration = .seconds(5)) async throws -> Duration {
        let start = ContinuousClock.now
        let route = try UniqueNames.route()
        while start.duration(to: .now) < limit {
            do {
                _ = try await cache.get(route)
                return start.duration(to: .now)
            } catch {
                try await Task.sleep(for: .milliseconds(10))
            }
        }
        return limit
    }

    @Test func aFrozenPathFailsEveryCallWithinItsDeadlineAndServiceReturnsOnceItThaws() async throws {
        let proxy = try FaultProxy(upstreamPort: TestServices.redis.port)
        defer { proxy.close() }
        let cache = try await cache(through: proxy)
        _ = try await cache.get(try UniqueNames.route())
        let frozen = try await load(cache, callers: 16, for: .seconds(2)) {
            try await Task.sleep(for: .milliseconds(200))
            proxy.mode = .freeze
        }
        #expect(frozen.longest <= Self.timeout + Self.slack, "the longest call took \(frozen.longest)")
        #expect(frozen.failed > 0 && frozen.succeeded > 0)
        // Every caller was released with deadlineExceeded, never left hanging.
        let error = await #expect(throws: TrafficManagerError.self) { try await cache.get(try UniqueNames.route()) }
        #expect(error?.code == .deadlineExceeded)
        proxy.mode = .pass
        let back = try await timeToService(cache)
        #expect(back < .seconds(1), "service came back after \(back)")
        await cache.shutdown()
    }

    @Test func aResetPathFailsCallsFastAndServiceReturnsWithinASecond() async throws {
        let proxy = try FaultProxy(upstreamPort: TestServices.redis.port)
        defer { proxy.close() }
        let cache = try await cache(through: proxy)
        _ = try await cache.get(try UniqueNames.route())
        let dropped = try await load(cache, callers: 16, for: .seconds(1)) {
            try await Task.sleep(for: .milliseconds(100))
            proxy.mode = .drop
        }
        #expect(dropped.longest <= Self.timeout + Self.slack, "the longest call took \(dropped.longest)")
        let error = await #expect(throws: TrafficManagerError.self) { try await cache.get(try UniqueNames.route()) }
        #expect(error?.code == .cacheUnavailable)
        proxy.mode = .pass
        let back = try await timeToService(cache)
        #expect(back < .seconds(1), "service came back after \(back)")
        await cache.shutdown()
    }

    @Test func aSlowPathWithinTheDeadlineStillAnswers() async throws {
        let proxy = try FaultProxy(upstreamPort: TestServices.redis.port)
        defer { proxy.close() }
        let cache = try await cache(through: proxy)
        _ = try await cache.get(try UniqueNames.route())
        proxy.mode = .delay(.milliseconds(50))
        let slow = try await load(cache, callers: 8, for: .milliseconds(600)) {}
        #expect(slow.failed == 0 && slow.succeeded > 0)
        #expect(slow.longest <= Self.timeout + Self.slack)
        await cache.shutdown()
    }

    @Test func shutdownWithACommandInFlightOnAFrozenPathReturnsByItsDeadline() async throws {
        let proxy = try FaultProxy(upstreamPort: TestServices.redis.port)
        defer { proxy.close() }
        let cache = try await cache(through: proxy)
        _ = try await cache.get(try UniqueNames.route())
        proxy.mode = .freeze
        let inFlight = Task { try await cache.get(try UniqueNames.route()) }
        try await Task.sleep(for: .milliseconds(50))
        let start = ContinuousClock.now
        await cache.shutdown()
        #expect(start.duration(to: .now) <= Self.timeout + Self.slack, "shutdown took \(start.duration(to: .now))")
        let error = await #expect(throws: TrafficManagerError.self) { try await inFlight.value }
        #expect(error?.code == .deadlineExceeded)
        let after = await #expect(throws: TrafficManagerError.self) { try await cache.get(try UniqueNames.route()) }
        #expect(after?.code == .notRunning)
    }

    @Test func aCallerCancelledWhileItsCommandIsQueuedLeavesAtOnce() async throws {
        let proxy = try FaultProxy(upstreamPort: TestServices.redis.port)
        defer { proxy.close() }
        let cache = running(RedisRouteCache(
            configuration: .init(endpoint: .tcp(host: "127.0.0.1", port: proxy.port), commandTimeout: .seconds(5))))
        _ = try await cache.get(try UniqueNames.route())
        proxy.mode = .freeze
        let stuck = Task { try await cache.get(try UniqueNames.route()) }
        try await Task.sleep(for: .milliseconds(100))
        let queued = Task { try await cache.get(try UniqueNames.route()) }
        try await Task.sleep(for: .milliseconds(100))
        let start = ContinuousClock.now
        queued.cancel()
        await #expect(throws: CancellationError.self) { try await queued.value }
        #expect(start.duration(to: .now) < .milliseconds(100))
        stuck.cancel()
        await #expect(throws: CancellationError.self) { try await stuck.value }
        proxy.mode = .pass
        await cache.shutdown()
    }
}

