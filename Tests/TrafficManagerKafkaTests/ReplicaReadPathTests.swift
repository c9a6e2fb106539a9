import Foundation
import Testing
import TrafficManager
@testable import TrafficManagerPostgres
import TrafficManagerRedis
import TrafficManagerTestKit
import TrafficManagerTestSupport

/// Two instances over real PostgreSQL (primary and streaming replica) and Redis: one writes
/// through the primary, the other reads through a replica whose replay is held behind
/// (`recovery_min_apply_delay`, 6 s) yet inside its lag bound, so the replica is used while stale.
/// Neither the write's tombstone nor its event may be answered past: no stale answer, no
/// stale fill.
@Suite(
    .serialized,
    .enabled(
        if: TestServices.postgres.shouldRun && TestServices.postgresReplica.shouldRun && TestServices.redis.shouldRun,
        "needs PostgreSQL with its replica, and Redis"),
    .timeLimit(.minutes(2)))
struct ReplicaReadPathTests {
    private struct Setup {
        let schema: String
        let writerStore: PostgresRouteStore
        let readerStore: PostgresRouteStore
        let replica: PostgresRouteStore
        let writerCache: RedisRouteCache
        let readerCache: RedisRouteCache

        func shutdown() async {
            for cache in [writerCache, readerCache] { await cache.shutdown() }
            _ = try? await writerStore.execute("DROP SCHEMA \(schema) CASCADE")
            for store in [writerStore, readerStore, replica] { await store.shutdown() }
        }
    }

    /// `sharedCache`: both instances on one Redis key space (else each has its own).
    private func setUp(sharedCache: Bool) async throws -> Setup {
        let schema = "tm_replica_\(UInt32.random(in: 0...UInt32.max))"
        let writerStore = running(testStore(schema: schema, poolSize: 2))
        try await writerStore.migrate()
        var readerConfiguration = testConfiguration(port: TestServices.postgres.port, schema: schema, poolSize: 2)
        readerConfiguration.replicas = [.tcp(host: TestServices.postgresReplica.host, port: TestServices.postgresReplica.port)]
        // Past the 6 s replay delay: the replica stays in use while it is stale. (Under the
        // 10 s fill window, so the reader's answers still fill the cache.)
        readerConfiguration.replicaMaxLag = .seconds(8)
        readerConfiguration.replicaReadTimeout = .seconds(2)
        let readerStore = running(PostgresRouteStore(configuration: readerConfiguration))
        let replica = running(PostgresRouteStore(configuration: testConfiguration(port: TestServices.postgresReplica.port, schema: schema, poolSize: 1)))
        func cache(_ prefix: String) -> RedisRouteCache {
            running(
                RedisRouteCache(
                    configuration: .init(
                        endpoint: .tcp(host: TestServices.redis.host, port: TestServices.redis.port), commandTimeout: .seconds(2),
                        keyPrefix: prefix)))
        }
        return Setup(
            schema: schema, writerStore: writerStore, readerStore: readerStore, replica: replica,
            writerCache: cache("tm:replica:\(schema):"), readerCache: cache(sharedCache ? "tm:replica:\(schema):" : "tm:replica:\(schema):reader:"))
    }

    private func delayReplay(_ replica: PostgresRouteStore, _ delay: String?) async throws {
        _ = try await replica.execute(delay.map { "ALTER SYSTEM SET recovery_min_apply_delay = '\($0)'" } ?? "ALTER SYSTEM RESET recovery_min_apply_delay")
        _ = try await replica.execute("SELECT pg_reload_conf()")
    }

    private func replicated(_ routes: [RouteID], on replica: PostgresRouteStore) async throws {
        let waiting = ContinuousClock.now
        for route in routes {
            // (The schema itself may not have reached the replica yet.)
            while ((try? await replica.lookup(route))?.revision ?? 0) == 0 {
                guard waiting.duration(to: .now) < .seconds(10) else { Issue.record("the replica never had \(route)"); return }
                try await Task.sleep(for: .milliseconds(20))
            }
        }
    }

