import Foundation
import Testing
import TrafficManager
import TrafficManagerTestKit
import TrafficManagerTestSupport
@testable import TrafficManagerPostgres

/// PostgreSQL stopped and started again under a stream of calls, on a server of this test's own.
/// Its time bounds run with the fault suites, outside the sanitizer.
@Suite(.enabled(if: TestServices.postgres.shouldRun, postgresSkip))
struct PostgresRestartFaultTests {
    // A port and directory of this run's own, so concurrent runs on one machine never meet.
    // Below the kernel's ephemeral range (32768–60999), where client sockets could hold it.
    private static let port = Int.random(in: 21000..<22000)
    private let environment = ["TM_PG_PORT": "\(Self.port)", "TM_PG_DIR": "/tmp/tm-pg-restart-\(Self.port)"]

    @Test func callsFailAsStoreUnavailableWhileTheServerIsDownAndSucceedAfterItReturns() async throws {
        #expect(try runScript("scripts/start-postgres.sh", environment: environment) == 0)
        defer { _ = try? runScript("scripts/stop-postgres.sh", environment: environment, arguments: ["--purge"]) }

        let store = running(PostgresRouteStore(configuration: testConfiguration(port: Self.port, schema: freshSchema(), poolSize: 2)))
        try await store.migrate()
        let route = try UniqueNames.route()
        _ = try await store.apply(try RouteCommand(route: route, operation: .upsert(url: "http://a:1")), idempotencyKey: nil)
        #expect(try await store.lookup(route).url == "http://a:1")

        #expect(try runScript("scripts/stop-postgres.sh", environment: environment) == 0)
        for _ in 0..<5 {
            let start = ContinuousClock.now
            defer {
                // A refused connect, never a deadline: the call fails fast.
                #expect(start.duration(to: .now) < .milliseconds(150), "a lookup took \(start.duration(to: .now)) to fail")
            }
            do {
                _ = try await store.lookup(route)
                Issue.record("a lookup succeeded while the server was down")
            } catch let error as TrafficManagerError {
                guard error.code == .storeUnavailable else {
                    Issue.record("expected storeUnavailable, got \(error)")
                    continue
                }
                #expect(!error.message.contains("password"))
            }
        }

        #expect(try runScript("scripts/start-postgres.sh", environment: environment) == 0)
        let back = ContinuousClock.now
        var answered: String?
        for _ in 0..<500 where answered == nil {
            answered = try? await store.lookup(route).url
            if answered == nil { try await Task.sleep(for: .milliseconds(10)) }
        }
        let recovery = back.duration(to: .now)
        #expect(answered == "http://a:1", "the store did not reconnect within 5 s of the server coming back")
        // Back-off is capped at 500 ms: service returns within a second.
        #expect(recovery < .seconds(1), "the store answered again \(recovery) after the server came back")
        // Both connections recover, and writes work again.
        let results = try await withThrowingTaskGroup(of: RouteLookup.self) { group in
            for _ in 0..<8 { group.addTask { try await store.lookup(route) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results.allSatisfy { $0.url == "http://a:1" })
        // A write is not repeated by the store (a lost write may have committed); one that meets
        // a connection the restart left stale fails once, and the caller's retry succeeds.
        let command = try RouteCommand(route: route, operation: .upsert(url: "http://b:2"))
        let key = try IdempotencyKey("restart-\(UUID())")
        let updated: RouteWriteResult
        do {
            updated = try await store.apply(command, idempotencyKey: key)
        } catch let error as TrafficManagerError where error.code == .storeUnavailable || error.code == .outcomeUnknown {
            updated = try await store.apply(command, idempotencyKey: key)
        }
        #expect(updated.endpoint.revision == 2)
        await store.shutdown()
    }
}
