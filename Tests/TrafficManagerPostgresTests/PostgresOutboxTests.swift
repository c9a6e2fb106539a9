import Foundation
import Testing
import TrafficManager
import TrafficManagerTestKit
import TrafficManagerTestSupport
@testable import TrafficManagerPostgres

@Suite(.enabled(if: TestServices.postgres.shouldRun, postgresSkip))
struct PostgresOutboxTests {
    @Test func unpublishedEventsComeOldestFirstUntilMarked() async throws {
        let schema = freshSchema()
        let store = running(PostgresRouteStore(configuration: testConfiguration(schema: schema, poolSize: 2)))
        try await store.migrate()
        let route = try UniqueNames.route()
        var events: [RouteEvent] = []
        for port in 1...3 {
            let result = try await store.apply(try RouteCommand(route: route, operation: .upsert(url: "http://a:\(port)")), idempotencyKey: nil)
            events.append(try #require(result.event))
        }
        #expect(try await store.unpublishedEvents(olderThan: .seconds(60), limit: 10).isEmpty)
        let due = try await store.unpublishedEvents(olderThan: .zero, limit: 10)
        #expect(due == events)
        try await store.markPublished([events[0].eventID, events[1].eventID])
        try await store.markPublished([events[0].eventID])
        #expect(try await store.unpublishedEvents(olderThan: .zero, limit: 10) == [events[2]])
        #expect(try await store.unpublishedEvents(olderThan: .zero, limit: 0).isEmpty)
        _ = try await store.execute("DROP SCHEMA \(schema) CASCADE")
        await store.shutdown()
    }

    @Test func theAuditLogRecordsEachEventOnce() async throws {
        let store = try await migratedStore()
        let log = PostgresAuditLog(store: store)
        let route = try UniqueNames.route()
        let result = try await store.apply(try RouteCommand(route: route, operation: .upsert(url: "http://a:1")), idempotencyKey: nil)
        let event = try #require(result.event)
        let consumer = AuditConsumer(log: log)
        for _ in 0..<3 { try await consumer.handle(event) }
        let rows = try await store.execute(
            "SELECT action, url, revision, (extract(epoch FROM occurred_at) * 1000)::bigint FROM audit_log WHERE event_id = '\(event.eventID.uuidString)'")
        #expect(rows.rows == [["created", "http://a:1", "1", String(event.occurredAt.unixMilliseconds)]])
        await store.shutdown()
    }
}