    /// Resolves every route from 8 tasks for `duration`; returns the answers older than `revision`.
    private func resolveAll(_ manager: TrafficManager, _ routes: [RouteID], olderThan revision: UInt64, for duration: Duration) async throws -> [String] {
        let until = ContinuousClock.now + duration
        return try await withThrowingTaskGroup(of: [String].self) { group in
            for reader in 0..<8 {
                group.addTask {
                    var older: [String] = []
                    var turn = reader
                    while ContinuousClock.now < until {
                        let route = routes[turn % routes.count]
                        turn += 1
                        let answer = try await manager.resolution(route)
                        if answer.revision < revision { older.append("\(route.service): r\(answer.revision) from \(answer.source)") }
                    }
                    return older
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
    }

    private func routes(_ tenant: String) throws -> [RouteID] {
        try (0..<5).map { try RouteID(tenant: tenant, service: "service-\($0)", environment: "prod", version: "v1") }
    }

    @Test func afterAWriteReturnedTheReaderOnAStaleReplicaAnswersAndFillsOnlyTheNewURL() async throws {
        let setup = try await setUp(sharedCache: true)
        let writer = TrafficManager(store: setup.writerStore, cache: setup.writerCache, publisher: InMemoryEventBus())
        let reader = TrafficManager(store: setup.readerStore, cache: setup.readerCache, publisher: InMemoryEventBus())
        let routes = try routes(UniqueNames.tenant())
        for route in routes { try await writer.createRoute(route, url: "http://\(route.service):1") }
        try await replicated(routes, on: setup.replica)
        for route in routes { #expect(try await reader.resolve(route) == "http://\(route.service):1") }
        try await delayReplay(setup.replica, "6s")
        do {
            try await Task.sleep(for: .milliseconds(300))
            for route in routes { try await writer.createRoute(route, url: "http://\(route.service):2") }
            // The replica still holds revision 1 of every route: the test can fail.
            for route in routes { #expect(try await setup.replica.lookup(route).revision == 1, "the replica caught up too soon") }
            let older = try await resolveAll(reader, routes, olderThan: 2, for: .seconds(1))
            #expect(older.isEmpty, "older answers after the write returned: \(older.prefix(5))")
            #expect(try await setup.replica.lookup(routes[0]).revision == 1, "the replica caught up during the reads")
            // What the reader left in the shared cache is the new revision (or the tombstone).
            for route in routes {
                let cached = try await setup.readerCache.get(route)
                #expect((cached?.revision ?? 0) >= 2, "\(route.service): \(String(describing: cached))")
            }
        } catch {
            Issue.record("\(error)")
        }
        try await delayReplay(setup.replica, nil)
        await setup.shutdown()
    }

    @Test func onceTheWritesEventReachedTheReaderItsStaleReplicaAndOldCacheEntryAreNotAnswered() async throws {
        // Separate key spaces: the reader's shared cache keeps revision 1 and never sees the
        // tombstone; only the event tells it of the write.
        let setup = try await setUp(sharedCache: false)
        let bus = InMemoryEventBus()
        let writer = TrafficManager(store: setup.writerStore, cache: setup.writerCache, publisher: bus)
        let reader = TrafficManager(store: setup.readerStore, cache: setup.readerCache, publisher: InMemoryEventBus(), changeFeed: bus)
        let feed = Task { try await reader.changeFeedService?.run() }
        let routes = try routes(UniqueNames.tenant())
        for route in routes { try await writer.createRoute(route, url: "http://\(route.service):1") }
        try await replicated(routes, on: setup.replica)
        // Past the near cache (which the create events filled), so the shared cache gets revision 1.
        for route in routes { #expect(try await reader.resolve(route, consistency: .strong) == "http://\(route.service):1") }
        try await delayReplay(setup.replica, "6s")
        do {
            try await Task.sleep(for: .milliseconds(300))
            for route in routes { try await writer.createRoute(route, url: "http://\(route.service):2") }
            for route in routes { #expect(try await setup.replica.lookup(route).revision == 1, "the replica caught up too soon") }
            let held = try await setup.readerCache.get(routes[0])
            #expect(held == .endpoint(url: "http://service-0:1", revision: 1), "\(String(describing: held))")
            // The in-memory feed delivers each event before the write returns; from here on
            // the reader knows revision 2 of every route.
            let older = try await resolveAll(reader, routes, olderThan: 2, for: .seconds(1))
            #expect(older.isEmpty, "older answers after the event arrived: \(older.prefix(5))")
            for route in routes {
                let cached = try await setup.readerCache.get(route)
                #expect(cached == .endpoint(url: "http://\(route.service):2", revision: 2), "\(route.service): \(String(describing: cached))")
            }
        } catch {
            Issue.record("\(error)")
        }
        feed.cancel()
        try await delayReplay(setup.replica, nil)
        await setup.shutdown()
    }
}
