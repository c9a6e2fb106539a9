import Foundation
import Testing
import TrafficManager
import TrafficManagerTestKit
import TrafficManagerTestSupport
@testable import TrafficManagerPostgres

/// A request whose idempotency key another instance is applying right now is refused at once
/// (`idempotencyKeyInUse`), not queued behind it; once the first commits, a retry replays it.
@Suite(.enabled(if: TestServices.postgres.shouldRun, postgresSkip))
struct PostgresIdempotencyInUseTests {
    @Test func aKeyHeldByAnotherInstanceIsRefusedAtOnceAndARetryAfterwardsApplies() async throws {
        let store = try await migratedStore(poolSize: 1)
        // The other instance: a transaction of its own that holds the key's lock for 2 s, as a
        // write of that key still running there would.
        let other = running(PostgresRouteStore(configuration: testConfiguration(schema: "tm_test_shared", poolSize: 1)))
        let route = try UniqueNames.route()
        let key = try IdempotencyKey("deploy-\(UUID())")
        // Its connection made first, so that the lock is taken as soon as the task starts (under
        // ThreadSanitizer, the connection's setup could outlast the wait below).
        _ = try await other.lookup(route)
        let holding = Task {
            try await other.pool.run(
                .simple("SELECT pg_advisory_xact_lock(hashtextextended('\(route.tenant)|\(key.value)', 0)); SELECT pg_sleep(2)"),
                deadline: .now + .seconds(10))
        }
        // Until the other instance holds the key's lock.
        let waiting = ContinuousClock.now
        while waiting.duration(to: .now) < .seconds(10) {
            let held = try await store.pool.run(
                .simple(
                    // A bigint advisory key is held as its high (classid) and low (objid) 32 bits.
                    "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1 AND "
                        + "((classid::bigint << 32) | objid::bigint) = hashtextextended('\(route.tenant)|\(key.value)', 0)"), deadline: .now + .seconds(5))
            if !held.rows.isEmpty { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        let command = try RouteCommand(route: route, operation: .upsert(url: "http://a:1"))
        let started = ContinuousClock.now
        let error = await #expect(throws: TrafficManagerError.self) { try await store.apply(command, idempotencyKey: key) }
        #expect(error?.code == .idempotencyKeyInUse && error?.idempotencyKey == key.value, "\(String(describing: error))")
        #expect(started.duration(to: .now) < .seconds(1), "the write waited for the other instance")
        #expect(try await store.lookup(route) == .neverExisted, "a refused write wrote")
        // A key of another tenant, or no key, is not held up.
        let free = try await store.apply(try RouteCommand(route: try UniqueNames.route(), operation: .upsert(url: "http://b:1")), idempotencyKey: key)
        #expect(free.endpoint.revision == 1)
        _ = try await holding.value
        let applied = try await store.apply(command, idempotencyKey: key)
        #expect(applied.endpoint.revision == 1 && !applied.replayed)
        let replayed = try await store.apply(command, idempotencyKey: key)
        #expect(replayed.replayed)
        await other.shutdown()
        await store.shutdown()
    }
}
