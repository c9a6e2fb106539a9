import Foundation
import MetricsTestKit
import Testing
import TrafficManager
import TrafficManagerTestKit
import TrafficManagerTestSupport
@testable import TrafficManagerPostgres

/// Lookups from the streaming replica (`scripts/start-postgres-replica.sh`): used while its
/// measured lag is under the bound, never for an answer older than a revision the caller knows,
/// and not at all while its replay is paused or delayed past the bound.
///
/// Serialized: the tests pause or delay the one replica's replay, and put it back.
@Suite(
    .serialized,
    .enabled(
        if: TestServices.postgres.shouldRun && TestServices.postgresReplica.shouldRun,
        Comment(rawValue: TestServices.postgresReplica.skipMessage)))
struct PostgresReplicaTests {
    static let reads = TrafficManagerMetrics.defaultPrefix + PostgresReplicaSet.readsMetric
    static let lag = TrafficManagerMetrics.defaultPrefix + PostgresReplicaSet.lagMetric

    /// A store with the replica, and the metrics it records.
    private func replicatedStore(maxLag: Duration) async throws -> (PostgresRouteStore, TestMetrics) {
        var configuration = testConfiguration(schema: "tm_test_shared", poolSize: 2)
        configuration.replicas = [.tcp(host: TestServices.postgresReplica.host, port: TestServices.postgresReplica.port)]
        configuration.replicaMaxLag = maxLag
        configuration.replicaLagProbeInterval = .milliseconds(50)
        let metrics = TestMetrics()
        let store = running(PostgresRouteStore(configuration: configuration, metricsFactory: metrics))
        try await store.migrate()
        return (store, metrics)
    }

    /// A plain connection to the replica, for what the tests change there.
    private func replicaAdmin() -> PostgresRouteStore {
        running(PostgresRouteStore(configuration: testConfiguration(port: TestServices.postgresReplica.port, schema: "tm_test_shared", poolSize: 1)))
    }

    private func count(_ metrics: TestMetrics, _ outcome: PostgresReplicaSet.Outcome) -> Int64 {
        (try? metrics.expectCounter(Self.reads, [("outcome", outcome.rawValue)]).totalValue) ?? 0
    }

