import Foundation
import MetricsTestKit
import Testing
import TrafficManager
import TrafficManagerConnectionRuntime
@testable import TrafficManagerRedis
import TrafficManagerTestKit
import TrafficManagerTestSupport

/// A batch get is one pipeline on one connection: one round trip, whatever shares its batch.
@Suite(.enabled(if: TestServices.redis.shouldRun, redisSkip))
struct RedisBatchGetTests {
    private static func cache(metrics: TestMetrics) -> RedisRouteCache {
        running(RedisRouteCache(
            configuration: .init(
                endpoint: .tcp(host: TestServices.redis.host, port: TestServices.redis.port), connectionCount: 1,
                commandTimeout: functionalTestTimeout, keyPrefix: "tm:test:\(UniqueNames.tenant()):"),
            metricsFactory: metrics))
    }

    /// The batches the connection has sent: one `connection_queue_depth` record each, its value
    /// the requests in the batch.
    private static func batches(_ metrics: TestMetrics) throws -> [Double] {
        try metrics.expectGauge(
            TrafficManagerMetrics.defaultPrefix + ConnectionMetrics.Name.queueDepth, [("backend", "redis"), ("connection", "0")]
        ).values
    }

    @Test func aBatchOfFiftyRoutesIsOneRequestInOneRoundTrip() async throws {
        let metrics = TestMetrics()
        let cache = Self.cache(metrics: metrics)
        defer { Task { await cache.shutdown() } }
        let tenant = UniqueNames.tenant()
        let routes = try (0..<50).map { try RouteID(tenant: tenant, service: "svc\($0)", environment: "prod", version: "v1") }
        // Endpoints with read times, not-found entries, tombstones, and nothing.
        let readAt = Date(unixMilliseconds: 1_796_212_345_600)
        for (index, route) in routes.enumerated() {
            switch index % 4 {
            case 0: try await cache.fill(route, with: .endpoint(url: "http://svc\(index):1", revision: 2), ttl: .seconds(60), notAfter: .distantFuture, readAt: readAt)
            case 1: try await cache.fill(route, with: .notFound(revision: 3), ttl: .seconds(60))
            case 2: try await cache.invalidate(route, revision: 4, ttl: .seconds(60))
            default: break
            }
        }
        let before = try Self.batches(metrics).count
        let entries = try await cache.entries(routes)
        let sent = try Self.batches(metrics).dropFirst(before)
        #expect(Array(sent) == [1], "the batch went out as \(Array(sent)): batches of that many requests")
        #expect(entries.count == 50)
        for (index, entry) in entries.enumerated() {
            switch index % 4 {
            case 0: #expect(entry == CachedEntry(value: .endpoint(url: "http://svc\(index):1", revision: 2), readAt: readAt))
            case 1: #expect(entry?.value == .notFound(revision: 3))
            case 2: #expect(entry?.value == .tombstone(revision: 4))
            default: #expect(entry == nil)
            }
        }
        #expect(try await cache.get(routes).map { $0 } == entries.map { $0?.value })
        #expect(try await cache.entries([]).isEmpty)
    }

    @Test func batchesAndSingleCallsSharingAConnectionEachGetTheirOwnReplies() async throws {
        let metrics = TestMetrics()
        let cache = Self.cache(metrics: metrics)
        defer { Task { await cache.shutdown() } }
        let tenant = UniqueNames.tenant()
        let routes = try (0..<40).map { try RouteID(tenant: tenant, service: "svc\($0)", environment: "prod", version: "v1") }
        for (index, route) in routes.enumerated() {
            try await cache.fill(route, with: .endpoint(url: "http://svc\(index):1", revision: UInt64(index + 1)), ttl: .seconds(60))
        }
        let expected = routes.indices.map { CachedRoute.endpoint(url: "http://svc\($0):1", revision: UInt64($0 + 1)) }
        // The connection is held by a command that blocks on the server for 300 ms; batches and
        // single gets queue meanwhile, and go out together in the next batch.
        let blocking = Task { try await cache.send(["BLPOP", "tm:test:\(tenant):nothing", "0.3"]) }
        try await Task.sleep(for: .milliseconds(50))
        let wrong = try await withThrowingTaskGroup(of: Int.self) { group in
            for round in 0..<30 {
                group.addTask {
                    if round % 3 == 0 {
                        let index = round % routes.count
                        return try await cache.get(routes[index]) == expected[index] ? 0 : 1
                    }
                    let start = round % 30
                    let slice = Array(start..<(start + 1 + round % 10))
                    let got = try await cache.get(slice.map { routes[$0] })
                    return got == slice.map { expected[$0] } ? 0 : 1
                }
            }
            return try await group.reduce(0, +)
        }
        _ = try await blocking.value
        #expect(wrong == 0)
        #expect(try Self.batches(metrics).contains { $0 > 1 }, "no batch held more than one request")
    }
}
