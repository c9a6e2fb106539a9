import Foundation
import Testing
import TrafficManager
import TrafficManagerTestKit
import TrafficManagerTestSupport
@testable import TrafficManagerPostgres

/// The change history's positions follow an order in which nothing lands behind a position
/// already handed out — even a transaction that took a lower row id and commits late.
@Suite(.enabled(if: TestServices.postgres.shouldRun, postgresSkip))
struct PostgresChangeHistoryTests {
    private func ours(_ page: ChangePage, _ ids: Set<UUID>) -> [UUID] {
        page.changes.map(\.event.eventID).filter { ids.contains($0) }
    }

    /// Every change after `start` handed out now, through every page (other suites write too).
    private func all(_ store: PostgresRouteStore, after start: ChangePosition?) async throws -> ChangePage {
        var changes: [PositionedChange] = []
        var cursor = start
        while true {
            let page = try await store.changes(after: cursor, limit: 1_000)
            if page.resync { return page }
            changes += page.changes
            guard let last = page.changes.last, page.changes.count == 1_000 else { break }
            cursor = last.position
        }
        return ChangePage(changes: changes)
    }

    @Test func aTransactionThatCommitsLateIsNotSkippedByAReaderThatResumedPastIt() async throws {
        let schema = freshSchema()
        let store = try await migratedStore(schema: schema)
        let other = running(PostgresRouteStore(configuration: testConfiguration(schema: schema, poolSize: 1)))
        let start = try await store.changes(after: nil, limit: 1).head
        // The late one inserts its event (taking the lower row id) and commits 3 s later.
        let late = UUID()
        let route = try UniqueNames.route()
        let holding = Task {
            try await other.pool.run(
                .simple(
                    """
                    INSERT INTO route_events (event_id, tenant, service, env, version, action, url, revision, created_at)
                    VALUES ('\(late.uuidString)', '\(route.tenant)', '\(route.service)', 'prod', 'v1', 'updated', 'http://late:1', 1, now());
                    SELECT pg_sleep(3)
                    """),
                deadline: .now + .seconds(15))
        }
        // Until the late one has inserted: its backend holds a transaction id and sleeps.
        let waiting = ContinuousClock.now
        while waiting.duration(to: .now) < .seconds(10) {
            let inserted = try await store.pool.run(
                .simple(
                    "SELECT 1 FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND backend_xid IS NOT NULL AND state = 'active' "
                        + "AND query LIKE '%\(late.uuidString)%'"),
                deadline: .now + .seconds(5))
            if !inserted.rows.isEmpty { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        let early = try await store.apply(try RouteCommand(route: try UniqueNames.route(), operation: .upsert(url: "http://early:1")), idempotencyKey: nil)
        let earlyID = try #require(early.event?.eventID)
        let ids: Set<UUID> = [late, earlyID]

        // While the late one runs, neither is handed out: the early one would sit behind a
        // position the late one can still take.
        let during = try await all(store, after: start)
        #expect(ours(during, ids).isEmpty, "handed out \(ours(during, ids)) while an older transaction ran")

        _ = try await holding.value
        var after = try await all(store, after: start)
        for _ in 0..<200 where ours(after, ids).count < 2 {
            try await Task.sleep(for: .milliseconds(50))
            after = try await all(store, after: start)
        }
        #expect(ours(after, ids) == [late, earlyID], "history gave \(ours(after, ids))")
        await other.shutdown()
        await store.shutdown()
    }

    @Test func aPositionBehindWhatRetentionPrunedAnswersResync() async throws {
        let store = try await migratedStore(schema: freshSchema())
        // One change first, kept: the position behind the pruned one.
        _ = try await store.apply(try RouteCommand(route: try UniqueNames.route(), operation: .upsert(url: "http://kept:1")), idempotencyKey: nil)
        // Handed out once every older transaction on the server has finished.
        var start = try await store.changes(after: nil, limit: 1).head
        for _ in 0..<200 where start == nil {
            try await Task.sleep(for: .milliseconds(50))
            start = try await store.changes(after: nil, limit: 1).head
        }
        let result = try await store.apply(try RouteCommand(route: try UniqueNames.route(), operation: .upsert(url: "http://a:1")), idempotencyKey: nil)
        let id = try #require(result.event?.eventID)
        var page = try await all(store, after: start)
        for _ in 0..<200 where !page.changes.contains(where: { $0.event.eventID == id }) {
            try await Task.sleep(for: .milliseconds(50))
            page = try await all(store, after: start)
        }
        let position = try #require(page.changes.first { $0.event.eventID == id }?.position)
        let before = try #require(start)
        // Published and two days old: the prune takes it.
        _ = try await store.pool.run(
            .simple(
                "UPDATE route_events SET processed_at = now(), created_at = now() - interval '2 days' WHERE event_id = '\(id.uuidString)'"),
            deadline: .now + .seconds(5))
        let pruned = try await store.prune(RetentionCutoffs(publishedEventsBefore: Date().addingTimeInterval(-86_400)), limit: 1_000)
        #expect(pruned.events >= 1)
        let behind = try await store.changes(after: before, limit: 10)
        #expect(behind.resync && behind.changes.isEmpty && behind.head != nil)
        let past = try await store.changes(after: position, limit: 10)
        #expect(!past.resync)
        await store.shutdown()
    }
}