    /// Until the replica has replayed `revision` of `route` (the primary wrote it).
    private func replicated(_ route: RouteID, _ revision: UInt64, on admin: PostgresRouteStore) async throws {
        let waiting = ContinuousClock.now
        while waiting.duration(to: .now) < .seconds(10) {
            if try await admin.lookup(route).revision >= revision { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        Issue.record("the replica never replayed \(route) r\(revision)")
    }

    private func write(_ store: PostgresRouteStore, _ route: RouteID, _ url: String) async throws -> UInt64 {
        try await store.apply(try RouteCommand(route: route, operation: .upsert(url: url)), idempotencyKey: nil).endpoint.revision
    }

    @Test func aReplicaWithinTheBoundAnswersAndTheLagIsMeasured() async throws {
        let (store, metrics) = try await replicatedStore(maxLag: .seconds(1))
        let admin = replicaAdmin()
        let route = try UniqueNames.route()
        let revision = try await write(store, route, "http://a:1")
        try await replicated(route, revision, on: admin)
        // Within a few probes the replica is measured and used.
        var answered = false
        for _ in 0..<100 where !answered {
            #expect(try await store.lookup(route, atLeast: revision) == RouteLookup(url: "http://a:1", revision: revision))
            answered = count(metrics, .replica) > 0
            if !answered { try await Task.sleep(for: .milliseconds(20)) }
        }
        #expect(answered, "no lookup went to the replica")
        let lag = try metrics.expectGauge(Self.lag, [("replica", "1")]).lastValue ?? -1
        #expect(lag > 0 && lag < 1, "measured lag \(lag) s")
        // A batch too: one replica query answers every route.
        let other = try UniqueNames.route()
        let before = count(metrics, .replica)
        #expect(try await store.lookup([route, other], atLeast: [revision, 0]) == [RouteLookup(url: "http://a:1", revision: revision), .neverExisted])
        #expect(count(metrics, .replica) == before + 1)
        // Plain lookups stay on the primary.
        #expect(try await store.lookup(route).revision == revision)
        #expect(count(metrics, .replica) == before + 1)
        await admin.shutdown()
        await store.shutdown()
    }

    @Test func anAnswerOlderThanAKnownRevisionIsReadAgainFromThePrimary() async throws {
        let (store, metrics) = try await replicatedStore(maxLag: .seconds(30))
        let admin = replicaAdmin()
        let route = try UniqueNames.route()
        let first = try await write(store, route, "http://old:1")
        try await replicated(route, first, on: admin)
        // Replay three seconds behind; the 30 s bound keeps the replica in use.
        // (ALTER SYSTEM cannot share a statement with another.)
        _ = try await admin.execute("ALTER SYSTEM SET recovery_min_apply_delay = '3s'")
        _ = try await admin.execute("SELECT pg_reload_conf()")
        do {
            try await Task.sleep(for: .milliseconds(300))
            let second = try await write(store, route, "http://new:2")
            // The replica still answers the old revision to a caller that knows no better …
            #expect(try await store.lookup(route, atLeast: 0) == RouteLookup(url: "http://old:1", revision: first))
            #expect(count(metrics, .replica) >= 1)
            // … but never to one that knows the new revision: that one is read from the primary.
            #expect(try await store.lookup(route, atLeast: second) == RouteLookup(url: "http://new:2", revision: second))
            #expect(count(metrics, .older) == 1)
            let other = try UniqueNames.route()
            #expect(
                try await store.lookup([other, route], atLeast: [0, second])
                    == [.neverExisted, RouteLookup(url: "http://new:2", revision: second)])
            #expect(count(metrics, .older) == 2)
        } catch {
            Issue.record("\(error)")
        }
        _ = try await admin.execute("ALTER SYSTEM RESET recovery_min_apply_delay")
        _ = try await admin.execute("SELECT pg_reload_conf()")
        await admin.shutdown()
        await store.shutdown()
    }

    @Test func aPausedReplicaIsLeftOnceItsLagPassesTheBound() async throws {
        let bound = Duration.milliseconds(500)
        let (store, metrics) = try await replicatedStore(maxLag: bound)
        let admin = replicaAdmin()
        let route = try UniqueNames.route()
        let first = try await write(store, route, "http://old:1")
        try await replicated(route, first, on: admin)
        _ = try await admin.execute("SELECT pg_wal_replay_pause()")
        do {
            let second = try await write(store, route, "http://new:2")
            let written = ContinuousClock.now
            // While the replica may still be within the bound it may answer the old revision;
            // past the bound it is never asked: every lookup gets the new one.
            var sawOld = false
            while written.duration(to: .now) < bound * 3 {
                let answer = try await store.lookup(route, atLeast: 0)
                if answer.revision < second {
                    sawOld = true
                    #expect(written.duration(to: .now) < bound + .milliseconds(100), "the paused replica answered past the bound")
                }
                try await Task.sleep(for: .milliseconds(10))
            }
            #expect(sawOld, "the replica never answered: the test shows nothing")
            #expect(count(metrics, .lagging) > 0)
            let lag = try metrics.expectGauge(Self.lag, [("replica", "1")]).lastValue ?? 0
            #expect(lag > bound.timeInterval, "measured lag \(lag) s with replay paused")
        } catch {
            Issue.record("\(error)")
        }
        _ = try await admin.execute("SELECT pg_wal_replay_resume()")
        // Resumed, it catches up and is used again.
        let before = count(metrics, .replica)
        var used = false
        for _ in 0..<200 where !used {
            _ = try await store.lookup(route, atLeast: 0)
            used = count(metrics, .replica) > before
            if !used { try await Task.sleep(for: .milliseconds(20)) }
        }
        #expect(used, "the replica was not used again after it caught up")
        await admin.shutdown()
        await store.shutdown()
    }

    @Test func theStoreWithAReplicaPassesTheStoreContract() async throws {
        let (store, _) = try await replicatedStore(maxLag: .seconds(1))
        #expect(store.maximumReadLag == .seconds(1))
        try await RouteStoreContract { store }.run()
        await store.shutdown()
    }

    @Test func withoutReplicasTheReadLagIsZeroAndLookupsAreThePrimarys() async throws {
        let store = try await migratedStore()
        #expect(store.maximumReadLag == .zero)
        let route = try UniqueNames.route()
        let revision = try await write(store, route, "http://a:1")
        #expect(try await store.lookup(route, atLeast: revision).revision == revision)
        await store.shutdown()
    }
}
