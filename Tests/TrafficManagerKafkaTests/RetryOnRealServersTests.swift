import Foundation
import Testing
@testable import TrafficManager
@testable import TrafficManagerPostgres
import TrafficManagerRedis
import TrafficManagerTestKit
import TrafficManagerTestSupport

/// A retried write after a lost reply, and a write whose outcome is unknown, on PostgreSQL and
/// Redis: the old URL never stays cached.
@Suite(.enabled(if: TestServices.postgres.shouldRun && TestServices.redis.shouldRun, "needs PostgreSQL and Redis"))
struct RetryOnRealServersTests {
    private func cache(_ schema: String) async throws -> RedisRouteCache {
        running(RedisRouteCache(
            configuration: .init(
                endpoint: .tcp(host: TestServices.redis.host, port: TestServices.redis.port), commandTimeout: .seconds(2),
                keyPrefix: "tm:retry:\(schema):")))
    }

    @Test(arguments: [false, true])
    func aRetryAfterALostReplyInvalidatesTheOldURL(withKey: Bool) async throws {
        let schema = "tm_retry_\(UInt32.random(in: 0...UInt32.max))"
        let store = running(testStore(schema: schema, poolSize: 2))
        try await store.migrate()
        let cache = try await cache(schema)
        let manager = TrafficManager(store: store, cache: cache, publisher: InMemoryEventBus())
        let route = try UniqueNames.route()
        try await manager.createRoute(route, url: "http://old:1")
        #expect(try await manager.resolve(route) == "http://old:1")
        #expect(try await cache.get(route) == .endpoint(url: "http://old:1", revision: 1))

        // The write commits but its reply is lost: it reached the store, not the cache.
        let key = withKey ? "deploy-\(UUID())" : nil
        let command = try RouteCommand(route: route, operation: .upsert(url: "http://new:2"))
        _ = try await store.apply(command, idempotencyKey: key.map { try IdempotencyKey($0) })
        #expect(try await manager.resolve(route) == "http://old:1", "the lost reply left the old URL cached")

        // The caller retries: replayed with the key, unchanged without; either way it invalidates.
        let retry = try await manager.createRoute(route, url: "http://new:2", idempotencyKey: key)
        #expect(retry.replayed == withKey && retry.endpoint.revision == 2)
        #expect(try await cache.get(route) == .tombstone(revision: 2))
        #expect(try await manager.resolve(route) == "http://new:2")
        await cache.shutdown()
        _ = try await store.execute("DROP SCHEMA \(schema) CASCADE")
        await store.shutdown()
    }

    @Test func aWriteWhoseOutcomeIsUnknownIsReconciledOnceThePathThaws() async throws {
        let schema = "tm_retry_\(UInt32.random(in: 0...UInt32.max))"
        let direct = running(testStore(schema: schema, poolSize: 1))
        try await direct.migrate()
        let proxy = try FaultProxy(upstreamPort: TestServices.postgres.port)
        defer { proxy.close() }
        var configuration = testConfiguration(port: proxy.port, schema: schema, poolSize: 1)
        configuration.callTimeout = .milliseconds(500)
        let store = running(PostgresRouteStore(configuration: configuration))
        let cache = try await cache(schema)
        let manager = TrafficManager(store: store, cache: cache, publisher: InMemoryEventBus())
        let route = try UniqueNames.route()
        try await manager.createRoute(route, url: "http://old:1")
        #expect(try await manager.resolve(route) == "http://old:1")

        // The write reaches the server and commits; its reply is held: the caller hears
        // outcomeUnknown, and nobody retries.
        proxy.mode = .freezeReplies
        let error = await #expect(throws: TrafficManagerError.self) { try await manager.createRoute(route, url: "http://new:2") }
        #expect(error?.code == .outcomeUnknown, "\(String(describing: error))")
        try await Task.sleep(for: .milliseconds(300))
        proxy.mode = .pass

        // Once the writer has read the route again, the cache agrees with the store.
        var agreed = false
        for _ in 0..<200 where !agreed {
            let truth = try await direct.lookup(route)
            let cached = try await cache.get(route)
            agreed = cached?.revision == truth.revision || (cached.map { if case .tombstone = $0 { true } else { false } } ?? true)
            if agreed { agreed = try await manager.resolve(route) == truth.url }
            if !agreed { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(agreed, "the cache still contradicts the store")
        // The write committed, and the writer's own reconcile put its tombstone in the cache.
        #expect(try await direct.lookup(route) == RouteLookup(url: "http://new:2", revision: 2))
        #expect(try await manager.resolve(route) == "http://new:2")
        await cache.shutdown()
        await store.shutdown()
        _ = try await direct.execute("DROP SCHEMA \(schema) CASCADE")
        await direct.shutdown()
    }
}
