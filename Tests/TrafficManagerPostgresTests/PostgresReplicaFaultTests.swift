import Foundation
import MetricsTestKit
import Testing
import TrafficManager
import TrafficManagerTestKit
import TrafficManagerTestSupport
@testable import TrafficManagerPostgres

/// The replica behind a fault proxy whose path freezes: lookups keep answering, from the
/// primary, within the replica read timeout; once the replica's measured lag passes the bound
/// it is not asked at all, and it is used again once the path thaws.
@Suite(
    .serialized,
    .enabled(
        if: TestServices.postgres.shouldRun && TestServices.postgresReplica.shouldRun,
        Comment(rawValue: TestServices.postgresReplica.skipMessage)))
struct PostgresReplicaFaultTests {
    static let reads = TrafficManagerMetrics.defaultPrefix + PostgresReplicaSet.readsMetric

    private func count(_ metrics: TestMetrics, _ outcome: PostgresReplicaSet.Outcome) -> Int64 {
        (try? metrics.expectCounter(Self.reads, [("outcome", outcome.rawValue)]).totalValue) ?? 0
    }

    @Test func aFrozenReplicaPathCostsAReplicaTimeoutAtMostThenNothing() async throws {
        let proxy = try FaultProxy(upstreamPort: TestServices.postgresReplica.port)
        defer { proxy.close() }
        var configuration = testConfiguration(schema: "tm_test_shared", poolSize: 2)
        configuration.replicas = [.tcp(host: "127.0.0.1", port: proxy.port)]
        configuration.replicaMaxLag = .seconds(1)
        configuration.replicaLagProbeInterval = .milliseconds(50)
        configuration.replicaReadTimeout = .milliseconds(250)
        configuration.callTimeout = .seconds(2)
        let metrics = TestMetrics()
        let store = running(PostgresRouteStore(configuration: configuration, metricsFactory: metrics))
        try await store.migrate()
        let route = try UniqueNames.route()
        let revision = try await store.apply(try RouteCommand(route: route, operation: .upsert(url: "http://a:1")), idempotencyKey: nil).endpoint.revision
        var used = false
        for _ in 0..<200 where !used {
            if try await store.lookup(route, atLeast: revision).revision == revision { used = count(metrics, .replica) > 0 }
            if !used { try await Task.sleep(for: .milliseconds(20)) }
        }
        #expect(used, "the replica was never used")

        proxy.mode = .freeze
        let frozen = ContinuousClock.now
        var slowest = Duration.zero
        var slowPastBound = Duration.zero
        while frozen.duration(to: .now) < .seconds(3) {
            let began = ContinuousClock.now
            let answer = try await store.lookup(route, atLeast: 0)
            let took = began.duration(to: .now)
            #expect(answer == RouteLookup(url: "http://a:1", revision: revision))
            slowest = max(slowest, took)
            // Past the bound and a probe, the replica is no longer asked.
            if frozen.duration(to: .now) > .milliseconds(1_300) { slowPastBound = max(slowPastBound, took) }
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(slowest < .milliseconds(250) + .milliseconds(250), "a lookup took \(slowest) with the replica frozen")
        #expect(slowPastBound < .milliseconds(100), "past the bound a lookup still took \(slowPastBound)")
        #expect(count(metrics, .failed) >= 1 && count(metrics, .lagging) >= 1)

        proxy.mode = .pass
        let before = count(metrics, .replica)
        var again = false
        let thawed = ContinuousClock.now
        while !again && thawed.duration(to: .now) < .seconds(15) {
            _ = try await store.lookup(route, atLeast: 0)
            again = count(metrics, .replica) > before
            if !again { try await Task.sleep(for: .milliseconds(20)) }
        }
        #expect(again, "the replica was not used again after the path thawed")
        await store.shutdown()
    }
}
